package analyzer

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/apiscope/apiscope/models"
)

// events is a log shared by a scripted source and a memory state store, so a test can
// check what happened in which order.
type events struct {
	mu  sync.Mutex
	log []string
}

func (ev *events) add(format string, args ...any) {
	ev.mu.Lock()
	ev.log = append(ev.log, fmt.Sprintf(format, args...))
	ev.mu.Unlock()
}

func (ev *events) snapshot() []string {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return append([]string(nil), ev.log...)
}

// memStates is a StateStore in memory: the newest state per client wins.
type memStates struct {
	ev     *events
	mu     sync.Mutex
	states map[string]ClientState
	loads  [][]int
}

func newMemStates(ev *events) *memStates { return &memStates{ev: ev, states: map[string]ClientState{}} }

func (m *memStates) Save(_ context.Context, states []ClientState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range states {
		if old, ok := m.states[s.ClientID]; !ok || s.Last >= old.Last {
			s.State = append([]byte(nil), s.State...)
			m.states[s.ClientID] = s
		}
		m.ev.add("save %s", s.ClientID)
	}
	return nil
}

func (m *memStates) Load(_ context.Context, parts []int) ([]ClientState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.loads = append(m.loads, append([]int(nil), parts...))
	m.ev.add("load %v", parts)
	set := partitionSet(parts)
	var out []ClientState
	for _, s := range m.states {
		if set(int32(s.Partition)) {
			out = append(out, s)
		}
	}
	return out, nil
}

// callRecords encodes the calls with capture time in [from, to) as records of their
// client's partition (partitionOf), numbering offsets per partition from next.
func callRecords(t testing.TB, calls []models.APICall, from, to time.Duration, next map[int]int64) []Record {
	t.Helper()
	var recs []Record
	for i := range calls {
		c := &calls[i]
		if at := c.TS.Sub(t0); at < from || at >= to {
			continue
		}
		b, err := models.MarshalAPICall(c)
		if err != nil {
			t.Fatal(err)
		}
		p := partitionOf(c)
		recs = append(recs, Record{Partition: p, Offset: next[p], Value: b})
		next[p]++
	}
	return recs
}

// runScript runs e over the records until the source is drained, then stops it.
func runScript(t *testing.T, e *Engine, ev *events, recs []Record, rc RunConfig) {
	t.Helper()
	src := &sliceSource{ev: ev, recs: recs, drained: make(chan struct{})}
	drained := src.drained
	rc.IdleCommit, rc.StartupWait, rc.IdleFlush = time.Minute, 10*time.Millisecond, -1
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, e, src, rc) }()
	select {
	case <-drained:
	case err := <-done:
		cancel()
		t.Fatalf("Run stopped before the script ended: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("script not consumed within a minute")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func index(log []string, s string) int {
	for i, x := range log {
		if x == s {
			return i
		}
	}
	return -1
}

// TestRunRebalance: a revocation commits the revoked partition's records and saves its
// clients before Done; the next assignment forgets the clients of the partition that left
// and loads from the state store only the partitions that are new; a second analyzer
// assigned the partition continues its client from the saved state.
func TestRunRebalance(t *testing.T) {
	w := newWorld(42)
	w.background(10, 40*time.Minute)
	calls := w.sorted()
	ev := &events{}
	states := newMemStates(ev)
	next := map[int]int64{}

	a, _ := collector(t)
	var recs []Record
	recs = append(recs, Record{Rebalance: &Rebalance{Assigned: []int{0, 1}}})
	recs = append(recs, callRecords(t, calls, 0, 20*time.Minute, next)...)
	recs = append(recs, Record{Rebalance: &Rebalance{Revoked: []int{0, 1}, Done: func() { ev.add("done") }}})
	recs = append(recs, Record{Rebalance: &Rebalance{Assigned: []int{0, 2}}})
	runScript(t, a, ev, recs, RunConfig{States: states})

	log := ev.snapshot()
	done := index(log, "done")
	last1 := fmt.Sprintf("commit 1@%d", next[1]-1)
	last0 := fmt.Sprintf("commit 0@%d", next[0]-1)
	if c := index(log, last1); done < 0 || c < 0 || c > done || index(log, last0) > done {
		t.Fatalf("log %v: want %q and %q before done", log, last1, last0)
	}
	if s := index(log, "save "+movedClient); s < 0 || s > done {
		t.Fatalf("the revoked partition's client saved at %d, done at %d; want saved before done", s, done)
	}
	if got, want := states.loads, [][]int{{0, 1}, {2}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("state loads %v; want %v (every partition at the first assignment, then only new ones)", got, want)
	}
	if _, ok := a.profiles[movedClient]; ok {
		t.Fatal("the client of partition 1, no longer assigned, is still in memory")
	}
	if got := a.Partitions(); !reflect.DeepEqual(got, []int{0}) {
		t.Fatalf("partitions held after the rebalance: %v; want [0]", got)
	}
	if len(a.buf) != 0 {
		t.Fatalf("%d calls still buffered after the revocation", len(a.buf))
	}

	// A second analyzer is assigned partition 1 and continues the client from its state.
	ref, _ := collector(t)
	feed(t, ref, calls, 0, 20*time.Minute, nil)
	if err := ref.Flush(); err != nil {
		t.Fatal(err)
	}
	b, _ := collector(t)
	ev2 := &events{}
	runScript(t, b, ev2, []Record{{Rebalance: &Rebalance{Assigned: []int{1}}}}, RunConfig{States: states})
	if got := b.Partitions(); !reflect.DeepEqual(got, []int{1}) || b.Stats().Clients != 1 {
		t.Fatalf("second analyzer holds partitions %v, %d clients; want [1], 1", got, b.Stats().Clients)
	}
	if got, want := viewOf(b, movedClient), viewOf(ref, movedClient); !reflect.DeepEqual(got.Endpoints, want.Endpoints) ||
		!reflect.DeepEqual(got.Trans, want.Trans) || got.P.N != want.P.N || got.P.Counters != want.P.Counters {
		t.Fatalf("client continued by the second analyzer differs from one engine's:\n got  %+v\n want %+v", got, want)
	}
}

// TestRunStatesWithoutRebalance: a source that never says which partitions it delivers
// loads every client at its first record and saves every client at the first commit; a
// restart without a state directory continues with the saved clients.
func TestRunStatesWithoutRebalance(t *testing.T) {
	w := newWorld(42)
	w.background(6, 30*time.Minute)
	calls := w.sorted()
	ev := &events{}
	states := newMemStates(ev)
	next := map[int]int64{}

	a, _ := collector(t)
	runScript(t, a, ev, callRecords(t, calls, 0, 20*time.Minute, next), RunConfig{States: states})
	if got, want := len(states.states), a.Stats().Clients; got != want || want == 0 {
		t.Fatalf("saved %d clients; want all %d", got, want)
	}
	if !reflect.DeepEqual(states.loads, [][]int{nil}) {
		t.Fatalf("loads %v; want one load of every partition", states.loads)
	}

	// A restart without a state directory continues from the store.
	b, _ := collector(t)
	ev2 := &events{}
	states.ev = ev2
	// One more call of one client: only it is saved again (beyond the first save of all).
	one := callRecords(t, calls, 20*time.Minute, 30*time.Minute, next)[:1]
	runScript(t, b, ev2, one, RunConfig{States: states, CommitRecords: 1})
	if b.Stats().Clients != a.Stats().Clients {
		t.Fatalf("restarted analyzer holds %d clients; want the %d saved", b.Stats().Clients, a.Stats().Clients)
	}
	var saves []string
	for _, x := range ev2.snapshot() {
		if len(x) > 5 && x[:5] == "save " {
			saves = append(saves, x[5:])
		}
	}
	sort.Strings(saves)
	if len(saves) < a.Stats().Clients {
		t.Fatalf("first commit after the restart saved %d clients; want all %d", len(saves), a.Stats().Clients)
	}
}

// TestRunAssignedNothing: a member given no partition (more members than partitions)
// forgets every client, without a state store too; a revocation alone keeps them.
func TestRunAssignedNothing(t *testing.T) {
	w := newWorld(42)
	w.background(6, 20*time.Minute)
	calls := w.sorted()
	next := map[int]int64{}
	for _, assigned := range [][]int{nil, {}} {
		a, _ := collector(t)
		recs := append([]Record{{Rebalance: &Rebalance{Assigned: []int{0, 1}}}}, callRecords(t, calls, 0, 20*time.Minute, next)...)
		recs = append(recs, Record{Rebalance: &Rebalance{Revoked: []int{0, 1}}})
		runScript(t, a, &events{}, recs, RunConfig{})
		if a.Stats().Clients == 0 {
			t.Fatal("a revocation alone forgot the clients")
		}
		recs = []Record{{Rebalance: &Rebalance{Assigned: assigned}}}
		runScript(t, a, &events{}, recs, RunConfig{})
		if n := a.Stats().Clients; n != 0 {
			t.Fatalf("assigned %#v: %d clients kept; want none", assigned, n)
		}
	}
}
