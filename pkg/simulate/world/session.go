package world

import (
	"math"
	"math/rand/v2"
	"net/netip"

	"github.com/apiscope/apiscope/pkg/simulate/internal/jsonfill"
	"github.com/apiscope/apiscope/pkg/simulate/scenario"
)

// flow is a compiled workflow.
type flow struct {
	start weighted
	next  map[string]weighted
	think map[string]scenario.DurRange
}

func (w *World) flow(name string) *flow {
	wf := w.sc.Workflows[name]
	f := &flow{start: newWeighted(wf.Start), next: map[string]weighted{}, think: map[string]scenario.DurRange{}}
	for _, step := range scenario.SortedKeys(wf.Steps) {
		st := wf.Steps[step]
		f.next[step] = newWeighted(st.Next)
		f.think[step] = st.Think
	}
	return f
}

// benign is the actor of one ordinary client: sessions of workflow steps (users, agents),
// scheduled polls (partners) or hourly runs (batch jobs).
type benign struct {
	act   actor
	c     *Client
	rng   *rand.Rand
	flows weighted
	fl    map[string]*flow
	// sessions per microsecond, before the daily pattern.
	rate     float64
	peakHour float64
	period   int64
	anchor   int64
	from     int64

	inSession bool
	cur       *flow
	step      string
	left      int
	retries   int
	ip        netip.Addr
	pool      uint32
}

// diurnalMean is the mean of weight() over a day, so a client's sessions per day come out
// as configured after thinning.
const diurnalMean = 0.2 + 0.8*3.5*2.5066282746310002/24

func newBenign(w *World, c *Client) *benign {
	b := &benign{c: c, rng: newRNG(w.seed, "client/"+c.ID), fl: map[string]*flow{}, pool: uint32(c.Index)}
	b.flows = newWeighted(c.spec.Workflows)
	for _, name := range b.flows.names {
		b.fl[name] = w.flow(name)
	}
	sess := between(b.rng, c.spec.Sessions)
	if c.Heavy {
		sess *= 5
	}
	b.rate = sess / float64(usPerDay) / diurnalMean
	b.peakHour = b.rng.Float64() * 24
	b.period = durIn(b.rng, c.spec.Every)
	if b.period < usPerSec {
		b.period = usPerSec
	}
	b.ip = c.IPs[0]
	b.from = w.Start
	if c.Late {
		b.from = w.at(between(b.rng, scenario.Range{w.sc.Clean * 0.8, 0.85}))
	}
	b.act.fire = b.fire
	return b
}

func (b *benign) schedule(w *World) {
	switch b.c.Kind {
	case scenario.KindPartner:
		b.anchor = b.from + b.rng.Int64N(b.period)
		b.act.next = b.anchor
	case scenario.KindBatch:
		// Batch jobs run on the clock: the first full period plus a fixed offset.
		off := b.rng.Int64N(10 * 60 * usPerSec)
		b.anchor = b.from - b.from%b.period + off
		if b.anchor < b.from {
			b.anchor += b.period
		}
		b.act.next = b.anchor
	default:
		b.act.next = b.nextSession(w, b.from)
	}
	w.push(&b.act)
}

// weight is the client's activity over the day: a floor plus a bump around its peak hour.
func (b *benign) weight(t int64) float64 {
	h := float64(t%usPerDay) / float64(usPerHour)
	d := math.Abs(h - b.peakHour)
	if d > 12 {
		d = 24 - d
	}
	return 0.2 + 0.8*math.Exp(-d*d/(2*3.5*3.5))
}

func (b *benign) nextSession(w *World, from int64) int64 {
	switch b.c.Kind {
	case scenario.KindPartner:
		b.anchor += b.period
		if b.anchor < from {
			b.anchor = from + b.period/2
		}
		return b.anchor + b.rng.Int64N(b.period/20+1)
	case scenario.KindBatch:
		b.anchor += b.period
		for b.anchor < from {
			b.anchor += b.period
		}
		return b.anchor + b.rng.Int64N(20*usPerSec)
	}
	if b.rate <= 0 {
		return math.MaxInt64
	}
	t := from
	for i := 0; i < 10000; i++ {
		t += int64(b.rng.ExpFloat64() / b.rate)
		if t >= w.End {
			return math.MaxInt64
		}
		if b.rng.Float64() < b.weight(t) {
			return t
		}
	}
	return math.MaxInt64
}

func (b *benign) deployedAt(w *World, t int64) func(string) bool {
	return func(name string) bool {
		if name == "end" {
			return true
		}
		ep := w.eps[name]
		return ep != nil && ep.deployAt <= t
	}
}

func (b *benign) startSession(w *World, t int64) bool {
	b.cur = b.fl[b.flows.pick(b.rng)]
	b.step = b.cur.start.pickFiltered(b.rng, b.deployedAt(w, t))
	if b.step == "" || b.step == "end" {
		return false
	}
	calls := b.c.spec.SessionCalls
	if b.c.Kind == scenario.KindPartner || b.c.Kind == scenario.KindBatch {
		calls = b.c.spec.Calls
	}
	b.left = intIn(b.rng, calls)
	if b.c.Heavy {
		b.left *= 2
	}
	b.ip = b.c.IPs[b.rng.IntN(len(b.c.IPs))]
	w.newToken(b.c, t, b.rng)
	b.inSession = true
	b.retries = 0
	return true
}

func (b *benign) fire(w *World, t int64) bool {
	if !b.inSession && !b.startSession(w, t) {
		b.act.next = b.nextSession(w, t+usPerSec)
		return false
	}
	ep := w.eps[b.step]
	call := w.makeCall(b.c, b.ip, ep, t, b.rng, -1, b.pool)
	dur := callDuration(call)
	if o := ep.Service.outageAt(t); o != nil && call.Status == o.status && b.retries < 3 {
		// Clients retry failed calls with exponential backoff and jitter.
		b.retries++
		backoff := int64(float64(usPerSec/2) * math.Pow(2, float64(b.retries-1)) * (0.5 + b.rng.Float64()))
		b.act.next = t + dur + backoff
		return true
	}
	b.retries = 0
	b.left--
	nxt := ""
	if b.left > 0 {
		if tr, ok := b.cur.next[b.step]; ok {
			nxt = tr.pickFiltered(b.rng, b.deployedAt(w, t))
		}
	}
	if nxt == "" || nxt == "end" {
		b.inSession = false
		b.act.next = b.nextSession(w, t+dur)
		return true
	}
	think := b.cur.think[b.step]
	if think.Zero() {
		think = b.c.spec.Think
	}
	b.step = nxt
	b.act.next = t + dur + durIn(b.rng, think)
	return true
}

// callDuration estimates the time from the request's first byte until the client has
// the whole response, so a client's next call never starts before its last one ended.
func callDuration(c *Call) int64 {
	return c.LatencyUS + 2*c.RTTUS + int64(c.RespSize)/20 + int64(len(c.Body))/20 + 2000
}

// makeCall fills w.call with c calling ep at t from src. override, when >= 0, is the
// object slot used for the first object parameter.
func (w *World) makeCall(c *Client, src netip.Addr, ep *Endpoint, t int64, rng *rand.Rand, override int, pool uint32) *Call {
	call := &w.call
	*call = Call{
		TS: t, Client: c, Src: src, UA: c.UA, Service: ep.Service, Endpoint: ep, Method: ep.Method,
		Pool: pool, RTTUS: c.rttUS, MSS: c.mss, Close: c.closeConns,
		Principal: c.Principal, Actor: c.Actor,
	}
	w.uriBuf = w.buildURI(w.uriBuf[:0], rng, c, ep, t, override)
	call.URI = w.uriBuf
	switch {
	case ep.spec.Login:
		call.Principal, call.Actor = "", ""
		w.bodyBuf = appendLogin(w.bodyBuf[:0], rng, c.Principal)
		call.Body = w.bodyBuf
	case ep.spec.Auth == "none":
		call.Principal, call.Actor = "", ""
	case c.APIKey != "":
		call.AuthHeader, call.AuthValue = "X-API-Key", c.APIKey
	case c.cred == scenario.CredBearerKey:
		call.AuthHeader, call.AuthValue = "Authorization", "Bearer "+c.secret
	case c.cred == scenario.CredBasic:
		call.AuthHeader, call.AuthValue = "Authorization", "Basic "+c.secret
	case c.cred == scenario.CredCookie:
		call.AuthHeader, call.AuthValue = "Cookie", "session="+c.secret
	default:
		call.AuthHeader, call.AuthValue = "Authorization", "Bearer "+c.token
	}
	if call.Body == nil && (ep.Method == "POST" || ep.Method == "PUT" || ep.Method == "PATCH") {
		r := ep.spec.Body
		if r.Zero() {
			r = scenario.Range{40, 300}
		}
		w.bodyBuf = jsonfill.Append(w.bodyBuf[:0], rng, intIn(rng, r))
		call.Body = w.bodyBuf
	}
	w.hdrBuf = appendAppHeaders(w.hdrBuf[:0], c, rng)
	call.Headers = w.hdrBuf
	call.Status = w.status(c, ep, t, rng)
	w.sizeAndLatency(call, rng)
	return call
}

const hexdig = "0123456789abcdef"

func appendHex(b []byte, v uint64, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		b = append(b, hexdig[(v>>(4*uint(i)))&0xf])
	}
	return b
}

// appendAppHeaders adds what the client's software sends besides the basics: browsers and
// agents send W3C trace context, mobile apps their version and device id, integrations a
// request id.
func appendAppHeaders(b []byte, c *Client, rng *rand.Rand) []byte {
	switch {
	case c.APIKey != "":
		b = append(b, "X-Request-ID: "...)
		b = appendHex(b, rng.Uint64(), 16)
		b = append(b, '-')
		b = appendHex(b, rng.Uint64(), 12)
		b = append(b, "\r\n"...)
	case c.spec.App == "ios" || c.spec.App == "android":
		b = append(b, "Accept-Language: en-GB\r\nX-Device-ID: "...)
		b = appendHex(b, hash64(c.seed, c.ID, "device"), 16)
		b = append(b, "\r\n"...)
	case c.spec.App == "web" || c.spec.App == "agent":
		if c.spec.App == "web" {
			b = append(b, "Accept-Language: en-US,en;q=0.9\r\nAccept-Encoding: identity\r\n"...)
		}
		b = append(b, "traceparent: 00-"...)
		b = appendHex(b, rng.Uint64(), 16)
		b = appendHex(b, rng.Uint64(), 16)
		b = append(b, '-')
		b = appendHex(b, rng.Uint64(), 16)
		b = append(b, "-01\r\n"...)
	}
	return b
}

func appendLogin(dst []byte, rng *rand.Rand, user string) []byte {
	if user == "" {
		user = words[rng.IntN(len(words))] + "." + words[rng.IntN(len(words))]
	}
	dst = append(dst, `{"username":"`...)
	dst = append(dst, user...)
	dst = append(dst, `@example.com","password":"`...)
	dst = append(dst, token62(rng.Uint64(), 8+rng.IntN(8))...)
	return append(dst, `"}`...)
}

// allowed reports whether a client of role may call ep.
func allowed(role string, ep *Endpoint) bool {
	er := ep.spec.Role
	return er == role || (er == "user" && role == "admin")
}

func (w *World) status(c *Client, ep *Endpoint, t int64, rng *rand.Rand) int {
	if o := ep.Service.outageAt(t); o != nil && rng.Float64() < o.share {
		return o.status
	}
	if !ep.spec.Login && ep.spec.Auth != "none" && !allowed(c.Role, ep) && !ep.spec.Vulnerable {
		return 403
	}
	return ep.status.pick(rng)
}

func (w *World) sizeAndLatency(call *Call, rng *rand.Rand) {
	sv := call.Service
	lat := logUniform(rng, sv.latency) * float64(usPerMS)
	switch {
	case call.Status == 204 || call.Method == "HEAD":
		call.RespSize = 0
	case call.Status >= 400:
		call.RespSize = 0
		if call.Status >= 500 {
			lat = lat/4 + float64(rng.IntN(3000))
		}
	default:
		if call.Endpoint != nil {
			call.RespSize = int(logUniform(rng, call.Endpoint.spec.Size))
			call.Chunked = rng.Float64() < call.Endpoint.spec.Chunked
		} else {
			call.RespSize = 200 + rng.IntN(800)
		}
	}
	lat += float64(call.RespSize) / 1e6 * 15 * float64(usPerMS)
	call.LatencyUS = int64(lat)
	if call.LatencyUS < 200 {
		call.LatencyUS = 200
	}
}
