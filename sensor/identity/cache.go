package identity

import (
	"hash/maphash"
	"strings"
	"sync"
)

// Credentials repeat: one token serves many calls. Caching what was derived from a
// credential (claims, fingerprint) avoids a JSON decode and an HMAC per call. The cache
// holds credentials in process memory only; nothing in it is exported.
const (
	cacheStripes         = 16
	cacheEntriesByStripe = 512 // 8k credentials in all
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
}

type cacheKey struct {
	kind Kind
	cred string
}

// credCache is a striped map. A full stripe is emptied rather than evicted entry by entry:
// bounded, simple, and a credential flood costs only recomputation. Each stripe keeps one
// map per kind keyed by the credential alone (string keys take the runtime's fast path)
// and holds entries by pointer: they are never changed once cached, and a lookup then
// copies one word instead of the whole entry.
type credCache struct {
	seed    maphash.Seed
	stripes [cacheStripes]struct {
		mu sync.Mutex
		m  [numKinds]map[string]*credEntry
		n  int      // entries over all kinds
		_  [40]byte // keep stripes on separate cache lines
	}
}

func (c *credCache) init() {
	c.seed = maphash.MakeSeed()
	for i := range c.stripes {
		for k := range c.stripes[i].m {
			c.stripes[i].m[k] = make(map[string]*credEntry)
		}
	}
}

func (c *credCache) stripe(cred string) int {
	return int(maphash.String(c.seed, cred) % cacheStripes)
}

// get returns the cached entry of cred, which the caller must not modify.
func (c *credCache) get(kind Kind, cred string) (*credEntry, bool) {
	if len(cred) > maxCachedCred || kind >= numKinds {
		return nil, false
	}
	s := &c.stripes[c.stripe(cred)]
	s.mu.Lock()
	e, ok := s.m[kind][cred]
	s.mu.Unlock()
	return e, ok
}

// put caches e for cred; e must not be modified afterwards.
func (c *credCache) put(kind Kind, cred string, e *credEntry) {
	if len(cred) > maxCachedCred || kind >= numKinds {
		return
	}
	s := &c.stripes[c.stripe(cred)]
	s.mu.Lock()
	if s.n >= cacheEntriesByStripe {
		for k := range s.m {
			clear(s.m[k])
		}
		s.n = 0
	}
	if _, ok := s.m[kind][cred]; !ok {
		s.n++
	}
	// The key is copied: cred is usually a slice of a whole header block, which the
	// cache would otherwise keep alive, and whose bytes are cold when a lookup compares
	// them.
	s.m[kind][strings.Clone(cred)] = e
	s.mu.Unlock()
}
