package store

import (
	"errors"
	"reflect"
	"sort"
	"testing"
)

// TestClientStatesNewestWins: the newest state of each client is loaded, whatever order
// the rows were written in and whether or not the server merged them; partitions and
// consumer groups are kept apart; binary states come back byte for byte.
func TestClientStatesNewestWins(t *testing.T) {
	st, srv := openTest(t)
	ctx := testCtx(t)
	if err := st.ApplySchema(ctx); err != nil {
		t.Fatal(err)
	}
	blob := func(s string) []byte { return append([]byte{0, 0xff, '\n', '\t'}, s...) }
	// Written in three batches; the newest of alice arrives before an older one.
	batches := [][]StateRow{
		{{Partition: 0, ClientID: "alice", Version: 1, Updated: 300, State: blob("alice@300")},
			{Partition: 1, ClientID: "bob", Version: 1, Updated: 100, State: blob("bob@100")}},
		{{Partition: 0, ClientID: "alice", Version: 1, Updated: 200, State: blob("alice@200")},
			{Partition: 1, ClientID: "bob", Version: 1, Updated: 150, State: blob("bob@150")},
			{Partition: 2, ClientID: "carol", Version: 2, Updated: 50, State: blob("carol@50")}},
	}
	for _, b := range batches {
		if err := st.SaveClientStates(ctx, "g1", b); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SaveClientStates(ctx, "g2", []StateRow{{Partition: 0, ClientID: "alice", Version: 1, Updated: 999, State: blob("other group")}}); err != nil {
		t.Fatal(err)
	}
	want := map[string]StateRow{
		"alice": {Partition: 0, ClientID: "alice", Version: 1, Updated: 300, State: blob("alice@300")},
		"bob":   {Partition: 1, ClientID: "bob", Version: 1, Updated: 150, State: blob("bob@150")},
		"carol": {Partition: 2, ClientID: "carol", Version: 2, Updated: 50, State: blob("carol@50")},
	}
	check := func(when string, parts []int, clients ...string) {
		t.Helper()
		got, err := st.LoadClientStates(ctx, "g1", parts)
		if err != nil {
			t.Fatal(err)
		}
		sort.Slice(got, func(i, j int) bool { return got[i].ClientID < got[j].ClientID })
		var w []StateRow
		for _, c := range clients {
			w = append(w, want[c])
		}
		if !reflect.DeepEqual(got, w) {
			t.Fatalf("%s: LoadClientStates(g1, %v) =\n %+v\nwant\n %+v", when, parts, got, w)
		}
	}
	check("before merges", nil, "alice", "bob", "carol")
	check("before merges", []int{1, 2}, "bob", "carol")
	check("before merges", []int{3})
	if got, err := st.LoadClientStates(ctx, "g1", []int{}); err != nil || got != nil {
		t.Fatalf("LoadClientStates of no partition = %v, %v; want nothing", got, err)
	}
	srv.Query(t, "OPTIMIZE TABLE "+st.Database()+".analyzer_state FINAL")
	check("after merges", nil, "alice", "bob", "carol")
	if got := srv.Query(t, "SELECT count() FROM "+st.Database()+".analyzer_state"); got != "4\n" {
		t.Fatalf("rows after merges = %q; want 4 (one per group and client)", got)
	}
}

func TestSaveClientStatesRefusesBadPartition(t *testing.T) {
	st, _ := openTest(t)
	ctx := testCtx(t)
	if err := st.ApplySchema(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range []int{-1, 65536} {
		err := st.SaveClientStates(ctx, "g", []StateRow{{Partition: p, ClientID: "x"}})
		if !errors.Is(err, ErrStatePartition) {
			t.Errorf("SaveClientStates on partition %d = %v; want ErrStatePartition", p, err)
		}
	}
	if _, err := st.LoadClientStates(ctx, "g", []int{70000}); !errors.Is(err, ErrStatePartition) {
		t.Errorf("LoadClientStates of partition 70000 = %v; want ErrStatePartition", err)
	}
}
