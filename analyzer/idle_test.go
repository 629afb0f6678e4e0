package analyzer

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/apiscope/apiscope/models"
)

// sliceSource delivers records from memory, then closes drained (when set) and blocks
// until the context ends, as a consumer does once the producer has finished. Commits are
// counted and, with ev set, logged.
type sliceSource struct {
	ev      *events
	mu      sync.Mutex
	recs    []Record
	commits int
	drained chan struct{}
}

func (s *sliceSource) Fetch(ctx context.Context) (Record, error) {
	s.mu.Lock()
	if len(s.recs) > 0 {
		r := s.recs[0]
		s.recs = s.recs[1:]
		s.mu.Unlock()
		return r, nil
	}
	if s.drained != nil {
		close(s.drained)
		s.drained = nil
	}
	s.mu.Unlock()
	<-ctx.Done()
	return Record{}, ctx.Err()
}

func (s *sliceSource) Commit(_ context.Context, recs []Record) error {
	s.mu.Lock()
	s.commits++
	s.mu.Unlock()
	if s.ev != nil {
		for _, r := range recs {
			s.ev.add("commit %d@%d", r.Partition, r.Offset)
		}
	}
	return nil
}

// TestRunIdleFlush: when the stream stops, Run analyses what waits in the reorder buffer
// and releases held findings after IdleFlush of wall time, without being stopped; the
// findings then equal a replay of the same calls, and the flush is committed.
func TestRunIdleFlush(t *testing.T) {
	calls := attackWorld()
	want := encode(t, run(t, Config{}, calls))
	src := &sliceSource{}
	for i := range calls {
		b, err := models.MarshalAPICall(&calls[i])
		if err != nil {
			t.Fatal(err)
		}
		src.recs = append(src.recs, Record{Offset: int64(i), Value: b})
	}
	var mu sync.Mutex
	var got []models.Finding
	e, err := New(Config{}, OutputFunc(func(f *models.Finding) error {
		mu.Lock()
		got = append(got, *f)
		mu.Unlock()
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	flushes := metricsFor().idleFlushes
	before := flushes.Load()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, e, src, RunConfig{StateDir: t.TempDir(), IdleCommit: 100 * time.Millisecond,
			IdleFlush: 500 * time.Millisecond, StartupWait: 100 * time.Millisecond})
	}()
	deadline := time.Now().Add(time.Minute)
	for {
		mu.Lock()
		g := encode(t, got)
		mu.Unlock()
		if flushes.Load() > before && bytes.Equal(g, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the stream stopped (idle flushes %d) the findings are %d bytes; want the replay's %d", flushes.Load()-before, len(g), len(want))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Give the commit after the flush a moment, then stop.
	time.Sleep(300 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(e.buf) != 0 || len(e.inc.Pending) != 0 {
		t.Errorf("after the idle flush %d calls are buffered and %d findings held; want none", len(e.buf), len(e.inc.Pending))
	}
	if src.commits == 0 {
		t.Error("nothing committed")
	}
}
