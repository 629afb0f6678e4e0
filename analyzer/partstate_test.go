package analyzer

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apiscope/apiscope/models"
)

// movedClient is the client whose partition moves in these tests.
const movedClient = "user006"

// partitionOf puts the moved client on partition 1 and everyone else on partition 0.
func partitionOf(c *models.APICall) int {
	if c.ClientID == movedClient {
		return 1
	}
	return 0
}

// feed processes calls with capture time in [from, to) through e.
func feed(t testing.TB, e *Engine, calls []models.APICall, from, to time.Duration, keep func(*models.APICall) bool) {
	t.Helper()
	for i := range calls {
		c := &calls[i]
		if at := c.TS.Sub(t0); at < from || at >= to || keep != nil && !keep(c) {
			continue
		}
		if err := e.ProcessFrom(partitionOf(c), c); err != nil {
			t.Fatal(err)
		}
	}
}

// collector is an engine whose findings are kept.
func collector(t testing.TB) (*Engine, *[]models.Finding) {
	t.Helper()
	var out []models.Finding
	e, err := New(Config{}, OutputFunc(func(f *models.Finding) error { out = append(out, *f); return nil }))
	if err != nil {
		t.Fatal(err)
	}
	return e, &out
}

// reverseInterning interns the world's endpoints in e in the opposite order of their first
// call, so e's endpoint ids differ from those of an engine that learned them in order.
func reverseInterning(e *Engine, calls []models.APICall) {
	seen := map[string]bool{}
	var eps [][3]string
	for i := range calls {
		c := &calls[i]
		k := c.Method + " " + c.Template
		if !seen[k] {
			seen[k] = true
			eps = append(eps, [3]string{c.Host, c.Method, c.Template})
		}
	}
	for i := len(eps) - 1; i >= 0; i-- {
		e.pop.Endpoints.lookup(eps[i][0], eps[i][1], eps[i][2], t0.UnixNano())
	}
}

// profileView is a profile with every engine-local id replaced by its endpoint's method
// and template, and the fields local to one engine cleared, for comparing across engines.
type profileView struct {
	P         Profile
	Endpoints []string
	Trans     []string
	Prev      string
	LastIDEP  string
}

func viewOf(e *Engine, id string) profileView {
	p := *e.profiles[id]
	name := func(ep uint32) string {
		if ep == 0 {
			return "(start)"
		}
		x := &e.pop.Endpoints.List[ep]
		return x.Method + " " + x.Template
	}
	var v profileView
	for _, x := range p.Endpoints {
		v.Endpoints = append(v.Endpoints, fmt.Sprintf("%s n=%d out=%g", name(x.EP), x.N, x.Out))
	}
	for _, x := range p.Trans {
		v.Trans = append(v.Trans, fmt.Sprintf("%s -> %s n=%g born=%d", name(x.From), name(x.To), x.N, x.Born))
	}
	sort.Strings(v.Endpoints)
	sort.Strings(v.Trans)
	v.Prev, v.LastIDEP = name(p.Prev), name(p.LastIDEP)
	p.Endpoints, p.Trans, p.Prev, p.LastIDEP = nil, nil, 0, 0
	p.Role, p.PeakBucket, p.Changed = 0, [nCounters]uint8{}, 0
	v.P = p
	return v
}

// TestExportImportRoundTrip: a profile exported from one engine and imported into another
// that interned the endpoints in another order is the same profile (same endpoints by
// template, counts, transitions, counters, object ids), counted once in the importer's
// population, and given a role there.
func TestExportImportRoundTrip(t *testing.T) {
	w := newWorld(42)
	w.background(40, 40*time.Minute)
	calls := w.sorted()

	a, _ := collector(t)
	feed(t, a, calls, 0, time.Hour, nil)
	if err := a.Flush(); err != nil {
		t.Fatal(err)
	}
	states, err := a.ExportClients([]int{1}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 1 || states[0].ClientID != movedClient || states[0].Partition != 1 {
		t.Fatalf("ExportClients([1], 0) = %d states (%+v); want the one client of partition 1", len(states), states)
	}
	if s := states[0]; s.Version != ClientStateVersion || s.Last != a.profiles[movedClient].Newest || len(s.State) == 0 {
		t.Fatalf("state = version %d last %d, %d bytes; want version %d, last %d", s.Version, s.Last, len(s.State), ClientStateVersion, a.profiles[movedClient].Newest)
	}
	if all, _ := a.ExportClients(nil, 0); len(all) != a.Stats().Clients {
		t.Fatalf("ExportClients(nil, 0) = %d states; want all %d clients", len(all), a.Stats().Clients)
	}

	b, _ := collector(t)
	reverseInterning(b, calls)
	feed(t, b, calls, 0, time.Hour, func(c *models.APICall) bool { return c.ClientID != movedClient })
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if a.pop.Endpoints.List[1].Template == b.pop.Endpoints.List[1].Template {
		t.Fatal("test setup: both engines interned the endpoints in the same order")
	}
	clients, mature := b.pop.All.Clients, b.pop.Cohorts[KindHuman].Mature
	if err := b.ImportClients(states); err != nil {
		t.Fatal(err)
	}
	if got, want := viewOf(b, movedClient), viewOf(a, movedClient); !reflect.DeepEqual(got, want) {
		t.Fatalf("imported profile differs:\n got  %+v\n want %+v", got, want)
	}
	p := b.profiles[movedClient]
	if p.Partition != 1 || p.Role == 0 || b.pop.All.Clients != clients+1 || b.pop.Cohorts[KindHuman].Mature != mature+1 {
		t.Fatalf("import: partition %d role %d, clients %d->%d, mature humans %d->%d; want partition 1, a role, one more of each",
			p.Partition, p.Role, clients, b.pop.All.Clients, mature, b.pop.Cohorts[KindHuman].Mature)
	}
	// The object ids it touched are known to the importer.
	for _, id := range human(6).ids {
		ep, _ := b.pop.Endpoints.lookup("api.example.com", "GET", "/api/orders/{id}", 0)
		h, _, _ := objectID(fmt.Sprintf("/api/orders/%d", id), "/api/orders/{id}", "")
		if !p.bloomHas(h ^ b.epKey(ep)*0x9e3779b97f4a7c15) {
			t.Errorf("order %d the client opened is new to the importer", id)
		}
	}

	// Importing again changes nothing: the profile in memory is as new.
	before := viewOf(b, movedClient)
	if err := b.ImportClients(states); err != nil || !reflect.DeepEqual(viewOf(b, movedClient), before) || b.pop.All.Clients != clients+1 {
		t.Fatalf("second import: err %v, population %d; want the same profile, counted once", err, b.pop.All.Clients)
	}
	// Dropping the partition forgets the client and its share of the population.
	b.DropPartitions([]int{1})
	if _, ok := b.profiles[movedClient]; ok || b.pop.All.Clients != clients || b.pop.Cohorts[KindHuman].Mature != mature {
		t.Fatalf("after DropPartitions: present %v, clients %d, mature %d; want gone, %d, %d", ok, b.pop.All.Clients,
			b.pop.Cohorts[KindHuman].Mature, clients, mature)
	}
	if got := b.Partitions(); !reflect.DeepEqual(got, []int{0}) {
		t.Fatalf("Partitions() = %v; want [0]", got)
	}
}

// TestImportRefusesBadStates: unknown versions and corrupt encodings are skipped and
// reported, the good states are still loaded.
func TestImportRefusesBadStates(t *testing.T) {
	w := newWorld(42)
	w.background(5, 20*time.Minute)
	a, _ := collector(t)
	calls := w.sorted()
	feed(t, a, calls, 0, time.Hour, nil)
	states, err := a.ExportClients(nil, 0)
	if err != nil || len(states) < 3 {
		t.Fatalf("export: %d states, %v", len(states), err)
	}
	states[0].Version = ClientStateVersion + 1
	states[1].State = []byte("garbage")
	b, _ := collector(t)
	err = b.ImportClients(states)
	if !errors.Is(err, ErrClientStateVersion) {
		t.Fatalf("ImportClients error = %v; want ErrClientStateVersion among the reasons", err)
	}
	if got := b.Stats().Clients; got != len(states)-2 {
		t.Fatalf("imported %d clients; want %d (all but the two bad states)", got, len(states)-2)
	}
}

// TestExportSince: only profiles changed at or after the given clock are exported.
func TestExportSince(t *testing.T) {
	w := newWorld(42)
	w.background(10, 30*time.Minute)
	calls := w.sorted()
	a, _ := collector(t)
	feed(t, a, calls, 0, 20*time.Minute, nil)
	if err := a.Flush(); err != nil {
		t.Fatal(err)
	}
	clock := a.maxTS
	all, _ := a.ExportClients(nil, 0)
	// One more call of one client.
	c := calls[len(calls)-1]
	if err := a.ProcessFrom(partitionOf(&c), &c); err != nil {
		t.Fatal(err)
	}
	if err := a.Flush(); err != nil {
		t.Fatal(err)
	}
	changed, _ := a.ExportClients(nil, clock+1)
	if len(changed) != 1 || changed[0].ClientID != c.ClientID {
		t.Fatalf("ExportClients(nil, clock) after one call = %d states; want only %s (of %d)", len(changed), c.ClientID, len(all))
	}
}

// TestMovedClientIsNotNew: a client learned by engine A on partition 1, moved to engine B
// (which knows the other clients, with other endpoint ids), is judged by B as A would have
// judged it: its ordinary calls raise nothing, and its sequential walk through other
// people's orders raises the same finding as in one uninterrupted engine. A fresh engine
// that never saw the client treats it as new: it is still young when the walk starts, so
// the walk is not judged against the client's own paths and the sequence anomaly A
// raises does not come.
func TestMovedClientIsNotNew(t *testing.T) {
	const cut = 25 * time.Minute // the move; the walk starts at attackStart (30 min)
	walk := detectorCases[1]
	if walk.subject != movedClient {
		t.Fatalf("detector case %q is about %s, not %s", walk.name, walk.subject, movedClient)
	}
	for _, tc := range []struct {
		name  string
		abuse bool
	}{{"ordinary calls", false}, {"order walk", true}} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(42)
			w.background(40, 60*time.Minute)
			if tc.abuse {
				walk.abuse(w)
			}
			calls := w.sorted()

			whole, wholeOut := collector(t)
			feed(t, whole, calls, 0, 2*time.Hour, nil)
			if err := whole.Flush(); err != nil {
				t.Fatal(err)
			}
			want := alerts(*wholeOut)[movedClient]

			a, _ := collector(t)
			feed(t, a, calls, 0, cut, nil)
			if err := a.Flush(); err != nil {
				t.Fatal(err)
			}
			states, err := a.ExportClients([]int{1}, 0)
			if err != nil {
				t.Fatal(err)
			}

			// B and a fresh B' learned the other clients until the move.
			moved := func(import_ bool) []models.Finding {
				b, out := collector(t)
				reverseInterning(b, calls)
				feed(t, b, calls, 0, cut, func(c *models.APICall) bool { return c.ClientID != movedClient })
				if err := b.Flush(); err != nil {
					t.Fatal(err)
				}
				if import_ {
					if err := b.ImportClients(states); err != nil {
						t.Fatal(err)
					}
				}
				*out = nil
				feed(t, b, calls, cut, 2*time.Hour, nil)
				if err := b.Flush(); err != nil {
					t.Fatal(err)
				}
				return alerts(*out)[movedClient]
			}
			got, fresh := moved(true), moved(false)
			t.Logf("uninterrupted: %s; moved: %s; fresh engine: %s", kinds(want), kinds(got), kinds(fresh))
			// Kinds and severities, in order; figures in summaries may differ a little
			// (B's cohort did not see the client's own transitions).
			if alertKinds(got) != alertKinds(want) {
				t.Errorf("moved client's alerts %q; want those of an uninterrupted engine, %q", alertKinds(got), alertKinds(want))
			}
			if !tc.abuse {
				if len(got) > 0 {
					t.Errorf("moved client alerted on its ordinary calls: %s", kinds(got))
				}
				return
			}
			if len(want) == 0 {
				t.Fatal("test setup: the walk raises nothing in an uninterrupted engine")
			}
			if alertKinds(fresh) == alertKinds(want) {
				t.Errorf("a fresh engine raised %q too: the test does not tell a moved client from a new one", alertKinds(fresh))
			}
		})
	}
}

// alertKinds lists kind/severity of findings in order.
func alertKinds(fs []models.Finding) string {
	var k []string
	for _, f := range fs {
		k = append(k, f.Kind+"/"+f.Severity)
	}
	return strings.Join(k, " ")
}

// fuzzState is an exported state of one client of a small world, and calls it makes next.
func fuzzState(tb testing.TB) (ClientState, []models.APICall) {
	w := newWorld(3)
	w.background(4, 20*time.Minute)
	calls := w.sorted()
	a, _ := collector(tb)
	feed(tb, a, calls, 0, 15*time.Minute, nil)
	if err := a.Flush(); err != nil {
		tb.Fatal(err)
	}
	states, err := a.ExportClients(nil, 0)
	if err != nil {
		tb.Fatal(err)
	}
	// user001, as in the checked-in seeds.
	i := sort.Search(len(states), func(i int) bool { return states[i].ClientID >= "user001" })
	if i == len(states) || states[i].ClientID != "user001" {
		tb.Fatal("no state of user001")
	}
	var next []models.APICall
	for _, c := range calls {
		if c.ClientID == "user001" && c.TS.Sub(t0) >= 15*time.Minute && len(next) < 5 {
			next = append(next, c)
		}
	}
	return states[i], next
}

// FuzzImportClients: any bytes as a client's state are loaded or refused; nothing panics,
// neither the import nor the client's next calls.
func FuzzImportClients(f *testing.F) {
	st, next := fuzzState(f)
	f.Add(st.State)
	f.Add([]byte("garbage"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := New(Config{}, OutputFunc(func(*models.Finding) error { return nil }))
		if err != nil {
			t.Fatal(err)
		}
		s := st
		s.State = b
		if err := e.ImportClients([]ClientState{s}); err != nil {
			return
		}
		for i := range next {
			if err := e.ProcessFrom(s.Partition, &next[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.Flush(); err != nil {
			t.Fatal(err)
		}
		if _, err := e.ExportClients(nil, 0); err != nil {
			t.Fatal(err)
		}
	})
}
