package analyzer

import (
	"context"
	"reflect"
	"sort"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/apiscope/apiscope/pkg/store"
	"github.com/apiscope/apiscope/pkg/store/chtest"
)

// chStates is the StateStore over pkg/store, as cmd/apiscope wires it.
type chStates struct {
	st    *store.Store
	group string
}

func (s chStates) Save(ctx context.Context, states []ClientState) error {
	rows := make([]store.StateRow, len(states))
	for i, c := range states {
		rows[i] = store.StateRow{Partition: c.Partition, ClientID: c.ClientID, Version: uint32(c.Version), Updated: c.Last, State: c.State}
	}
	return s.st.SaveClientStates(ctx, s.group, rows)
}

func (s chStates) Load(ctx context.Context, parts []int) ([]ClientState, error) {
	rows, err := s.st.LoadClientStates(ctx, s.group, parts)
	if err != nil {
		return nil, err
	}
	out := make([]ClientState, len(rows))
	for i, r := range rows {
		out[i] = ClientState{Partition: r.Partition, ClientID: r.ClientID, Version: int(r.Version), Last: r.Updated, State: r.State}
	}
	return out, nil
}

// TestRunStatesClickHouse: an analyzer consumes part of a stream with ClickHouse as its
// state store and stops; a second one, with no state directory, is assigned the same
// partitions and holds the same clients with the same profiles.
func TestRunStatesClickHouse(t *testing.T) {
	if testing.Short() {
		t.Skip("starts clickhouse-server")
	}
	srv := chtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := store.Open(ctx, srv.DSN(chtest.UniqueDB(t)), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.ApplySchema(ctx); err != nil {
		t.Fatal(err)
	}
	states := chStates{st: st, group: "analyzer-test"}

	w := newWorld(42)
	w.background(20, 40*time.Minute)
	calls := w.sorted()
	next := map[int]int64{}
	recs := append([]Record{{Rebalance: &Rebalance{Assigned: []int{0, 1}}}}, callRecords(t, calls, 0, 20*time.Minute, next)...)

	a, _ := collector(t)
	runScript(t, a, &events{}, recs, RunConfig{States: states, CommitRecords: 500})
	if a.Stats().Clients == 0 {
		t.Fatal("first run learned no client")
	}
	// Another group's states are not this group's.
	if err := st.SaveClientStates(ctx, "other-group", []store.StateRow{{ClientID: "stranger", Version: ClientStateVersion}}); err != nil {
		t.Fatal(err)
	}

	b, _ := collector(t)
	runScript(t, b, &events{}, []Record{{Rebalance: &Rebalance{Assigned: []int{0, 1}}}}, RunConfig{States: states})
	if got, want := b.Stats().Clients, a.Stats().Clients; got != want {
		t.Fatalf("second run restored %d clients; want the first run's %d", got, want)
	}
	ids := make([]string, 0, len(a.profiles))
	for id := range a.profiles {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if _, ok := b.profiles[id]; !ok {
			t.Fatalf("client %s not restored", id)
		}
		if got, want := viewOf(b, id), viewOf(a, id); !reflect.DeepEqual(got, want) {
			t.Fatalf("client %s restored differently:\n got  %+v\n want %+v", id, got, want)
		}
	}
}
