package identity

import (
	"hash/maphash"
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
	bad    bool
	reason string // why bad; never contains the credential
}

type cacheKey struct {
	kind Kind
	cred string
}

// credCache is a striped map. A full stripe is emptied rather than evicted entry by entry:
// bounded, simple, and a credential flood costs only recomputation.
type credCache struct {
	seed    maphash.Seed
	stripes [cacheStripes]struct {
		mu sync.Mutex
		m  map[cacheKey]credEntry
		_  [40]byte // keep stripes on separate cache lines
	}
}

func (c *credCache) init() {
	c.seed = maphash.MakeSeed()
	for i := range c.stripes {
		c.stripes[i].m = make(map[cacheKey]credEntry)
	}
}

func (c *credCache) stripe(cred string) int {
	return int(maphash.String(c.seed, cred) % cacheStripes)
}

func (c *credCache) get(kind Kind, cred string) (credEntry, bool) {
	if len(cred) > maxCachedCred {
		return credEntry{}, false
	}
	s := &c.stripes[c.stripe(cred)]
	s.mu.Lock()
	e, ok := s.m[cacheKey{kind, cred}]
	s.mu.Unlock()
	return e, ok
}

func (c *credCache) put(kind Kind, cred string, e credEntry) {
	if len(cred) > maxCachedCred {
		return
	}
	s := &c.stripes[c.stripe(cred)]
	s.mu.Lock()
	if len(s.m) >= cacheEntriesByStripe {
		clear(s.m)
	}
	s.m[cacheKey{kind, cred}] = e
	s.mu.Unlock()
}
