package analyzer

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/apiscope/apiscope/pkg/metrics"
)

// ClientState is one client's profile encoded so that another engine can load it: what
// moves with a Kafka partition when the consumer group hands it to another analyzer, and
// what the analyzer keeps in ClickHouse (analyzer_state).
type ClientState struct {
	// Partition is the input partition the client's calls arrive on.
	Partition int
	ClientID  string
	// Last is the newest capture time (unix ns) the profile learned from: of two states of
	// one client, the one with the larger Last is the newer.
	Last int64
	// Version is the encoding of State (ClientStateVersion when written by this build).
	Version int
	// State is the encoded profile.
	State []byte
}

// ClientStateVersion is the encoding ExportClients writes. ImportClients refuses others
// (ErrClientStateVersion): a newer encoding is not misread, the client is relearned.
const ClientStateVersion = 2

// maxClientState bounds the encoded state of one client ImportClients decodes; a typical
// state is a few KiB.
const maxClientState = 1 << 20

// ErrClientStateVersion is returned (wrapped) by ImportClients for a state of an unknown
// encoding version.
var ErrClientStateVersion = errors.New("analyzer: client state of an unknown encoding version")

// portableProfile is a Profile whose endpoint ids (Endpoints, Trans, Prev, LastIDEP) are
// indices into Endpoints + 1 (0 stays the session start) instead of the exporting engine's
// interned ids, which mean nothing elsewhere.
type portableProfile struct {
	Profile   Profile
	Endpoints []portableEndpoint
}

// portableEndpoint names an endpoint by what identifies it everywhere. FirstSeen is when
// the exporting engine first saw it: an engine that does not know it yet takes that, so it
// is not mistaken for an endpoint new to the population.
type portableEndpoint struct {
	Host, Method, Template string
	FirstSeen              int64
}

// stateMetrics count what moves between engines.
var stateMetrics = struct {
	exported, imported, kept, refused, dropped *metrics.Counter
}{
	exported: metrics.Default.Counter("apiscope_analyzer_client_states_exported_total", "Client profiles encoded for another analyzer or the state store."),
	imported: metrics.Default.Counter("apiscope_analyzer_client_states_imported_total", "Client profiles loaded from another analyzer's state."),
	kept:     metrics.Default.Counter("apiscope_analyzer_client_states_kept_total", "Client states not loaded because the profile in memory was as new or newer."),
	refused:  metrics.Default.Counter("apiscope_analyzer_client_states_refused_total", "Client states that could not be loaded (unknown version, corrupt); the client is relearned."),
	dropped:  metrics.Default.Counter("apiscope_analyzer_clients_dropped_total", "Client profiles forgotten because their partition moved to another analyzer."),
}

// partitionSet returns membership in parts; nil parts means every partition.
func partitionSet(parts []int) func(int32) bool {
	if parts == nil {
		return func(int32) bool { return true }
	}
	set := make(map[int32]bool, len(parts))
	for _, p := range parts {
		set[int32(p)] = true
	}
	return func(p int32) bool { return set[p] }
}

// ExportClients encodes the profiles of the clients of the given partitions (nil: every
// partition) that changed while the engine's clock (Clock, in unix ns) was at or after
// since; since 0 exports them all. States come in client order. Passing the clock of the
// previous export gives every profile changed since, and at worst a few unchanged ones
// again (a repeat is harmless: the newest state wins).
//
// What is carried: everything in the profile (counts, transitions, rates, peaks, object
// ids, addresses, agents, credentials). What is not: open incidents and held findings,
// detectors' own per-client state, and the client's share of the population's and
// cohorts' aggregates (those stay with each engine; the importer counts the client in its
// own). The role group is local to an engine's cohorts and is assigned again on import.
func (e *Engine) ExportClients(partitions []int, since int64) ([]ClientState, error) {
	var out []ClientState
	err := e.exportClients(partitions, since, 0, func(s []ClientState) error {
		out = append(out, s...)
		return nil
	})
	return out, err
}

// exportClients hands the states to fn in chunks of at most chunk (0: one chunk), so a
// large engine is saved without encoding every profile at once. A chunk is reused: fn
// must not keep it.
func (e *Engine) exportClients(partitions []int, since int64, chunk int, fn func([]ClientState) error) error {
	in := partitionSet(partitions)
	ids := make([]string, 0, len(e.profiles))
	for id, p := range e.profiles {
		if in(p.Partition) && (since == 0 || p.Changed >= since) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	sort.Strings(ids)
	if chunk <= 0 {
		chunk = len(ids)
	}
	buf := make([]ClientState, 0, min(chunk, len(ids)))
	for _, id := range ids {
		p := e.profiles[id]
		b, err := e.encodeClient(p)
		if err != nil {
			return err
		}
		buf = append(buf, ClientState{Partition: int(p.Partition), ClientID: id, Last: p.Newest, Version: ClientStateVersion, State: b})
		if len(buf) == chunk {
			if err := fn(buf); err != nil {
				return err
			}
			stateMetrics.exported.Add(uint64(len(buf)))
			buf = buf[:0]
		}
	}
	if len(buf) > 0 {
		if err := fn(buf); err != nil {
			return err
		}
		stateMetrics.exported.Add(uint64(len(buf)))
	}
	return nil
}

// encodeClient encodes one profile with its endpoint ids made portable.
func (e *Engine) encodeClient(p *Profile) ([]byte, error) {
	pp := portableProfile{Profile: *p}
	q := &pp.Profile
	list := e.pop.Endpoints.List
	index := map[uint32]uint32{}
	port := func(ep uint32) uint32 {
		if ep == 0 || int(ep) >= len(list) {
			return 0
		}
		if i, ok := index[ep]; ok {
			return i
		}
		x := &list[ep]
		pp.Endpoints = append(pp.Endpoints, portableEndpoint{Host: x.Host, Method: x.Method, Template: x.Template, FirstSeen: x.FirstSeen})
		i := uint32(len(pp.Endpoints))
		index[ep] = i
		return i
	}
	q.Endpoints = append([]epStat(nil), p.Endpoints...)
	for i := range q.Endpoints {
		q.Endpoints[i].EP = port(q.Endpoints[i].EP)
	}
	q.Trans = append([]transStat(nil), p.Trans...)
	for i := range q.Trans {
		q.Trans[i].From = port(q.Trans[i].From)
		q.Trans[i].To = port(q.Trans[i].To)
	}
	q.Prev = port(q.Prev)
	q.LastIDEP = port(q.LastIDEP)
	// Local to this engine's cohorts and clock.
	q.Role, q.PeakBucket, q.Changed = 0, [nCounters]uint8{}, 0
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(&pp); err != nil {
		return nil, fmt.Errorf("encode state of client %q: %w", p.ClientID, err)
	}
	return b.Bytes(), nil
}

// ImportClients loads client states written by ExportClients (of this engine or another).
// A client already in memory whose profile is as new as the state or newer (by Last) is
// kept. An imported client is counted in this engine's population and cohorts and gets a
// role group here; it then continues exactly as a client learned here, not as a new one.
// States that cannot be loaded (an unknown version, a corrupt encoding) are skipped,
// counted and reported together in the error after every other state is loaded: those
// clients are relearned from their next calls.
func (e *Engine) ImportClients(states []ClientState) error {
	var bad []error
	for i := range states {
		if err := e.importClient(&states[i]); err != nil {
			stateMetrics.refused.Inc()
			bad = append(bad, err)
		}
	}
	e.m.profiles.Set(float64(len(e.profiles)))
	switch {
	case len(bad) == 0:
		return nil
	case len(bad) > 3:
		return fmt.Errorf("%w; and %d more client states refused", errors.Join(bad[:3]...), len(bad)-3)
	}
	return errors.Join(bad...)
}

func (e *Engine) importClient(s *ClientState) error {
	if s.Version != ClientStateVersion {
		return fmt.Errorf("%w: client %q has version %d, want %d", ErrClientStateVersion, s.ClientID, s.Version, ClientStateVersion)
	}
	if old := e.profiles[s.ClientID]; old != nil && old.Newest >= s.Last {
		stateMetrics.kept.Inc()
		return nil
	}
	if len(s.State) > maxClientState {
		return fmt.Errorf("decode state of client %q: %d bytes, more than %d", s.ClientID, len(s.State), maxClientState)
	}
	var pp portableProfile
	if err := gob.NewDecoder(bytes.NewReader(s.State)).Decode(&pp); err != nil {
		return fmt.Errorf("decode state of client %q: %w", s.ClientID, err)
	}
	p := &pp.Profile
	if p.ClientID != s.ClientID || p.Kind >= nKinds || len(p.Endpoints) > maxEndpoints || len(p.Trans) > maxTransitions {
		return fmt.Errorf("decode state of client %q: inconsistent state (client %q, kind %d, %d endpoints, %d transitions)",
			s.ClientID, p.ClientID, p.Kind, len(p.Endpoints), len(p.Trans))
	}
	sanitize(p)
	// Intern the endpoints here and map the portable indices to this engine's ids.
	ids := make([]uint32, len(pp.Endpoints)+1)
	for i, x := range pp.Endpoints {
		ids[i+1], _ = e.pop.Endpoints.lookup(x.Host, x.Method, x.Template, x.FirstSeen)
	}
	local := func(i uint32) (uint32, bool) {
		if int(i) >= len(ids) {
			return 0, false
		}
		return ids[i], true
	}
	var ok bool
	for i := range p.Endpoints {
		if p.Endpoints[i].EP, ok = local(p.Endpoints[i].EP); !ok || p.Endpoints[i].EP == 0 {
			return fmt.Errorf("decode state of client %q: endpoint index out of range", s.ClientID)
		}
	}
	for i := range p.Trans {
		t := &p.Trans[i]
		f, ok1 := local(t.From)
		to, ok2 := local(t.To)
		if !ok1 || !ok2 {
			return fmt.Errorf("decode state of client %q: transition index out of range", s.ClientID)
		}
		t.From, t.To = f, to
	}
	p.Prev, _ = local(p.Prev)
	p.LastIDEP, _ = local(p.LastIDEP)
	p.Endpoints = sortEndpoints(p.Endpoints)
	p.Partition = int32(s.Partition)
	p.Role, p.PeakBucket, p.Changed = 0, [nCounters]uint8{}, 0
	p.RecentPos %= recentRing

	if old := e.profiles[s.ClientID]; old != nil {
		e.unregister(old)
	}
	delete(e.newParts, s.ClientID)
	e.profiles[s.ClientID] = p
	e.register(p)
	stateMetrics.imported.Inc()
	return nil
}

// sanitize replaces what no engine writes but a damaged row could hold (NaN, infinities,
// negative counts) by zero, so every bucket index computed from the profile stays in range.
func sanitize(p *Profile) {
	fix := func(v *float32) {
		if f := float64(*v); math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
			*v = 0
		}
	}
	for _, a := range []*[nCounters]float32{&p.Counters, &p.Peaks, &p.Pending} {
		for i := range a {
			fix(&a[i])
		}
	}
	for i := range p.Status {
		fix(&p.Status[i])
	}
	for i := range p.Hours {
		fix(&p.Hours[i])
	}
	for i := range p.Endpoints {
		fix(&p.Endpoints[i].Out)
	}
	for i := range p.Trans {
		fix(&p.Trans[i].N)
	}
	fix(&p.Surprise)
}

// sortEndpoints sorts by id and merges entries that two templates the exporter kept apart
// became here (the ids are unique again, as addEndpoint keeps them).
func sortEndpoints(eps []epStat) []epStat {
	sort.Slice(eps, func(i, j int) bool { return eps[i].EP < eps[j].EP })
	out := eps[:0]
	for _, x := range eps {
		if n := len(out); n > 0 && out[n-1].EP == x.EP {
			out[n-1].N += x.N
			out[n-1].Out += x.Out
			continue
		}
		out = append(out, x)
	}
	return out
}

// register counts an imported profile in the population and its cohort as learn counts a
// client it sees: a member of its kind, a caller of its endpoints, and, once mature, its
// peaks in the cohort's histograms and a member of a role group.
func (e *Engine) register(p *Profile) {
	pop := e.pop
	co := pop.Cohorts[p.Kind]
	pop.All.Clients++
	co.Clients++
	for _, x := range p.Endpoints {
		pop.Endpoints.List[x.EP].Clients++
		co.EPClients[x.EP]++
		pop.All.EPClients[x.EP]++
	}
	if p.MatureAt != 0 {
		co.Mature++
		registerPeaks(p, co, pop.All)
		p.Role = co.assignRole(p)
	}
}

// unregister takes a profile out of the counts register (or learning) put it in, so a
// client that leaves this engine no longer counts among its population's members.
// Aggregates that are not per client (transition and call counts) keep what it did.
func (e *Engine) unregister(p *Profile) {
	pop := e.pop
	co := pop.Cohorts[p.Kind]
	dec := func(n *uint32) {
		if *n > 0 {
			*n--
		}
	}
	decMap := func(m map[uint32]uint32, ep uint32) {
		if n := m[ep]; n > 1 {
			m[ep] = n - 1
		} else {
			delete(m, ep)
		}
	}
	dec(&pop.All.Clients)
	dec(&co.Clients)
	for _, x := range p.Endpoints {
		if int(x.EP) < len(pop.Endpoints.List) {
			dec(&pop.Endpoints.List[x.EP].Clients)
		}
		decMap(co.EPClients, x.EP)
		decMap(pop.All.EPClients, x.EP)
	}
	if p.Role != 0 && int(p.Role) <= len(co.Roles) {
		g := co.Roles[p.Role-1]
		dec(&g.Members)
		for _, x := range p.Endpoints {
			decMap(g.EPClients, x.EP)
		}
	}
	if p.PeakBucket != ([nCounters]uint8{}) {
		dec(&co.Mature)
		for i, b := range p.PeakBucket {
			if b == 0 {
				continue
			}
			dec(&co.PeakHist[i][b-1])
			dec(&pop.All.PeakHist[i][b-1])
		}
	}
}

// DropPartitions forgets the clients of the given partitions, as when the consumer group
// hands them to another analyzer: their profiles leave memory and the population's
// counts. Held findings of those clients are released now (judged as at the end of their
// hold) and their open incidents forgotten: the next owner does not know them, so a signal
// it raises for such a client opens a new incident (an alert may repeat once). Detectors'
// own per-client state is not touched; it expires as the detectors age it out. Calls of
// those partitions should be processed first (Flush): one still in the reorder buffer
// would start a new profile here.
func (e *Engine) DropPartitions(partitions []int) {
	if len(partitions) == 0 {
		return
	}
	in := partitionSet(partitions)
	gone := map[string]bool{}
	for id, p := range e.profiles {
		if in(p.Partition) {
			gone[id] = true
		}
	}
	for id, part := range e.newParts {
		if in(part) {
			delete(e.newParts, id)
		}
	}
	if len(gone) == 0 {
		return
	}
	owner := func(key string) bool {
		id, _, ok := strings.Cut(key, "\x00")
		return ok && gone[id]
	}
	// Release the dropped clients' held findings in release order, as releasePending would.
	pend := e.inc.Pending[:0]
	for _, pf := range e.inc.Pending {
		if !owner(pf.Key) {
			pend = append(pend, pf)
			continue
		}
		if e.err != nil {
			continue
		}
		e.releaseHeld(&pf)
	}
	for i := len(pend); i < len(e.inc.Pending); i++ {
		e.inc.Pending[i] = pendingFinding{}
	}
	e.inc.Pending = pend
	for k := range e.inc.Open {
		if owner(k) {
			delete(e.inc.Open, k)
		}
	}
	for id := range gone {
		e.unregister(e.profiles[id])
		delete(e.profiles, id)
	}
	stateMetrics.dropped.Add(uint64(len(gone)))
	e.m.profiles.Set(float64(len(e.profiles)))
}

// Partitions returns the partitions the engine holds clients of, in order.
func (e *Engine) Partitions() []int {
	set := map[int32]bool{}
	for _, p := range e.profiles {
		set[p.Partition] = true
	}
	out := make([]int, 0, len(set))
	for p := range set {
		out = append(out, int(p))
	}
	sort.Ints(out)
	return out
}
