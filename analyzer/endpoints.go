package analyzer

import (
	"strings"
)

// endpoint is one (host, method, template) the population has called.
type endpoint struct {
	Host, Method, Template string
	// Parent is the id of the endpoint key with the last template segment removed
	// (method and host kept); it groups siblings such as /products/red and /products/blue.
	Parent uint32
	// FirstSeen is the capture time of the first call (unix ns).
	FirstSeen int64
	// Clients is the number of distinct clients that called it.
	Clients uint32
	// Calls counts calls; NotFound counts 404 answers; OK counts 1xx-3xx answers.
	Calls, NotFound, OK uint32
	// Size is a half-octave histogram of response sizes.
	Size [40]uint32
	// NewIDs counts object ids new to the client that called them; Shared those of them
	// some other client had touched before (a catalogue, not owned objects).
	NewIDs, Shared uint32
	// HasID is set when the template has a placeholder segment.
	HasID bool
	// Auth is set for login-like endpoints (login, signin, token, auth, session).
	Auth bool
}

// sizeQuantile returns the q-quantile (0..1) of the endpoint's response sizes, as the
// upper bound of its half-octave bucket.
func (e *endpoint) sizeQuantile(q float64) float64 { return histQuantile(e.Size[:], q) }

// parentInfo counts the distinct literal children of a parent key, to recognise a
// parameter the templater left literal (/products/red-shoe, /products/blue-hat).
type parentInfo struct {
	Children []uint64 // hashes of distinct last segments, at most maxChildren
}

const maxChildren = 16

// fanOutParam is the number of distinct literal children past which a position is
// treated as a parameter.
const fanOutParam = 8

// endpointTable interns endpoints to dense ids. Id 0 is the session start.
type endpointTable struct {
	IDs     map[uint64]uint32
	List    []endpoint
	Parents map[uint64]*parentInfo
}

func newEndpointTable() *endpointTable {
	return &endpointTable{
		IDs:     map[uint64]uint32{},
		List:    []endpoint{{Template: "(session start)"}},
		Parents: map[uint64]*parentInfo{},
	}
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

func fnvSep(h uint64) uint64 { h ^= 0xff; h *= fnvPrime; return h }

// mix64 finalises a hash (splitmix64) so bloom positions spread.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// lookup returns the endpoint id of (host, method, template), interning it at ts.
// created reports a first sighting. Identifier-like segments the templater left literal
// are replaced first (see normalizeTemplate).
func (t *endpointTable) lookup(host, method, tmpl string, ts int64) (id uint32, created bool) {
	tmpl = normalizeTemplate(tmpl)
	h := fnvString(fnvSep(fnvString(fnvSep(fnvString(fnvOffset, host)), method)), tmpl)
	if id, ok := t.IDs[h]; ok {
		return id, false
	}
	id = uint32(len(t.List))
	t.IDs[h] = id
	e := endpoint{Host: host, Method: method, Template: tmpl, FirstSeen: ts}
	e.HasID = strings.Contains(tmpl, "{")
	e.Auth = isAuthPath(tmpl)
	parent, last := splitLast(tmpl)
	ph := fnvString(fnvSep(fnvString(fnvSep(fnvString(fnvOffset, host)), method)), parent)
	e.Parent = uint32(ph) // only a grouping hint; collisions are harmless
	pi := t.Parents[ph]
	if pi == nil {
		pi = &parentInfo{}
		t.Parents[ph] = pi
	}
	if len(pi.Children) < maxChildren && !strings.HasPrefix(last, "{") {
		lh := fnvString(fnvOffset, last)
		found := false
		for _, c := range pi.Children {
			if c == lh {
				found = true
				break
			}
		}
		if !found {
			pi.Children = append(pi.Children, lh)
		}
	}
	t.List = append(t.List, e)
	return id, true
}

// parentFanOut returns the number of distinct literal children under id's parent.
func (t *endpointTable) parentFanOut(id uint32) int {
	e := &t.List[id]
	parent, _ := splitLast(e.Template)
	ph := fnvString(fnvSep(fnvString(fnvSep(fnvString(fnvOffset, e.Host)), e.Method)), parent)
	if pi := t.Parents[ph]; pi != nil {
		return len(pi.Children)
	}
	return 0
}

func splitLast(p string) (parent, last string) {
	p = strings.TrimRight(p, "/")
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

var authWords = []string{"login", "signin", "sign-in", "logon", "token", "oauth", "auth", "session", "password"}

func isAuthPath(p string) bool {
	lp := strings.ToLower(p)
	for _, w := range authWords {
		if strings.Contains(lp, w) {
			return true
		}
	}
	return false
}

// objectID returns the hash of the path segments that the template replaces with
// placeholders, and the last such segment (for evidence and sequentiality). ok is false
// when the template has no placeholder. It does not allocate.
func objectID(path, tmpl string) (h uint64, last string, ok bool) {
	h = fnvOffset
	for len(tmpl) > 0 && len(path) > 0 {
		ts, trest := cutSeg(tmpl)
		ps, prest := cutSeg(path)
		if len(ts) > 0 && ts[0] == '{' {
			h = fnvSep(fnvString(h, ps))
			last = ps
			ok = true
		}
		tmpl, path = trest, prest
	}
	return h, last, ok
}

// cutSeg splits "/a/b" into "a" and "/b".
func cutSeg(s string) (seg, rest string) {
	for len(s) > 0 && s[0] == '/' {
		s = s[1:]
	}
	i := strings.IndexByte(s, '/')
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i:]
}

// normalizeTemplate replaces path segments that are evidently identifiers but were left
// literal (the sensor's templater learns parameters over time, and codes such as
// CDIIBCKI0U or ORD-12345 look like names to a classifier): all digits, or at least 8
// characters of letters, digits, '-' and '_' with at least one digit and no lower-case
// letter, or with at least three digits. It returns tmpl itself (no allocation) when
// nothing changes.
func normalizeTemplate(tmpl string) string {
	var b []byte
	start := 0
	for i := 0; i <= len(tmpl); i++ {
		if i < len(tmpl) && tmpl[i] != '/' {
			continue
		}
		seg := tmpl[start:i]
		if idLike(seg) {
			if b == nil {
				b = make([]byte, 0, len(tmpl))
				b = append(b, tmpl[:start]...)
			}
			b = append(b, "{id}"...)
		} else if b != nil {
			b = append(b, seg...)
		}
		if b != nil && i < len(tmpl) {
			b = append(b, '/')
		}
		start = i + 1
	}
	if b == nil {
		return tmpl
	}
	return string(b)
}

func idLike(seg string) bool {
	if seg == "" || seg[0] == '{' {
		return false
	}
	var digits, lower int
	for i := 0; i < len(seg); i++ {
		switch c := seg[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c >= 'a' && c <= 'z':
			lower++
		case c >= 'A' && c <= 'Z', c == '-', c == '_':
		default:
			return false
		}
	}
	if digits == len(seg) {
		return true
	}
	return len(seg) >= 8 && digits > 0 && (lower == 0 || digits >= 3)
}

// collectionName returns the last literal segment before the first placeholder of a
// template ("orders" for /v1/orders/{id}/shipment), or "" when there is none.
func collectionName(tmpl string) string {
	i := strings.IndexByte(tmpl, '{')
	if i <= 1 {
		return ""
	}
	_, last := splitLast(tmpl[:i])
	return last
}

// listed reports whether the client has called a listing of the objects of ep: a GET
// endpoint on the same host, not ending in a placeholder, whose last segment names the
// collection (/v1/orders or /v1/me/orders for /v1/orders/{id}). Unknown is listed.
func (t *endpointTable) listed(p *Profile, ep uint32) bool {
	e := &t.List[ep]
	name := collectionName(e.Template)
	if name == "" {
		return true
	}
	for _, s := range p.Endpoints {
		x := &t.List[s.EP]
		if x.Method != "GET" || x.Host != e.Host || strings.HasSuffix(x.Template, "}") {
			continue
		}
		if _, last := splitLast(x.Template); last == name {
			return true
		}
	}
	return false
}

// sharedObjects reports whether the endpoint's objects are evidently shared between
// clients (a catalogue): of the ids new to their caller, at least a fifth had been touched
// by another client, over at least 30 of them. Unknown is not shared.
func (e *endpoint) sharedObjects() bool {
	return e.NewIDs >= 30 && 5*e.Shared >= e.NewIDs
}
