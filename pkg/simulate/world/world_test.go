package world

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/apiscope/apiscope/pkg/simulate/scenario"
)

func run(t *testing.T, name string, seed uint64, fn func(*Call)) *World {
	t.Helper()
	sc, err := scenario.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(sc, "small", seed)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Run(context.Background(), func(c *Call) error { fn(c); return nil }); err != nil {
		t.Fatal(err)
	}
	return w
}

type claims struct {
	Sub string `json:"sub"`
	Azp string `json:"azp"`
	Act struct {
		Sub string `json:"sub"`
	} `json:"act"`
}

func decodeJWT(t *testing.T, tok string) claims {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not header.payload.signature", tok)
	}
	var c claims
	for i, p := range parts {
		b, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil {
			t.Fatalf("token part %d is not base64url: %v", i, err)
		}
		if i == 1 && json.Unmarshal(b, &c) != nil {
			t.Fatalf("payload is not JSON: %s", b)
		}
	}
	return c
}

// TestIdentities: bearer tokens carry what the truth says (principal = sub, actor =
// act.sub or azp); benign clients keep their addresses and user agents; principals are
// unique per client.
func TestIdentities(t *testing.T) {
	for _, name := range scenario.Builtins() {
		t.Run(name, func(t *testing.T) {
			ua := map[string]string{}
			ips := map[string]map[string]bool{}
			var last int64
			var agentsForUsers, agents int
			w := run(t, name, 9, func(c *Call) {
				if c.TS < last {
					t.Fatalf("calls out of order")
				}
				last = c.TS
				if c.AuthHeader == "Authorization" {
					cl := decodeJWT(t, strings.TrimPrefix(c.AuthValue, "Bearer "))
					actor := cl.Act.Sub
					if actor == "" {
						actor = cl.Azp
					}
					if cl.Sub != c.Principal || actor != c.Actor {
						t.Fatalf("%s: token sub=%q actor=%q; truth says %q %q", c.Client.ID, cl.Sub, actor, c.Principal, c.Actor)
					}
					if c.Client.Kind == scenario.KindAgent && c.Incident == "" {
						agents++
						if cl.Act.Sub != "" {
							agentsForUsers++
						}
					}
				}
				if c.Incident != "" || !c.Client.Benign {
					return
				}
				if prev, ok := ua[c.Client.ID]; ok && prev != c.UA {
					t.Errorf("%s changed user agent", c.Client.ID)
				}
				ua[c.Client.ID] = c.UA
				if ips[c.Client.ID] == nil {
					ips[c.Client.ID] = map[string]bool{}
				}
				ips[c.Client.ID][c.Src.String()] = true
			})
			if agents == 0 || agentsForUsers == 0 || (name == "default" && agentsForUsers == agents) {
				t.Errorf("agents: %d calls, %d acting for a user; want both kinds", agents, agentsForUsers)
			}
			seen := map[string]string{}
			for _, c := range w.byIndex {
				if c.Kind != scenario.KindUser {
					continue
				}
				if other, dup := seen[c.Principal]; dup {
					t.Errorf("%s and %s share principal %s", c.ID, other, c.Principal)
				}
				seen[c.Principal] = c.ID
				if len(ips[c.ID]) > len(c.IPs) {
					t.Errorf("%s used %d addresses; it has %d", c.ID, len(ips[c.ID]), len(c.IPs))
				}
			}
		})
	}
}

// TestConfounders: the deploy, the outage retries and the hourly batch spike show up.
func TestConfounders(t *testing.T) {
	var deployAt int64
	var beforeDeploy, afterDeploy, outage503 int
	perMinuteBatch := map[int64]int{}
	w := run(t, "default", 4, func(c *Call) {
		if c.Endpoint != nil && c.Endpoint.Name == "recommendations" {
			if c.Endpoint.deployAt > c.TS {
				beforeDeploy++
			} else {
				afterDeploy++
			}
			deployAt = c.Endpoint.deployAt
		}
		if c.Status == 503 && c.Incident == "" {
			outage503++
		}
		if c.Client.Kind == scenario.KindBatch {
			perMinuteBatch[c.TS/60_000_000]++
		}
	})
	if deployAt == 0 || beforeDeploy != 0 || afterDeploy < 20 {
		t.Errorf("deploy: %d calls before, %d after", beforeDeploy, afterDeploy)
	}
	if outage503 < 20 {
		t.Errorf("outage: only %d benign 503s", outage503)
	}
	busy := 0
	for _, n := range perMinuteBatch {
		if n > 20 {
			busy++
		}
	}
	if busy == 0 || len(perMinuteBatch) > int((w.End-w.Start)/60_000_000)/2 {
		t.Errorf("batch jobs active in %d minutes (%d busy); want hourly bursts", len(perMinuteBatch), busy)
	}
}

// FuzzWorld: any scenario the loader accepts builds and runs without panic (small
// populations only, a bounded number of calls).
func FuzzWorld(f *testing.F) {
	for _, n := range scenario.Builtins() {
		b, _ := scenario.Builtin(n)
		f.Add(b)
	}
	f.Add([]byte(`
name: tiny
objects: {item: {per_client: [1, 3]}}
services:
  - name: api
    host: api.example
    ip: 10.0.0.1
    endpoints:
      - {name: list, method: GET, path: /items}
      - {name: get, method: GET, path: "/items/{item}"}
      - {name: login, method: POST, path: /login, login: true}
workflows:
  browse: {start: {list: 1}, steps: {list: {next: {get: 0.5, end: 0.5}}}}
clients:
  - {kind: user, name: web, count: 3, workflows: {browse: 1}}
attacks:
  - {type: bola_enumeration, endpoints: [list]}
  - {type: injection_probe, endpoints: [get]}
  - {type: flow_abuse, endpoints: [get]}
  - {type: token_replay}
  - {type: scope_drift}
  - {type: retry_storm, endpoints: [get]}
  - {type: endpoint_fuzzing}
`))
	f.Fuzz(func(t *testing.T, b []byte) {
		sc, err := scenario.Parse(b)
		if err != nil {
			return
		}
		n := 0
		for _, c := range sc.Clients {
			n += c.Count
		}
		if n > 3000 {
			return
		}
		w, err := New(sc, "small", 1)
		if err != nil {
			return
		}
		calls := 0
		errStop := context.Canceled
		_ = w.Run(context.Background(), func(*Call) error {
			if calls++; calls > 3000 {
				return errStop
			}
			return nil
		})
		_ = w.Labels()
	})
}

// TestTinyAddressPools: when the configured pools run out, allocation spills over instead
// of looping, and no two clients share an address.
func TestTinyAddressPools(t *testing.T) {
	sc, err := scenario.Parse([]byte(`
name: pools
network: {clients: 10.1.0.0/28, attackers: [192.0.2.0/30]}
objects: {item: {per_client: [1, 3]}}
services:
  - name: api
    host: api.example
    ip: 10.0.0.1
    endpoints:
      - {name: list, method: GET, path: /items}
      - {name: login, method: POST, path: /login, login: true}
workflows:
  browse: {start: {list: 1}, steps: {list: {next: {list: 0.5, end: 0.5}}}}
clients:
  - {kind: user, name: web, count: 50, workflows: {browse: 1}}
  - {kind: partner, name: p, count: 20, workflows: {browse: 1}}
attacks:
  - {type: credential_stuffing_distributed, sources: 40}
`))
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(sc, "medium", 1)
	if err != nil {
		t.Fatal(err)
	}
	owner := map[string]string{}
	for _, c := range w.byIndex {
		for _, ip := range c.IPs {
			if o, dup := owner[ip.String()]; dup {
				t.Fatalf("%s and %s share %s", o, c.ID, ip)
			}
			owner[ip.String()] = c.ID
		}
	}
	if len(owner) != 70+1 {
		t.Errorf("%d addresses for 70 clients and one attacker account", len(owner))
	}
}

// TestQueryEnumeration: an enumeration of an RPC-style endpoint, whose object is a query
// parameter, walks ids in that parameter, which every attack call carries.
func TestQueryEnumeration(t *testing.T) {
	sc, err := scenario.Parse([]byte(`
name: rpc
objects: {order: {per_client: [2, 5], start: 700000}}
services:
  - name: api
    host: api.example
    ip: 10.0.0.1
    endpoints:
      - {name: list, method: GET, path: /rpc/listOrders.do}
      - {name: get, method: GET, path: /rpc/getOrder.do, query: {orderId: "obj:order", fmt: "enum:json,xml"}, vulnerable: true}
workflows:
  browse: {start: {list: 1}, steps: {list: {next: {get: 0.8, end: 0.2}}}}
clients:
  - {kind: user, name: web, count: 60, workflows: {browse: 1}}
attacks:
  - {type: bola_enumeration, endpoints: [get], calls: [40, 40], rate: [1, 1]}
`))
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(sc, "medium", 2)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	if err := w.Run(context.Background(), func(c *Call) error {
		if c.Incident == "" {
			return nil
		}
		_, q, _ := strings.Cut(string(c.URI), "?")
		v, ok := "", false
		for _, kv := range strings.Split(q, "&") {
			if k, val, _ := strings.Cut(kv, "="); k == "orderId" {
				v, ok = val, true
			}
		}
		if !ok {
			t.Fatalf("attack call %s carries no orderId", c.URI)
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("orderId %q is not a number", v)
		}
		ids = append(ids, n)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 40 {
		t.Fatalf("%d attack calls; want 40", len(ids))
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] != ids[i-1]+1 {
			t.Fatalf("ids %v are not walked in order", ids)
		}
	}
}
