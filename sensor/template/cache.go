package template

import (
	"bytes"
	"hash/maphash"
	"strings"
	"sync"
)

// resultCache remembers the templates of calls whose every learned position was below
// the threshold and held the call's segment: such a call made at capture time ts
// recorded, at each position it reached, a value already there with a first-seen time no
// later than ts. Until the learner changes (learner.changes counts every crossing and
// every loaded merge), a call at ts or later that reaches the same positions with the
// same values records nothing new, finds every position still below (a position only
// leaves that state by crossing) and gets the same template. Keep-alive API traffic
// repeats a few paths over and over, and classifying and observing every segment anew
// was most of templating's cost.
//
// Two tables hold entries:
//
//   - exact, keyed by method, host and path: a hit costs one hash and one comparison;
//   - shape, keyed by method, host and the path's shape (each segment's class, and the
//     segment itself when it stays literal): calls that differ only in their ids (a new
//     order number in every call) reach the same positions with the same values, so one
//     entry serves them all, after classifying the segments but without observing them.
//
// The host is the Host header as sent, so equal keys mean equal normalised hosts. Each
// table is direct-mapped: an entry lives in the slot its key hashes to and is replaced
// by another key made there. A hash only picks the slot and tells most keys apart
// cheaply; the stored key is compared in full, so a collision costs a miss, never a
// wrong template. An entry holds only while learner.changes is what it was made under,
// and only for calls no earlier than the call that made it.
type resultCache struct {
	mu    sync.Mutex
	seed  maphash.Seed
	exact []cacheEntry // len a power of two; nil when the Templater caches nothing
	shape []cacheEntry // len a power of two
	memo  shapeMemo
}

type cacheEntry struct {
	key     []byte // owned; empty in an unused slot (real keys are never empty)
	hash    uint64 // of key: most other keys differ here, and are told apart without comparing
	tmpl    string
	ts      int64  // capture time of the call whose general path proved the entry
	changes uint64 // learner.changes the entry was made under
}

// Bounds of the result cache: slots per table, and the longest method, host and path
// cached. Keys are copied into their slots' own buffers, so a slot holds at most
// about 2*maxCachedKeySize bytes (a shape key adds a class byte per segment).
const (
	exactSlots       = 4096
	shapeSlots       = 1024
	maxCachedKeySize = 512
	// maxShapeClasses is how many segment classes the shape pass hands on to the
	// general path; deeper segments are classified again there.
	maxShapeClasses = 16
)

// init makes the tables; sizes are powers of two.
func (rc *resultCache) init(exact, shape int) {
	rc.seed = maphash.MakeSeed()
	rc.exact = make([]cacheEntry, exact)
	rc.shape = make([]cacheEntry, shape)
}

// appendKeyHead starts a key: the lengths of method and host (each at most
// maxCachedKeySize, two bytes), then method and host, so that no two (method, host)
// pairs give the same head whatever bytes they hold.
func appendKeyHead(k []byte, host, method string) []byte {
	k = append(k, byte(len(method)>>8), byte(len(method)), byte(len(host)>>8), byte(len(host)))
	k = append(k, method...)
	return append(k, host...)
}

// Marks that start each segment of a shape key: the segment renders as itself (the
// segment follows), or as the id placeholder (a FileID's extension follows).
const (
	shapeLiteral = 'L'
	shapeID      = 'I'
)

// appendShape appends the shape of path (which starts with '/') to k: for each segment
// '/', then shapeLiteral and the segment, or shapeID and the extension of a FileID. As
// segments hold no '/', the shape gives back every segment's class group and rendering,
// and with them the template, the learning keys and the values the general path would
// observe. It stores the class of segment i in cls[i] while i < len(cls) and returns the
// number of segments. With a memo (nil for none), the leading segments path shares with
// the memo's path take their shape and classes from it, and the memo then holds path.
func appendShape(k []byte, path string, cls []Class, m *shapeMemo) ([]byte, int) {
	base := len(k)
	n, pos := 0, 1 // segments done; offset in path of the next one
	if m != nil {
		n = m.shared(path)
		for i := 0; i < n && i < len(cls); i++ {
			cls[i] = m.segs[i].class
		}
		if n > 0 {
			k = append(k, m.shape[:m.segs[n-1].shapeEnd]...)
			pos = int(m.segs[n-1].end) + 1
		}
		m.segs = m.segs[:n]
	}
	for ; ; n++ {
		end := len(path)
		if i := strings.IndexByte(path[pos:], '/'); i >= 0 {
			end = pos + i
		}
		seg := path[pos:end]
		c := Classify(seg)
		if n < len(cls) {
			cls[n] = c
		}
		switch {
		case c == FileID:
			k = append(k, '/', shapeID)
			k = append(k, seg[strings.LastIndexByte(seg, '.'):]...)
		case c.IsID():
			k = append(k, '/', shapeID)
		default:
			k = append(k, '/', shapeLiteral)
			k = append(k, seg...)
		}
		if m != nil {
			m.segs = append(m.segs, memoSeg{end: end, shapeEnd: len(k) - base, class: c})
		}
		if end == len(path) {
			break
		}
		pos = end + 1
	}
	if m != nil {
		m.path = append(m.path[:0], path...)
		m.shape = append(m.shape[:0], k[base:]...)
	}
	return k, n + 1
}

// shapeMemo is the shape of the last path appendShape worked out. A segment's class
// depends on its bytes alone, so the leading segments a path shares with that one get
// their shape and classes from it instead of being classified again: calls that miss
// the exact table mostly differ from the one before in an id near the end. It holds one
// path of at most maxCachedKeySize bytes. rc.mu guards it.
type shapeMemo struct {
	path  []byte
	shape []byte // the shape of path (without the key head)
	segs  []memoSeg
}

type memoSeg struct {
	end      int // offset in path of the '/' after the segment, or len(path)
	shapeEnd int // length of the shape up to and including the segment
	class    Class
}

// shared returns how many leading segments path has in common with m's path, each
// followed by '/' in both (m's last segment, followed by nothing, never counts).
func (m *shapeMemo) shared(path string) int {
	// Most often every segment but the last is shared: one comparison tells.
	if j := len(m.segs) - 1; j > 0 {
		if e := m.segs[j-1].end; e < len(path) && path[e] == '/' && path[:e] == string(m.path[:e]) {
			return j
		}
	}
	l := 0
	for l < len(path) && l < len(m.path) && path[l] == m.path[l] {
		l++
	}
	n := 0
	for n < len(m.segs) && m.segs[n].end < l {
		n++
	}
	return n
}

func (rc *resultCache) hash(k []byte) uint64 { return maphash.Bytes(rc.seed, k) }

// is reports whether e is the entry of key k with hash h.
func (e *cacheEntry) is(k []byte, h uint64) bool {
	return e.hash == h && bytes.Equal(e.key, k)
}

// holds reports whether e is the entry of k (hash h) and holds for a call at tsn under
// changes.
func (e *cacheEntry) holds(k []byte, h uint64, tsn int64, changes uint64) bool {
	return e.changes == changes && tsn >= e.ts && e.is(k, h)
}

// get returns the slot of key k (hash h) in tab and whether it holds k's entry for a call
// at tsn under changes.
func (rc *resultCache) get(tab []cacheEntry, k []byte, h uint64, tsn int64, changes uint64) (*cacheEntry, bool) {
	e := &tab[h&uint64(len(tab)-1)]
	return e, e.holds(k, h, tsn, changes)
}

// put makes tmpl the entry of k (hash h) in tab for calls at tsn or later under changes,
// unless k's entry already holds at tsn (an earlier entry serves more calls). It
// replaces whatever entry the slot held.
func (rc *resultCache) put(tab []cacheEntry, k []byte, h uint64, tmpl string, tsn int64, changes uint64) {
	e := &tab[h&uint64(len(tab)-1)]
	if e.holds(k, h, tsn, changes) {
		return
	}
	e.key = append(e.key[:0], k...)
	e.hash, e.tmpl, e.ts, e.changes = h, tmpl, tsn, changes
}

// appendExactKey appends the exact key of a call to k.
func appendExactKey(k []byte, host, method, path string) []byte {
	return append(appendKeyHead(k, host, method), path...)
}

// lookupExact returns the cached template of a call at tsn under changes whose exact key
// is k (hash h), if any.
func (rc *resultCache) lookupExact(k []byte, h uint64, tsn int64, changes uint64) (string, bool) {
	rc.mu.Lock()
	e, ok := rc.get(rc.exact, k, h, tsn, changes)
	tmpl := e.tmpl
	rc.mu.Unlock()
	return tmpl, ok
}

// lookupShape appends the shape key of a call to sk: appendKeyHead, then appendShape
// with the memo, storing classes in cls. It returns the key, the number of segments and,
// if one holds at tsn under changes, the template cached for the key; on a hit it enters
// the template in the exact table too, under the call's exact key k (hash h).
func (rc *resultCache) lookupShape(sk []byte, cls []Class, host, method, path string, k []byte, h uint64, tsn int64, changes uint64) (key []byte, n int, tmpl string, ok bool) {
	rc.mu.Lock()
	sk, n = appendShape(appendKeyHead(sk, host, method), path, cls, &rc.memo)
	e, ok := rc.get(rc.shape, sk, rc.hash(sk), tsn, changes)
	if ok {
		tmpl = e.tmpl
		rc.put(rc.exact, k, h, tmpl, e.ts, changes)
	}
	rc.mu.Unlock()
	return sk, n, tmpl, ok
}

// remember caches tmpl, the template the general path gave a call at tsn while the
// learner's changes were changes, under the call's shape key sk and exact key k (hash
// h).
func (rc *resultCache) remember(sk, k []byte, h uint64, tmpl string, tsn int64, changes uint64) {
	hs := rc.hash(sk)
	rc.mu.Lock()
	rc.put(rc.exact, k, h, tmpl, tsn, changes)
	rc.put(rc.shape, sk, hs, tmpl, tsn, changes)
	rc.mu.Unlock()
}

// entries counts the entries in use (tests).
func (rc *resultCache) entries() (exact, shape int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for i := range rc.exact {
		if len(rc.exact[i].key) > 0 {
			exact++
		}
	}
	for i := range rc.shape {
		if len(rc.shape[i].key) > 0 {
			shape++
		}
	}
	return exact, shape
}
