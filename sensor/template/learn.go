package template

import (
	"hash/maphash"
	"math"
	"strings"
	"sync"
	"sync/atomic"
)

// notFull marks a position whose distinct values have not yet passed the threshold.
const notFull = math.MaxInt64

// always marks a position loaded as merged: it is {param} at every time.
const always = math.MinInt64

const hostStripes = 16

// position is one (method, rendered prefix) of one host: the segment after the prefix.
// It keeps the threshold+1 distinct values with the earliest first-seen capture times.
// That set does not depend on the order observations arrive in: a value is evicted only
// by one seen earlier, and the evicted value could never be among the earliest again.
// crossAt, the latest first-seen time in a full set, is the capture time at which the
// position passed the threshold; it is a function of the observations alone.
type position struct {
	values  map[string]int64 // nil once settled
	crossAt int64
}

// observe records value seen at ts (capture time, ns). It reports whether the position
// just became full.
func (p *position) observe(value string, ts int64, limit int) (crossed bool) {
	if p.values == nil {
		return false
	}
	if first, ok := p.values[value]; ok {
		if ts < first {
			p.values[value] = ts
			if p.crossAt != notFull {
				p.crossAt = maxValue(p.values)
			}
		}
		return false
	}
	if len(p.values) < limit {
		p.values[strings.Clone(value)] = ts
		if len(p.values) == limit {
			p.crossAt = maxValue(p.values)
			return true
		}
		return false
	}
	if ts >= p.crossAt {
		return false
	}
	for v, first := range p.values {
		if first == p.crossAt {
			delete(p.values, v)
			break
		}
	}
	p.values[strings.Clone(value)] = ts
	p.crossAt = maxValue(p.values)
	return false
}

func maxValue(m map[string]int64) int64 {
	mx := int64(math.MinInt64)
	for _, v := range m {
		mx = max(mx, v)
	}
	return mx
}

// mergedAt reports whether the position is {param} for a call at ts given delay.
func (p *position) mergedAt(ts, delay int64) bool {
	switch p.crossAt {
	case notFull:
		return false
	case always:
		return true
	}
	return p.crossAt < ts-delay
}

// hostState is the learned state of one host, striped by position key so workers
// calling one host rarely wait for each other.
type hostState struct {
	stripes [hostStripes]struct {
		mu   sync.Mutex
		keys map[string]*position
		_    [48]byte
	}
	nkeys atomic.Int64
}

func newHostState() *hostState {
	h := &hostState{}
	for i := range h.stripes {
		h.stripes[i].keys = make(map[string]*position)
	}
	return h
}

// learner holds every host's state. Safe for concurrent use.
type learner struct {
	limit         int   // threshold + 1 values kept per position
	delay         int64 // ns
	maxHosts      int
	maxKeysByHost int64
	maxKeys       int64
	seed          maphash.Seed

	mu    sync.RWMutex
	hosts map[string]*hostState

	nkeys      atomic.Int64
	loaded     atomic.Int64 // positions loaded from a file: Static needs to look only when > 0
	watermark  atomic.Int64 // latest capture time seen, ns
	generation atomic.Uint64
	// changes counts every change to a position's state other than values recorded
	// below the threshold: crossings and merges loaded from a file. Templater's cache of
	// results holds only while it stays the same.
	changes atomic.Uint64
	m       *tmplMetrics
}

func newLearner(cfg *Config, m *tmplMetrics) *learner {
	l := &learner{
		limit:         cfg.threshold() + 1,
		delay:         int64(cfg.learnDelay()),
		maxHosts:      cfg.maxHosts(),
		maxKeysByHost: int64(cfg.maxKeysPerHost()),
		maxKeys:       int64(cfg.maxKeys()),
		seed:          maphash.MakeSeed(),
		hosts:         make(map[string]*hostState),
		m:             m,
	}
	l.watermark.Store(math.MinInt64)
	return l
}

// host returns the state of host (normalised), creating it unless the host cap is hit.
func (l *learner) host(name string) *hostState {
	l.mu.RLock()
	h := l.hosts[name]
	l.mu.RUnlock()
	if h != nil {
		return h
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if h = l.hosts[name]; h != nil {
		return h
	}
	if len(l.hosts) >= l.maxHosts {
		l.m.capped[capHost].Inc()
		return nil
	}
	h = newHostState()
	l.hosts[strings.Clone(name)] = h
	return h
}

// existingHost returns the state of host if it is known, nil otherwise.
func (l *learner) existingHost(name string) *hostState {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.hosts[name]
}

// advance moves the watermark to ts and reports whether ts is late: with a learning
// delay, earlier than the watermark by more than the delay, so decisions already taken
// may not have seen it (output may then depend on scheduling).
func (l *learner) advance(ts int64) (late bool) {
	for {
		w := l.watermark.Load()
		if ts <= w {
			return l.delay > 0 && w != math.MinInt64 && ts < w-l.delay
		}
		if l.watermark.CompareAndSwap(w, ts) {
			return false
		}
	}
}

// step observes value at the position keyed by key and reports whether a call at ts
// renders that position as {param}. In modeStatic it observes nothing and reports only
// loaded positions. below reports that the position holds value among fewer values than
// the threshold and has never crossed it (modeLearn only): observing value there again at
// a later time changes nothing, as long as learner.changes stays the same.
func (l *learner) step(h *hostState, key []byte, value string, ts int64, mode int) (merged, below bool) {
	s := &h.stripes[maphash.Bytes(l.seed, key)%hostStripes]
	s.mu.Lock()
	p := s.keys[string(key)]
	if mode == modeStatic {
		loaded := p != nil && p.crossAt == always
		s.mu.Unlock()
		return loaded, false
	}
	if p == nil {
		if h.nkeys.Load() >= l.maxKeysByHost || l.nkeys.Load() >= l.maxKeys {
			s.mu.Unlock()
			l.m.capped[capKey].Inc()
			return false, false
		}
		h.nkeys.Add(1)
		l.nkeys.Add(1)
		p = &position{values: make(map[string]int64, 4), crossAt: notFull}
		s.keys[string(key)] = p
	}
	if p.observe(value, ts, l.limit) {
		l.changes.Add(1)
		l.generation.Add(1)
		l.m.learned.Inc()
	}
	merged = p.mergedAt(ts, l.delay)
	// Settle: once the crossing is older than anything still on time, no on-time
	// observation can move it, and the value set is dropped to free memory.
	if p.values != nil && p.crossAt != notFull {
		if w := l.watermark.Load(); p.crossAt < w-l.delay {
			p.values = nil
		}
	}
	below = p.values != nil && p.crossAt == notFull
	s.mu.Unlock()
	return merged, below
}

// markMerged records key as {param} at all times (loaded from a saved file).
func (l *learner) markMerged(h *hostState, key string) {
	s := &h.stripes[maphash.String(l.seed, key)%hostStripes]
	s.mu.Lock()
	defer s.mu.Unlock()
	l.changes.Add(1)
	l.loaded.Add(1)
	if p := s.keys[key]; p != nil {
		p.crossAt, p.values = always, nil
		return
	}
	h.nkeys.Add(1)
	l.nkeys.Add(1)
	s.keys[key] = &position{crossAt: always}
}
