package identity

import (
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestCredCache(t *testing.T) {
	var c credCache
	c.init()
	c.put(KindAPIKey, "k", &credEntry{fp: "apikey-k"})
	c.put(KindCookie, "k", &credEntry{fp: "cookie-k"})
	if e, ok := c.get(KindAPIKey, "k"); !ok || e.fp != "apikey-k" {
		t.Errorf("apikey k: %v %v", e, ok)
	}
	if e, ok := c.get(KindCookie, "k"); !ok || e.fp != "cookie-k" {
		t.Errorf("cookie k: %v %v", e, ok)
	}
	if _, ok := c.get(KindJWT, "k"); ok {
		t.Error("a kind never put was found")
	}
	c.put(KindAPIKey, "k", &credEntry{fp: "apikey-k2"})
	if e, ok := c.get(KindAPIKey, "k"); !ok || e.fp != "apikey-k2" {
		t.Errorf("replaced apikey k: %v %v", e, ok)
	}
	long := strings.Repeat("x", maxCachedCred+1)
	c.put(KindAPIKey, long, &credEntry{fp: "long"})
	if _, ok := c.get(KindAPIKey, long); ok {
		t.Error("an over-long credential was cached")
	}
	// A flood: every answer is a miss or the entry of the credential asked for, and
	// the credential put last is always found.
	for i := range 3 * cacheSlots {
		cred := "t" + strconv.Itoa(i)
		c.put(KindAPIKey, cred, &credEntry{fp: cred})
		if e, ok := c.get(KindAPIKey, cred); !ok || e.fp != cred {
			t.Fatalf("%s not found right after put: %v %v", cred, e, ok)
		}
	}
	found := 0
	for i := range 3 * cacheSlots {
		cred := "t" + strconv.Itoa(i)
		if e, ok := c.get(KindAPIKey, cred); ok {
			if e.fp != cred {
				t.Fatalf("%s gave the entry of %s", cred, e.fp)
			}
			found++
		}
	}
	if found > cacheSlots || found < cacheSlots/2 {
		t.Errorf("%d of %d credentials cached in %d slots", found, 3*cacheSlots, cacheSlots)
	}
}

// TestCredCacheConcurrent runs gets and puts of overlapping credentials together: run
// with -race, and every hit must be the credential's own entry.
func TestCredCacheConcurrent(t *testing.T) {
	var c credCache
	c.init()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20000 {
				cred := "t" + strconv.Itoa((i*7+g)%3000)
				if e, ok := c.get(KindAPIKey, cred); ok {
					if e.fp != cred {
						t.Errorf("%s gave the entry of %s", cred, e.fp)
						return
					}
					continue
				}
				c.put(KindAPIKey, cred, &credEntry{fp: cred})
			}
		}()
	}
	wg.Wait()
}
