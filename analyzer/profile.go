package analyzer

import (
	"math"
	"sort"
	"strings"

	"github.com/apiscope/apiscope/models"
)

// Client kinds, inferred from authentication, actor and user agent.
const (
	KindAnonymous   uint8 = iota // no credential: identified by source address
	KindHuman                    // browser or mobile app sessions
	KindAgent                    // an AI agent or tool caller, often acting for a user
	KindIntegration              // API keys, Basic auth, scripts, scheduled jobs
	nKinds
)

// KindName names a client kind.
func KindName(k uint8) string {
	switch k {
	case KindHuman:
		return "human"
	case KindAgent:
		return "agent"
	case KindIntegration:
		return "integration"
	}
	return "anonymous"
}

var agentMarkers = []string{"agent", "langchain", "openai", "gpt", "claude", "anthropic", "llm", "mcp", "autogen", "crewai", "copilot"}
var scriptMarkers = []string{"python", "curl", "go-http", "java/", "node-fetch", "axios", "wget", "ruby", "perl", "libwww", "httpclient", "postman", "powershell", "aiohttp", "httpx", "requests"}
var humanMarkers = []string{"mozilla", "android", "iphone", "ipad", "ios", "dalvik", "cfnetwork", "mobile", "okhttp"}

// inferKind classifies a client from one call. Order matters: an actor claim or an
// agent-like user agent wins, then the credential type, then the user agent.
func inferKind(c *models.APICall) uint8 {
	if c.Actor != "" {
		return KindAgent
	}
	ua := strings.ToLower(c.UserAgent)
	if containsAny(ua, agentMarkers) {
		return KindAgent
	}
	switch c.Auth {
	case models.AuthAPIKey, models.AuthBasic:
		return KindIntegration
	case models.AuthCookie:
		return KindHuman
	}
	if containsAny(ua, humanMarkers) && c.Auth != "" && c.Auth != models.AuthNone {
		return KindHuman
	}
	if containsAny(ua, scriptMarkers) && c.Auth != "" && c.Auth != models.AuthNone {
		return KindIntegration
	}
	if c.Auth == models.AuthJWT {
		return KindHuman
	}
	return KindAnonymous
}

func containsAny(s string, subs []string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

// epStat is one endpoint a client called.
type epStat struct {
	EP  uint32
	N   uint32  // calls
	Out float32 // transitions counted from this endpoint (halved with them)
}

// transStat is one transition between endpoints with its count.
type transStat struct {
	From, To uint32
	N        float32
	// Born is when the client first took it, in seconds since the client's first call.
	Born uint32
}

// probationS is how long a transition a mature client starts taking stays out of its own
// model: repeating an abuse does not make it the client's normal within minutes.
const probationS = 3600

// seenValue is one value (an IP, a user-agent id) behind a client, with its last use.
type seenValue struct {
	V    string
	Last int64
	N    uint32
}

// recentCall is a compact copy of one call, for sample calls in evidence.
type recentCall struct {
	TS     int64
	Method string
	URI    string
	Status uint16
	Bytes  int64
}

// Bounds on a profile. They keep a typical client near 2 KiB and every client bounded.
const (
	maxEndpoints   = 96
	maxTransitions = 128
	maxSeen        = 4
	recentRing     = 4
	bloomWords     = 8 // per generation: 512 bits
	bloomGen       = 160
)

// Profile is what the analyzer knows about one client. Fields are exported for the
// checkpoint encoding only; nothing outside the package reads them.
type Profile struct {
	ClientID, Principal, Actor string
	Kind                       uint8
	// Role is the client's role group in its cohort + 1 (0: not assigned yet).
	Role        uint8
	First, Last int64 // capture times (unix ns)
	// MatureAt is when the client finished its warm-up (0: not yet).
	MatureAt int64
	// ActiveMin counts the distinct minutes (capture time) with calls; LastMin is the
	// last of them, in minutes since First.
	ActiveMin uint16
	LastMin   uint32
	// UnlistedN counts the calls that fetched an object the client never listed.
	UnlistedN uint32
	N         uint32
	// Prev is the endpoint of the previous call (0: session start).
	Prev uint32
	// Counters are decayed counts (see decay.go) at time CT; Peaks their decayed maxima.
	CT       int64
	Counters [nCounters]float32
	Peaks    [nCounters]float32
	// Pending holds a young client's maxima in its current minute; they become peaks when
	// the minute ends, so a burst in progress is never its own baseline.
	Pending [nCounters]float32
	// PeakBucket is the cohort histogram bucket each peak is registered in (0: none).
	PeakBucket [nCounters]uint8
	Endpoints  []epStat    // sorted by EP
	Trans      []transStat // unsorted, bounded
	IPs        [maxSeen]seenValue
	UAs        [maxSeen]seenValue
	// Creds are the credential fingerprints the client presented (tokens rotate).
	Creds  [2]seenValue
	Scopes [2]string
	// Status is the status mix: 1xx-2xx, 3xx, 4xx, 5xx, none.
	Status [5]float32
	// Hours is the call count by hour of day (UTC): the client's daily rhythm.
	Hours [24]float32
	// Sizes is a half-octave histogram of response sizes.
	Sizes [32]uint16
	// Bloom holds object ids (endpoint, id) touched, in two generations.
	Bloom    [2][bloomWords]uint64
	BloomN   uint16
	Surprise float32 // decayed mean surprisal of its transitions (bits)
	// LastID is the numeric value of the last object id on its endpoint, for sequentiality.
	LastID     int64
	LastIDEP   uint32
	Sequential uint16 // consecutive ids in a row
	Recent     [recentRing]recentCall
	// ErrWin is the activity window in which the client last counted as seeing errors.
	ErrWin int64
	// Newest is the newest capture time the profile learned from (Last is the last call
	// processed, which a late call moves back): the age of the state when it moves to
	// another engine (ClientState.Last).
	Newest int64
	// Changed is the engine's clock (Engine.Clock) when the profile last learned, so the
	// profiles changed since a save can be found (ExportClients); local to one engine.
	Changed int64
	// Partition is the input partition (Kafka) the client's calls arrive on; 0 without.
	Partition int32
	RecentPos uint8
}

// age is the time since the client's first call in whole seconds.
func (p *Profile) age(ts int64) uint32 {
	return uint32(min(max(ts-p.First, 0)/1e9, math.MaxUint32))
}

// mature reports whether the client has been observed long enough to be judged against
// itself.
func (p *Profile) mature(ts int64, cfg *Config) bool {
	return ts-p.First >= int64(cfg.warmup()) && int(p.N) >= cfg.warmupCalls() && p.ActiveMin >= minActiveMinutes
}

// minActiveMinutes is the least number of distinct minutes with calls for a client to
// mature: twenty calls in one burst are not a baseline.
const minActiveMinutes = 5

// decayTo brings the counters and peaks to ts.
func (p *Profile) decayTo(ts int64) {
	dt := ts - p.CT
	if dt <= 0 {
		return
	}
	for i := range p.Counters {
		if p.Counters[i] != 0 {
			p.Counters[i] *= float32(decayFactor(dt, halfLives[i]))
		}
	}
	pf := float32(decayFactor(dt, peakHalfLife))
	for i := range p.Peaks {
		p.Peaks[i] *= pf
	}
	p.CT = ts
}

// endpoint returns the index of ep in Endpoints, or -1.
func (p *Profile) endpoint(ep uint32) int {
	i := sort.Search(len(p.Endpoints), func(i int) bool { return p.Endpoints[i].EP >= ep })
	if i < len(p.Endpoints) && p.Endpoints[i].EP == ep {
		return i
	}
	return -1
}

// hasEndpoint reports whether the client called ep before.
func (p *Profile) hasEndpoint(ep uint32) bool { return p.endpoint(ep) >= 0 }

// addEndpoint counts a call to ep and reports whether it was new. When the set is full,
// the least used endpoint gives way.
func (p *Profile) addEndpoint(ep uint32) bool {
	i := sort.Search(len(p.Endpoints), func(i int) bool { return p.Endpoints[i].EP >= ep })
	if i < len(p.Endpoints) && p.Endpoints[i].EP == ep {
		p.Endpoints[i].N++
		return false
	}
	if len(p.Endpoints) >= maxEndpoints {
		min := 0
		for j := range p.Endpoints {
			if p.Endpoints[j].N < p.Endpoints[min].N {
				min = j
			}
		}
		p.Endpoints = append(p.Endpoints[:min], p.Endpoints[min+1:]...)
		if min < i {
			i--
		}
	}
	p.Endpoints = append(p.Endpoints, epStat{})
	copy(p.Endpoints[i+1:], p.Endpoints[i:])
	p.Endpoints[i] = epStat{EP: ep, N: 1}
	return true
}

// transition returns the client's count of from->to and of transitions from `from`. A
// transition first taken after the client matured counts as unseen for probationS.
func (p *Profile) transition(from, to uint32, ts int64) (n, out float64) {
	for i := range p.Trans {
		if t := &p.Trans[i]; t.From == from && t.To == to {
			born := p.First + int64(t.Born)*1e9
			if p.MatureAt == 0 || born < p.MatureAt || ts-born >= probationS*1e9 {
				n = float64(t.N)
			}
			break
		}
	}
	if from == 0 {
		// Session starts are not an endpoint; count them from the transitions.
		for i := range p.Trans {
			if p.Trans[i].From == 0 {
				out += float64(p.Trans[i].N)
			}
		}
		return n, out
	}
	if j := p.endpoint(from); j >= 0 {
		out = float64(p.Endpoints[j].Out)
	}
	return n, out
}

// addTransition counts from->to, halving the counts from `from` when they grow large so
// the model follows change, and evicting the weakest transition when full.
func (p *Profile) addTransition(from, to uint32, ts int64) {
	j := -1
	if from != 0 {
		j = p.endpoint(from)
	}
	if j >= 0 {
		p.Endpoints[j].Out++
		if p.Endpoints[j].Out > 4096 {
			p.Endpoints[j].Out /= 2
			for i := range p.Trans {
				if p.Trans[i].From == from {
					p.Trans[i].N /= 2
				}
			}
		}
	}
	for i := range p.Trans {
		if p.Trans[i].From == from && p.Trans[i].To == to {
			p.Trans[i].N++
			return
		}
	}
	if len(p.Trans) >= maxTransitions {
		min := 0
		for i := range p.Trans {
			if p.Trans[i].N < p.Trans[min].N {
				min = i
			}
		}
		p.Trans[min] = transStat{From: from, To: to, N: 1, Born: p.age(ts)}
		return
	}
	p.Trans = append(p.Trans, transStat{From: from, To: to, N: 1, Born: p.age(ts)})
}

// seen records v in a bounded set and reports whether it was known before. The least
// recently used value gives way.
func seen(set *[maxSeen]seenValue, v string, ts int64) (known bool) {
	lru := 0
	for i := range set {
		if set[i].N > 0 && set[i].V == v {
			set[i].N++
			set[i].Last = ts
			return true
		}
		if set[i].N == 0 || set[i].Last < set[lru].Last && set[lru].N != 0 {
			lru = i
		}
	}
	set[lru] = seenValue{V: v, Last: ts, N: 1}
	return false
}

// seenCred records a credential fingerprint in a two-slot set, the older giving way.
func seenCred(set *[2]seenValue, v string, ts int64) {
	for i := range set {
		if set[i].N > 0 && set[i].V == v {
			set[i].N++
			set[i].Last = ts
			return
		}
	}
	old := 0
	if set[1].Last < set[0].Last {
		old = 1
	}
	set[old] = seenValue{V: v, Last: ts, N: 1}
}

// knows reports whether v is in the set, without recording it.
func knows(set *[maxSeen]seenValue, v string) bool {
	for i := range set {
		if set[i].N > 0 && set[i].V == v {
			return true
		}
	}
	return false
}

// usual returns the most used value of a set (nil when empty).
func usual(set *[maxSeen]seenValue) *seenValue {
	var best *seenValue
	for i := range set {
		if set[i].N > 0 && (best == nil || set[i].N > best.N) {
			best = &set[i]
		}
	}
	return best
}

// bloomHas reports whether the object hash is in either generation.
func (p *Profile) bloomHas(h uint64) bool {
	h = mix64(h)
	for g := 0; g < 2; g++ {
		if p.Bloom[g][h%(64*bloomWords)/64]&(1<<(h%64)) != 0 &&
			p.Bloom[g][(h>>20)%(64*bloomWords)/64]&(1<<((h>>20)%64)) != 0 &&
			p.Bloom[g][(h>>40)%(64*bloomWords)/64]&(1<<((h>>40)%64)) != 0 {
			return true
		}
	}
	return false
}

// bloomAdd inserts the object hash into the current generation, rotating generations
// every bloomGen insertions so the filter never saturates.
func (p *Profile) bloomAdd(h uint64) {
	if p.BloomN >= bloomGen {
		p.Bloom[1] = p.Bloom[0]
		p.Bloom[0] = [bloomWords]uint64{}
		p.BloomN = 0
	}
	h = mix64(h)
	p.Bloom[0][h%(64*bloomWords)/64] |= 1 << (h % 64)
	p.Bloom[0][(h>>20)%(64*bloomWords)/64] |= 1 << ((h >> 20) % 64)
	p.Bloom[0][(h>>40)%(64*bloomWords)/64] |= 1 << ((h >> 40) % 64)
	p.BloomN++
}

// remember keeps a compact copy of the call in the recent ring.
func (p *Profile) remember(c *models.APICall, ts int64) {
	p.Recent[p.RecentPos%recentRing] = recentCall{TS: ts, Method: c.Method, URI: c.URI, Status: uint16(c.Status), Bytes: c.RespBytes}
	p.RecentPos = (p.RecentPos + 1) % recentRing
}

// recent returns the ring oldest first.
func (p *Profile) recent() []recentCall {
	out := make([]recentCall, 0, recentRing)
	for i := 0; i < recentRing; i++ {
		r := p.Recent[(int(p.RecentPos)+i)%recentRing]
		if r.TS != 0 {
			out = append(out, r)
		}
	}
	return out
}

// sizeQuantile returns the q-quantile of the client's response sizes.
func (p *Profile) sizeQuantile(q float64) float64 { return histQuantile(p.Sizes[:], q) }

func statusClass(s int) int {
	switch {
	case s == 0:
		return 4
	case s < 300:
		return 0
	case s < 400:
		return 1
	case s < 500:
		return 2
	}
	return 3
}
