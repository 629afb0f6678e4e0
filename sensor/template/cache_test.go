package template

import (
	"bytes"
	"fmt"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apiscope/apiscope/pkg/metrics"
)

// TestResultCacheMatchesGeneralPath runs random call sequences through a Templater with
// its result cache and one without: every template, the learned state (Save) and the
// counters must be the same. The sequences repeat paths (cache hits), add values until
// positions cross their threshold (the cache must be dropped), send some calls back in
// time (a hit needs a call no earlier than the one that made the entry), and cap hosts
// and positions (capped calls are never cached). Fresh ids in known shapes exercise the
// shape table; literal segments that render like ids ("{id}", "{id}.json"), hosts with
// NUL and '/' in them and deep paths check that no two calls that could differ share a
// key; some seeds use tables of a few slots, so that keys collide and replace each other.
func TestResultCacheMatchesGeneralPath(t *testing.T) {
	hosts := []string{"api.example.com", "API.example.com:8080", "other.example", "third.example", "h\x00/a", "h"}
	methods := []string{"GET", "POST"}
	segs := []string{"users", "orders", "v1", "items", "a", "b", "c", "d", "e", "42", "ORD-1", "report.pdf", "",
		"{id}", "{id}.json", "7.json", "7.xml", "2024-01-31", "a@b.io", "I", "L", "\x00/a"}
	var hits, shapeHits int
	for seed := int64(1); seed <= 60; seed++ {
		rng := rand.New(rand.NewSource(seed))
		cfg := Config{Threshold: 1 + rng.Intn(4)}
		if rng.Intn(3) == 0 {
			cfg.LearnDelay = time.Duration(rng.Intn(5)) * time.Second
		}
		if rng.Intn(4) == 0 {
			cfg.MaxHosts = 2
			cfg.MaxKeysPerHost = 6
		}
		if rng.Intn(4) == 0 {
			cfg.MaxSegments = 1 + rng.Intn(20)
		}
		small := rng.Intn(3) == 0
		mk := func(noCache bool) (*Templater, *metrics.Registry) {
			reg := metrics.NewRegistry()
			c := cfg
			c.Metrics = reg
			tp, err := New(c)
			if err != nil {
				t.Fatal(err)
			}
			tp.noCache = noCache
			if small {
				tp.cache.init(2, 2)
			}
			return tp, reg
		}
		cached, regC := mk(false)
		plain, regP := mk(true)
		// A small set of paths, so that most calls repeat one.
		paths := make([]string, 4+rng.Intn(12))
		for i := range paths {
			p := ""
			n := 1 + rng.Intn(4)
			if rng.Intn(8) == 0 {
				n = 15 + rng.Intn(6) // around maxShapeClasses
			}
			for ; n > 0; n-- {
				p += "/" + segs[rng.Intn(len(segs))]
			}
			paths[i] = p
		}
		// Shapes whose ids are fresh in most calls.
		shapes := []string{"/users/%d/orders", "/users/%d", "/files/%d.json", "/users/%d/%s", "/%s/%d/items/%d"}
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
			switch rng.Intn(20) {
			case 0:
				path = fmt.Sprintf("/users/x%d/items", rng.Intn(50)) // new values: crossings
			case 1, 2, 3, 4, 5:
				f := shapes[rng.Intn(len(shapes))]
				args := []any{}
				for _, c := range strings.Split(f, "%")[1:] {
					if c[0] == 'd' {
						args = append(args, rng.Intn(100000))
					} else {
						args = append(args, segs[rng.Intn(len(segs))])
					}
				}
				path = fmt.Sprintf(f, args...)
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
		e, s := cached.cache.entries()
		hits += e
		shapeHits += s
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
	if hits == 0 || shapeHits == 0 {
		t.Fatalf("%d exact and %d shape entries: the test no longer exercises the cache", hits, shapeHits)
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

// TestResultCacheKeysDoNotAlias runs call sequences whose calls would share a key if keys
// were joined carelessly (method, host and path with a separator the values may hold;
// ids and literals that render alike) through a Templater with its cache and one without.
func TestResultCacheKeysDoNotAlias(t *testing.T) {
	type call struct{ host, method, path string }
	seqs := [][]call{
		{{"h\x00/a", "GET", "/b"}, {"h", "GET", "/a\x00/b"}},
		{{"h/", "GET", "//a"}, {"h", "GET", "///a"}},
		{{"Xh", "GET", "/a"}, {"h", "GETX", "/a"}},
		{{"h", "GET", "/u/42"}, {"h", "GET", "/u/{id}"}, {"h", "GET", "/u/x"}, {"h", "GET", "/u/y"}, {"h", "GET", "/u/z"}},
		{{"h", "GET", "/u/7.json"}, {"h", "GET", "/u/{id}.json"}, {"h", "GET", "/u/x"}, {"h", "GET", "/u/y"}, {"h", "GET", "/u/z"}},
		{{"h", "GET", "/u/7.json/a"}, {"h", "GET", "/u/8.json/b"}, {"h", "GET", "/u/9.json/c"}, {"h", "GET", "/u/1.json/d"}},
	}
	for i, seq := range seqs {
		cached := newT(t, Config{Threshold: 1})
		plain := newT(t, Config{Threshold: 1})
		plain.noCache = true
		for j, c := range seq {
			ts := t0.Add(time.Duration(j) * time.Second)
			got := cached.Template(c.host, c.method, c.path, ts)
			want := plain.Template(c.host, c.method, c.path, ts)
			if got != want {
				t.Fatalf("sequence %d call %d %q %q %q: cached %+v, general %+v", i, j, c.host, c.method, c.path, got, want)
			}
		}
		if sa, sb := learnedPositions(cached), learnedPositions(plain); !reflect.DeepEqual(sa, sb) {
			t.Fatalf("sequence %d: positions differ:\n%v\n%v", i, sa, sb)
		}
	}
}

// TestShapeCacheServesNewIDs pins the shape table: a call with an id never seen before is
// served from the entry of an earlier call of the same shape, and its path enters the
// exact table under that call's time.
func TestShapeCacheServesNewIDs(t *testing.T) {
	tp := newT(t, Config{})
	if got := tp.Template("h", "GET", "/users/1/orders", t0).Template; got != "/users/{id}/orders" {
		t.Fatalf("got %q", got)
	}
	if got := tp.Template("h", "GET", "/users/2/orders", t0.Add(time.Second)).Template; got != "/users/{id}/orders" {
		t.Fatalf("got %q", got)
	}
	rc := &tp.cache
	k := appendExactKey(nil, "h", "GET", "/users/2/orders")
	if e, ok := rc.get(rc.exact, k, rc.hash(k), t0.Add(time.Second).UnixNano(), tp.learn.changes.Load()); !ok || e.ts != t0.UnixNano() {
		t.Fatalf("exact entry of the second call: found %v, ts %d; want the shape entry's time %d", ok, e.ts, t0.UnixNano())
	}
	if exact, shape := rc.entries(); exact != 2 || shape != 1 {
		t.Fatalf("%d exact and %d shape entries; want 2 and 1", exact, shape)
	}
}

// TestShapeMemoMatchesClassifying holds appendShape with its memo to appendShape without
// one on random paths that share leading segments (or parts of them) with the path
// before: the same key and the same classes.
func TestShapeMemoMatchesClassifying(t *testing.T) {
	segs := []string{"", "a", "ab", "api", "v1", "v1.2", "users", "user", "42", "4", "7.json", "{id}", "ORD-1", "x-1", "é", "/"}
	rng := rand.New(rand.NewSource(1))
	var m shapeMemo
	prev := "/"
	for i := 0; i < 20000; i++ {
		var path string
		switch rng.Intn(3) {
		case 0: // a prefix of the previous path, then more
			path = prev[:1+rng.Intn(len(prev))]
		case 1: // the previous path's segments but the last
			path = prev[:strings.LastIndexByte(prev, '/')+1]
		default:
			path = "/"
		}
		for n := rng.Intn(5); n > 0; n-- {
			path += segs[rng.Intn(len(segs))] + "/"
		}
		if rng.Intn(2) == 0 {
			path = strings.TrimSuffix(path, "/") + segs[rng.Intn(len(segs))]
		}
		if path == "" {
			path = "/"
		}
		var clsA, clsB [4]Class
		a, na := appendShape([]byte("head"), path, clsA[:], &m)
		b, nb := appendShape([]byte("head"), path, clsB[:], nil)
		if !bytes.Equal(a, b) || na != nb || clsA != clsB {
			t.Fatalf("path %q after %q: with memo %q %d %v, without %q %d %v", path, prev, a, na, clsA, b, nb, clsB)
		}
		prev = path
	}
}
