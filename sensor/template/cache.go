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
// table is direct-mapped: an entry lives in the slot its key hashes to and is replaced by
// any other key made there. A hash only picks the slot; the stored key is compared in
// full, so a collision costs a miss, never a wrong template. An entry holds only while
// learner.changes is what it was made under, and only for calls no earlier than the call
// that made it.
type resultCache struct {
	mu    sync.Mutex
	seed  maphash.Seed
	exact []cacheEntry // len a power of two; nil when the Templater caches nothing
	shape []cacheEntry // len a power of two
	key   []byte       // scratch for building an exact key under mu
}

type cacheEntry struct {
	key     []byte // owned; empty in an unused slot (real keys are never empty)
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
// number of segments.
func appendShape(k []byte, path string, cls []Class) ([]byte, int) {
	rest := path[1:]
	for n := 0; ; n++ {
		seg := rest
		i := strings.IndexByte(rest, '/')
		if i >= 0 {
			seg, rest = rest[:i], rest[i+1:]
		}
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
		if i < 0 {
			return k, n + 1
		}
	}
}

// slot returns the slot of key k in tab.
func (rc *resultCache) slot(tab []cacheEntry, k []byte) *cacheEntry {
	return &tab[maphash.Bytes(rc.seed, k)&uint64(len(tab)-1)]
}

// holds reports whether e is k's entry and holds for a call at tsn under changes.
func (e *cacheEntry) holds(k []byte, tsn int64, changes uint64) bool {
	return e.changes == changes && tsn >= e.ts && bytes.Equal(e.key, k)
}

// set makes e the entry of k, unless e already is and holds at tsn (an earlier entry
// serves more calls).
func (e *cacheEntry) set(k []byte, tmpl string, tsn int64, changes uint64) {
	if e.holds(k, tsn, changes) {
		return
	}
	e.key = append(e.key[:0], k...)
	e.tmpl, e.ts, e.changes = tmpl, tsn, changes
}

// exactKey builds the exact key of a call into rc.key; rc.mu must be held.
func (rc *resultCache) exactKey(host, method, path string) []byte {
	k := appendKeyHead(rc.key[:0], host, method)
	k = append(k, path...)
	rc.key = k
	return k
}

// lookupExact returns the cached template of a call at tsn under changes, if any.
func (rc *resultCache) lookupExact(host, method, path string, tsn int64, changes uint64) (string, bool) {
	rc.mu.Lock()
	k := rc.exactKey(host, method, path)
	e := rc.slot(rc.exact, k)
	if !e.holds(k, tsn, changes) {
		rc.mu.Unlock()
		return "", false
	}
	tmpl := e.tmpl
	rc.mu.Unlock()
	return tmpl, true
}

// lookupShape returns the template cached for shape key sk at tsn under changes, if any,
// and on a hit enters it in the exact table for the call's path too.
func (rc *resultCache) lookupShape(sk []byte, host, method, path string, tsn int64, changes uint64) (string, bool) {
	rc.mu.Lock()
	e := rc.slot(rc.shape, sk)
	if !e.holds(sk, tsn, changes) {
		rc.mu.Unlock()
		return "", false
	}
	tmpl, ts := e.tmpl, e.ts
	k := rc.exactKey(host, method, path)
	rc.slot(rc.exact, k).set(k, tmpl, ts, changes)
	rc.mu.Unlock()
	return tmpl, true
}

// remember caches tmpl, the template the general path gave a call at tsn while the
// learner's changes were changes, under the call's exact key and its shape key sk (nil
// when the shape was not worked out).
func (rc *resultCache) remember(sk []byte, host, method, path, tmpl string, tsn int64, changes uint64) {
	rc.mu.Lock()
	k := rc.exactKey(host, method, path)
	rc.slot(rc.exact, k).set(k, tmpl, tsn, changes)
	if sk != nil {
		rc.slot(rc.shape, sk).set(sk, tmpl, tsn, changes)
	}
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
