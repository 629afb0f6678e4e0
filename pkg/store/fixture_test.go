package store

import (
	"fmt"
	"sort"
	"time"

	"github.com/apiscope/apiscope/models"
)

// fixture is a small, realistic investigation data set: three days of calls on a public
// API and two internal services, with the behaviours the cookbook queries look for, and
// the findings and profiles an analyzer would have written about them.
type fixture struct {
	calls    []models.APICall
	findings []models.Finding
	profiles []ProfileRow
}

// fixtureBase is the end of the fixture's capture: the current hour, so queries written
// with now() - INTERVAL ... (as analysts write them) find the data.
func fixtureBase() time.Time { return time.Now().UTC().Truncate(time.Hour) }

type caller struct {
	clientID, principal, actor, auth, credFP, ip, ua string
}

func (c caller) call(ts time.Time, method, host, path, query, template string, status int, resp int64) models.APICall {
	uri := path
	if query != "" {
		uri += "?" + query
	}
	var req int64
	ct := "application/json"
	if method == "POST" || method == "PUT" {
		req = 180
	}
	return models.APICall{
		TS: ts, SrcIP: c.ip, SrcPort: uint16(40000 + ts.Nanosecond()%20000), DstIP: dstIP(host), DstPort: 443,
		Method: method, Host: host, URI: uri, Path: path, Query: query, Template: template,
		Status: status, ReqBytes: req, RespBytes: resp, LatencyMS: float64(8 + ts.Nanosecond()%40),
		UserAgent: c.ua, ContentType: ct, ClientID: c.clientID, Principal: c.principal, Actor: c.actor,
		Auth: c.auth, CredFP: c.credFP,
	}
}

func dstIP(host string) string {
	switch host {
	case "orders.internal":
		return "10.0.9.11"
	case "payments.internal":
		return "10.0.9.12"
	}
	return "10.0.9.10"
}

func newFixture(base time.Time) *fixture {
	f := &fixture{}
	var (
		alice  = caller{"alice", "alice", "", models.AuthJWT, "fp:jwt:7c1e", "10.0.1.10", "Mozilla/5.0 (Macintosh) Safari/605.1"}
		agent  = caller{"alice|billing-agent", "alice", "billing-agent", models.AuthJWT, "fp:jwt:91ab", "10.0.5.20", "billing-agent/2.3 python-httpx/0.27"}
		bob    = caller{"bob", "bob", "", models.AuthJWT, "fp:jwt:3d04", "10.0.1.22", "Mozilla/5.0 (Windows NT 10.0) Chrome/129.0"}
		carol  = caller{"carol", "carol", "", models.AuthJWT, "fp:jwt:e5f2", "10.0.1.31", "Mozilla/5.0 (X11; Linux) Firefox/131.0"}
		rep    = caller{"key:fp:key:51c9", "", "", models.AuthAPIKey, "fp:key:51c9", "10.0.3.5", "reporting-cron/1.4"}
		repOut = caller{"key:fp:key:51c9", "", "", models.AuthAPIKey, "fp:key:51c9", "203.0.113.7", "curl/8.5.0"}
		scan   = caller{"ip:198.51.100.23", "", "", models.AuthNone, "", "198.51.100.23", "python-requests/2.31"}
		web    = caller{"svc:web-frontend", "", "", models.AuthJWT, "fp:jwt:0f77", "10.0.2.5", "web-frontend/5.1 Go-http-client/1.1"}
		orders = caller{"svc:orders", "", "", models.AuthJWT, "fp:jwt:1a2b", "10.0.2.6", "orders/3.0 Go-http-client/1.1"}
	)
	const api = "api.example.com"
	start := base.Add(-72 * time.Hour)
	// Three days of ordinary traffic, every 10 minutes.
	for i := 0; i < 72*6; i++ {
		t := start.Add(time.Duration(i)*10*time.Minute + time.Duration(i%7)*time.Second + 123456789)
		uid := 1000 + i%5
		f.calls = append(f.calls,
			alice.call(t, "GET", api, fmt.Sprintf("/api/v1/users/%d", 1001), "", "/api/v1/users/{id}", 200, 512),
			alice.call(t.Add(2*time.Second), "GET", api, fmt.Sprintf("/api/v1/orders/%d", 5000+i%3), "", "/api/v1/orders/{id}", 200, 1480),
			bob.call(t.Add(3*time.Second), "GET", api, fmt.Sprintf("/api/v1/users/%d", 1002), "", "/api/v1/users/{id}", 200, 498),
			carol.call(t.Add(4*time.Second), "GET", api, "/api/v1/products", fmt.Sprintf("page=%d", i%4+1), "/api/v1/products", 200, 8800),
			rep.call(t.Add(5*time.Second), "GET", api, "/api/v1/reports/daily", "format=csv", "/api/v1/reports/daily", 200, 52000),
			agent.call(t.Add(6*time.Second), "GET", api, fmt.Sprintf("/api/v1/invoices/%d", 700+uid), "", "/api/v1/invoices/{id}", 200, 2300),
		)
		if i%6 == 0 {
			f.calls = append(f.calls, alice.call(t.Add(8*time.Second), "POST", api, "/api/v1/orders", "", "/api/v1/orders", 201, 310))
		}
		if i%20 == 0 { // the orders service has a bad hour now and then
			f.calls = append(f.calls, bob.call(t.Add(9*time.Second), "POST", api, "/api/v1/orders", "", "/api/v1/orders", 503, 95))
		}
	}
	// A checkout that crosses three services under one trace id, a few times a day.
	for i := 0; i < 12; i++ {
		t := start.Add(time.Duration(i)*6*time.Hour + 17*time.Minute + 250*time.Millisecond)
		trace := fmt.Sprintf("4bf92f3577b34da6a3ce929d0e0e%04x", i)
		c1 := web.call(t, "POST", api, "/api/v1/checkout", "", "/api/v1/checkout", 200, 640)
		c2 := orders.call(t.Add(12*time.Millisecond), "POST", "orders.internal", "/orders", "", "/orders", 201, 220)
		c3 := orders.call(t.Add(31*time.Millisecond), "POST", "payments.internal", "/charges", "", "/charges", 200, 180)
		if i == 9 {
			c3.Status = 502
		}
		for _, c := range []*models.APICall{&c1, &c2, &c3} {
			c.TraceID = trace
			f.calls = append(f.calls, *c)
		}
	}
	// Two hours ago: the billing agent starts issuing refunds (a new endpoint for it and
	// for the API) and reading payment methods it never read before.
	t0 := base.Add(-2 * time.Hour)
	for i := 0; i < 40; i++ {
		t := t0.Add(time.Duration(i)*45*time.Second + 400*time.Millisecond)
		c := agent.call(t, "GET", api, fmt.Sprintf("/api/v1/users/%d/payment-methods", 1001+i%9), "", "/api/v1/users/{id}/payment-methods", 200, 740)
		c.Scope = "invoices:read payments:read refunds:write"
		c.Issuer = "https://idp.example.com"
		f.calls = append(f.calls, c)
		if i%4 == 0 {
			r := agent.call(t.Add(3*time.Second), "POST", api, "/api/v1/refunds", "", "/api/v1/refunds", 201, 160)
			r.Scope = c.Scope
			r.Issuer = c.Issuer
			f.calls = append(f.calls, r)
		}
	}
	// Ninety minutes ago: bob walks order ids (BOLA enumeration), mostly denied.
	t1 := base.Add(-90 * time.Minute)
	for i := 0; i < 180; i++ {
		t := t1.Add(time.Duration(i)*700*time.Millisecond + 5*time.Millisecond)
		st := 403
		if i%9 == 0 {
			st = 200
		} else if i%5 == 0 {
			st = 404
		}
		f.calls = append(f.calls, bob.call(t, "GET", api, fmt.Sprintf("/api/v1/orders/%d", 91000+i), "", "/api/v1/orders/{id}", st, 120))
	}
	// An hour ago: the reporting key is used from outside, with another client.
	t2 := base.Add(-60 * time.Minute)
	for i := 0; i < 25; i++ {
		t := t2.Add(time.Duration(i)*20*time.Second + 7*time.Millisecond)
		c := repOut.call(t, "GET", api, "/api/v1/reports/customers", "format=csv&all=true", "/api/v1/reports/customers", 200, 910000)
		c.XFF = "203.0.113.7"
		f.calls = append(f.calls, c)
	}
	// Forty minutes ago: an unauthenticated scanner finds an undocumented debug endpoint.
	t3 := base.Add(-40 * time.Minute)
	for i, p := range []string{"/internal/debug/vars", "/internal/debug/pprof/", "/internal/debug/vars", "/.env", "/internal/debug/vars"} {
		st := 200
		if p == "/.env" {
			st = 404
		}
		c := scan.call(t3.Add(time.Duration(i)*3*time.Second), "GET", api, p, "", p, st, 4100)
		c.Shadow = true
		c.Auth = models.AuthNone
		f.calls = append(f.calls, c)
	}
	// Thirty minutes ago: carol's client probes the product search with SQL syntax.
	t4 := base.Add(-30 * time.Minute)
	for i, q := range []string{"q=shoes", "q=shoes%27%20OR%201%3D1--", "q=shoes%27%20UNION%20SELECT%20null--", "q=%27%3B%20DROP%20TABLE%20users--"} {
		st := 200
		if i > 0 {
			st = 500
		}
		f.calls = append(f.calls, carol.call(t4.Add(time.Duration(i)*2*time.Second), "GET", api, "/api/v1/search", q, "/api/v1/search", st, 300))
	}
	// A response that never came and a truncated request.
	p := alice.call(base.Add(-20*time.Minute), "GET", api, "/api/v1/orders/5001", "", "/api/v1/orders/{id}", 0, 0)
	p.Partial = true
	tr := carol.call(base.Add(-19*time.Minute), "POST", api, "/api/v1/search", "", "/api/v1/search", 431, 0)
	tr.Truncated = true
	f.calls = append(f.calls, p, tr)
	sort.SliceStable(f.calls, func(i, j int) bool { return f.calls[i].TS.Before(f.calls[j].TS) })

	fnd := func(ts time.Time, c caller, kind, sev string, score float64, summary string, ev map[string]any, related ...string) models.Finding {
		return models.Finding{
			ID: models.FindingID(c.clientID, kind, ts.Format(time.RFC3339Nano)), TS: ts,
			ClientID: c.clientID, ClientIP: c.ip, Principal: c.principal, Actor: c.actor,
			Kind: kind, Severity: sev, Score: score, Summary: summary, Evidence: ev, RelatedIPs: related,
		}
	}
	f.findings = []models.Finding{
		fnd(t0.Add(3*time.Second+400*time.Millisecond), agent, models.KindNewEndpointForClient, models.SeverityMedium, 4.2,
			"billing-agent acting for alice called POST /api/v1/refunds, which it never called in 3 days.",
			map[string]any{"template": "/api/v1/refunds", "method": "POST", "baseline_calls": 432, "baseline_share": 0.0}),
		fnd(t0.Add(10*time.Minute), agent, models.KindScopeDrift, models.SeverityHigh, 6.8,
			"billing-agent acting for alice read payment methods of 9 users; its baseline reads invoices only.",
			map[string]any{"templates": []any{"/api/v1/users/{id}/payment-methods", "/api/v1/refunds"}, "baseline_templates": []any{"/api/v1/invoices/{id}"}, "distinct_users": 9}),
		fnd(t1.Add(30*time.Second), bob, models.KindBOLAEnumeration, models.SeverityHigh, 9.1,
			"bob requested 180 different order ids in 2 minutes, 89% denied; he usually reads 1.",
			map[string]any{"template": "/api/v1/orders/{id}", "distinct_ids": 180, "denied_share": 0.89, "baseline_distinct_ids": 1, "window_s": 126}),
		fnd(t1.Add(31*time.Second), bob, models.KindErrorBurst, models.SeverityMedium, 5.0,
			"bob's calls failed 163 times in 2 minutes (403/404); baseline error rate 0.7%.",
			map[string]any{"errors": 163, "calls": 180, "baseline_error_rate": 0.007}),
		fnd(t2.Add(7*time.Millisecond), repOut, models.KindCredentialShared, models.SeverityCritical, 8.7,
			"API key fp:key:51c9 was used from 203.0.113.7 with curl; for 3 days it came only from 10.0.3.5.",
			map[string]any{"cred_fp": "fp:key:51c9", "baseline_ips": []any{"10.0.3.5"}, "new_ip": "203.0.113.7", "baseline_user_agents": []any{"reporting-cron/1.4"}, "new_user_agent": "curl/8.5.0"},
			"10.0.3.5", "203.0.113.7"),
		fnd(t2.Add(4*time.Minute), repOut, models.KindDataVolume, models.SeverityHigh, 7.3,
			"key:fp:key:51c9 downloaded 22 MB of customer reports in 8 minutes; baseline 52 kB per 10 minutes.",
			map[string]any{"resp_bytes": 22750000, "baseline_resp_bytes": 52000, "template": "/api/v1/reports/customers"}),
		fnd(t3, scan, models.KindShadowEndpoint, models.SeverityMedium, 3.0,
			"GET /internal/debug/vars on api.example.com is not in the API description and answered 200 to an anonymous client.",
			map[string]any{"host": "api.example.com", "template": "/internal/debug/vars", "status": 200}),
		fnd(t4.Add(2*time.Second), carol, models.KindInjectionProbe, models.SeverityHigh, 6.1,
			"carol sent SQL syntax in the search query 3 times; the server answered 500 each time.",
			map[string]any{"template": "/api/v1/search", "patterns": []any{"' OR 1=1", "UNION SELECT", "; DROP TABLE"}, "statuses": []any{500, 500, 500}}),
		fnd(start.Add(25*time.Hour), bob, models.KindRateSpike, models.SeverityLow, 2.1,
			"bob made 14 calls in a minute; baseline 1 per 10 minutes.",
			map[string]any{"rate_per_min": 14, "baseline_rate_per_min": 0.1}),
		fnd(base.Add(-15*time.Minute), caller{clientID: "population"}, models.KindAuthFailures, models.SeverityHigh, 7.9,
			"42 failed logins for 40 users from 3 addresses in 5 minutes.",
			map[string]any{"failures": 42, "users": 40, "window_s": 300},
			"198.51.100.23", "198.51.100.24", "198.51.100.25"),
	}
	for i, c := range []caller{alice, agent, bob, carol, rep} {
		for v := uint64(1); v <= 3; v++ {
			f.profiles = append(f.profiles, ProfileRow{
				ClientID: c.clientID, Version: v, TS: start.Add(time.Duration(v) * 24 * time.Hour), Kind: []string{"user", "agent", "user", "user", "service"}[i],
				Calls: v * 144, JSON: fmt.Sprintf(`{"client_id":%q,"calls":%d,"rate_per_hour":6,"top_templates":["/api/v1/users/{id}"],"ips":[%q],"user_agents":[%q]}`, c.clientID, v*144, c.ip, c.ua),
			})
		}
	}
	return f
}
