package template

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/apiscope/apiscope/pkg/metrics"
)

// Config configures a Templater. Zero values mean the bounded defaults given per field.
type Config struct {
	// Threshold is how many distinct literal values one position may hold before it is
	// learned to be {param}. Zero means 32. Negative disables learning.
	Threshold int
	// LearnDelay is how long, in capture time, a learned merge waits before it applies:
	// a call at time t uses what was learned from calls before t-LearnDelay. Zero means
	// none. A delay gives Template callers that run in parallel slack in how far apart
	// they may run without changing the output (see doc.go, Determinism).
	LearnDelay time.Duration
	// MaxHosts caps the hosts learned about. Zero means 1024.
	MaxHosts int
	// MaxKeysPerHost caps the positions learned per host. Zero means 4096.
	MaxKeysPerHost int
	// MaxKeys caps the positions learned over all hosts. Zero means 16384. With the
	// per-position bounds (Threshold+1 values of at most 64 bytes, keys of at most 512
	// bytes) the defaults bound the learner to a few tens of MiB.
	MaxKeys int
	// MaxSegments is the deepest segment position learned. Zero means 16.
	MaxSegments int
	// Specs are OpenAPI documents (see LoadOpenAPI); calls to their hosts get the
	// documents' templates, and calls outside them are shadow.
	Specs []*Spec
	// Metrics receives the counters; nil means metrics.Default.
	Metrics *metrics.Registry
}

func (c *Config) threshold() int            { return cmp.Or(c.Threshold, 32) }
func (c *Config) learnDelay() time.Duration { return c.LearnDelay }
func (c *Config) maxHosts() int             { return cmp.Or(c.MaxHosts, 1024) }
func (c *Config) maxKeysPerHost() int       { return cmp.Or(c.MaxKeysPerHost, 4096) }
func (c *Config) maxKeys() int              { return cmp.Or(c.MaxKeys, 16384) }
func (c *Config) maxSegments() int          { return cmp.Or(c.MaxSegments, 16) }

// Validate reports a negative cap.
func (c *Config) Validate() error {
	if c.MaxHosts < 0 || c.MaxKeysPerHost < 0 || c.MaxKeys < 0 || c.MaxSegments < 0 {
		return errors.New("template caps must not be negative")
	}
	if c.LearnDelay < 0 {
		return errors.New("template learning delay must not be negative")
	}
	return nil
}

// Result is the template of one call.
type Result struct {
	Template string
	// Shadow is set when an OpenAPI document covers the host and the call's path or
	// method is not in it.
	Shadow bool
}

// Templater turns request paths into endpoint templates. Safe for concurrent use.
type Templater struct {
	learn   *learner // nil when learning is disabled
	maxSeg  int
	specs   specIndex
	m       *tmplMetrics
	scratch sync.Pool // *[]byte
	cache   resultCache
	noCache bool // tests: every call takes the general path
}

// New returns a Templater.
func New(cfg Config) (*Templater, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Templater{maxSeg: cfg.maxSegments(), m: newMetrics(cfg.Metrics)}
	if cfg.Threshold >= 0 {
		t.learn = newLearner(&cfg, t.m)
	}
	t.scratch.New = func() any { b := make([]byte, 0, 256); return &b }
	for _, s := range cfg.Specs {
		if s == nil {
			return nil, errors.New("nil OpenAPI spec")
		}
		if err := t.specs.add(s); err != nil {
			return nil, fmt.Errorf("openapi %s: %w", s.Name, err)
		}
	}
	if t.learn != nil && !t.specs.any() {
		t.cache.init(exactSlots, shapeSlots)
	}
	return t, nil
}

// Template returns the template of path (the request path without query) for a call to
// host with method at capture time ts, and records the call for learning. host is the
// Host header as sent (case and port are ignored).
//
// Template is safe for concurrent use, but learning makes each result depend on the
// calls templated before it: for output that does not depend on scheduling, call it from
// one goroutine in a deterministic order (the sensor does so in its ordered output
// stage), or give LearnDelay enough slack (doc.go, Determinism).
//
// The returned string is path itself when nothing was replaced, so the common case does
// not allocate.
func (t *Templater) Template(host, method, path string, ts time.Time) Result {
	return t.template(host, method, path, ts, modeLearn)
}

// Static returns the template of path from what does not change while templating: the
// classifier, the OpenAPI documents and loaded templates. It neither learns nor reads
// what was learned online, so its result is the same from any goroutine at any time.
func (t *Templater) Static(host, method, path string) Result {
	return t.template(host, method, path, time.Time{}, modeStatic)
}

const (
	modeLearn = iota
	modeStatic
)

func (t *Templater) template(host, method, path string, ts time.Time, mode int) Result {
	if path == "" {
		path = "/"
	}
	// Only paths that start with '/' can be cached (heuristic leaves any other as it is,
	// uncacheable), and only when learning without OpenAPI documents (t.cache.exact is
	// nil otherwise).
	if mode == modeLearn && t.cache.exact != nil && !t.noCache && path[0] == '/' &&
		len(method)+len(host)+len(path) <= maxCachedKeySize {
		return Result{Template: t.templateCached(host, method, path, ts)}
	}
	hostKey := normalizeHost(host)
	var res Result
	if t.specs.any() {
		tmpl, found, methodOK, covered := t.specs.match(hostKey, method, path)
		if found && methodOK {
			return Result{Template: tmpl}
		}
		if covered {
			res.Shadow = true
			if mode == modeLearn {
				t.m.shadow.Inc()
			}
		}
		if found { // path documented, method not: keep the documented template
			res.Template = tmpl
			return res
		}
	}
	res.Template, _ = t.heuristic(hostKey, method, path, ts, mode, nil)
	return res
}

// cacheHit does for a call served from the result cache what heuristic would do besides
// templating: move the learner's clock.
func (t *Templater) cacheHit(tsn int64) {
	if t.learn.advance(tsn) {
		t.m.late.Inc()
	}
}

// templateCached templates a cacheable call (modeLearn, no OpenAPI document): from the
// exact table, else from the shape table, else by the general path, caching what the
// general path proves.
func (t *Templater) templateCached(host, method, path string, ts time.Time) string {
	var tsn int64
	if !ts.IsZero() {
		tsn = ts.UnixNano()
	}
	// The learner's changes before templating: if this call makes one, the entries it
	// makes are made under the old count and never used.
	changes := t.learn.changes.Load()
	var kb [256]byte // the exact key, on the stack for most calls
	k := appendExactKey(kb[:0], host, method, path)
	h := t.cache.hash(k)
	if tmpl, ok := t.cache.lookupExact(k, h, tsn, changes); ok {
		t.cacheHit(tsn)
		return tmpl
	}
	return t.templateShape(k, h, host, method, path, ts, tsn, changes)
}

// templateShape goes on with a call that templateCached did not find in the exact table;
// k is its exact key and h the key's hash.
func (t *Templater) templateShape(k []byte, h uint64, host, method, path string, ts time.Time, tsn int64, changes uint64) string {
	var (
		arr [256]byte // the shape key, on the stack for most paths
		cls [maxShapeClasses]Class
	)
	sk, n, tmpl, ok := t.cache.lookupShape(arr[:0], cls[:], host, method, path, k, h, tsn, changes)
	if ok {
		t.cacheHit(tsn)
		return tmpl
	}
	tmpl, below := t.heuristic(normalizeHost(host), method, path, ts, modeLearn, cls[:min(n, len(cls))])
	if below {
		t.cache.remember(sk, k, h, tmpl, tsn, changes)
	}
	return tmpl
}

// heuristic classifies each segment and applies learned merges. cacheable reports that
// the result depends on nothing but the arguments and learned positions that were below
// their threshold and held the call's segments (see learner.step).
//
// cls, when not nil, holds the classes of the first len(cls) segments (the shape pass
// worked them out already).
func (t *Templater) heuristic(hostKey, method, path string, ts time.Time, mode int, cls []Class) (tmpl string, cacheable bool) {
	if path[0] != '/' {
		return path, false // "*" (OPTIONS) or an authority: nothing to template
	}
	var h *hostState
	var tsn int64
	if t.learn != nil {
		if !ts.IsZero() {
			tsn = ts.UnixNano()
		}
		if mode == modeLearn {
			h = t.learn.host(hostKey)
			if t.learn.advance(tsn) {
				t.m.late.Inc()
			}
		} else if t.learn.loaded.Load() > 0 {
			h = t.learn.existingHost(hostKey)
		}
	}
	cacheable = h != nil && mode == modeLearn
	bp := t.scratch.Get().(*[]byte)
	// buf is method NUL template-so-far: its whole length is the learning key of the next
	// position, and the template is buf[prefix:].
	buf := append((*bp)[:0], method...)
	buf = append(buf, 0)
	prefix := len(buf)
	rest := path[1:]
	for i := 0; ; i++ {
		seg := rest
		k := strings.IndexByte(rest, '/')
		if k >= 0 {
			seg, rest = rest[:k], rest[k+1:]
		}
		var c Class
		if i < len(cls) {
			c = cls[i]
		} else {
			c = Classify(seg)
		}
		merged := false
		if h != nil && c == Literal && i < t.maxSeg && learnable(seg, len(buf)) {
			var below bool
			merged, below = t.learn.step(h, buf, seg, tsn, mode)
			cacheable = cacheable && below
		}
		switch {
		case c == FileID:
			buf = append(buf, '/')
			buf = append(buf, ID...)
			buf = append(buf, seg[strings.LastIndexByte(seg, '.'):]...)
		case c.IsID():
			buf = append(buf, '/')
			buf = append(buf, ID...)
		case merged:
			buf = append(buf, '/')
			buf = append(buf, Param...)
		default:
			buf = append(buf, '/')
			buf = append(buf, seg...)
		}
		if k < 0 {
			break
		}
	}
	var out string
	if string(buf[prefix:]) == path {
		out = path
	} else {
		out = string(buf[prefix:])
	}
	*bp = buf
	t.scratch.Put(bp)
	return out, cacheable
}

// Bounds on what learning keeps: a segment longer than maxLearnValue is not learned
// (it stays literal), nor is a position whose key (method and prefix) is longer than
// maxLearnKey.
const (
	maxLearnValue = 64
	maxLearnKey   = 512
)

func learnable(seg string, keyLen int) bool {
	return seg != "" && len(seg) <= maxLearnValue && keyLen <= maxLearnKey
}

// Generation is the number of merges learned (including those loaded): it changes
// whenever the learned template set does.
func (t *Templater) Generation() uint64 {
	if t.learn == nil {
		return 0
	}
	return t.learn.generation.Load()
}

// normalizeHost lower-cases host and strips a port, allocating only when it must.
func normalizeHost(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.IndexByte(h[i:], ']') < 0 {
		if strings.Count(h, ":") == 1 || strings.HasPrefix(h, "[") {
			h = h[:i]
		}
	}
	h = strings.TrimSuffix(h, ".")
	for i := 0; i < len(h); i++ {
		if 'A' <= h[i] && h[i] <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}
