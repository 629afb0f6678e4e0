package template

import (
	"bytes"
	"fmt"
	"math/rand"
	"reflect"
	"testing"
	"time"

	"github.com/apiscope/apiscope/pkg/metrics"
)

// TestResultCacheMatchesGeneralPath runs random call sequences through a Templater with
// its result cache and one without: every template, the learned state (Save) and the
// counters must be the same. The sequences repeat paths (cache hits), add values until
// positions cross their threshold (the cache must be dropped), send some calls back in
// time (a hit needs a call no earlier than the one that made the entry), and cap hosts
// and positions (capped calls are never cached).
func TestResultCacheMatchesGeneralPath(t *testing.T) {
	hosts := []string{"api.example.com", "API.example.com:8080", "other.example", "third.example"}
	methods := []string{"GET", "POST"}
	segs := []string{"users", "orders", "v1", "items", "a", "b", "c", "d", "e", "42", "ORD-1", "report.pdf", ""}
	hits := 0
	for seed := int64(1); seed <= 40; seed++ {
		rng := rand.New(rand.NewSource(seed))
		cfg := Config{Threshold: 1 + rng.Intn(4)}
		if rng.Intn(3) == 0 {
			cfg.LearnDelay = time.Duration(rng.Intn(5)) * time.Second
		}
		if rng.Intn(4) == 0 {
			cfg.MaxHosts = 2
			cfg.MaxKeysPerHost = 6
		}
		mk := func(noCache bool) (*Templater, *metrics.Registry) {
			reg := metrics.NewRegistry()
			c := cfg
			c.Metrics = reg
			tp, err := New(c)
			if err != nil {
				t.Fatal(err)
			}
			tp.noCache = noCache
			return tp, reg
		}
		cached, regC := mk(false)
		plain, regP := mk(true)
		// A small set of paths, so that most calls repeat one.
		paths := make([]string, 4+rng.Intn(12))
		for i := range paths {
			p := ""
			for n := 1 + rng.Intn(4); n > 0; n-- {
				p += "/" + segs[rng.Intn(len(segs))]
			}
			paths[i] = p
		}
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		now := 0
		for i := 0; i < 3000; i++ {
			now += rng.Intn(3)
			at := now
			if rng.Intn(10) == 0 {
				at -= rng.Intn(8) // out of order
			}
			host, method := hosts[rng.Intn(len(hosts))], methods[rng.Intn(len(methods))]
			path := paths[rng.Intn(len(paths))]
			if rng.Intn(20) == 0 {
				path = fmt.Sprintf("/users/x%d/items", rng.Intn(50)) // new values: crossings
			}
			ts := base.Add(time.Duration(at) * time.Second)
			if rng.Intn(50) == 0 {
				ts = time.Time{}
			}
			got := cached.Template(host, method, path, ts)
			want := plain.Template(host, method, path, ts)
			if got != want {
				t.Fatalf("seed %d call %d %s %s %s: cached %+v, general %+v", seed, i, host, method, path, got, want)
			}
		}
		hits += len(cached.cache.m)
		if sa, sb := learnedPositions(cached), learnedPositions(plain); !reflect.DeepEqual(sa, sb) {
			t.Fatalf("seed %d: positions differ:\n%v\n%v", seed, sa, sb)
		}
		var a, b bytes.Buffer
		if err := cached.Save(&a); err != nil {
			t.Fatal(err)
		}
		if err := plain.Save(&b); err != nil {
			t.Fatal(err)
		}
		if a.String() != b.String() {
			t.Fatalf("seed %d: learned state differs:\n%s\n%s", seed, a.String(), b.String())
		}
		if sa, sb := regC.Snapshot(), regP.Snapshot(); !reflect.DeepEqual(sa, sb) {
			t.Fatalf("seed %d: counters differ:\n%v\n%v", seed, sa, sb)
		}
	}
	if hits == 0 {
		t.Fatal("no call was cached: the test no longer exercises the cache")
	}
}

// learnedPositions is every position's state: host, key, crossing time and values with
// their first times.
func learnedPositions(tp *Templater) map[string]string {
	out := map[string]string{}
	l := tp.learn
	l.mu.RLock()
	defer l.mu.RUnlock()
	for name, h := range l.hosts {
		for i := range h.stripes {
			for k, p := range h.stripes[i].keys {
				out[name+"|"+k] = fmt.Sprintf("%d %v", p.crossAt, p.values)
			}
		}
	}
	return out
}
