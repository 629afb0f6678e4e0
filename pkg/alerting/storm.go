package alerting

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/metrics"
)

// StormConfig bounds alerts per client and kind. Zero values mean the defaults noted.
type StormConfig struct {
	// Max alerts per client and kind in one window. Zero means 5.
	Max int
	// Window is measured in capture time (finding timestamps). Zero means 10 minutes.
	Window time.Duration
	// Metrics receives the counters. Nil means metrics.Default.
	Metrics *metrics.Registry
}

// Storm lets at most Max alerts per (client, kind) through in each Window of capture time
// and folds the rest into one summary alert per window, released when the window ends
// (when a later finding's time passes it) or on Drain. Windows run on finding timestamps,
// never the wall clock, so a replay folds the same alerts every time.
//
// A finding whose id was already let through in its window (an incident raised to a
// higher severity) passes without counting. Not safe for concurrent use.
type Storm struct {
	max       int
	window    time.Duration
	keys      map[stormKey]*stormState
	watermark time.Time
	nextEnd   time.Time // earliest window end among keys; zero when none
	folded    *metrics.Counter
	summaries *metrics.Counter
}

type stormKey struct{ client, kind string }

type stormState struct {
	start    time.Time
	sentIDs  map[string]bool
	folded   int
	maxSev   string
	maxScore float64
	firstID  string
	last     models.Finding
}

// NewStorm returns storm control with cfg's bounds.
func NewStorm(cfg StormConfig) *Storm {
	if cfg.Max <= 0 {
		cfg.Max = 5
	}
	if cfg.Window <= 0 {
		cfg.Window = 10 * time.Minute
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.Default
	}
	return &Storm{
		max: cfg.Max, window: cfg.Window, keys: map[stormKey]*stormState{},
		folded:    cfg.Metrics.Counter("apiscope_alerts_folded_total", "Alerts folded into storm summaries."),
		summaries: cfg.Metrics.Counter("apiscope_alerts_storm_summaries_total", "Storm summary alerts emitted."),
	}
}

// Admit returns what to send now, in order: summaries of windows that ended before f,
// then f itself unless it was folded. The returned findings are copies or f itself;
// Admit keeps no reference to f.
func (s *Storm) Admit(f *models.Finding) []*models.Finding {
	if f.TS.After(s.watermark) {
		s.watermark = f.TS
	}
	out := s.expire(s.watermark)
	k := stormKey{f.ClientID, f.Kind}
	st := s.keys[k]
	if st == nil || !f.TS.Before(st.start.Add(s.window)) {
		if st != nil && st.folded > 0 {
			out = append(out, s.summary(k, st))
		}
		st = &stormState{start: f.TS, sentIDs: map[string]bool{}}
		s.keys[k] = st
		if end := st.start.Add(s.window); s.nextEnd.IsZero() || end.Before(s.nextEnd) {
			s.nextEnd = end
		}
	}
	if st.sentIDs[f.ID] || len(st.sentIDs) < s.max {
		st.sentIDs[f.ID] = true
		return append(out, f)
	}
	s.folded.Inc()
	if st.folded == 0 {
		st.firstID = f.ID
	}
	st.folded++
	if models.SeverityRank(f.Severity) > models.SeverityRank(st.maxSev) {
		st.maxSev = f.Severity
	}
	if f.Score > st.maxScore {
		st.maxScore = f.Score
	}
	st.last = *f
	st.last.Evidence = nil
	return out
}

// expire releases the summaries of windows that ended at or before now and forgets them.
func (s *Storm) expire(now time.Time) []*models.Finding {
	if s.nextEnd.IsZero() || now.Before(s.nextEnd) {
		return nil
	}
	var out []*models.Finding
	s.nextEnd = time.Time{}
	for k, st := range s.keys {
		end := st.start.Add(s.window)
		if !now.Before(end) {
			if st.folded > 0 {
				out = append(out, s.summary(k, st))
			}
			delete(s.keys, k)
			continue
		}
		if s.nextEnd.IsZero() || end.Before(s.nextEnd) {
			s.nextEnd = end
		}
	}
	sortFindings(out)
	return out
}

// Drain releases every pending summary (end of stream) and forgets all windows.
func (s *Storm) Drain() []*models.Finding {
	var out []*models.Finding
	for k, st := range s.keys {
		if st.folded > 0 {
			out = append(out, s.summary(k, st))
		}
	}
	s.keys = map[stormKey]*stormState{}
	s.nextEnd = time.Time{}
	sortFindings(out)
	return out
}

// summary builds the alert that stands for a window's folded alerts.
func (s *Storm) summary(k stormKey, st *stormState) *models.Finding {
	s.summaries.Inc()
	end := st.start.Add(s.window)
	return &models.Finding{
		ID:        models.FindingID("storm", k.client, k.kind, st.start.UTC().Format(time.RFC3339Nano)),
		TS:        st.last.TS,
		ClientID:  k.client,
		ClientIP:  st.last.ClientIP,
		Principal: st.last.Principal,
		Actor:     st.last.Actor,
		Kind:      k.kind,
		Severity:  st.maxSev,
		Score:     st.maxScore,
		Summary: fmt.Sprintf("%d more %s alerts for client %s were folded between %s and %s (storm control: at most %d per %s)",
			st.folded, k.kind, k.client, st.start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339), s.max, s.window),
		Evidence: map[string]any{
			"storm_folded": st.folded, "storm_max": s.max, "storm_window_s": s.window.Seconds(),
			"window_start": st.start.UTC().Format(time.RFC3339Nano), "window_end": end.UTC().Format(time.RFC3339Nano),
			"first_folded_id": st.firstID, "last_folded_id": st.last.ID,
		},
	}
}

// sortFindings orders summaries released together by time, then client and kind, so
// output does not depend on map order.
func sortFindings(fs []*models.Finding) {
	sort.Slice(fs, func(i, j int) bool {
		if !fs[i].TS.Equal(fs[j].TS) {
			return fs[i].TS.Before(fs[j].TS)
		}
		if fs[i].ClientID != fs[j].ClientID {
			return fs[i].ClientID < fs[j].ClientID
		}
		return fs[i].Kind < fs[j].Kind
	})
}

// StormSink applies storm control in front of another sink. Safe for concurrent use.
type StormSink struct {
	mu    sync.Mutex
	storm *Storm
	next  Sink
}

// NewStormSink wraps next with storm control.
func NewStormSink(cfg StormConfig, next Sink) *StormSink {
	return &StormSink{storm: NewStorm(cfg), next: next}
}

// WriteFinding passes f (unless folded) and any released summaries to the next sink.
func (s *StormSink) WriteFinding(ctx context.Context, f *models.Finding) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.storm.Admit(f) {
		if err := s.next.WriteFinding(ctx, g); err != nil {
			return err
		}
	}
	return nil
}

// Close sends the pending summaries and closes the next sink.
func (s *StormSink) Close() error {
	s.mu.Lock()
	pending := s.storm.Drain()
	s.mu.Unlock()
	var first error
	for _, g := range pending {
		if err := s.next.WriteFinding(context.Background(), g); err != nil && first == nil {
			first = err
		}
	}
	if err := s.next.Close(); err != nil && first == nil {
		first = err
	}
	return first
}
