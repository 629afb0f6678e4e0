package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/apiscope/apiscope/analyzer"
	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/store"
)

// engineFlags are the detection options shared by `analyzer` and `replay`.
type engineFlags struct {
	detectors string
	warmup    time.Duration
	lateness  time.Duration
	window    time.Duration
	hold      time.Duration
}

func (f *engineFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.detectors, "detectors", "", "comma-separated detectors to run (default: all built-in; "+
		"'ratelimit-baseline' is the fixed per-client rate rule for comparison); known: "+strings.Join(analyzer.Detectors(), ", "))
	fs.DurationVar(&f.warmup, "warmup", 0, "capture time a client is observed before it is judged against itself (0 = 15m)")
	fs.DurationVar(&f.lateness, "lateness", 0, "capture time a call may arrive late and still be put in order (0 = 60s)")
	fs.DurationVar(&f.window, "incident-window", 0, "merge findings of one client and kind this close into one incident (0 = 15m)")
	fs.DurationVar(&f.hold, "hold", 0, "capture time population-explainable findings wait before release (0 = 60s)")
}

func (f *engineFlags) config() (analyzer.Config, error) {
	cfg := analyzer.Config{Warmup: f.warmup, Lateness: f.lateness, IncidentWindow: f.window, Hold: f.hold}
	for _, d := range strings.Split(f.detectors, ",") {
		if d = strings.TrimSpace(d); d != "" {
			cfg.Detectors = append(cfg.Detectors, d)
		}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// storeAdapter makes a pkg/store batch writer the analyzer's Store and a findings Output.
type storeAdapter struct {
	w   *store.BatchWriter
	ctx context.Context
}

func (s *storeAdapter) AddCalls(ctx context.Context, calls ...models.APICall) error {
	return s.w.AddCalls(ctx, calls...)
}

func (s *storeAdapter) AddFindings(ctx context.Context, fs ...models.Finding) error {
	return s.w.AddFindings(ctx, fs...)
}

func (s *storeAdapter) AddProfiles(ctx context.Context, ps ...analyzer.ProfileSnapshot) error {
	rows := make([]store.ProfileRow, len(ps))
	for i, p := range ps {
		rows[i] = store.ProfileRow{ClientID: p.ClientID, Version: p.Version, TS: p.TS, Kind: p.Kind, Calls: p.Calls, JSON: p.JSON}
	}
	return s.w.AddProfiles(ctx, rows...)
}

func (s *storeAdapter) Flush(ctx context.Context) error { return s.w.Flush(ctx) }

// WriteFinding buffers one finding for the findings table.
func (s *storeAdapter) WriteFinding(f *models.Finding) error { return s.w.AddFindings(s.ctx, *f) }

// openAnalyzerStore connects to ClickHouse, applies the schema and starts a batch writer.
func openAnalyzerStore(ctx context.Context, dsn string, l *zap.Logger) (*store.Store, *storeAdapter, error) {
	st, err := store.Open(ctx, dsn, l)
	if err != nil {
		return nil, nil, fmt.Errorf("clickhouse: %w", err)
	}
	if err := st.ApplySchema(ctx); err != nil {
		st.Close()
		return nil, nil, fmt.Errorf("clickhouse schema: %w", err)
	}
	return st, &storeAdapter{w: st.NewBatchWriter(store.BatchConfig{}), ctx: ctx}, nil
}

// retentionEvery is how often the analyzer applies --retention-days.
const retentionEvery = 24 * time.Hour

// startRetention drops the partitions older than days now and then every interval until
// the returned stop func is called (stop waits for a drop in progress). Retention is
// about disk, which fills in wall time whatever the capture's clock says, so this is
// wall-clock driven; it never affects what is found. Errors are logged and retried at
// the next interval.
func startRetention(ctx context.Context, st *store.Store, days int, every time.Duration, l *zap.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	apply := func() {
		dropped, err := st.ApplyRetention(ctx, days)
		if err != nil {
			if ctx.Err() == nil {
				l.Error("retention: dropping old partitions failed; retrying at the next interval", zap.Int("days", days), zap.Error(err))
			}
			return
		}
		l.Info("retention applied", zap.Int("days", days), zap.Int("partitions_dropped", len(dropped)))
	}
	go func() {
		defer close(done)
		apply()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				apply()
			}
		}
	}()
	return func() { cancel(); <-done }
}
