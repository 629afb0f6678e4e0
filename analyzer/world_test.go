package analyzer

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apiscope/apiscope/models"
)

// t0 is the start of every hand-made capture.
var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// world builds small, deterministic call sequences: a benign background of humans, admins
// and integrations, to which a test adds one behaviour.
type world struct {
	rng   *rand.Rand
	calls []models.APICall
}

func newWorld(seed uint64) *world {
	return &world{rng: rand.New(rand.NewPCG(seed, 7))}
}

// client is one simulated caller.
type client struct {
	id, ip, ua, auth, actor string
	ids                     []int
}

func (w *world) call(cl client, at time.Duration, method, path, tmpl string, status int, bytes int64) *models.APICall {
	uri := path
	p, q, _ := strings.Cut(path, "?")
	w.calls = append(w.calls, models.APICall{
		TS: t0.Add(at), SrcIP: cl.ip, SrcPort: uint16(40000 + len(w.calls)%20000), DstIP: "10.0.0.1", DstPort: 443,
		Method: method, Host: "api.example.com", URI: uri, Path: p, Query: q, Template: tmpl,
		Status: status, RespBytes: bytes, UserAgent: cl.ua, ClientID: cl.id, Principal: cl.id, Actor: cl.actor,
		Auth: cl.auth, CredFP: "fp-" + cl.id,
	})
	return &w.calls[len(w.calls)-1]
}

func human(i int) client {
	return client{id: fmt.Sprintf("user%03d", i), ip: fmt.Sprintf("198.51.100.%d", i+1),
		ua: "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0", auth: models.AuthJWT, ids: []int{1000 + i*10, 1001 + i*10, 1002 + i*10}}
}

func admin(i int) client {
	return client{id: fmt.Sprintf("admin%02d", i), ip: fmt.Sprintf("198.51.101.%d", i+1),
		ua: "Mozilla/5.0 (Macintosh) Safari/17", auth: models.AuthJWT, ids: []int{5000 + i}}
}

func integration(i int) client {
	return client{id: fmt.Sprintf("key:partner%02d", i), ip: fmt.Sprintf("203.0.113.%d", i+1),
		ua: "python-requests/2.31", auth: models.AuthAPIKey}
}

// session is a human's browsing session: profile, orders, an order, maybe the cart flow.
func (w *world) session(cl client, at time.Duration) time.Duration {
	step := func() time.Duration { return time.Duration(2+w.rng.IntN(6)) * time.Second }
	w.call(cl, at, "GET", "/api/me", "/api/me", 200, 600)
	at += step()
	w.call(cl, at, "GET", "/api/orders", "/api/orders", 200, 2400)
	at += step()
	for n := 1 + w.rng.IntN(3); n > 0; n-- {
		id := cl.ids[w.rng.IntN(len(cl.ids))]
		w.call(cl, at, "GET", fmt.Sprintf("/api/orders/%d", id), "/api/orders/{id}", 200, 900+int64(w.rng.IntN(200)))
		at += step()
		if n > 1 {
			w.call(cl, at, "GET", "/api/orders", "/api/orders", 200, 2400)
			at += step()
		}
	}
	if w.rng.IntN(2) == 0 {
		w.call(cl, at, "POST", "/api/cart/items", "/api/cart/items", 201, 300)
		at += step()
		w.call(cl, at, "POST", "/api/checkout", "/api/checkout", 200, 500)
		at += step()
		w.call(cl, at, "POST", "/api/payments", "/api/payments", 201, 400)
		at += step()
	}
	return at
}

// background adds n humans, up to 10 admins and 6 integrations active for the given duration.
func (w *world) background(n int, dur time.Duration) {
	w.backgroundWith(n, min(n/4, 10), dur)
}

// backgroundWith adds n humans, a admins and 6 integrations.
func (w *world) backgroundWith(n, a int, dur time.Duration) {
	for i := 0; i < n; i++ {
		cl := human(i)
		for at := time.Duration(w.rng.IntN(60)) * time.Second; at < dur; {
			at = w.session(cl, at)
			at += time.Duration(60+w.rng.IntN(120)) * time.Second
		}
	}
	for i := 0; i < a; i++ {
		cl := admin(i)
		for at := time.Duration(w.rng.IntN(60)) * time.Second; at < dur; at += time.Duration(90+w.rng.IntN(60)) * time.Second {
			w.call(cl, at, "GET", "/api/me", "/api/me", 200, 600)
			w.call(cl, at+2*time.Second, "GET", "/admin/users", "/admin/users", 200, 8000)
			w.call(cl, at+5*time.Second, "GET", fmt.Sprintf("/admin/users/%d", 10+w.rng.IntN(5)), "/admin/users/{id}", 200, 700)
		}
	}
	for i := 0; i < 6; i++ {
		cl := integration(i)
		for at := time.Duration(i*7) * time.Second; at < dur; at += 30 * time.Second {
			w.call(cl, at, "GET", "/api/products?page=1", "/api/products", 200, 12000)
			w.call(cl, at+time.Second, "GET", "/api/inventory", "/api/inventory", 200, 3000)
		}
	}
}

// run feeds the calls (in arrival order as given) through an engine and returns findings.
func run(t testing.TB, cfg Config, calls []models.APICall) []models.Finding {
	t.Helper()
	var out []models.Finding
	e, err := New(cfg, OutputFunc(func(f *models.Finding) error { out = append(out, *f); return nil }))
	if err != nil {
		t.Fatal(err)
	}
	for i := range calls {
		if err := e.Process(&calls[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	return out
}

// sorted returns the calls in capture order (the world appends client by client).
func (w *world) sorted() []models.APICall {
	out := append([]models.APICall(nil), w.calls...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].TS.Before(out[j].TS) })
	return out
}

// alerts returns the medium+ findings, by client.
func alerts(fs []models.Finding) map[string][]models.Finding {
	m := map[string][]models.Finding{}
	for _, f := range fs {
		if models.SeverityRank(f.Severity) >= models.SeverityRank(models.SeverityMedium) {
			m[f.ClientID] = append(m[f.ClientID], f)
		}
	}
	return m
}

func kinds(fs []models.Finding) string {
	var k []string
	for _, f := range fs {
		k = append(k, f.Kind+"/"+f.Severity+": "+f.Summary)
	}
	return strings.Join(k, "\n  ")
}
