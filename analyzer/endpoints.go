package analyzer

import (
	"slices"
	"strings"

	"github.com/apiscope/apiscope/sensor/template"
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
	// Learned is set when the sensor rendered the last segment as a learned {param}: the
	// position holds many distinct names (see leafParameter).
	Learned bool
	// FoldTo, when not 0, is the placeholder sibling this literal endpoint was folded into
	// once its position turned out to hold parameters (see foldLiteralSiblings).
	FoldTo uint32
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
	// Aliases maps a template as the sensor rendered it (hash of host, method, template) to
	// the endpoint it was resolved to, so each rendering is canonicalised once.
	Aliases map[uint64]uint32
	// Prefixes maps an inner position of the templates (the segments before it and the one
	// after it, see prefixKey) to the literal segments seen there: a learned {param} at that
	// position is resolved to the literal when there is exactly one.
	Prefixes map[uint64][]string
	// Inner holds the inner literal segments the population called, keyed by host, method,
	// the canonical segments before them and the segment (see innerKey): with the call's
	// path, a learned {param} whose value is one of them is that literal again.
	Inner map[uint64]bool
}

func newEndpointTable() *endpointTable {
	return &endpointTable{
		IDs:      map[uint64]uint32{},
		List:     []endpoint{{Template: "(session start)"}},
		Parents:  map[uint64]*parentInfo{},
		Aliases:  map[uint64]uint32{},
		Prefixes: map[uint64][]string{},
		Inner:    map[uint64]bool{},
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
// created reports a first sighting of the canonical endpoint. The template is first
// canonicalised (see canonicalTemplate): every placeholder is written {id}, identifiers the
// sensor left literal become {id}, and a {param} the sensor learned at an inner position
// where the population has only ever called one literal (/api folded by a burst of random
// names at the root) is that literal again, so one endpoint is never seen as two.
func (t *endpointTable) lookup(host, method, tmpl string, ts int64) (id uint32, created bool) {
	t.ensureIndexes()
	hm := fnvSep(fnvString(fnvSep(fnvString(fnvOffset, host)), method))
	raw := fnvString(hm, tmpl)
	if id, ok := t.Aliases[raw]; ok {
		if f := t.List[id].FoldTo; f != 0 {
			return f, false
		}
		return id, false
	}
	canon := t.resolvePrefixes(host, method, canonicalTemplate(tmpl), tmpl)
	h := fnvString(hm, canon)
	id, ok := t.IDs[h]
	if !ok {
		if sib, fold := t.leafParameter(hm, canon); fold {
			id, ok = sib, true
		}
	}
	if !ok {
		id = t.add(host, method, canon, ts)
		t.IDs[h] = id
	}
	if strings.HasSuffix(tmpl, template.Param) && !t.List[id].Learned {
		t.List[id].Learned = true
		t.foldLiteralSiblings(id)
	}
	if len(t.Aliases) < maxAliases {
		t.Aliases[raw] = id
	}
	if f := t.List[id].FoldTo; f != 0 {
		return f, false
	}
	return id, !ok
}

// foldLiteralSiblings folds into the placeholder endpoint sib, just learned to hold many
// names, the literal siblings (same host, method and parent, no endpoint below them) that
// do not stand out among them: called at most foldStandOut times as often as the median
// sibling. The first names seen at a position, before the sensor learned it, are then one
// endpoint with the rest; a named function among them (/products/search among product
// slugs) keeps its own, and so does a resource with endpoints below it (/api/vehicles
// beside /api/{id} when a burst of random names folded /api/*). With fewer than
// fanOutParam such siblings nothing is folded: a few names are functions.
func (t *endpointTable) foldLiteralSiblings(sib uint32) {
	s := &t.List[sib]
	parent, _ := splitLast(s.Template)
	var kids []uint32
	for i := 1; i < len(t.List); i++ {
		e := &t.List[i]
		if e.Host != s.Host || e.Method != s.Method || e.FoldTo != 0 {
			continue
		}
		if p, last := splitLast(e.Template); p == parent && last != "" && last[0] != '{' && foldable(last) && !t.hasSubtree(e.Host, e.Method, p, last) {
			kids = append(kids, uint32(i))
		}
	}
	if len(kids) < fanOutParam {
		return
	}
	calls := make([]uint32, len(kids))
	for i, k := range kids {
		calls[i] = t.List[k].Calls
	}
	slices.Sort(calls)
	limit := foldStandOut * max(calls[len(calls)/2], 1)
	for _, k := range kids {
		if t.List[k].Calls <= limit {
			t.List[k].FoldTo = sib
		}
	}
}

// hasSubtree reports whether the population called an endpoint below parent/name: a
// resource (/api/vehicles has /api/vehicles/{id}), not a data name such as a file.
func (t *endpointTable) hasSubtree(host, method, parent, name string) bool {
	return t.Inner[innerKey(host, method, strings.Split(parent, "/"), name)]
}

// foldStandOut is how many times the median sibling's calls a literal child may have and
// still be folded into a learned parameter.
const foldStandOut = 4

// foldable reports whether a literal last segment may be taken for a parameter value:
// versions and login-like names never are.
func foldable(last string) bool {
	return template.Classify(last) != template.Version && !isAuthPath(last)
}

// maxAliases bounds the renderings remembered: past it (paths with raw identifiers and no
// sensor template, without end) each further rendering is canonicalised on every call.
const maxAliases = 1 << 17

// ensureIndexes creates the indexes a checkpoint from an earlier version lacks, and fills
// the prefix index from the endpoints it holds.
func (t *endpointTable) ensureIndexes() {
	if t.Aliases == nil {
		// A table from before canonical templates: its endpoints keep their names (profiles
		// key the objects they touched by them) and are found under their canonical form
		// too, so an upgrade does not make every known endpoint new.
		t.Aliases = map[uint64]uint32{}
		for i := 1; i < len(t.List); i++ {
			e := &t.List[i]
			if c := canonicalTemplate(e.Template); c != e.Template {
				h := fnvString(fnvSep(fnvString(fnvSep(fnvString(fnvOffset, e.Host)), e.Method)), c)
				if _, ok := t.IDs[h]; !ok {
					t.IDs[h] = uint32(i)
				}
			}
		}
	}
	if t.Prefixes == nil || t.Inner == nil {
		t.Prefixes = map[uint64][]string{}
		t.Inner = map[uint64]bool{}
		for i := 1; i < len(t.List); i++ {
			t.notePrefixes(&t.List[i])
		}
	}
}

// lookupPath is lookup for a call whose path is known. Where the sensor wrote a learned
// {param} at an inner segment (not the last), the path's own segment is kept when the
// population has called it literally at that place (under the same canonical segments
// before it) and it does not look like an identifier: a burst of random names at the root
// (fuzzing) makes a templater fold /api and then /api/vehicles, /api/trips, ... into one
// /{param}/{param}/{id}; the names it knew before the burst stay apart. Names never seen
// literally there (ids, slugs past the first few) stay parameters. Each rendering and
// value combination is resolved once.
func (t *endpointTable) lookupPath(host, method, path, tmpl string, ts int64) (id uint32, created bool) {
	if path == "" || !strings.Contains(tmpl, template.Param) {
		return t.lookup(host, method, tmpl, ts)
	}
	t.ensureIndexes()
	// The cache key: the rendering and the path's values at its {param} positions.
	k := fnvString(fnvSep(fnvString(fnvSep(fnvString(fnvOffset, host)), method)), tmpl)
	k = fnvSep(fnvSep(k))
	for tr, pr := tmpl, path; ; {
		tseg, trest := cutSeg(tr)
		pseg, prest := cutSeg(pr)
		if (trest == "") != (prest == "") {
			return t.lookup(host, method, tmpl, ts) // not the same shape: no values to use
		}
		if tseg == template.Param {
			k = fnvSep(fnvString(k, pseg))
		}
		if trest == "" {
			break
		}
		tr, pr = trest, prest
	}
	if id, ok := t.Aliases[k]; ok {
		if f := t.List[id].FoldTo; f != 0 {
			return f, false
		}
		return id, false
	}
	id, created = t.lookup(host, method, t.renderInner(host, method, path, tmpl), ts)
	if len(t.Aliases) < maxAliases {
		t.Aliases[k] = id
	}
	return id, created
}

// renderInner returns tmpl with each {param} replaced by the path's segment there when the
// population called that segment literally at that place (see lookupPath): an inner one
// with endpoints below it, a last one as an endpoint of its own.
// tmpl and path have the same number of segments.
func (t *endpointTable) renderInner(host, method, path, tmpl string) string {
	tsegs := strings.Split(tmpl, "/")
	psegs := strings.Split(path, "/")
	if len(tsegs) != len(psegs) {
		return tmpl
	}
	canon := make([]string, len(tsegs))
	last := len(tsegs) - 1
	for i, seg := range tsegs {
		canon[i] = canonicalSegment(seg)
		if seg != template.Param {
			continue
		}
		v := psegs[i]
		if v == "" || idLike(v) || template.Classify(v).IsID() {
			continue
		}
		if i < last && t.Inner[innerKey(host, method, canon[:i], v)] {
			tsegs[i], canon[i] = v, v
		}
		if i == last {
			// A name the population called here literally is that endpoint (or what it was
			// folded into).
			hm := fnvSep(fnvString(fnvSep(fnvString(fnvOffset, host)), method))
			if _, ok := t.IDs[fnvString(hm, strings.Join(canon[:i], "/")+"/"+v)]; ok {
				tsegs[i] = v
			}
		}
	}
	return strings.Join(tsegs, "/")
}

// canonicalSegment is one segment of canonicalTemplate.
func canonicalSegment(seg string) string {
	if seg != "{id}" && (len(seg) > 1 && seg[0] == '{' && seg[len(seg)-1] == '}' || idLike(seg) || template.Classify(seg).IsID()) {
		return "{id}"
	}
	return seg
}

// innerKey hashes host, method, the canonical segments before an inner segment, and it.
func innerKey(host, method string, before []string, seg string) uint64 {
	h := fnvSep(fnvString(fnvSep(fnvString(fnvOffset, host)), method))
	for _, s := range before {
		h = fnvSep(fnvString(h, s))
	}
	return fnvString(fnvSep(h), seg)
}

// maxInner bounds the inner literals remembered.
const maxInner = 1 << 16

// add appends a new endpoint with canonical template tmpl and returns its id.
func (t *endpointTable) add(host, method, tmpl string, ts int64) uint32 {
	id := uint32(len(t.List))
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
	t.notePrefixes(&t.List[id])
	return id
}

// leafParameter reports whether the last segment of canon, a literal no endpoint has yet,
// sits at a position that evidently holds parameters: its parent has a placeholder child
// that the sensor learned from many distinct names, or at least fanOutParam distinct
// literal children beside a placeholder child (file names under /repos/{id}/contents that
// a sensor learning a new prefix renders literal again). It returns the placeholder
// sibling. A named function beside classified ids (/users/me, /users/export beside
// /users/{id}) stays an endpoint of its own; versions are never folded.
func (t *endpointTable) leafParameter(hm uint64, canon string) (uint32, bool) {
	parent, last := splitLast(canon)
	if last == "" || last[0] == '{' || !foldable(last) {
		return 0, false
	}
	sib, ok := t.IDs[fnvString(fnvString(hm, parent), "/{id}")]
	if !ok {
		return 0, false
	}
	if t.List[sib].Learned {
		return sib, true
	}
	pi := t.Parents[fnvString(hm, parent)]
	return sib, pi != nil && len(pi.Children) >= fanOutParam
}

// maxPrefixLiterals bounds the literals kept per blanked position: past two, a {param}
// there is ambiguous anyway.
const maxPrefixLiterals = 2

// notePrefixes records, for every inner literal segment of e's template (not the last:
// a trailing name is a leaf, /products/red-shoe, not a prefix), the literal under the
// template with that position blanked.
func (t *endpointTable) notePrefixes(e *endpoint) {
	segs := strings.Split(e.Template, "/")
	for i := 0; i < len(segs)-1; i++ {
		s := segs[i]
		if s == "" || s[0] == '{' {
			continue
		}
		k := prefixKey(e.Host, e.Method, segs, i)
		lits := t.Prefixes[k]
		found := false
		for _, l := range lits {
			found = found || l == s
		}
		if !found && len(lits) < maxPrefixLiterals {
			t.Prefixes[k] = append(lits, s)
		}
		if len(t.Inner) < maxInner {
			t.Inner[innerKey(e.Host, e.Method, segs[:i], s)] = true
		}
	}
}

// prefixKey hashes host, method, the segments before position i and the one after it:
// what a literal prefix sits between (/api in /api/v3/...; the v3 after it tells /api
// from a tenant's name at the root of another tree).
func prefixKey(host, method string, segs []string, i int) uint64 {
	h := fnvSep(fnvString(fnvSep(fnvString(fnvOffset, host)), method))
	for _, s := range segs[:i] {
		h = fnvSep(fnvString(h, s))
	}
	h = fnvSep(fnvString(h, "\x00"))
	return fnvString(h, segs[i+1])
}

// resolvePrefixes replaces, in the canonical template canon, each inner {id} that the
// sensor wrote as a learned {param} (raw is the sensor's rendering) with the one literal
// the population called at that position (same segments before it, same segment after
// it), if there is exactly one. A classified identifier ({id} from the sensor, or a literal that looks like one)
// is never resolved, and neither is the last segment.
func (t *endpointTable) resolvePrefixes(host, method, canon, raw string) string {
	if !strings.Contains(raw, template.Param) {
		return canon
	}
	rs := strings.Split(raw, "/")
	cs := strings.Split(canon, "/")
	if len(rs) != len(cs) {
		return canon
	}
	changed := false
	for i := 0; i < len(cs)-1; i++ {
		if rs[i] != template.Param {
			continue
		}
		if lits := t.Prefixes[prefixKey(host, method, cs, i)]; len(lits) == 1 {
			cs[i] = lits[0]
			changed = true
		}
	}
	if !changed {
		return canon
	}
	return strings.Join(cs, "/")
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
// placeholders, and the last such segment (the object the call is about, for evidence,
// listings and sequentiality: the order in /orders/{id}/items, the command in
// /vehicles/{id}/commands/{id}/ack). ok is false when the template has no placeholder
// that holds an object. A placeholder in first position followed by more segments whose
// value is a plain word or a version (/api, /v2, a tenant's name folded into a parameter
// by a burst of random names at the root) is a namespace, not an object: it is left out.
// When the path holds no object, the query may: see queryObjectID. It does not allocate.
func objectID(path, tmpl, query string) (h uint64, last string, ok bool) {
	if h, last, ok = pathObjectID(path, tmpl); ok || query == "" {
		return h, last, ok
	}
	return queryObjectID(query)
}

// maxQueryIDParams bounds the query parameters examined for object ids.
const maxQueryIDParams = 16

// queryObjectID names the object of an RPC-style call (/rpc/getOrder.do?orderId=7,
// /api/invoice?id=...&format=pdf) by its identifier parameters: parameters named like an
// id (id, uuid, orderId, order_id, account-id) whose value is an identifier (a number,
// a UUID, hex, a token, a prefixed id). Per-request ids (requestId, traceId, sessionId,
// nonce ...) are not objects and are skipped. The hash covers every such parameter's
// name and value, in query order; last is the last value.
func queryObjectID(q string) (h uint64, last string, ok bool) {
	h = fnvOffset
	for n := 0; q != "" && n < maxQueryIDParams; n++ {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		k, v, found := strings.Cut(kv, "=")
		if !found || v == "" || !idParamName(k) || !template.Classify(v).IsID() {
			continue
		}
		h = fnvSep(fnvString(fnvSep(fnvString(h, k)), v))
		last, ok = v, true
	}
	return h, last, ok
}

// perRequestIDs are name prefixes of query parameters that carry a fresh id per request
// or per session rather than the object the call is about.
var perRequestIDs = [...]string{"request", "req", "trace", "span", "correlation", "session", "nonce",
	"idempotency", "cache", "client", "device", "install", "tracking", "cursor"}

// idParamName reports whether a query parameter name reads as an object id: id, uuid,
// guid, or a name ending in Id, ID, _id, -id, .id or _uuid (not paid, valid, grid).
func idParamName(k string) bool {
	switch {
	case k == "id" || k == "ID" || k == "uuid" || k == "guid":
		return true
	case len(k) < 3 || len(k) > 40:
		return false
	}
	tail := k[len(k)-2:]
	sep := k[len(k)-3]
	if !(tail == "Id" || tail == "ID" || tail == "id" && (sep == '_' || sep == '-' || sep == '.') || strings.HasSuffix(k, "_uuid")) {
		return false
	}
	for _, p := range perRequestIDs {
		if len(k) >= len(p) && strings.EqualFold(k[:len(p)], p) {
			return false
		}
	}
	return true
}

// pathObjectID is objectID for the path alone.
func pathObjectID(path, tmpl string) (h uint64, last string, ok bool) {
	h = fnvOffset
	first := true
	for len(tmpl) > 0 && len(path) > 0 {
		ts, trest := cutSeg(tmpl)
		ps, prest := cutSeg(path)
		if len(ts) > 0 && ts[0] == '{' && !(first && trest != "" && namespaceLike(ps)) {
			h = fnvSep(fnvString(h, ps))
			last = ps
			ok = true
		}
		first = false
		tmpl, path = trest, prest
	}
	return h, last, ok
}

// namespaceLike reports whether a path segment reads as a name rather than an
// identifier: a version, or a short word of letters (api, rest, acme-corp).
func namespaceLike(seg string) bool {
	switch template.Classify(seg) {
	case template.Version:
		return true
	case template.Literal:
		if len(seg) > 24 || idLike(seg) {
			return false
		}
		for i := 0; i < len(seg); i++ {
			if c := seg[i]; c >= '0' && c <= '9' {
				return false
			}
		}
		return true
	}
	return false
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

// canonicalTemplate is the analyzer's form of a template: every placeholder ({param},
// {id}, {name}) is written {id}, so a position the sensor classified in one call and
// learned in another is one endpoint; and path segments that are evidently identifiers but
// were left literal become {id} too (the sensor's templater learns parameters over time,
// and codes such as CDIIBCKI0U or ORD-12345 look like names to a classifier): segments
// the sensor's classifier takes for identifiers (numbers, UUIDs, hex, tokens, emails,
// dates, prefixed ids, file ids), all digits, upper-case codes of at least 8 letters and
// digits (UCZQUQCIBK), or at least 8 characters of letters, digits, '-' and '_' with at
// least one digit and no lower-case letter, or with at least three digits. Versions (v1, v2beta1) stay literal. It returns tmpl itself (no allocation) when
// nothing changes.
func canonicalTemplate(tmpl string) string {
	var b []byte
	start := 0
	for i := 0; i <= len(tmpl); i++ {
		if i < len(tmpl) && tmpl[i] != '/' {
			continue
		}
		seg := tmpl[start:i]
		if canonicalSegment(seg) != seg {
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
	var digits, lower, upper int
	for i := 0; i < len(seg); i++ {
		switch c := seg[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c >= 'a' && c <= 'z':
			lower++
		case c >= 'A' && c <= 'Z':
			upper++
		case c == '-', c == '_':
		default:
			return false
		}
	}
	if digits == len(seg) || len(seg) >= 8 && digits+upper == len(seg) {
		return true // a number, or an upper-case code such as UCZQUQCIBK
	}
	return len(seg) >= 8 && digits > 0 && (lower == 0 || digits >= 3)
}

// collectionName returns the literal segment just before the last placeholder that
// follows a literal, the collection of the object a call is about ("orders" for
// /v1/orders/{id}/shipment, "commands" for /vehicles/{id}/commands/{id}/ack, "repos" for
// /{id}/v3/repos/{id}), or "" when there is none.
func collectionName(tmpl string) string {
	name, _ := collection(tmpl)
	return name
}

// collection returns the collection name (see collectionName) and the template before it
// ("/vehicles/{id}" for /vehicles/{id}/commands/{id}/ack). It does not allocate.
func collection(tmpl string) (name, parent string) {
	end := len(tmpl) // tmpl[:end] is what is left to scan
	for end > 0 {
		i := strings.LastIndexByte(tmpl[:end], '/')
		if i < 0 {
			return "", ""
		}
		seg := tmpl[i+1 : end]
		if strings.HasPrefix(seg, "{") && i > 0 {
			j := strings.LastIndexByte(tmpl[:i], '/')
			prev := tmpl[j+1 : i]
			if prev != "" && !strings.HasPrefix(prev, "{") {
				return prev, tmpl[:max(j, 0)]
			}
		}
		end = i
	}
	return "", ""
}

// listed reports whether the client has called a listing of the objects of ep: a GET
// endpoint on the same host, not ending in a placeholder, whose last segment names the
// collection (/v1/orders or /v1/me/orders for /v1/orders/{id}). For an object nested in
// another (/repos/{id}/contents/{id}, /vehicles/{id}/commands/{id}/ack), a client that
// called any other GET endpoint of the parent object (/repos/{id}, /repos/{id}/tree) has
// navigated to it and learned its children there. Unknown is listed.
func (t *endpointTable) listed(p *Profile, ep uint32) bool {
	e := &t.List[ep]
	name, parent := collection(e.Template)
	if name == "" {
		return true
	}
	// A placeholder in first position is taken for a namespace (see objectID), not a
	// parent object.
	inner := parent
	if strings.HasPrefix(inner, "/{") {
		if k := strings.IndexByte(inner[1:], '/'); k >= 0 {
			inner = inner[k+1:]
		} else {
			inner = ""
		}
	}
	nested := strings.IndexByte(inner, '{') >= 0
	for _, s := range p.Endpoints {
		x := &t.List[s.EP]
		if x.Method != "GET" || x.Host != e.Host || s.EP == ep {
			continue
		}
		if nested && strings.HasPrefix(x.Template, parent) && (len(x.Template) == len(parent) || x.Template[len(parent)] == '/') {
			return true
		}
		if strings.HasSuffix(x.Template, "}") {
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
