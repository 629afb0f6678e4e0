package identity

import (
	"hash/maphash"
	"strings"
	"sync/atomic"
)

// Credentials repeat: one token serves many calls. Caching what was derived from a
// credential (claims, fingerprint) avoids a JSON decode and an HMAC per call. The cache
// holds credentials in process memory only; nothing in it is exported.
const (
	// cacheSlots is how many credentials the cache holds at most (a power of two).
	cacheSlots = 8192
	// maxCachedCred bounds the credential length cached, so the cache holds at most
	// about 32 MiB however long the tokens an attacker sends.
	maxCachedCred = 4096
)

type credEntry struct {
	claims Claims
	user   string
	fp     string
	// clientID is the client_id the credential gives, made once when the entry is
	// cached rather than concatenated for every call.
	clientID string
	bad      bool
	reason   string // why bad; never contains the credential
	// kind and cred are the entry's key, set by put. The credential is a copy: cred is
	// usually a slice of a whole header block, which the cache would otherwise keep
	// alive, and whose bytes are cold when a lookup compares them.
	kind Kind
	cred string
}

// credCache is a two-way set-associative table of entries, each holding its own key.
// A lookup hashes the credential once and compares at most two entries it loads
// atomically: no lock and no map, whose look-up would hash the key a second time. A put
// places the new entry first in its set and moves the one it displaces second, dropping
// the older second: bounded, simple, and a credential flood (or two credentials that
// collide) costs only recomputation. Entries are never changed once cached, so readers
// share them.
type credCache struct {
	seed  maphash.Seed
	slots []atomic.Pointer[credEntry]
}

func (c *credCache) init() {
	c.seed = maphash.MakeSeed()
	c.slots = make([]atomic.Pointer[credEntry], cacheSlots)
}

// set returns the index of the first slot of cred's set. The kind is mixed in, so one
// secret used two ways does not crowd a single set.
func (c *credCache) set(kind Kind, cred string) int {
	h := maphash.String(c.seed, cred) + uint64(kind)*0x9e3779b97f4a7c15
	return int(h&(cacheSlots-1)) &^ 1
}

// get returns the cached entry of cred, which the caller must not modify.
func (c *credCache) get(kind Kind, cred string) (*credEntry, bool) {
	if len(cred) > maxCachedCred || kind >= numKinds {
		return nil, false
	}
	i := c.set(kind, cred)
	if e := c.slots[i].Load(); e != nil && e.kind == kind && e.cred == cred {
		return e, true
	}
	if e := c.slots[i+1].Load(); e != nil && e.kind == kind && e.cred == cred {
		return e, true
	}
	return nil, false
}

// put caches e for cred; e must be new and must not be modified afterwards.
func (c *credCache) put(kind Kind, cred string, e *credEntry) {
	if len(cred) > maxCachedCred || kind >= numKinds {
		return
	}
	e.kind, e.cred = kind, strings.Clone(cred)
	i := c.set(kind, cred)
	if old := c.slots[i].Load(); old != nil && (old.kind != kind || old.cred != cred) {
		c.slots[i+1].Store(old)
	}
	c.slots[i].Store(e)
}
