package scenario

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBuiltinsParse(t *testing.T) {
	names := Builtins()
	if len(names) < 2 {
		t.Fatalf("Builtins() = %v; want at least two scenarios", names)
	}
	for _, n := range names {
		s, err := Load(n)
		if err != nil {
			t.Fatalf("Load(%q): %v", n, err)
		}
		if s.Name != n {
			t.Errorf("Load(%q).Name = %q", n, s.Name)
		}
		for _, sv := range s.Services {
			if len(sv.Endpoints) < 15 || len(sv.Endpoints) > 40 {
				t.Errorf("%s: service %s has %d endpoints; want 15 to 40", n, sv.Name, len(sv.Endpoints))
			}
		}
		kinds := map[string]bool{}
		for _, c := range s.Clients {
			kinds[c.Kind] = true
		}
		for _, k := range []string{KindUser, KindPartner, KindAgent, KindBatch} {
			if !kinds[k] {
				t.Errorf("%s: no %s clients", n, k)
			}
		}
	}
}

func TestLoadFile(t *testing.T) {
	b, err := Builtin("default")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "mine.yaml")
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), "name: default", "name: mine", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(p)
	if err != nil {
		t.Fatalf("Load(file): %v", err)
	}
	if s.Name != "mine" || s.Start != DefaultStart || time.Duration(s.Scales["medium"].Duration) != 8*time.Hour {
		t.Errorf("Load(file) = name %q start %v medium %v", s.Name, s.Start, time.Duration(s.Scales["medium"].Duration))
	}
}

const minimal = `
name: tiny
objects: {item: {per_client: [1, 3]}}
services:
  - name: api
    host: api.example
    ip: 10.0.0.1
    endpoints:
      - {name: list, method: get, path: /items}
      - {name: get, method: GET, path: "/items/{item}"}
workflows:
  browse: {start: {list: 1}, steps: {list: {next: {get: 0.5, end: 0.5}}}}
clients:
  - {kind: user, name: web, count: 3, workflows: {browse: 1}}
`

func TestParseMinimal(t *testing.T) {
	s, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatalf("Parse(minimal): %v", err)
	}
	ep := s.Services[0].Endpoints[0]
	if ep.Method != "GET" || ep.Role != "user" || ep.Status[200] != 1 || s.Services[0].Port != 80 {
		t.Errorf("defaults not applied: %+v port %d", ep, s.Services[0].Port)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, from, to, want string
	}{
		{"unknown key", "name: tiny", "name: tiny\ncolour: red", "colour"},
		{"no name", "name: tiny", "name: \"\"", "name is required"},
		{"bad ip", "ip: 10.0.0.1", "ip: nowhere", "ip"},
		{"bad method", "method: get", "method: FETCH", "method"},
		{"unknown object param", "/items/{item}", "/items/{thing}", "neither an object"},
		{"bad typed param", "/items/{item}", "/items/{x:float}", "type"},
		{"unknown step", "next: {get: 0.5", "next: {nope: 0.5", "not an endpoint"},
		{"unknown workflow", "workflows: {browse: 1}", "workflows: {surf: 1}", "unknown workflow"},
		{"bad kind", "kind: user", "kind: robot", "kind"},
		{"bad credential", "count: 3,", "count: 3, credential: oauth,", "credential"},
		{"for_users without a token", "count: 3,", "count: 3, credential: basic, for_users: 0.5,", "for_users needs credential jwt"},
		{"bad range", "per_client: [1, 3]", "per_client: [3, 1]", "lo <= hi"},
		{"bad duration", "count: 3,", "count: 3, think: [1x, 2s],", "duration"},
		{"bad attack", "count: 3, workflows: {browse: 1}}", "count: 3, workflows: {browse: 1}}\nattacks: [{type: meteor}]", "unknown type"},
		{"attack endpoint", "count: 3, workflows: {browse: 1}}", "count: 3, workflows: {browse: 1}}\nattacks: [{type: bola_enumeration, endpoints: [nope]}]", "unknown endpoint"},
		{"bad event", "count: 3, workflows: {browse: 1}}", "count: 3, workflows: {browse: 1}}\nevents: [{type: outage, service: api, at: 0.5}]", "outage needs"},
		{"empty", minimal, "", "empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := strings.Replace(minimal, c.from, c.to, 1)
			if c.from == minimal {
				src = c.to
			}
			if src == minimal {
				t.Fatalf("replacement %q not found", c.from)
			}
			_, err := Parse([]byte(src))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Parse: err = %v; want it to mention %q", err, c.want)
			}
		})
	}
}

// FuzzParse: no input makes the loader panic, and what it accepts validates again.
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	for _, n := range Builtins() {
		b, _ := Builtin(n)
		f.Add(b)
	}
	f.Add([]byte("name: x\nservices: [{name: a, host: h, ip: 10.0.0.1, endpoints: [{name: e, method: GET, path: /}]}]"))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b)
		if err != nil {
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("accepted scenario fails Validate: %v", err)
		}
	})
}

// TestDocsExample keeps the example in docs/SCENARIOS.md loadable.
func TestDocsExample(t *testing.T) {
	b, err := os.ReadFile("../../../docs/SCENARIOS.md")
	if err != nil {
		t.Fatalf("docs/SCENARIOS.md is part of the repository: %v", err)
	}
	doc := string(b)
	i := strings.Index(doc, "```yaml\nname: tiny")
	if i < 0 {
		t.Fatal("example scenario not found in docs/SCENARIOS.md")
	}
	body := doc[i+len("```yaml\n"):]
	body = body[:strings.Index(body, "```")]
	if _, err := Parse([]byte(body)); err != nil {
		t.Fatalf("docs example does not parse: %v", err)
	}
}
