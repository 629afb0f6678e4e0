package world

import (
	"container/heap"
	"context"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/apiscope/apiscope/pkg/simulate/scenario"
	"github.com/apiscope/apiscope/pkg/simulate/truth"
)

// Call is one API call as it goes on the wire. The slices are only valid until the
// next call is produced (the world reuses them).
type Call struct {
	// TS is the request's first byte, microseconds since the Unix epoch.
	TS      int64
	Client  *Client
	Src     netip.Addr
	UA      string
	Service *Service
	// Endpoint is nil for paths outside the API (fuzzing).
	Endpoint *Endpoint
	Method   string
	URI      []byte
	// AuthHeader and AuthValue carry the credential (Authorization: Bearer ..., X-API-Key).
	AuthHeader string
	AuthValue  string
	// Headers are further request header lines ("Name: value\r\n" each) the client's
	// software sends: trace context, request ids, app versions.
	Headers   []byte
	Body      []byte
	Status    int
	RespSize  int
	Chunked   bool
	LatencyUS int64
	// Close asks for Connection: close.
	Close bool
	// Pool names the connection pool: calls with the same Pool and Src may share a TCP
	// connection.
	Pool     uint32
	RTTUS    int64
	MSS      int
	Incident string
	// Principal and Actor are what the credential carries (empty for API keys and no auth).
	Principal string
	Actor     string
}

// World is a running simulation. Not safe for concurrent use.
type World struct {
	sc        *scenario.Scenario
	seed      uint64
	scaleName string
	scale     scenario.Scale
	// Start, End and CleanEnd are microseconds since the epoch.
	Start, End, CleanEnd int64

	objs     map[string]*Object
	services []*Service
	eps      map[string]*Endpoint
	byIndex  []*Client
	owners   int
	benign   []*benign
	attacks  []*attack
	actors   actorHeap
	nActors  int

	clientNet    netip.Prefix
	attackerNets []netip.Prefix
	nClientIP    int
	nAttackerIP  int
	nSpareIP     int
	usedIP       map[netip.Addr]bool
	issuer       string
	brand        string

	call    Call
	uriBuf  []byte
	bodyBuf []byte
	hdrBuf  []byte
}

// MaxClients bounds the population of one run (memory grows with it).
const MaxClients = 2_000_000

// New builds the world of sc at the named scale (small, medium, large).
func New(sc *scenario.Scenario, scale string, seed uint64) (*World, error) {
	sca, ok := sc.Scales[scale]
	if !ok {
		return nil, fmt.Errorf("unknown scale %q (want small, medium or large)", scale)
	}
	w := &World{
		sc: sc, seed: seed, scaleName: scale, scale: sca,
		usedIP: map[netip.Addr]bool{},
	}
	w.Start = sc.Start.UnixMicro()
	w.End = w.Start + int64(sca.Duration)/1000
	w.CleanEnd = w.at(sc.Clean)
	w.clientNet, _ = netip.ParsePrefix(sc.Network.Clients)
	for _, p := range sc.Network.Attackers {
		pp, _ := netip.ParsePrefix(p)
		w.attackerNets = append(w.attackerNets, pp)
	}
	for _, sv := range sc.Services {
		w.usedIP[netip.MustParseAddr(sv.IP)] = true
	}
	host := sc.Services[0].Host
	if i := strings.IndexByte(host, '.'); i >= 0 {
		host = host[i+1:]
	}
	w.issuer = "https://id." + host
	// Apps are named after the organisation's domain: api.shop.example -> ShopApp.
	brand, _, _ := strings.Cut(host, ".")
	if brand == "" {
		brand = sc.Name
	}
	w.brand = strings.ToUpper(brand[:1]) + brand[1:]
	total := 0.0
	for i := range sc.Clients {
		total += math.Max(1, float64(sc.Clients[i].Count)*sca.Clients)
	}
	if total > MaxClients {
		return nil, fmt.Errorf("scale %s makes %.0f clients; at most %d", scale, total, MaxClients)
	}
	w.objs = compileObjects(sc, seed)
	var err error
	w.services, w.eps, err = compileServices(sc, w.objs, w)
	if err != nil {
		return nil, err
	}
	w.buildPopulation()
	if err := w.buildAttacks(); err != nil {
		return nil, err
	}
	w.owners = len(w.byIndex)
	for _, b := range w.benign {
		b.schedule(w)
	}
	for _, a := range w.attacks {
		w.push(&a.act)
	}
	return w, nil
}

// at converts a capture fraction to a time.
func (w *World) at(frac float64) int64 {
	return w.Start + int64(math.Round(frac*float64(w.End-w.Start)))
}

// Services returns the world's services in scenario order.
func (w *World) Services() []*Service { return w.services }

func (w *World) buildPopulation() {
	users := map[string][]*Client{}
	var agents []*benign
	for i := range w.sc.Clients {
		ck := &w.sc.Clients[i]
		rng := newRNG(w.seed, "population/"+ck.Name)
		n := int(math.Round(float64(ck.Count) * w.scale.Clients))
		if n < 1 && ck.Count > 0 {
			n = 1
		}
		for k := 0; k < n; k++ {
			c := w.newClient(ck, k+1, rng)
			c.Heavy = rng.Float64() < ck.Heavy
			c.Late = rng.Float64() < ck.Late
			b := newBenign(w, c)
			w.benign = append(w.benign, b)
			if c.Kind == scenario.KindUser {
				users[ck.Name] = append(users[ck.Name], c)
			}
			if c.Kind == scenario.KindAgent {
				agents = append(agents, b)
			}
		}
	}
	// Agents acting for users take a user of the first user kind sharing a workflow
	// service, or any user.
	var all []*Client
	for i := range w.sc.Clients {
		all = append(all, users[w.sc.Clients[i].Name]...)
	}
	for _, b := range agents {
		rng := newRNG(w.seed, "delegation/"+b.c.ID)
		if len(all) > 0 && rng.Float64() < b.c.spec.ForUsers {
			b.c.forUser(all[rng.IntN(len(all))])
		} else {
			b.c.agentOwnPrincipal()
		}
	}
}

// Run produces every call in capture-time order, calling emit for each. emit must not
// keep the Call or its slices. It stops early when ctx is done or emit fails.
func (w *World) Run(ctx context.Context, emit func(*Call) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n := 0
	for w.actors.Len() > 0 {
		a := w.actors[0]
		t := a.next
		if t >= w.End {
			heap.Pop(&w.actors)
			continue
		}
		made := a.fire(w, t)
		if a.next <= t && !made {
			// An actor that neither called nor moved on would spin: retire it.
			a.next = math.MaxInt64
		}
		heap.Fix(&w.actors, a.idx)
		if !made {
			continue
		}
		if err := emit(&w.call); err != nil {
			return err
		}
		if n++; n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Labels returns the ground truth known after Run: incidents, benign clients, events.
func (w *World) Labels() truth.Labels {
	l := truth.Labels{
		Scenario:   w.sc.Name,
		Scale:      w.scaleName,
		Seed:       w.seed,
		Start:      time.UnixMicro(w.Start).UTC(),
		End:        time.UnixMicro(w.End).UTC(),
		CleanUntil: time.UnixMicro(w.CleanEnd).UTC(),
	}
	for _, a := range w.attacks {
		if a.n == 0 {
			continue
		}
		l.Incidents = append(l.Incidents, a.incident())
	}
	for _, b := range w.benign {
		c := b.c
		if !c.Benign {
			continue
		}
		tc := truth.Client{ID: c.ID, Kind: c.Kind, Group: c.Group, Principal: c.Principal, Actor: c.Actor, Heavy: c.Heavy, Late: c.Late}
		for _, ip := range c.IPs {
			tc.IPs = append(tc.IPs, ip.String())
		}
		l.BenignClients = append(l.BenignClients, tc)
	}
	for _, ev := range w.sc.Events {
		switch ev.Type {
		case scenario.EventDeploy:
			t := w.at(ev.At)
			l.Events = append(l.Events, truth.Event{Type: "deploy", Start: time.UnixMicro(t).UTC(), End: time.UnixMicro(t).UTC(),
				Description: fmt.Sprintf("endpoint %s %s deployed; every client whose workflow uses it adopts it at once", w.eps[ev.Endpoint].Method, w.eps[ev.Endpoint].Template)})
		case scenario.EventOutage:
			t := w.at(ev.At)
			l.Events = append(l.Events, truth.Event{Type: "outage", Start: time.UnixMicro(t).UTC(), End: time.UnixMicro(t + int64(ev.Duration)/1000).UTC(),
				Description: fmt.Sprintf("service %s answers %d to %.0f%% of calls; clients retry with backoff", ev.Service, ev.Status, ev.Share*100)})
		}
	}
	for i := range w.sc.Clients {
		ck := &w.sc.Clients[i]
		if ck.Kind == scenario.KindBatch {
			l.Events = append(l.Events, truth.Event{Type: "batch_spike", Start: l.Start, End: l.End,
				Description: fmt.Sprintf("batch jobs %s run every %v and make %v calls each run", ck.Name, time.Duration(ck.Every[0]), ck.Calls)})
		}
	}
	return l
}

// actor is one client or attack in the event loop.
type actor struct {
	next  int64
	order int
	idx   int
	// fire makes the call due at t into w.call (reporting whether it did) and sets next.
	fire func(w *World, t int64) bool
}

type actorHeap []*actor

func (h actorHeap) Len() int { return len(h) }
func (h actorHeap) Less(i, j int) bool {
	if h[i].next != h[j].next {
		return h[i].next < h[j].next
	}
	return h[i].order < h[j].order
}
func (h actorHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx = i
	h[j].idx = j
}
func (h *actorHeap) Push(x any) {
	a := x.(*actor)
	a.idx = len(*h)
	*h = append(*h, a)
}
func (h *actorHeap) Pop() any {
	old := *h
	a := old[len(old)-1]
	*h = old[:len(old)-1]
	a.idx = -1
	return a
}

func (w *World) push(a *actor) {
	a.order = w.nActors
	w.nActors++
	heap.Push(&w.actors, a)
}

// wake moves a scheduled actor's next call earlier, to t.
func (w *World) wake(a *actor, t int64) {
	if a.idx < 0 || a.next <= t {
		return
	}
	a.next = t
	heap.Fix(&w.actors, a.idx)
}
