package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/apiscope/apiscope/analyzer"
	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/kafkabus"
	"github.com/apiscope/apiscope/pkg/kafkabus/kafkatest"
	"github.com/apiscope/apiscope/pkg/store"
	"github.com/apiscope/apiscope/pkg/store/chtest"
)

// watchedStates records which partitions an analyzer loaded client states for.
type watchedStates struct {
	stateStore
	mu     sync.Mutex
	loaded map[int]bool
}

func (w *watchedStates) Load(ctx context.Context, parts []int) ([]analyzer.ClientState, error) {
	st, err := w.stateStore.Load(ctx, parts)
	if err == nil {
		w.mu.Lock()
		for _, p := range parts {
			w.loaded[p] = true
		}
		w.mu.Unlock()
	}
	return st, err
}

func (w *watchedStates) has(parts int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.loaded) == parts
}

// countingSource counts the call records fetched.
type countingSource struct {
	consumerSource
	n *atomic.Int64
}

func (s countingSource) Fetch(ctx context.Context) (analyzer.Record, error) {
	r, err := s.consumerSource.Fetch(ctx)
	if err == nil && r.Rebalance == nil {
		s.n.Add(1)
	}
	return r, err
}

// TestAnalyzersHandOverClients: two analyzers of one consumer group on a Kafka broker, with
// ClickHouse as their state store. The first consumes every call; the second joins, the
// first stops, and the second, now assigned every partition, holds every client's profile
// (loaded from ClickHouse through the rebalances) without reading the calls again.
func TestAnalyzersHandOverClients(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker and clickhouse-server")
	}
	const partitions, clients, perClient = 4, 24, 20
	srv := chtest.Start(t)
	brokers := kafkatest.Start(t, kafkatest.Partitions(partitions), kafkatest.Topics(kafkabus.TopicCalls))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st, err := store.Open(ctx, srv.DSN(chtest.UniqueDB(t)), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.ApplySchema(ctx); err != nil {
		t.Fatal(err)
	}

	kcfg := kafkabus.Config{Brokers: kafkabus.SplitBrokers(brokers)}
	pub, err := kafkabus.NewPublisher(kafkabus.PublisherConfig{Config: kcfg, Topic: kafkabus.TopicCalls, Blocking: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	paths := []string{"/api/me", "/api/orders", "/api/orders/%d", "/api/cart"}
	for i := 0; i < perClient; i++ {
		for c := 0; c < clients; c++ {
			p := paths[(i+c)%len(paths)]
			tmpl := p
			if p == "/api/orders/%d" {
				tmpl, p = "/api/orders/{id}", fmt.Sprintf(p, 100*c+i%3)
			}
			call := models.APICall{TS: t0.Add(time.Duration(i)*20*time.Second + time.Duration(c)*100*time.Millisecond),
				SrcIP: fmt.Sprintf("10.0.0.%d", c+1), SrcPort: 40000, DstIP: "10.0.9.1", DstPort: 443, Method: "GET",
				Host: "api.example.com", URI: p, Path: p, Template: tmpl, Status: 200, RespBytes: 500,
				UserAgent: "Mozilla/5.0", ClientID: fmt.Sprintf("user%02d", c), Auth: models.AuthJWT}
			if err := pub.PublishCall(&call); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	_ = pub.Close()

	type member struct {
		eng    *analyzer.Engine
		states *watchedStates
		calls  *atomic.Int64
		stop   func() error
	}
	start := func(name string) *member {
		eng, err := analyzer.New(analyzer.Config{}, analyzer.OutputFunc(func(*models.Finding) error { return nil }))
		if err != nil {
			t.Fatal(err)
		}
		cons, err := kafkabus.NewConsumer(kafkabus.ConsumerConfig{Config: kcfg, Group: "handover", RebalanceEvents: true,
			HeartbeatInterval: 300 * time.Millisecond, SessionTimeout: 6 * time.Second, RebalanceTimeout: 5 * time.Second},
			zaptest.NewLogger(t).Named(name))
		if err != nil {
			t.Fatal(err)
		}
		m := &member{eng: eng, states: &watchedStates{stateStore: stateStore{st: st, group: "handover"}, loaded: map[int]bool{}},
			calls: &atomic.Int64{}}
		rctx, rcancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- analyzer.Run(rctx, eng, countingSource{consumerSource{c: cons, ready: &sync.Once{}}, m.calls},
				analyzer.RunConfig{States: m.states, IdleCommit: 200 * time.Millisecond, IdleFlush: 300 * time.Millisecond,
					StartupWait: 200 * time.Millisecond, Log: zaptest.NewLogger(t).Named(name)})
		}()
		var once sync.Once
		var runErr error
		m.stop = func() error {
			once.Do(func() {
				rcancel()
				runErr = <-done
				cons.Close()
			})
			return runErr
		}
		t.Cleanup(func() { _ = m.stop() })
		return m
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("after 90 s: %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	a := start("a")
	waitFor("first analyzer did not consume every call", func() bool { return a.calls.Load() >= clients*perClient })
	// Let the idle flush and commit save the states.
	time.Sleep(time.Second)
	b := start("b")
	waitFor("second analyzer was assigned nothing", func() bool {
		b.states.mu.Lock()
		defer b.states.mu.Unlock()
		return len(b.states.loaded) > 0
	})
	if err := a.stop(); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("first analyzer: %v", err)
	}
	waitFor("second analyzer did not load every partition's clients", func() bool { return b.states.has(partitions) })
	if err := b.stop(); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("second analyzer: %v", err)
	}
	sa, sb := a.eng.Stats(), b.eng.Stats()
	t.Logf("first analyzer: %d calls, %d clients at its end; second: %d calls read, %d clients", sa.Calls, sa.Clients, sb.Calls, sb.Clients)
	if sb.Clients != clients {
		t.Fatalf("second analyzer holds %d clients; want all %d", sb.Clients, clients)
	}
	if sb.Calls >= clients*perClient/2 {
		t.Fatalf("second analyzer read %d calls again; want the first one's commits to hold", sb.Calls)
	}
}
