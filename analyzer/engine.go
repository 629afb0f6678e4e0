package analyzer

import (
	"errors"
	"math"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/apiscope/apiscope/models"
)

// Output receives findings in a deterministic order. A finding's id repeats when a later
// signal raises the severity of the same incident: consumers keep the last record per id
// (ClickHouse's ReplacingMergeTree does).
type Output interface {
	WriteFinding(f *models.Finding) error
}

// OutputFunc adapts a function to Output.
type OutputFunc func(f *models.Finding) error

// WriteFinding calls fn(f).
func (fn OutputFunc) WriteFinding(f *models.Finding) error { return fn(f) }

// Stats are the engine's running counts.
type Stats struct {
	Calls, Late, Duplicates, Invalid uint64
	Signals, Findings, Suppressed    uint64
	Clients                          int
}

// Engine learns profiles and raises findings. Not safe for concurrent use: one goroutine
// owns it (see the package doc).
type Engine struct {
	cfg       Config
	out       Output
	detectors []Detector
	profiles  map[string]*Profile
	pop       *population
	inc       *incidents
	buf       reorderBuf
	// maxTS is the newest capture time seen; released the newest processed.
	maxTS, released int64
	// parts is the newest capture time per active input partition: calls are released
	// only behind the slowest one, so partitions consumed at different paces still merge
	// in capture order.
	parts map[int]int64
	// holding delays every release while the consumer discovers its partitions.
	holding bool
	last    *models.APICall
	// newParts is the input partition of clients whose first calls wait in the reorder
	// buffer (no profile yet); the profile takes it when it is created. Partition 0 is not
	// recorded: it is a new profile's zero value.
	newParts map[string]int32
	// epKeys caches epKey per endpoint id; rebuilt from the endpoint table when it is
	// replaced (LoadState).
	epKeys []uint64
	// recent holds hashes of the last released calls, to recognise a re-delivered call
	// that arrives after the watermark passed it.
	recent    [recentCalls]uint64
	recentPos int
	stats     Stats
	seen      atomic.Uint64 // records offered (calls and undecodable), readable by tests
	m         *engineMetrics
	err       error

	// per-call scratch, reused
	obs     Observation
	ctx     Context
	signals []Signal
}

// ErrNoOutput is returned by New without an Output.
var ErrNoOutput = errors.New("analyzer: no output for findings")

// New returns an engine writing findings to out.
func New(cfg Config, out Output) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if out == nil {
		return nil, ErrNoOutput
	}
	e := &Engine{
		cfg:       cfg,
		out:       out,
		detectors: buildDetectors(&cfg),
		profiles:  map[string]*Profile{},
		parts:     map[int]int64{},
		newParts:  map[string]int32{},
		pop:       newPopulation(),
		inc:       newIncidents(),
		m:         metricsFor(),
	}
	e.ctx.emit = func(s Signal) { e.signals = append(e.signals, s) }
	return e, nil
}

// DetectorNames lists the detectors the engine runs.
func (e *Engine) DetectorNames() []string {
	out := make([]string, len(e.detectors))
	for i, d := range e.detectors {
		out[i] = d.Name()
	}
	return out
}

// statsAtomic returns the calls seen plus undecodable records, for tests that watch a
// running loop from another goroutine.
func (e *Engine) statsAtomic() uint64 { return e.seen.Load() }

// Stats returns the running counts.
func (e *Engine) Stats() Stats {
	s := e.stats
	s.Clients = len(e.profiles)
	return s
}

// Clock returns the newest capture time the engine has seen.
func (e *Engine) Clock() time.Time { return time.Unix(0, e.maxTS).UTC() }

// Process takes one call. Calls are buffered up to Config.Lateness of capture time and
// processed in capture order; the engine keeps its own copy of c. The error is the
// Output's, and stays: after an output error the engine processes nothing more.
func (e *Engine) Process(c *models.APICall) error { return e.ProcessFrom(0, c) }

// maxBuffered bounds the reorder buffer: past it the oldest call is processed even if a
// slow partition has not caught up (counted as late when that partition's calls come).
const maxBuffered = 1 << 19

// ProcessFrom is Process for a call read from one of several input partitions (Kafka).
// The watermark follows the slowest active partition; see PartitionIdle.
func (e *Engine) ProcessFrom(partition int, c *models.APICall) error {
	if e.err != nil {
		return e.err
	}
	if c.TS.IsZero() || c.ClientID == "" && c.SrcIP == "" {
		e.stats.Invalid++
		e.m.invalid.Inc()
		return nil
	}
	e.notePartition(partition, c)
	ts := c.TS.UnixNano()
	cc := *c
	if ts <= e.released {
		h := callHash(c)
		for _, r := range e.recent {
			if r == h {
				e.stats.Duplicates++
				e.m.duplicates.Inc()
				return nil
			}
		}
		// Later than the watermark: process now rather than never.
		e.remember(h)
		e.stats.Late++
		e.m.late.Inc()
		e.handle(&cc)
		return e.err
	}
	e.buf.push(&cc)
	if ts > e.maxTS {
		e.maxTS = ts
	}
	if ts > e.parts[partition] {
		e.parts[partition] = ts
	}
	e.drain()
	return e.err
}

// notePartition records the partition a client's calls arrive on: its profile's, or, for a
// client whose profile does not exist yet, the one it will be created with.
func (e *Engine) notePartition(partition int, c *models.APICall) {
	id := c.ClientID
	if id == "" {
		id = "ip:" + c.SrcIP
	}
	if p := e.profiles[id]; p != nil {
		p.Partition = int32(partition)
	} else if partition != 0 {
		e.newParts[id] = int32(partition)
	} else if len(e.newParts) > 0 {
		delete(e.newParts, id)
	}
}

// PartitionIdle tells the engine a partition has nothing more for now (it is caught up),
// so the watermark no longer waits for it. Its next call makes it active again.
func (e *Engine) PartitionIdle(partition int) {
	if _, ok := e.parts[partition]; ok {
		delete(e.parts, partition)
		e.drain()
	}
}

// HoldRelease(true) buffers every call without processing it, as a consumer does while
// its partitions start delivering (otherwise the first partition to deliver would set the
// watermark and the others' calls would arrive late); HoldRelease(false) resumes.
func (e *Engine) HoldRelease(hold bool) {
	e.holding = hold
	if !hold {
		e.drain()
	}
}

// drain releases the buffered calls behind the watermark.
func (e *Engine) drain() {
	if e.holding && len(e.buf) <= maxBuffered {
		return
	}
	slowest := e.maxTS
	for _, t := range e.parts {
		slowest = min(slowest, t)
	}
	wm := slowest - int64(e.cfg.lateness())
	for len(e.buf) > 0 && e.err == nil && (e.buf.topTS() <= wm || len(e.buf) > maxBuffered) {
		e.release(e.buf.pop())
	}
}

// Flush processes every buffered call and releases every held finding, as at the end of
// a capture. The engine stays usable.
func (e *Engine) Flush() error {
	for len(e.buf) > 0 && e.err == nil {
		e.release(e.buf.pop())
	}
	e.releasePending(math.MaxInt64)
	return e.err
}

func (e *Engine) release(c *models.APICall) {
	if e.last != nil && sameCall(e.last, c) {
		e.stats.Duplicates++
		e.m.duplicates.Inc()
		return
	}
	e.last = c
	e.remember(callHash(c))
	if ts := c.TS.UnixNano(); ts > e.released {
		e.released = ts
	}
	e.handle(c)
}

// recentCalls is how many released calls are remembered for duplicate detection.
const recentCalls = 4096

// callHash identifies a call for duplicate detection.
func callHash(c *models.APICall) uint64 {
	h := fnvString(fnvSep(fnvString(fnvSep(fnvString(fnvOffset, c.ClientID)), c.URI)), c.SrcIP)
	h ^= uint64(c.TS.UnixNano())
	h *= fnvPrime
	h ^= uint64(c.SrcPort)<<16 | uint64(c.Status)
	return mix64(h)
}

func (e *Engine) remember(h uint64) {
	e.recent[e.recentPos] = h
	e.recentPos = (e.recentPos + 1) % recentCalls
}

// handle processes one call in order.
func (e *Engine) handle(c *models.APICall) {
	e.stats.Calls++
	e.m.calls.Inc()
	ts := c.TS.UnixNano()
	pop := e.pop
	if pop.Start == 0 {
		pop.Start = ts
	}
	pop.roll(ts)

	id := c.ClientID
	if id == "" {
		id = "ip:" + c.SrcIP
	}
	p := e.profiles[id]
	if p == nil {
		p = &Profile{ClientID: id, Kind: inferKind(c), First: ts, CT: ts}
		if part, ok := e.newParts[id]; ok {
			p.Partition = part
			delete(e.newParts, id)
		}
		e.profiles[id] = p
		e.m.profiles.Set(float64(len(e.profiles)))
		pop.All.Clients++
		pop.Cohorts[p.Kind].Clients++
	} else if p.Kind != KindAgent && c.Actor != "" {
		pop.Cohorts[p.Kind].Clients--
		p.Kind, p.Role = KindAgent, 0
		pop.Cohorts[p.Kind].Clients++
	}
	if p.N == 0 || p.Last/outageWindowNS != pop.Win {
		pop.Active++
	}
	if c.Principal != "" {
		p.Principal = c.Principal
	}
	if c.Actor != "" {
		p.Actor = c.Actor
	}
	p.decayTo(ts)
	if m := uint32((ts - p.First) / 60e9); p.N > 0 && m != p.LastMin {
		// A new minute: a young client's maxima of the last one become peaks.
		for i := range p.Pending {
			p.Peaks[i] = max(p.Peaks[i], p.Pending[i])
			p.Pending[i] = 0
		}
	}

	// Observation, before the profile learns this call.
	o := &e.obs
	*o = Observation{TS: ts}
	cfg := &e.cfg
	tmpl := c.Template
	if tmpl == "" {
		tmpl = c.Path
	}
	ep, created := pop.Endpoints.lookupPath(c.Host, c.Method, c.Path, tmpl, ts)
	o.EP = ep
	o.Endpoint = &pop.Endpoints.List[ep]
	o.PopWarm = ts-pop.Start >= int64(cfg.warmup())
	o.Mature = p.mature(ts, cfg)
	o.NewEndpoint = !p.hasEndpoint(ep)
	o.PopNew = o.Endpoint.FirstSeen-pop.Start >= int64(cfg.warmup())
	o.PopAdopted = o.PopNew && o.Endpoint.Clients >= adoptionClients
	o.Familiar = !o.PopNew || (!created && o.Endpoint.Clients >= adoptionClients) || pop.Endpoints.parentFanOut(ep) >= fanOutParam
	co := pop.Cohorts[p.Kind]
	o.Share = co.share(ep)
	if rs, members, ok := co.roleShare(p, ep); ok {
		o.Share, o.RoleMembers = rs, members
	}
	o.AllShare = pop.All.share(ep)
	o.Outage = pop.inOutage(ts)
	tmpl = o.Endpoint.Template
	if h, last, ok := objectID(c.Path, tmpl, c.Query); ok {
		o.HasID = true
		o.IDValue = last
		o.idKey = h ^ e.epKey(ep)*0x9e3779b97f4a7c15
		o.NewID = !p.bloomHas(o.idKey)
		if n, err := strconv.ParseInt(last, 10, 64); err == nil && o.NewID && p.LastIDEP == ep && (n == p.LastID+1 || n == p.LastID-1) {
			o.Sequential = int(p.Sequential) + 1
		}
	}
	from := p.Prev
	if p.N > 0 && ts-p.Last > int64(cfg.sessionGap()) {
		from = 0
	}
	o.From = from
	o.P = pop.probability(p, from, ep, ts)
	fromNew := from != 0 && pop.Endpoints.List[from].FirstSeen-pop.Start >= int64(cfg.warmup()) && ts-pop.Endpoints.List[from].FirstSeen < int64(time.Hour)
	toNew := o.PopNew && ts-o.Endpoint.FirstSeen < int64(time.Hour)
	o.Rare = o.P < rareTransition && !fromNew && !toNew && !o.Outage
	o.AuthFail = c.Status == 401 || o.Endpoint.Auth && (c.Status == 403 || c.Status == 400)

	// Counters include this call before detectors read them.
	inc := func(i int, v float32) { p.Counters[i] += v }
	inc(cCalls, 1)
	inc(cCallsSlow, 1)
	inc(cBurst, 1)
	if c.Status >= 500 || c.Status == 429 || c.Status == 0 {
		inc(cErr, 1)
	}
	if o.AuthFail {
		inc(cAuthFail, 1)
	}
	if o.HasID {
		inc(cIDCalls, 1)
		if o.NewID {
			inc(cNewID, 1)
			inc(cNewIDSlow, 1)
		}
		if c.Status == 403 || c.Status == 404 {
			inc(cDenied, 1)
		}
		if o.NewID {
			if !pop.Endpoints.listed(p, ep) && !o.Endpoint.sharedObjects() {
				o.Unlisted = true
				inc(cBlind, 1)
				p.UnlistedN++
			}
		}
	}
	if c.RespBytes > 0 {
		inc(cKiB, float32(c.RespBytes)/1024)
	}
	if c.Status == 404 && o.NewEndpoint {
		inc(c404New, 1)
	}
	if o.NewEndpoint && o.Mature && !o.PopAdopted && c.Status < 400 && c.Status != 0 && o.Share < commonShare {
		inc(cNewEP, 1)
	}
	if p.N > 0 {
		inc(cTrans, 1)
		if o.Rare {
			inc(cRare, 1)
		}
	}

	// Detectors.
	x := &e.ctx
	x.Call, x.Profile, x.Obs, x.Cfg, x.pop = c, p, o, cfg, pop
	e.signals = e.signals[:0]
	for _, d := range e.detectors {
		d.Inspect(x)
	}
	for i := range e.signals {
		e.raise(p, c, &e.signals[i])
	}

	// Learn.
	e.learn(p, c, o, ts)
	e.releasePending(ts)
	e.inc.sweep(ts, int64(cfg.window()))
}

// adoptionClients is the number of distinct clients from which an endpoint new to the
// population counts as being adopted (a deploy) rather than probed.
const adoptionClients = 3

// commonShare is the share of a role group (or kind) from which an endpoint belongs to
// its common function set: using it is not a widening of scope.
const commonShare = 0.2

// rareTransition is the probability under which a transition counts as rare.
const rareTransition = 0.01

// learn updates the profile, its cohort and the population with the call.
func (e *Engine) learn(p *Profile, c *models.APICall, o *Observation, ts int64) {
	pop := e.pop
	co := pop.Cohorts[p.Kind]
	ep := o.EP
	end := o.Endpoint
	end.Calls++
	if c.Status == 404 {
		end.NotFound++
	} else if c.Status > 0 && c.Status < 400 {
		end.OK++
	}
	if c.RespBytes >= 0 {
		end.Size[min(log2Bucket(float64(c.RespBytes)), len(end.Size)-1)]++
		pop.Size[min(log2Bucket(float64(c.RespBytes)), len(pop.Size)-1)]++
		b := min(log2Bucket(float64(c.RespBytes)), len(p.Sizes)-1)
		if p.Sizes[b] == math.MaxUint16 {
			for i := range p.Sizes {
				p.Sizes[i] /= 2
			}
		}
		p.Sizes[b]++
	}
	pop.Calls++
	if p.addEndpoint(ep) {
		end.Clients++
		co.EPClients[ep]++
		pop.All.EPClients[ep]++
		co.noteRoleEndpoint(p, ep)
	}
	if p.N > 0 {
		p.addTransition(o.From, ep, ts)
		co.addTransition(o.From, ep)
		pop.All.addTransition(o.From, ep)
		s := float32(-math.Log2(max(o.P, 1e-9)))
		p.Surprise += (s - p.Surprise) * 0.05
	}
	p.Prev = ep
	if o.HasID {
		h := o.idKey
		if o.NewID {
			end.NewIDs++
			if pop.idKnown(h) {
				end.Shared++
			} else {
				pop.addID(h)
			}
		}
		p.bloomAdd(h)
		// Only ids new for the client move the walk: revisiting its own objects neither
		// continues nor breaks an enumeration.
		if n, err := strconv.ParseInt(o.IDValue, 10, 64); err == nil && o.NewID {
			p.LastID, p.LastIDEP = n, ep
			if o.Sequential > 0 {
				p.Sequential = uint16(min(o.Sequential, math.MaxUint16))
			} else {
				p.Sequential = 0
			}
		}
	}
	if c.SrcIP != "" {
		seen(&p.IPs, c.SrcIP, ts)
	}
	seen(&p.UAs, c.UserAgent, ts)
	if c.CredFP != "" {
		seenCred(&p.Creds, c.CredFP, ts)
	}
	if c.Scope != "" && p.Scopes[0] != c.Scope && p.Scopes[1] != c.Scope {
		p.Scopes[1] = p.Scopes[0]
		p.Scopes[0] = c.Scope
	}
	sc := statusClass(c.Status)
	p.Status[sc]++
	if sc == 3 || sc == 4 {
		if !p.erredThisWindow(pop.Win) {
			pop.ErrClients++
			p.markErred(pop.Win)
		}
		pop.noteError(ts)
	}
	p.Hours[c.TS.UTC().Hour()]++
	p.remember(c, ts)

	// Peaks: free while young; once mature they creep towards higher values with a
	// one-hour time constant, so a burst cannot teach itself as normal in the middle of
	// an attack while a lasting change is absorbed.
	mature := o.Mature
	dt := float64(ts-p.Last) / 1e9
	creep := float32(1 - math.Exp(-dt/3600))
	for i := range p.Counters {
		v := p.Counters[i]
		if v <= p.Peaks[i] {
			continue
		}
		switch {
		case !mature && (i == cNewID || i == cNewIDSlow || i == cNewEP || i == cBlind):
			// Everything is new to a young client: its new-object rate is learned once
			// it has settled.
		case !mature:
			p.Pending[i] = max(p.Pending[i], v)
		default:
			p.Peaks[i] += (v - p.Peaks[i]) * creep
		}
	}
	if mature {
		if p.PeakBucket == ([nCounters]uint8{}) {
			co.Mature++
		}
		if p.Role == 0 {
			p.Role = co.assignRole(p)
		}
		if p.MatureAt == 0 {
			p.MatureAt = ts
		}
		registerPeaks(p, co, pop.All)
	}
	if m := uint32((ts - p.First) / 60e9); p.N == 0 || m != p.LastMin {
		p.LastMin = m
		if p.ActiveMin < math.MaxUint16 {
			p.ActiveMin++
		}
	}
	p.Last = ts
	p.Newest = max(p.Newest, ts)
	p.Changed = e.maxTS
	p.N++
}

// epKey is a hash of endpoint ep's host, method and template. Unlike ep, which is the
// order in which this engine first saw the endpoint, it is the same in every engine, so
// the object ids a profile remembers (keyed by it) mean the same in the engine the
// profile moves to (see ExportClients).
func (e *Engine) epKey(ep uint32) uint64 {
	list := e.pop.Endpoints.List
	for len(e.epKeys) < len(list) {
		x := &list[len(e.epKeys)]
		e.epKeys = append(e.epKeys, fnvString(fnvSep(fnvString(fnvSep(fnvString(fnvOffset, x.Host)), x.Method)), x.Template))
	}
	return e.epKeys[ep]
}

// erredThisWindow and markErred remember whether the client already counted as seeing
// errors in the population's current activity window.
func (p *Profile) erredThisWindow(win int64) bool { return p.ErrWin == win }
func (p *Profile) markErred(win int64)            { p.ErrWin = win }

// raise turns a signal into a finding and hands it to the incident manager.
func (e *Engine) raise(p *Profile, c *models.APICall, s *Signal) {
	e.stats.Signals++
	subject := s.Subject
	if subject == "" {
		subject = p.ClientID
	}
	// Only signals that would alert count towards "everyone raises this kind": a crowd of
	// low notes (rare features used for the first time) says nothing about a change.
	if models.SeverityRank(s.Severity) >= SeverityRankMedium {
		e.inc.noteRaiser(subject, s.Kind, e.obs.TS)
	}
	f := models.Finding{
		TS:         c.TS.UTC(),
		ClientID:   subject,
		ClientIP:   c.SrcIP,
		Principal:  p.Principal,
		Actor:      p.Actor,
		Kind:       s.Kind,
		Score:      round3(s.Score),
		Summary:    s.Summary,
		Evidence:   s.Evidence,
		RelatedIPs: s.RelatedIPs,
	}
	if s.Subject != "" {
		f.Principal, f.Actor = "", ""
		if len(s.RelatedIPs) > 0 {
			f.ClientIP = ""
		}
	}
	if f.Evidence == nil {
		f.Evidence = map[string]any{}
	}
	f.Evidence["client_kind"] = KindName(p.Kind)
	f.Evidence["sample_calls"] = e.sampleCalls(p, c)
	base := models.SeverityRank(s.Severity)
	if base < 0 {
		base = SeverityRankMedium
	}
	pf := pendingFinding{Key: subject + "\x00" + s.Kind, Kind: s.Kind, Base: base, Score: s.Score, EP: s.AdoptionEP, F: f}
	if s.Hold {
		pf.Release = e.obs.TS + int64(e.cfg.hold())
		e.inc.Pending = append(e.inc.Pending, pf)
		return
	}
	e.write(&pf)
}

// releaseHeld writes one held finding, unless the population made it moot meanwhile: a
// signal about one endpoint is dropped only if that endpoint is being adopted; others if
// many clients raised the same kind.
func (e *Engine) releaseHeld(pf *pendingFinding) {
	var drop bool
	if pf.EP != 0 {
		drop = int(pf.EP) < len(e.pop.Endpoints.List) && e.pop.Endpoints.List[pf.EP].Clients >= adoptionClients
	} else {
		drop = e.inc.populationWide(pf.Kind, pf.Release, e.pop.activeClients())
	}
	if drop {
		e.stats.Suppressed++
		e.m.suppressed.Inc()
		return
	}
	e.write(pf)
}

// releasePending writes held findings whose hold ended by ts, unless the population
// raised the same kind widely meanwhile.
func (e *Engine) releasePending(ts int64) {
	pend := e.inc.Pending
	n := 0
	for n < len(pend) && pend[n].Release <= ts && e.err == nil {
		e.releaseHeld(&pend[n])
		n++
	}
	if n > 0 {
		copy(pend, pend[n:])
		for i := len(pend) - n; i < len(pend); i++ {
			pend[i] = pendingFinding{}
		}
		e.inc.Pending = pend[:len(pend)-n]
	}
}

func (e *Engine) write(pf *pendingFinding) {
	f := e.inc.merge(pf.Key, pf.Base, pf.Score, &pf.F, int64(e.cfg.window()))
	if f == nil {
		return
	}
	e.stats.Findings++
	e.m.finding(f.Kind, f.Severity).Inc()
	if err := e.out.WriteFinding(f); err != nil {
		e.err = err
	}
}

// sampleCalls lists the client's recent calls and this one, oldest first.
func (e *Engine) sampleCalls(p *Profile, c *models.APICall) []map[string]any {
	rec := p.recent()
	maxN := e.cfg.maxSampleCalls()
	if len(rec) > maxN-1 {
		rec = rec[len(rec)-(maxN-1):]
	}
	out := make([]map[string]any, 0, len(rec)+1)
	for _, r := range rec {
		out = append(out, map[string]any{
			"ts": time.Unix(0, r.TS).UTC().Format(time.RFC3339Nano), "method": r.Method,
			"uri": r.URI, "status": int(r.Status), "resp_bytes": r.Bytes,
		})
	}
	out = append(out, map[string]any{
		"ts": c.TS.UTC().Format(time.RFC3339Nano), "method": c.Method, "uri": c.URI,
		"status": c.Status, "resp_bytes": c.RespBytes, "src_ip": c.SrcIP,
	})
	return out
}

func round3(v float64) float64 {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return 0
	}
	return math.Round(v*1000) / 1000
}

func sortedUnique(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	j := 0
	for i, s := range out {
		if i == 0 || s != out[j-1] {
			out[j] = s
			j++
		}
	}
	return out[:j]
}
