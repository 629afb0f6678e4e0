package alerting

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/metrics"
)

func finding(client, kind, sev string, ts time.Time, n int) *models.Finding {
	return &models.Finding{ID: fmt.Sprintf("%s-%s-%d", client, kind, n), TS: ts, ClientID: client, Kind: kind, Severity: sev, Score: float64(n)}
}

func TestStormFoldsBeyondMax(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	s := NewStorm(StormConfig{Max: 3, Window: time.Minute, Metrics: metrics.NewRegistry()})
	var out []*models.Finding
	// 10 alerts for alice/rate_spike in 50 s, 2 for bob: alice gets 3 through, bob 2.
	for i := 0; i < 10; i++ {
		out = append(out, s.Admit(finding("alice", models.KindRateSpike, models.SeverityMedium, t0.Add(time.Duration(i)*5*time.Second), i))...)
	}
	sev := models.SeverityMedium
	out = append(out, s.Admit(finding("bob", models.KindRateSpike, sev, t0.Add(10*time.Second), 0))...)
	out = append(out, s.Admit(finding("bob", models.KindRateSpike, sev, t0.Add(20*time.Second), 1))...)
	if len(out) != 5 {
		t.Fatalf("admitted %d; want 3 for alice and 2 for bob", len(out))
	}
	// A finding after the window releases alice's summary before itself.
	late := s.Admit(finding("carol", models.KindAuthFailures, models.SeverityHigh, t0.Add(61*time.Second), 0))
	if len(late) != 2 || late[1].ClientID != "carol" {
		t.Fatalf("after the window: %d findings; want alice's summary then carol's finding", len(late))
	}
	sum := late[0]
	if sum.ClientID != "alice" || sum.Kind != models.KindRateSpike || sum.Evidence["storm_folded"] != 7 ||
		!strings.Contains(sum.Summary, "7 more rate_spike alerts") || sum.Score != 9 {
		t.Errorf("summary %+v; want 7 alice rate_spike alerts folded, max score 9", sum)
	}
	if again := s.Admit(finding("alice", models.KindRateSpike, sev, t0.Add(62*time.Second), 11)); len(again) != 1 {
		t.Errorf("first alert of a new window: %d released; want it through", len(again))
	}
	if d := s.Drain(); len(d) != 0 {
		t.Errorf("Drain released %d; want none (nothing folded since)", len(d))
	}
}

func TestStormRepeatedIDPasses(t *testing.T) {
	t0 := time.Unix(0, 0)
	s := NewStorm(StormConfig{Max: 1, Window: time.Hour, Metrics: metrics.NewRegistry()})
	f := finding("a", "k", models.SeverityMedium, t0, 1)
	s.Admit(f)
	up := *f
	up.Severity = models.SeverityHigh // the incident was raised: same id
	if got := s.Admit(&up); len(got) != 1 {
		t.Errorf("update of a delivered alert released %d; want it through", len(got))
	}
	if got := s.Admit(finding("a", "k", models.SeverityMedium, t0, 2)); len(got) != 0 {
		t.Errorf("second distinct alert released %d; want it folded", len(got))
	}
	d := s.Drain()
	if len(d) != 1 || d[0].Evidence["storm_folded"] != 1 {
		t.Errorf("Drain = %+v; want one summary folding 1", d)
	}
}

func TestStormIsDeterministic(t *testing.T) {
	run := func() string {
		s := NewStorm(StormConfig{Max: 2, Window: time.Minute, Metrics: metrics.NewRegistry()})
		var b strings.Builder
		t0 := time.Unix(1000, 0)
		for i := 0; i < 200; i++ {
			f := finding(fmt.Sprintf("c%d", i%7), []string{"x", "y"}[i%2], models.SeverityMedium, t0.Add(time.Duration(i)*time.Second), i)
			for _, g := range s.Admit(f) {
				b.WriteString(g.ID + "\n")
			}
		}
		for _, g := range s.Drain() {
			b.WriteString(g.ID + "\n")
		}
		return b.String()
	}
	if a, b := run(), run(); a != b {
		t.Error("storm control gave different output for the same input")
	}
}

// memSink records findings.
type memSink struct {
	mu     sync.Mutex
	got    []*models.Finding
	closed bool
}

func (m *memSink) WriteFinding(_ context.Context, f *models.Finding) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := *f
	m.got = append(m.got, &c)
	return nil
}

func (m *memSink) Close() error { m.closed = true; return nil }

func TestStormSinkDrainsOnClose(t *testing.T) {
	mem := &memSink{}
	s := NewStormSink(StormConfig{Max: 1, Window: time.Hour, Metrics: metrics.NewRegistry()}, FilterSink{Filter: Filter{MinSeverity: "medium"}, Next: mem})
	t0 := time.Unix(0, 0)
	for i := 0; i < 4; i++ {
		_ = s.WriteFinding(context.Background(), finding("a", "k", models.SeverityHigh, t0, i))
	}
	_ = s.WriteFinding(context.Background(), finding("b", "k", models.SeverityLow, t0, 0))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if len(mem.got) != 2 || !mem.closed || mem.got[1].Evidence["storm_folded"] != 3 {
		t.Errorf("got %d findings (closed %v); want the first alert and a summary of 3, and the low one filtered", len(mem.got), mem.closed)
	}
}

func TestBackgroundAdapter(t *testing.T) {
	mem := &memSink{}
	var out interface {
		WriteFinding(*models.Finding) error
	} = Background{Sink: mem}
	if err := out.WriteFinding(finding("a", "k", "high", time.Unix(0, 0), 1)); err != nil || len(mem.got) != 1 {
		t.Errorf("Background.WriteFinding: err %v, %d written; want 1", err, len(mem.got))
	}
	_ = Background{Sink: mem}.Close()
	if !mem.closed {
		t.Error("Background.Close did not close the sink")
	}
}
