package analyzer

import (
	"fmt"
	"testing"
	"time"

	"github.com/apiscope/apiscope/models"
)

// detectorCase is one behaviour: abuse must raise wantKind (medium or above) for the
// subject; twin is the benign behaviour closest to it and must raise nothing medium+.
type detectorCase struct {
	name     string
	wantKind string
	subject  string // client id, "ip:..." or "population:auth"
	abuse    func(w *world)
	twin     func(w *world)
}

var attackStart = 30 * time.Minute

var detectorCases = []detectorCase{
	{
		name: "bola enumeration", wantKind: models.KindBOLAEnumeration, subject: "user005",
		abuse: func(w *world) {
			cl := human(5)
			for i := 0; i < 60; i++ {
				st := 403
				if i%7 == 0 {
					st = 200
				}
				w.call(cl, attackStart+time.Duration(i)*3*time.Second, "GET", fmt.Sprintf("/api/orders/%d", 2000+i*13), "/api/orders/{id}", st, 120)
			}
		},
		twin: func(w *world) {
			// A busy user going back and forth between its order list and its orders.
			cl := human(5)
			for i := 0; i < 30; i++ {
				w.call(cl, attackStart+time.Duration(i)*6*time.Second, "GET", "/api/orders", "/api/orders", 200, 2400)
				w.call(cl, attackStart+time.Duration(i)*6*time.Second+2*time.Second, "GET", fmt.Sprintf("/api/orders/%d", cl.ids[i%3]), "/api/orders/{id}", 200, 950)
			}
		},
	},
	{
		name: "bola sequential low and slow", wantKind: models.KindBOLAEnumeration, subject: "user006",
		abuse: func(w *world) {
			cl := human(6)
			for i := 0; i < 40; i++ {
				w.call(cl, attackStart+time.Duration(i)*20*time.Second, "GET", fmt.Sprintf("/api/orders/%d", 3000+i), "/api/orders/{id}", 200, 900)
			}
		},
		twin: func(w *world) {
			cl := human(6)
			for i := 0; i < 20; i++ {
				w.call(cl, attackStart+time.Duration(i)*40*time.Second, "GET", "/api/orders", "/api/orders", 200, 2400)
				w.call(cl, attackStart+time.Duration(i)*40*time.Second+3*time.Second, "GET", fmt.Sprintf("/api/orders/%d", cl.ids[i%3]), "/api/orders/{id}", 200, 900)
			}
		},
	},
	{
		name: "bola slow enumeration over hours", wantKind: models.KindBOLAEnumeration, subject: "user045",
		abuse: func(w *world) {
			// A light existing user, who lists its orders now and then, later opens other
			// people's orders by opaque id: one every two minutes or so for an hour and a
			// half, every one answered 200.
			cl := human(45)
			lightUser(w, cl)
			for i := 0; i < 48; i++ {
				at := slowStart + time.Duration(i)*110*time.Second + time.Duration(w.rng.IntN(40))*time.Second
				w.call(cl, at, "GET", fmt.Sprintf("/api/orders/%024x", w.rng.Uint64()), "/api/orders/{id}", 200, 900)
			}
		},
		twin: func(w *world) {
			// A heavy back-office client opening many of its own orders, two it never
			// opened before every few minutes, at the pace it has kept since it first
			// appeared.
			cl := human(45)
			lightUser(w, cl)
			heavy := integration(7)
			for i := 0; i < 75; i++ {
				at := time.Duration(i)*150*time.Second + 5*time.Second
				w.call(heavy, at, "GET", "/api/orders", "/api/orders", 200, 2400)
				w.call(heavy, at+2*time.Second, "GET", fmt.Sprintf("/api/orders/%024x", 0xa000+i), "/api/orders/{id}", 200, 900)
				w.call(heavy, at+4*time.Second, "GET", fmt.Sprintf("/api/orders/%024x", 0xf000+i), "/api/orders/{id}", 200, 900)
			}
		},
	},
	{
		name: "scraping", wantKind: models.KindRateSpike, subject: "key:partner01",
		abuse: func(w *world) {
			cl := integration(1)
			for i := 0; i < 400; i++ {
				w.call(cl, attackStart+time.Duration(i)*400*time.Millisecond, "GET", fmt.Sprintf("/api/products?page=%d", i+2), "/api/products", 200, 12000)
			}
		},
		twin: func(w *world) {
			// A new, heavy but steady integration appearing late.
			cl := integration(9)
			for at := attackStart; at < attackStart+20*time.Minute; at += 5 * time.Second {
				w.call(cl, at, "GET", "/api/inventory", "/api/inventory", 200, 3000)
			}
		},
	},
	{
		name: "exfiltration by response size", wantKind: models.KindDataVolume, subject: "user007",
		abuse: func(w *world) {
			cl := human(7)
			for i := 0; i < 3; i++ {
				w.call(cl, attackStart+time.Duration(i)*20*time.Second, "GET", "/api/orders?limit=100000", "/api/orders", 200, 6<<20)
			}
		},
		twin: func(w *world) {
			cl := human(7)
			for i := 0; i < 3; i++ {
				w.call(cl, attackStart+time.Duration(i)*20*time.Second, "GET", "/api/orders?limit=20", "/api/orders", 200, 2600)
			}
		},
	},
	{
		name: "credential stuffing from one source", wantKind: models.KindAuthFailures, subject: "ip:192.0.2.66",
		abuse: func(w *world) {
			for i := 0; i < 80; i++ {
				cl := client{id: "ip:192.0.2.66", ip: "192.0.2.66", ua: "python-requests/2.31", auth: models.AuthNone}
				c := w.call(cl, attackStart+time.Duration(i)*2*time.Second, "POST", "/api/login", "/api/login", 401, 80)
				c.Principal = fmt.Sprintf("victim%d@example.com", i)
			}
		},
		twin: func(w *world) {
			for i := 0; i < 3; i++ {
				cl := client{id: "ip:192.0.2.66", ip: "192.0.2.66", ua: "Mozilla/5.0 Firefox/120.0", auth: models.AuthNone}
				w.call(cl, attackStart+time.Duration(i)*20*time.Second, "POST", "/api/login", "/api/login", 401, 80)
			}
		},
	},
	{
		name: "distributed credential stuffing", wantKind: models.KindAuthFailures, subject: "population:auth",
		abuse: func(w *world) {
			for i := 0; i < 120; i++ {
				ip := fmt.Sprintf("100.64.%d.%d", i/200, i%200+1)
				cl := client{id: "ip:" + ip, ip: ip, ua: "Mozilla/5.0 Chrome/119", auth: models.AuthNone}
				for j := 0; j < 2; j++ {
					w.call(cl, attackStart+time.Duration(i)*4*time.Second+time.Duration(j)*time.Second, "POST", "/api/login", "/api/login", 401, 80)
				}
			}
		},
		twin: func(w *world) {
			for i := 0; i < 6; i++ {
				ip := fmt.Sprintf("100.64.9.%d", i+1)
				cl := client{id: "ip:" + ip, ip: ip, ua: "Mozilla/5.0 Chrome/119", auth: models.AuthNone}
				w.call(cl, attackStart+time.Duration(i)*90*time.Second, "POST", "/api/login", "/api/login", 401, 80)
				w.call(cl, attackStart+time.Duration(i)*90*time.Second+5*time.Second, "POST", "/api/login", "/api/login", 200, 300)
			}
		},
	},
	{
		name: "token replayed from a new address", wantKind: models.KindCredentialShared, subject: "user010",
		abuse: func(w *world) {
			thief := human(10)
			thief.ip, thief.ua = "192.0.2.200", "curl/8.4.0"
			for i := 0; i < 5; i++ {
				w.call(thief, attackStart+time.Duration(i)*30*time.Second, "GET", "/api/me", "/api/me", 200, 600)
			}
			w.session(human(10), attackStart+40*time.Second)
		},
		twin: func(w *world) {
			// Same client roaming to a new address with its usual browser.
			roam := human(10)
			roam.ip = "192.0.2.200"
			w.session(roam, attackStart)
		},
	},
	{
		name: "retry storm", wantKind: models.KindErrorBurst, subject: "user012",
		abuse: func(w *world) {
			cl := human(12)
			for i := 0; i < 120; i++ {
				w.call(cl, attackStart+time.Duration(i)*500*time.Millisecond, "POST", "/api/payments", "/api/payments", 503, 40)
			}
		},
		twin: func(w *world) {
			// An outage: everyone gets 503s and retries a little.
			for i := 0; i < 30; i++ {
				cl := human(i)
				for j := 0; j < 25; j++ {
					w.call(cl, attackStart+time.Duration(j)*2*time.Second+time.Duration(i)*50*time.Millisecond, "GET", "/api/orders", "/api/orders", 503, 40)
				}
			}
		},
	},
	{
		name: "sql injection", wantKind: models.KindInjectionProbe, subject: "user003",
		abuse: func(w *world) {
			w.call(human(3), attackStart, "GET", "/api/products?q=%27%20OR%201%3D1--", "/api/products", 500, 100)
		},
		twin: func(w *world) {
			w.call(human(3), attackStart, "GET", "/api/orders?q=O%27Brien%20books&sort=price", "/api/orders", 200, 2400)
		},
	},
	{
		name: "endpoint fuzzing", wantKind: models.KindInjectionProbe, subject: "ip:192.0.2.77",
		abuse: func(w *world) {
			cl := client{id: "ip:192.0.2.77", ip: "192.0.2.77", ua: "Mozilla/5.0", auth: models.AuthNone}
			for i := 0; i < 40; i++ {
				p := fmt.Sprintf("/%s%d", []string{"backup", "old", "test", "wp-admin", "git", "env"}[i%6], i)
				w.call(cl, attackStart+time.Duration(i)*time.Second, "GET", p, p, 404, 50)
			}
		},
		twin: func(w *world) {
			cl := human(2)
			w.call(cl, attackStart, "GET", "/favicon.ico", "/favicon.ico", 404, 50)
			w.call(cl, attackStart+time.Second, "GET", "/api/helpp", "/api/helpp", 404, 50)
		},
	},
	{
		name: "undocumented endpoint", wantKind: models.KindShadowEndpoint, subject: "user004",
		abuse: func(w *world) {
			for i := 0; i < 4; i++ {
				w.call(human(4), attackStart+time.Duration(i)*20*time.Second, "GET", "/internal/debug/config", "/internal/debug/config", 200, 3000)
			}
		},
		twin: func(w *world) {
			// A deploy: everyone starts calling a new endpoint at once.
			for i := 0; i < 40; i++ {
				w.call(human(i), attackStart+time.Duration(i)*3*time.Second, "GET", "/api/v2/recommendations", "/api/v2/recommendations", 200, 1500)
			}
		},
	},
	{
		name: "function of another role", wantKind: models.KindNewEndpointForClient, subject: "user008",
		abuse: func(w *world) {
			// A user calling the partners' inventory API.
			w.call(human(8), attackStart, "GET", "/api/inventory", "/api/inventory", 200, 3000)
		},
		twin: func(w *world) {
			// A user trying a feature other users use.
			w.call(human(8), attackStart, "POST", "/api/cart/items", "/api/cart/items", 201, 300)
		},
	},
	{
		name: "agent widening its scope", wantKind: models.KindScopeDrift, subject: "agent01",
		abuse: func(w *world) {
			w.agent(1, 60*time.Minute)
			ag := agentClient(1)
			for i, p := range []string{"/api/orders", "/api/customers", "/api/invoices", "/api/refunds", "/api/exports"} {
				w.call(ag, attackStart+time.Duration(i)*3*time.Minute, "GET", p, p, 200, 2000)
			}
		},
		twin: func(w *world) { w.agent(1, 60*time.Minute) },
	},
	{
		name: "business flow abuse", wantKind: models.KindSequenceAnomaly, subject: "user009",
		abuse: func(w *world) {
			// Payments straight after the profile, again and again: checkout skipped.
			cl := human(9)
			for i := 0; i < 12; i++ {
				at := attackStart + time.Duration(i)*15*time.Second
				w.call(cl, at, "GET", "/api/me", "/api/me", 200, 600)
				w.call(cl, at+3*time.Second, "POST", "/api/payments", "/api/payments", 201, 400)
			}
		},
		twin: func(w *world) {
			cl := human(9)
			at := attackStart
			for i := 0; i < 3; i++ {
				at = w.session(cl, at) + 20*time.Second
			}
		},
	},
}

// robustnessCases cover behaviours seen on APIs shaped unlike the ones the detectors were
// first tuned on: rare endpoints whose answers are always large, content-addressed ids,
// file names in paths, agents acting for users.
var robustnessCases = []detectorCase{
	{
		name: "bola enumeration through a query parameter", wantKind: models.KindBOLAEnumeration, subject: "user033",
		abuse: func(w *world) {
			// An RPC-style API names the object in the query: other people's orders, one
			// after another, every one answered.
			rpcOrders(w)
			cl := human(33)
			for i := 0; i < 60; i++ {
				w.call(cl, attackStart+time.Duration(i)*3*time.Second, "GET", fmt.Sprintf("/rpc/getOrder.do?orderId=%d&requestId=%x", 7000+i, w.rng.Uint64()), "/rpc/getOrder.do", 200, 450)
			}
		},
		twin: func(w *world) {
			// The same client opening its own three orders again and again, each request
			// with a fresh request id.
			rpcOrders(w)
			cl := human(33)
			for i := 0; i < 60; i++ {
				w.call(cl, attackStart+time.Duration(i)*3*time.Second, "GET", fmt.Sprintf("/rpc/getOrder.do?orderId=%d&requestId=%x", cl.ids[i%3], w.rng.Uint64()), "/rpc/getOrder.do", 200, 450)
			}
		},
	},
	{
		name: "fresh session cookie hijacked while its owner browses", wantKind: models.KindCredentialShared, subject: "cookie:late01",
		abuse: func(w *world) {
			// A client first seen at the attack: two calls of its own, then a second
			// device with the same session cookie while the owner keeps browsing.
			owner := client{id: "cookie:late01", ip: "203.0.113.7", ua: "Mozilla/5.0 (Windows NT 10.0) Chrome/131.0", auth: models.AuthCookie}
			thief := owner
			thief.ip, thief.ua = "198.18.40.2", "python-requests/2.32.3"
			for i := 0; i < 12; i++ {
				w.call(owner, attackStart+time.Duration(i)*25*time.Second, "GET", "/api/orders", "/api/orders", 200, 2400)
				if i >= 2 {
					w.call(thief, attackStart+time.Duration(i)*25*time.Second+7*time.Second, "GET", "/api/me", "/api/me", 200, 600)
				}
			}
		},
		twin: func(w *world) {
			// A young session that moves: the owner's laptop leaves for a new network with
			// a fresh browser, and the old pair is not used again.
			owner := client{id: "cookie:late01", ip: "203.0.113.7", ua: "Mozilla/5.0 (Windows NT 10.0) Chrome/131.0", auth: models.AuthCookie}
			for i := 0; i < 3; i++ {
				w.call(owner, attackStart+time.Duration(i)*25*time.Second, "GET", "/api/orders", "/api/orders", 200, 2400)
			}
			owner.ip, owner.ua = "198.18.40.2", "Mozilla/5.0 (Windows NT 10.0) Chrome/132.0"
			for i := 3; i < 12; i++ {
				w.call(owner, attackStart+time.Duration(i)*25*time.Second, "GET", "/api/orders", "/api/orders", 200, 2400)
			}
		},
	},
	{
		name: "exfiltration by a few oversized answers from a new account", wantKind: models.KindDataVolume, subject: "user031",
		abuse: func(w *world) {
			// Three answers 23-29x the endpoint's p95 (each low alone) within seconds,
			// far under the volume-over-time floor.
			cl := human(31)
			for i, size := range []int64{34_000, 42_000, 38_000} {
				w.call(cl, attackStart+time.Duration(i)*1500*time.Millisecond, "GET", fmt.Sprintf("/api/orders/%d?limit=50000", 4100+i), "/api/orders/{id}", 200, size)
			}
		},
		twin: func(w *world) {
			// One large answer, then ordinary ones: a single export.
			cl := human(31)
			w.call(cl, attackStart, "GET", "/api/orders/4100?limit=50000", "/api/orders/{id}", 200, 42_000)
			for i := 1; i < 4; i++ {
				w.call(cl, attackStart+time.Duration(i)*20*time.Second, "GET", fmt.Sprintf("/api/orders/%d", 4100+i), "/api/orders/{id}", 200, 900)
			}
		},
	},
	{
		name: "exfiltration by repeated oversized answers", wantKind: models.KindDataVolume, subject: "key:partner02",
		abuse: func(w *world) {
			// Each answer only 15-20x the endpoint's p95 (low alone); ten in a row are a flow.
			cl := integration(2)
			for i := 0; i < 10; i++ {
				w.call(cl, attackStart+time.Duration(i)*10*time.Second+500*time.Millisecond, "GET", "/api/products?limit=50000", "/api/products", 200, 300_000)
			}
		},
		twin: func(w *world) {
			// Devices each fetch one firmware image, always about 1.5 MB: a few during
			// the warm-up, the rest later, one download per device.
			for i := 0; i < 6; i++ {
				at := time.Duration(3+2*i) * time.Minute
				if i >= 3 {
					at = attackStart + time.Duration(i)*4*time.Minute
				}
				w.call(integration(i), at+300*time.Millisecond, "GET", "/fw/tx2-4.1/image", "/fw/{id}/image", 200, 1_400_000+int64(i)*60_000)
			}
		},
	},
	{
		name: "agent reaching for new tools, not new files", wantKind: models.KindScopeDrift, subject: "agent01",
		abuse: func(w *world) {
			w.agent(1, 60*time.Minute)
			ag := agentClient(1)
			for i, p := range []string{"/api/customers", "/api/invoices", "/api/refunds", "/api/exports"} {
				w.call(ag, attackStart+time.Duration(i)*3*time.Minute, "GET", p, p, 200, 2000)
			}
		},
		twin: func(w *world) {
			// The knowledge base addresses articles by name; template mining cannot tell
			// a name from a resource, so each article is its own endpoint.
			articles(w)
			w.agent(1, 60*time.Minute)
			ag := agentClient(1)
			w.call(ag, 5*time.Minute+500*time.Millisecond, "GET", "/api/kb/articles/w0", "/api/kb/articles/w0", 200, 4000)
			for i := 1; i <= 5; i++ {
				p := fmt.Sprintf("/api/kb/articles/w%d", i)
				w.call(ag, attackStart+time.Duration(i)*3*time.Minute, "GET", p, p, 200, 4000)
			}
		},
	},
	{
		name: "agent reaching for tools its role does not use", wantKind: models.KindScopeDrift, subject: "agent01",
		abuse: func(w *world) {
			w.agent(1, 60*time.Minute)
			ag := agentClient(1)
			for i, p := range []string{"/api/customers", "/api/invoices", "/api/refunds", "/api/exports"} {
				w.call(ag, attackStart+time.Duration(i)*3*time.Minute, "GET", p, p, 200, 2000)
			}
		},
		twin: func(w *world) {
			// An integration reaching, one by one, functions another integration of its
			// role already uses: rarely taken steps of the same job.
			stock := []string{"/api/stock/alerts", "/api/stock/history", "/api/stock/levels", "/api/pricing"}
			for i, p := range stock {
				w.call(integration(0), time.Duration(5+i)*time.Minute+3*time.Second, "GET", p, p, 200, 2000)
			}
			for i, p := range stock {
				w.call(integration(5), attackStart+time.Duration(i)*3*time.Minute+10*time.Second, "GET", p, p, 200, 2000)
			}
		},
	},
	{
		name: "flow abuse, not a routine step of the cohort", wantKind: models.KindSequenceAnomaly, subject: "user009",
		abuse: func(w *world) {
			cl := human(9)
			for i := 0; i < 12; i++ {
				at := attackStart + time.Duration(i)*15*time.Second
				w.call(cl, at, "GET", "/api/me", "/api/me", 200, 600)
				w.call(cl, at+3*time.Second, "POST", "/api/payments", "/api/payments", 201, 400)
			}
		},
		twin: func(w *world) {
			// Integrations check stock levels after one poll in twenty; one of them, busy
			// and so far without that step, checks them on several polls in a row.
			for i := 0; i < 5; i++ {
				for k := 0; k*30*int(time.Second) < int(55*time.Minute); k += 20 {
					at := time.Duration(i*7)*time.Second + time.Duration(k)*30*time.Second + 1500*time.Millisecond
					w.call(integration(i), at, "GET", "/api/stock/levels", "/api/stock/levels", 200, 900)
				}
			}
			for k := 0; k < 6; k++ {
				at := 5*7*time.Second + attackStart + time.Duration(k)*30*time.Second + 1500*time.Millisecond
				w.call(integration(5), at, "GET", "/api/stock/levels", "/api/stock/levels", 200, 900)
			}
		},
	},
	{
		name: "slow distributed credential stuffing", wantKind: models.KindAuthFailures, subject: "population:auth",
		abuse: func(w *world) { slowStuffing(w, false) },
		twin:  func(w *world) { slowStuffing(w, true) },
	},
	{
		name: "object enumeration on content-addressed ids", wantKind: models.KindBOLAEnumeration, subject: "user005",
		abuse: func(w *world) {
			blobs(w)
			cl := human(5)
			for i := 0; i < 90; i++ {
				w.call(cl, attackStart+time.Duration(i)*time.Second, "GET", fmt.Sprintf("/api/blobs/%016x", 0xabc000+i*7919), "/api/blobs/{id}", 200, 800)
			}
		},
		twin: func(w *world) {
			// A user opening thirty blobs in two minutes, where every blob anyone opens
			// is new to them.
			blobs(w)
			cl := human(5)
			for i := 0; i < 30; i++ {
				w.call(cl, attackStart+time.Duration(i)*4*time.Second, "GET", fmt.Sprintf("/api/blobs/%016x", 0xdef000+i*7919), "/api/blobs/{id}", 200, 800)
			}
		},
	},
}

// slowStart is when a slow enumeration starts: after the client's first two hours.
var slowStart = 135 * time.Minute

// lightUser adds a browsing session of cl every ten minutes until a slow enumeration
// starts.
func lightUser(w *world, cl client) {
	for at := time.Minute; at < slowStart; at += 10 * time.Minute {
		w.session(cl, at)
	}
}

// slowStuffing has never-seen addresses fail one login each, one every 40 s for half an
// hour: under the population's failure thresholds; mistyped reports whether each address
// then logs in (a person who mistyped their password).
func slowStuffing(w *world, mistyped bool) {
	for i := 0; i < 45; i++ {
		ip := fmt.Sprintf("100.65.%d.%d", i/200, i%200+1)
		cl := client{id: "ip:" + ip, ip: ip, ua: "Mozilla/5.0 Chrome/119", auth: models.AuthNone}
		at := attackStart + time.Duration(i)*40*time.Second
		w.call(cl, at, "POST", "/api/login", "/api/login", 401, 80)
		if mistyped {
			w.call(cl, at+8*time.Second, "POST", "/api/login", "/api/login", 200, 300)
		}
	}
}

// articles has thirty users read one knowledge-base article each, by name, early on.
func articles(w *world) {
	for i := 0; i < 30; i++ {
		p := fmt.Sprintf("/api/kb/articles/w%d", i)
		w.call(human(i), time.Duration(60+i*15)*time.Second+700*time.Millisecond, "GET", p, p, 200, 4000)
	}
}

// blobs has every background user open a few content-addressed blobs per session: each
// id is new to whoever opens it.
func blobs(w *world) {
	for i := 0; i < 40; i++ {
		for k := 0; k < 8; k++ {
			at := time.Duration(60+i*20+k*130)*time.Second + 900*time.Millisecond
			w.call(human(i), at, "GET", fmt.Sprintf("/api/blobs/%016x", w.rng.Uint64()), "/api/blobs/{id}", 200, 800)
		}
	}
}

// TestAgentToolsAreUserFunctions: agents acting for users form their own role group; a
// person calling a function those agents use is not calling another role's function.
func TestAgentToolsAreUserFunctions(t *testing.T) {
	w := newWorld(9)
	w.background(40, 60*time.Minute)
	for i := 1; i <= 8; i++ {
		w.agent(i, 60*time.Minute)
	}
	w.call(human(8), attackStart, "GET", "/api/kb/search?q=refund", "/api/kb/search", 200, 5000)
	if got := alerts(run(t, Config{}, w.sorted())); len(got) > 0 {
		t.Errorf("user calling an agents' tool alerted: %v", summarize(got))
	}
	// Still flagged: the same user calling the integrations' function.
	w = newWorld(9)
	w.background(40, 60*time.Minute)
	for i := 1; i <= 8; i++ {
		w.agent(i, 60*time.Minute)
	}
	w.call(human(8), attackStart, "GET", "/api/inventory", "/api/inventory", 200, 3000)
	got := alerts(run(t, Config{}, w.sorted()))
	var hit bool
	for _, f := range got["user008"] {
		hit = hit || f.Kind == models.KindNewEndpointForClient
	}
	if !hit {
		t.Errorf("user calling an integration function not flagged: %v", summarize(got))
	}
}

func agentClient(i int) client {
	return client{id: fmt.Sprintf("agent%02d", i), ip: fmt.Sprintf("203.0.114.%d", i+1), ua: "support-agent/1.0 (langchain)", auth: models.AuthJWT, actor: "support-bot"}
}

// agent adds a support agent that looks up tickets and the knowledge base.
func (w *world) agent(i int, dur time.Duration) {
	ag := agentClient(i)
	for at := time.Duration(i) * time.Second; at < dur; at += time.Duration(40+w.rng.IntN(40)) * time.Second {
		w.call(ag, at, "GET", "/api/tickets", "/api/tickets", 200, 3000)
		w.call(ag, at+time.Second, "GET", fmt.Sprintf("/api/tickets/%d", 700+w.rng.IntN(4)), "/api/tickets/{id}", 200, 1200)
		w.call(ag, at+2*time.Second, "GET", "/api/kb/search?q=refund", "/api/kb/search", 200, 5000)
	}
}

// rpcOrders has the first 30 people open their own orders through an RPC-style endpoint
// during the warm-up, so the endpoint is an established one.
func rpcOrders(w *world) {
	for i := 0; i < 30; i++ {
		cl := human(i)
		for j := 0; j < 3; j++ {
			w.call(cl, time.Duration(2+i%20)*time.Minute+time.Duration(j)*7*time.Second, "GET", fmt.Sprintf("/rpc/getOrder.do?orderId=%d", cl.ids[j]), "/rpc/getOrder.do", 200, 450)
		}
	}
}

func TestDetectors(t *testing.T) {
	for _, tc := range append(append([]detectorCase(nil), detectorCases...), robustnessCases...) {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(42)
			w.background(40, 60*time.Minute)
			tc.abuse(w)
			got := alerts(run(t, Config{}, w.sorted()))
			var hit bool
			for _, f := range got[tc.subject] {
				hit = hit || f.Kind == tc.wantKind
			}
			if !hit {
				t.Errorf("abuse: no %s finding for %s; medium+ findings: %v", tc.wantKind, tc.subject, summarize(got))
			}
			for c, fs := range got {
				if c != tc.subject && !(tc.subject == "population:auth" && len(fs) > 0 && fs[0].Kind == models.KindAuthFailures) {
					t.Errorf("abuse: bystander %s alerted:\n  %s", c, kinds(fs))
				}
			}

			w = newWorld(42)
			w.background(40, 60*time.Minute)
			tc.twin(w)
			if got := alerts(run(t, Config{}, w.sorted())); len(got) > 0 {
				t.Errorf("benign twin alerted: %v", summarize(got))
			}
		})
	}
}

func summarize(m map[string][]models.Finding) string {
	s := ""
	for c, fs := range m {
		s += "\n  " + c + ": " + kinds(fs)
	}
	return s
}

// TestBFLASameKind: among many users, a handful of admins form their own role group; a
// user calling an admin function is flagged, an admin calling it is not.
func TestBFLASameKind(t *testing.T) {
	w := newWorld(5)
	w.backgroundWith(600, 0, 50*time.Minute)
	for i := 0; i < 5; i++ {
		cl := admin(200 + i)
		cl.ip = fmt.Sprintf("198.51.102.%d", i+1)
		for at := time.Duration(i) * 7 * time.Second; at < 50*time.Minute; at += 2 * time.Minute {
			w.call(cl, at, "GET", "/console/accounts", "/console/accounts", 200, 9000)
			w.call(cl, at+3*time.Second, "GET", "/console/audit", "/console/audit", 200, 9000)
		}
	}
	w.call(human(17), 35*time.Minute, "GET", "/console/accounts", "/console/accounts", 200, 9000)
	got := alerts(run(t, Config{}, w.sorted()))
	var hit bool
	for _, f := range got["user017"] {
		hit = hit || f.Kind == models.KindNewEndpointForClient
	}
	if !hit {
		t.Errorf("user calling an admin function not flagged; medium+ findings: %v", summarize(got))
	}
	for c := range got {
		if c != "user017" {
			t.Errorf("bystander %s alerted: %s", c, kinds(got[c]))
		}
	}
}
