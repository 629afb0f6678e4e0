// Command e2ebench measures the end-to-end alert latency of a pipeline run from the
// records on the broker: for every alert on the alert topic (a models.Finding whose ts is
// the capture time of the call that raised it, keyed by client_id) it finds the call on
// the calls topic with the same client_id and capture time and takes the difference of
// the two records' Kafka timestamps. Both publishers leave the record time to kafka-go,
// which stamps each record with the producer's clock when it encodes the produce request
// (CreateTime, millisecond resolution), so the latency is wall time from the sensor
// sending the call to the analyzer sending the alert, on one machine's clock.
//
// It also reports the sensor's publish span (first to last call record) and, given the
// ClickHouse row count and the wall time the last row was seen (--stored, --stored-at),
// the sustained rate of the whole pipeline: stored calls over the wall time from the
// first call record to the last stored row.
//
//	go run ./scripts/e2ebench --brokers 127.0.0.1:39092 --stored 151234 --stored-at 1795000000.123
//
// With "pace" as its first argument it copies a pcap file to a FIFO at a fixed packet rate
// instead, so the sensor can be fed slower than it reads:
//
//	go run ./scripts/e2ebench pace --pcap traffic.pcap --out fifo --pps 20000
//
// scripts/bench_e2e.sh runs the pipeline and then this command.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/kafkabus"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "e2ebench: %v\n", err)
		os.Exit(1)
	}
}

type options struct {
	brokers     string
	callsTopic  string
	alertsTopic string
	stored      int64
	storedAt    string
	slowest     int
	timeout     time.Duration
}

func run(args []string, w io.Writer) error {
	if len(args) > 0 && args[0] == "pace" {
		return runPace(args[1:])
	}
	var o options
	fs := flag.NewFlagSet("e2ebench", flag.ContinueOnError)
	fs.StringVar(&o.brokers, "brokers", "127.0.0.1:39092", "Kafka bootstrap brokers, comma-separated")
	fs.StringVar(&o.callsTopic, "calls-topic", kafkabus.TopicCalls, "topic the sensor published calls to")
	fs.StringVar(&o.alertsTopic, "alerts-topic", kafkabus.TopicAlerts, "topic the analyzer published alerts to")
	fs.Int64Var(&o.stored, "stored", 0, "calls stored in ClickHouse at the end of the run (0: no pipeline rate)")
	fs.StringVar(&o.storedAt, "stored-at", "", "wall time the last row was seen, Unix seconds with a fraction")
	fs.IntVar(&o.slowest, "slowest", 5, "list this many slowest alerts")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "bound on reading both topics")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var storedAt time.Time
	if o.stored > 0 {
		f, err := strconv.ParseFloat(o.storedAt, 64)
		if err != nil || f <= 0 {
			return fmt.Errorf("--stored-at %q: want Unix seconds with --stored", o.storedAt)
		}
		storedAt = time.Unix(0, int64(f*1e9))
	}
	cfg := kafkabus.Config{Brokers: kafkabus.SplitBrokers(o.brokers), ClientID: "apiscope-e2ebench"}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()

	calls, err := readCalls(ctx, cfg, o.callsTopic)
	if err != nil {
		return err
	}
	alerts, err := readAlerts(ctx, cfg, o.alertsTopic)
	if err != nil {
		return err
	}
	r := measure(calls, alerts)
	report(w, calls, r, o.stored, storedAt)
	listSlowest(w, r.all.samples, o.slowest)
	return nil
}

// callKey identifies a call the way a finding refers to it.
type callKey struct {
	client string
	ts     int64 // capture time, Unix ns
}

// callSet holds what the calls topic says about the sensor's publishing.
type callSet struct {
	sent map[callKey]time.Time // earliest record time of each call
	// byTS holds the earliest record time of the calls at one capture time, and how many
	// calls share it: a population finding (client_id "population:<what>", the analyzer's
	// synthetic subject) names no client, and is matched by capture time alone when
	// exactly one call has it.
	byTS        map[int64]tsEntry
	minTS       int64
	maxTS       int64
	records     int
	undecodable int
	first, last time.Time // record times
	// byTime lists (record time, capture time) in record-time order, to say how far the
	// capture had got when an alert was sent.
	byTime []timePair
}

type timePair struct{ wall, capture int64 }

type tsEntry struct {
	sent  time.Time
	calls int
}

func readCalls(ctx context.Context, cfg kafkabus.Config, topic string) (*callSet, error) {
	cs := &callSet{sent: map[callKey]time.Time{}, byTS: map[int64]tsEntry{}}
	var c struct {
		ClientID string    `json:"client_id"`
		TS       time.Time `json:"ts"`
	}
	err := kafkabus.ReadTopic(ctx, cfg, topic, kafkabus.ReadOptions{FromBeginning: true}, func(m kafkabus.Message) error {
		cs.records++
		c.ClientID, c.TS = "", time.Time{}
		if err := json.Unmarshal(m.Value, &c); err != nil || c.ClientID == "" || c.TS.IsZero() {
			cs.undecodable++
			return nil
		}
		k := callKey{client: c.ClientID, ts: c.TS.UnixNano()}
		t, seen := cs.sent[k]
		if !seen || m.Time.Before(t) {
			cs.sent[k] = m.Time
		}
		if !seen {
			e := cs.byTS[k.ts]
			if e.calls == 0 || m.Time.Before(e.sent) {
				e.sent = m.Time
			}
			e.calls++
			cs.byTS[k.ts] = e
		}
		if cs.minTS == 0 || k.ts < cs.minTS {
			cs.minTS = k.ts
		}
		cs.maxTS = max(cs.maxTS, k.ts)
		if cs.first.IsZero() || m.Time.Before(cs.first) {
			cs.first = m.Time
		}
		if m.Time.After(cs.last) {
			cs.last = m.Time
		}
		cs.byTime = append(cs.byTime, timePair{wall: m.Time.UnixNano(), capture: k.ts})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", topic, err)
	}
	if cs.records == 0 {
		return nil, fmt.Errorf("topic %s is empty", topic)
	}
	sort.Slice(cs.byTime, func(i, j int) bool { return cs.byTime[i].wall < cs.byTime[j].wall })
	// Running maximum: the furthest capture time sent by each record time.
	for i := 1; i < len(cs.byTime); i++ {
		cs.byTime[i].capture = max(cs.byTime[i].capture, cs.byTime[i-1].capture)
	}
	return cs, nil
}

// captureAt is the furthest capture time the sensor had sent by wall time t.
func (cs *callSet) captureAt(t time.Time) int64 {
	n := t.UnixNano()
	i := sort.Search(len(cs.byTime), func(i int) bool { return cs.byTime[i].wall > n })
	if i == 0 {
		return math.MinInt64
	}
	return cs.byTime[i-1].capture
}

type alert struct {
	f    models.Finding
	time time.Time
}

func readAlerts(ctx context.Context, cfg kafkabus.Config, topic string) ([]alert, error) {
	var out []alert
	var bad int
	err := kafkabus.ReadTopic(ctx, cfg, topic, kafkabus.ReadOptions{FromBeginning: true}, func(m kafkabus.Message) error {
		var f models.Finding
		if err := json.Unmarshal(m.Value, &f); err != nil {
			bad++
			return nil
		}
		out = append(out, alert{f: f, time: m.Time})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", topic, err)
	}
	if bad > 0 {
		fmt.Fprintf(os.Stderr, "e2ebench: %d records on %s are not findings\n", bad, topic)
	}
	return out, nil
}

// sample is one matched alert.
type sample struct {
	f       *models.Finding
	latency time.Duration // alert record time - call record time
	// captureLag is how far the sensor had got in capture time past the call when the
	// alert was sent: the capture time the analyzer waited for (reorder lateness, holds).
	captureLag time.Duration
	afterEnd   bool // sent after the sensor's last call record
}

type kindResult struct {
	kind      string
	alerts    int
	unmatched int
	byTSOnly  int // matched by capture time alone (population findings)
	samples   []sample
}

type result struct {
	byKind []*kindResult
	all    *kindResult
}

func measure(cs *callSet, alerts []alert) result {
	m := map[string]*kindResult{}
	all := &kindResult{kind: "all"}
	for i := range alerts {
		a := &alerts[i]
		kr := m[a.f.Kind]
		if kr == nil {
			kr = &kindResult{kind: a.f.Kind}
			m[a.f.Kind] = kr
		}
		kr.alerts++
		all.alerts++
		sent, ok := cs.sent[callKey{client: a.f.ClientID, ts: a.f.TS.UnixNano()}]
		if !ok && strings.HasPrefix(a.f.ClientID, "population:") {
			if e := cs.byTS[a.f.TS.UnixNano()]; e.calls == 1 {
				sent, ok = e.sent, true
				kr.byTSOnly++
				all.byTSOnly++
			}
		}
		if !ok {
			kr.unmatched++
			all.unmatched++
			continue
		}
		s := sample{f: &a.f, latency: a.time.Sub(sent), afterEnd: a.time.After(cs.last)}
		if c := cs.captureAt(a.time); c != math.MinInt64 {
			s.captureLag = time.Duration(c - a.f.TS.UnixNano())
		}
		kr.samples = append(kr.samples, s)
		all.samples = append(all.samples, s)
	}
	var r result
	for _, kr := range m {
		r.byKind = append(r.byKind, kr)
	}
	slices.SortFunc(r.byKind, func(a, b *kindResult) int {
		if a.alerts != b.alerts {
			return b.alerts - a.alerts
		}
		return strings.Compare(a.kind, b.kind)
	})
	r.all = all
	return r
}

// quantile is the nearest-rank q-quantile of sorted durations.
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(d)))) - 1
	return d[min(max(i, 0), len(d)-1)]
}

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) }

func report(w io.Writer, cs *callSet, r result, stored int64, storedAt time.Time) {
	span := cs.last.Sub(cs.first)
	fmt.Fprintf(w, "call records %d (undecodable %d, distinct calls %d)\n", cs.records, cs.undecodable, len(cs.sent))
	fmt.Fprintf(w, "sensor publish span (first to last call record) %s s", secs(span))
	if span > 0 {
		fmt.Fprintf(w, ": %.0f calls/s", float64(cs.records)/span.Seconds())
	}
	fmt.Fprintln(w)
	capture := time.Duration(cs.maxTS - cs.minTS)
	fmt.Fprintf(w, "capture span (first to last call) %s s", secs(capture))
	if span > 0 {
		fmt.Fprintf(w, ": %.0f capture seconds per wall second while publishing", capture.Seconds()/span.Seconds())
	}
	fmt.Fprintln(w)
	if stored > 0 {
		wall := storedAt.Sub(cs.first)
		fmt.Fprintf(w, "stored in ClickHouse %d calls, first call record to last row seen %s s: %.0f calls/s sustained\n",
			stored, secs(wall), float64(stored)/wall.Seconds())
		fmt.Fprintf(w, "last row seen %s s after the sensor's last call record\n", secs(storedAt.Sub(cs.last)))
	}
	fmt.Fprintf(w, "alerts %d, matched to their call %d (%d of them by capture time alone: population findings), unmatched %d\n\n",
		r.all.alerts, len(r.all.samples), r.all.byTSOnly, r.all.unmatched)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kind\talerts\tmatched\tp50 s\tp90 s\tp99 s\tmax s\tsent after sensor end\tp50 capture lag s\tp99 capture lag s\t")
	row := func(kr *kindResult) {
		lat := make([]time.Duration, len(kr.samples))
		lag := make([]time.Duration, len(kr.samples))
		after := 0
		for i, s := range kr.samples {
			lat[i], lag[i] = s.latency, s.captureLag
			if s.afterEnd {
				after++
			}
		}
		slices.Sort(lat)
		slices.Sort(lag)
		if len(lat) == 0 {
			fmt.Fprintf(tw, "%s\t%d\t0\t-\t-\t-\t-\t-\t-\t-\t\n", kr.kind, kr.alerts)
			return
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t\n", kr.kind, kr.alerts, len(kr.samples),
			secs(quantile(lat, 0.5)), secs(quantile(lat, 0.9)), secs(quantile(lat, 0.99)), secs(lat[len(lat)-1]),
			after, secs(quantile(lag, 0.5)), secs(quantile(lag, 0.99)))
	}
	for _, kr := range r.byKind {
		row(kr)
	}
	row(r.all)
	_ = tw.Flush()
	if r.all.alerts == 0 {
		fmt.Fprintln(w, "no alerts on the alert topic")
	}
}

// listSlowest prints the n alerts that took longest, to say which findings make the tail.
func listSlowest(w io.Writer, samples []sample, n int) {
	if n <= 0 || len(samples) == 0 {
		return
	}
	s := slices.Clone(samples)
	slices.SortFunc(s, func(a, b sample) int { return int(b.latency - a.latency) })
	fmt.Fprintf(w, "\nslowest alerts:\n")
	for _, x := range s[:min(n, len(s))] {
		fmt.Fprintf(w, "  %s s  capture lag %s s  %s %s %s ts=%s  %s\n", secs(x.latency), secs(x.captureLag),
			x.f.Kind, x.f.Severity, x.f.ClientID, x.f.TS.Format(time.RFC3339Nano), x.f.Summary)
	}
}
