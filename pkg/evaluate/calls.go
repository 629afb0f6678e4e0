package evaluate

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/metrics"
	"github.com/apiscope/apiscope/pkg/simulate/truth"
)

// CallsReport compares a sensor's calls with the simulator's truth.
type CallsReport struct {
	Truth  int `json:"truth_calls"`
	Sensor int `json:"sensor_calls"`
	// Found is the number of truth calls the sensor reported (same connection, method,
	// URI, and a timestamp within MatchWindow).
	Found      int     `json:"found"`
	FoundShare float64 `json:"found_share"`
	// StatusAgree is how many found calls have the same status code.
	StatusAgree     int     `json:"status_agree"`
	StatusAgreement float64 `json:"status_agreement"`
	// BytesAgree is how many found calls have the same response body size (chunked
	// bodies decoded).
	BytesAgree int `json:"resp_bytes_agree"`
	// Extras are sensor calls with no truth call.
	Extras int `json:"extras"`
	// ExactTS is how many found calls carry exactly the truth timestamp.
	ExactTS   int `json:"exact_ts"`
	BadTruth  int `json:"unparsable_truth_lines"`
	BadSensor int `json:"unparsable_sensor_lines"`
	// Missing and ExtraSamples show a few unmatched calls for debugging.
	Missing      []string `json:"missing_sample,omitempty"`
	ExtraSamples []string `json:"extra_sample,omitempty"`
}

// MatchWindow is how far a sensor's timestamp may be from the truth's.
const MatchWindow = time.Second

const sampleSize = 10

var mBadCalls = metrics.Default.Counter("apiscope_evaluate_bad_lines_total", "Unparsable lines in evaluated files.", "file", "calls")

type truthEntry struct {
	ts      time.Time
	status  int
	bytes   int
	matched bool
	line    string
}

func callKey(srcIP string, srcPort uint16, dstIP string, dstPort uint16, method, uri string) string {
	return srcIP + "|" + strconv.Itoa(int(srcPort)) + "|" + dstIP + "|" + strconv.Itoa(int(dstPort)) + "|" + method + "|" + uri
}

// CompareCalls reads truth.jsonl and a sensor's APICall JSON Lines and matches them.
// Unparsable lines are counted, not fatal.
func CompareCalls(truthR, callsR io.Reader) (CallsReport, error) {
	var r CallsReport
	idx := map[string][]*truthEntry{}
	var order []*truthEntry
	bad, err := truth.ReadCalls(truthR, func(c *truth.Call) {
		e := &truthEntry{ts: c.TS, status: c.Status, bytes: c.RespBytes}
		k := callKey(c.SrcIP, c.SrcPort, c.DstIP, c.DstPort, c.Method, c.URI)
		e.line = c.TS.Format(time.RFC3339Nano) + " " + k
		idx[k] = append(idx[k], e)
		order = append(order, e)
	})
	r.BadTruth = bad
	if err != nil {
		return r, fmt.Errorf("read truth: %w", err)
	}
	r.Truth = len(order)
	sc := bufio.NewScanner(callsR)
	sc.Buffer(make([]byte, 64<<10), truth.MaxLine)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var c models.APICall
		if json.Unmarshal(line, &c) != nil {
			r.BadSensor++
			mBadCalls.Inc()
			continue
		}
		r.Sensor++
		k := callKey(c.SrcIP, c.SrcPort, c.DstIP, c.DstPort, c.Method, c.URI)
		var best *truthEntry
		var bestD time.Duration
		for _, e := range idx[k] {
			if e.matched {
				continue
			}
			d := c.TS.Sub(e.ts)
			if d < 0 {
				d = -d
			}
			if d <= MatchWindow && (best == nil || d < bestD) {
				best, bestD = e, d
			}
		}
		if best == nil {
			r.Extras++
			if len(r.ExtraSamples) < sampleSize {
				r.ExtraSamples = append(r.ExtraSamples, c.TS.UTC().Format(time.RFC3339Nano)+" "+k)
			}
			continue
		}
		best.matched = true
		r.Found++
		if bestD == 0 {
			r.ExactTS++
		}
		if c.Status == best.status {
			r.StatusAgree++
		}
		if c.RespBytes == int64(best.bytes) {
			r.BytesAgree++
		}
	}
	if err := sc.Err(); err != nil {
		return r, fmt.Errorf("read calls: %w", err)
	}
	for _, e := range order {
		if !e.matched && len(r.Missing) < sampleSize {
			r.Missing = append(r.Missing, e.line)
		}
	}
	r.FoundShare = ratio(r.Found, r.Truth)
	r.StatusAgreement = ratio(r.StatusAgree, r.Found)
	return r, nil
}

// WriteText prints the comparison, ending with a one-line summary.
func (r *CallsReport) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "truth calls: %d, sensor calls: %d (%d unparsable truth lines, %d unparsable sensor lines)\n"+
		"found: %d (%.4f), status agreement: %d (%.4f), response size agreement: %d, exact timestamps: %d, extras: %d\n",
		r.Truth, r.Sensor, r.BadTruth, r.BadSensor, r.Found, r.FoundShare, r.StatusAgree, r.StatusAgreement, r.BytesAgree, r.ExactTS, r.Extras)
	if err != nil {
		return err
	}
	for _, m := range r.Missing {
		fmt.Fprintf(w, "  missing: %s\n", m)
	}
	for _, m := range r.ExtraSamples {
		fmt.Fprintf(w, "  extra: %s\n", m)
	}
	_, err = fmt.Fprintf(w, "found_share=%.4f status_agreement=%.4f extras=%d\n", r.FoundShare, r.StatusAgreement, r.Extras)
	return err
}
