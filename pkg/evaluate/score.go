package evaluate

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/metrics"
	"github.com/apiscope/apiscope/pkg/simulate/truth"
)

// DefaultGrace is how long after an incident's last call a finding still counts.
const DefaultGrace = 300 * time.Second

// Options tune the matching. The zero value is the documented rule: medium and above,
// 300 s of grace.
type Options struct {
	// MinSeverity is the lowest severity that counts. Empty means medium.
	MinSeverity string
	// Grace extends each incident's window past its end. Zero means DefaultGrace.
	Grace time.Duration
}

// Report is the outcome of Score.
type Report struct {
	Incidents int     `json:"incidents"`
	Detected  int     `json:"detected"`
	Recall    float64 `json:"recall"`
	// ByType is recall per attack type, in type order.
	ByType      []TypeRecall     `json:"by_type"`
	PerIncident []IncidentResult `json:"per_incident"`

	BenignClients     int     `json:"benign_clients"`
	FalseAlertClients int     `json:"false_alert_clients"`
	FalseAlertShare   float64 `json:"false_alert_share"`
	// FalseAlertRate is false-alert clients per 1000 benign clients per capture hour.
	FalseAlertRate float64 `json:"false_alert_clients_per_1000_per_hour"`
	// FalseAlertIDs names the benign clients alerted (sorted).
	FalseAlertIDs []string `json:"false_alert_client_ids"`
	// FalseAlertKinds counts, per finding kind, the counted findings that detected no
	// incident (on benign clients or unattributed), most frequent first.
	FalseAlertKinds []KindCount `json:"false_alert_kinds,omitempty"`
	// Unattributed is the number of distinct alerted entities (client_id, else client_ip)
	// that match neither an incident nor a benign client.
	Unattributed int `json:"unattributed_entities"`

	Precision float64 `json:"precision"`
	F1        float64 `json:"f1"`
	// MedianDelayS and P90DelayS are seconds from incident start to first detecting
	// finding, over detected incidents; -1 when none was detected.
	MedianDelayS float64 `json:"median_delay_s"`
	P90DelayS    float64 `json:"p90_delay_s"`

	Findings    int     `json:"findings"`
	Considered  int     `json:"findings_considered"`
	BadLines    int     `json:"unparsable_lines"`
	CaptureHour float64 `json:"capture_hours"`
}

// TypeRecall is recall for one attack type.
type TypeRecall struct {
	Type      string  `json:"type"`
	Incidents int     `json:"incidents"`
	Detected  int     `json:"detected"`
	Recall    float64 `json:"recall"`
}

// KindCount is a number of findings of one kind.
type KindCount struct {
	Kind  string `json:"kind"`
	Count int    `json:"count"`
}

// IncidentResult says whether and when one incident was detected.
type IncidentResult struct {
	ID       string    `json:"id"`
	Type     string    `json:"type"`
	Detected bool      `json:"detected"`
	First    time.Time `json:"first_finding,omitzero"`
	DelayS   float64   `json:"delay_s"`
	Findings int       `json:"findings"`
	// Kinds are the finding kinds that matched, sorted.
	Kinds []string `json:"kinds,omitempty"`
}

var mBadFindings = metrics.Default.Counter("apiscope_evaluate_bad_lines_total", "Unparsable lines in evaluated files.", "file", "findings")

// ReadFindings decodes models.Finding JSON Lines. Lines that do not decode (or lack a
// timestamp) are counted in bad and skipped.
func ReadFindings(r io.Reader) (fs []models.Finding, bad int, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), truth.MaxLine)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var f models.Finding
		if models.UnmarshalFinding([]byte(line), &f) != nil || f.TS.IsZero() {
			bad++
			mBadFindings.Inc()
			continue
		}
		fs = append(fs, f)
	}
	if err := sc.Err(); err != nil {
		return fs, bad, fmt.Errorf("read findings: %w", err)
	}
	return fs, bad, nil
}

type window struct {
	inc        *truth.Incident
	from, to   time.Time
	principals map[string]bool
	ips        map[string]bool
}

func (w *window) matches(f *models.Finding) bool {
	if f.TS.Before(w.from) || f.TS.After(w.to) {
		return false
	}
	if f.Principal != "" && w.principals[f.Principal] {
		return true
	}
	if f.ClientIP != "" && w.ips[f.ClientIP] {
		return true
	}
	for _, ip := range f.RelatedIPs {
		if w.ips[ip] {
			return true
		}
	}
	return false
}

// Score matches findings against labels. It never fails: what cannot be matched is
// reported.
func Score(l *truth.Labels, findings []models.Finding, o Options) Report {
	minSev := models.SeverityRank(o.MinSeverity)
	if minSev < 0 {
		minSev = models.SeverityRank(models.SeverityMedium)
	}
	grace := o.Grace
	if grace == 0 {
		grace = DefaultGrace
	}
	r := Report{Incidents: len(l.Incidents), Findings: len(findings), BenignClients: len(l.BenignClients)}
	wins := make([]window, len(l.Incidents))
	results := make([]IncidentResult, len(l.Incidents))
	kinds := make([]map[string]bool, len(l.Incidents))
	for i := range l.Incidents {
		inc := &l.Incidents[i]
		w := window{inc: inc, from: inc.Start, to: inc.End.Add(grace), principals: map[string]bool{}, ips: map[string]bool{}}
		for _, p := range inc.Principals {
			if p != "" {
				w.principals[p] = true
			}
		}
		for _, ip := range inc.IPs {
			w.ips[ip] = true
		}
		wins[i] = w
		results[i] = IncidentResult{ID: inc.ID, Type: inc.Type, DelayS: -1}
		kinds[i] = map[string]bool{}
	}
	byPrincipal := map[string][]int{}
	byIP := map[string][]int{}
	for i, c := range l.BenignClients {
		if c.Principal != "" {
			byPrincipal[c.Principal] = append(byPrincipal[c.Principal], i)
		}
		for _, ip := range c.IPs {
			byIP[ip] = append(byIP[ip], i)
		}
	}
	alerted := map[int]bool{}
	unattributed := map[string]bool{}
	faKinds := map[string]int{}
	for fi := range findings {
		f := &findings[fi]
		if models.SeverityRank(f.Severity) < minSev {
			continue
		}
		r.Considered++
		hit := false
		for i := range wins {
			if !wins[i].matches(f) {
				continue
			}
			hit = true
			res := &results[i]
			res.Findings++
			kinds[i][f.Kind] = true
			if !res.Detected || f.TS.Before(res.First) {
				res.Detected = true
				res.First = f.TS.UTC()
			}
		}
		if hit {
			continue
		}
		faKinds[f.Kind]++
		if ids := benignFor(f, l.BenignClients, byPrincipal, byIP); len(ids) > 0 {
			for _, id := range ids {
				alerted[id] = true
			}
			continue
		}
		key := f.ClientID
		if key == "" {
			key = "ip:" + f.ClientIP
		}
		unattributed[key] = true
	}
	var delays []float64
	typeIdx := map[string]int{}
	for i := range results {
		res := &results[i]
		ks := make([]string, 0, len(kinds[i]))
		for k := range kinds[i] {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		res.Kinds = ks
		ti, ok := typeIdx[res.Type]
		if !ok {
			ti = len(r.ByType)
			typeIdx[res.Type] = ti
			r.ByType = append(r.ByType, TypeRecall{Type: res.Type})
		}
		r.ByType[ti].Incidents++
		if res.Detected {
			r.Detected++
			r.ByType[ti].Detected++
			res.DelayS = math.Max(0, res.First.Sub(l.Incidents[i].Start).Seconds())
			delays = append(delays, res.DelayS)
		}
	}
	for i := range r.ByType {
		r.ByType[i].Recall = ratio(r.ByType[i].Detected, r.ByType[i].Incidents)
	}
	sort.SliceStable(r.ByType, func(i, j int) bool { return r.ByType[i].Type < r.ByType[j].Type })
	r.PerIncident = results
	r.Recall = ratio(r.Detected, r.Incidents)
	r.FalseAlertClients = len(alerted)
	for id := range alerted {
		r.FalseAlertIDs = append(r.FalseAlertIDs, l.BenignClients[id].ID)
	}
	sort.Strings(r.FalseAlertIDs)
	r.FalseAlertShare = ratio(r.FalseAlertClients, r.BenignClients)
	r.CaptureHour = l.End.Sub(l.Start).Hours()
	if r.BenignClients > 0 && r.CaptureHour > 0 {
		r.FalseAlertRate = float64(r.FalseAlertClients) / (float64(r.BenignClients) / 1000) / r.CaptureHour
	}
	r.Unattributed = len(unattributed)
	for k, n := range faKinds {
		r.FalseAlertKinds = append(r.FalseAlertKinds, KindCount{Kind: k, Count: n})
	}
	sort.Slice(r.FalseAlertKinds, func(i, j int) bool {
		a, b := r.FalseAlertKinds[i], r.FalseAlertKinds[j]
		return a.Count > b.Count || (a.Count == b.Count && a.Kind < b.Kind)
	})
	r.Precision = ratio(r.Detected, r.Detected+r.FalseAlertClients+r.Unattributed)
	if r.Precision+r.Recall > 0 {
		r.F1 = 2 * r.Precision * r.Recall / (r.Precision + r.Recall)
	}
	r.MedianDelayS, r.P90DelayS = quantile(delays, 0.5), quantile(delays, 0.9)
	return r
}

// benignFor returns the benign clients a finding names: by principal (and actor, when
// a client with that exact pair exists), else by source address.
func benignFor(f *models.Finding, clients []truth.Client, byPrincipal, byIP map[string][]int) []int {
	if f.Principal != "" {
		cands := byPrincipal[f.Principal]
		var exact []int
		for _, i := range cands {
			if clients[i].Actor == f.Actor {
				exact = append(exact, i)
			}
		}
		if len(exact) > 0 {
			return exact
		}
		if len(cands) > 0 {
			return cands
		}
	}
	var out []int
	if f.ClientIP != "" {
		out = append(out, byIP[f.ClientIP]...)
	}
	for _, ip := range f.RelatedIPs {
		out = append(out, byIP[ip]...)
	}
	return out
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// quantile returns the q-quantile of xs with linear interpolation between closest ranks
// (the median of two values is their mean), or -1 for none.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return -1
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(s)-1)
	return s[lo] + (pos-float64(lo))*(s[hi]-s[lo])
}

// Summary is the report's last line, for scripts.
func (r *Report) Summary() string {
	return fmt.Sprintf("recall=%.3f precision=%.3f f1=%.3f false_alert_clients=%d/%d median_delay_s=%.1f",
		r.Recall, r.Precision, r.F1, r.FalseAlertClients, r.BenignClients, r.MedianDelayS)
}

// WriteText prints the report for people, ending with Summary.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "findings: %d read, %d at or above the minimum severity, %d unparsable lines\n", r.Findings, r.Considered, r.BadLines)
	fmt.Fprintf(&b, "incidents: %d, detected: %d, recall: %.3f\n", r.Incidents, r.Detected, r.Recall)
	fmt.Fprintf(&b, "%-34s %9s %9s %7s\n", "attack type", "incidents", "detected", "recall")
	for _, t := range r.ByType {
		fmt.Fprintf(&b, "%-34s %9d %9d %7.3f\n", t.Type, t.Incidents, t.Detected, t.Recall)
	}
	for _, p := range r.PerIncident {
		if p.Detected {
			fmt.Fprintf(&b, "  %s %-32s detected after %7.1f s by %d finding(s): %s\n", p.ID, p.Type, p.DelayS, p.Findings, strings.Join(p.Kinds, ","))
		} else {
			fmt.Fprintf(&b, "  %s %-32s missed\n", p.ID, p.Type)
		}
	}
	fmt.Fprintf(&b, "benign clients: %d, with a false alert: %d (%.2f%%, %.3f per 1000 clients per hour)\n",
		r.BenignClients, r.FalseAlertClients, 100*r.FalseAlertShare, r.FalseAlertRate)
	fmt.Fprintf(&b, "unattributed alerted entities: %d\n", r.Unattributed)
	if len(r.FalseAlertKinds) > 0 {
		b.WriteString("findings that detected nothing, by kind:")
		for _, k := range r.FalseAlertKinds {
			fmt.Fprintf(&b, " %s=%d", k.Kind, k.Count)
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "entity-level precision: %.3f, f1: %.3f\n", r.Precision, r.F1)
	fmt.Fprintf(&b, "detection delay: median %.1f s, p90 %.1f s\n", r.MedianDelayS, r.P90DelayS)
	b.WriteString(r.Summary())
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
