package template

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apiscope/apiscope/pkg/metrics"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newT(t testing.TB, cfg Config) *Templater {
	t.Helper()
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.NewRegistry()
	}
	tp, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

func TestStaticTemplates(t *testing.T) {
	tp := newT(t, Config{Threshold: -1})
	tests := []struct{ path, want string }{
		{"/", "/"},
		{"", "/"},
		{"*", "*"},
		{"/v1/users/me", "/v1/users/me"},
		{"/files/report-2024.pdf", "/files/report-2024.pdf"},
		{"/orders/ORD-12345", "/orders/{id}"},
		{"/api/v2/orders/42/items/7", "/api/v2/orders/{id}/items/{id}"},
		{"/users/alice@example.com/keys", "/users/{id}/keys"},
		{"/share/xk29fjq8z3mv7p2nq8r4", "/share/{id}"},
		{"/users/123e4567-e89b-12d3-a456-426614174000/avatar.png", "/users/{id}/avatar.png"},
		{"/images/42.jpg", "/images/{id}.jpg"},
		{"/blog/my-first-post", "/blog/my-first-post"},
		{"/reports/2024-01-31", "/reports/{id}"},
		{"/commits/da39a3ee5e6b4b0d3255bfef95601890afd80709", "/commits/{id}"},
		{"/users/", "/users/"},
		{"//double", "//double"},
		{"/a/b/", "/a/b/"},
	}
	for _, tt := range tests {
		if got := tp.Template("api.example.com", "GET", tt.path, t0).Template; got != tt.want {
			t.Errorf("Template(%q) = %q; want %q", tt.path, got, tt.want)
		}
	}
}

// TestTemplateNoAllocLiteral pins the common case: a path with nothing to replace comes
// back as the same string.
func TestTemplateNoAllocLiteral(t *testing.T) {
	tp := newT(t, Config{})
	p := "/v1/users/me"
	if got := tp.Template("h", "GET", p, t0).Template; got != p {
		t.Fatalf("got %q", got)
	}
	if testing.Short() || raceEnabled {
		return
	}
	if n := testing.AllocsPerRun(100, func() { tp.Template("h", "GET", p, t0) }); n > 0 {
		t.Errorf("Template of a literal path allocates %v times; want 0", n)
	}
}

func TestLearnMergesGrowingPosition(t *testing.T) {
	tp := newT(t, Config{Threshold: 5, LearnDelay: time.Second})
	call := func(path string, at time.Duration) string {
		return tp.Template("api.example.com", "GET", path, t0.Add(at)).Template
	}
	names := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}
	for i, n := range names {
		got := call("/users/"+n+"/profile", time.Duration(i)*time.Millisecond)
		if got != "/users/"+n+"/profile" {
			t.Fatalf("before the delay: %q", got)
		}
	}
	// Six distinct values crossed the threshold at 5ms; one second later it applies.
	if got := call("/users/zed/profile", 2*time.Second); got != "/users/{param}/profile" {
		t.Errorf("after the delay: %q; want /users/{param}/profile", got)
	}
	// Few values elsewhere stay literal.
	if got := call("/users/me", 3*time.Second); got != "/users/{param}" {
		t.Errorf("merged position, other depth: %q", got)
	}
	for i := 0; i < 3; i++ {
		call(fmt.Sprintf("/things/kind%c", 'a'+i), 3*time.Second)
	}
	if got := call("/things/kinda", 5*time.Second); got != "/things/kinda" {
		t.Errorf("below threshold: %q", got)
	}
	// Other methods learn separately.
	if got := tp.Template("api.example.com", "DELETE", "/users/zed/profile", t0.Add(5*time.Second)).Template; got != "/users/zed/profile" {
		t.Errorf("DELETE learned from GET: %q", got)
	}
	// Other hosts too, and the host is compared without case and port.
	if got := tp.Template("API.example.com:8443", "GET", "/users/zed/profile", t0.Add(5*time.Second)).Template; got != "/users/{param}/profile" {
		t.Errorf("same host, other spelling: %q", got)
	}
	if got := tp.Template("other.example.com", "GET", "/users/zed/profile", t0.Add(5*time.Second)).Template; got != "/users/zed/profile" {
		t.Errorf("other host: %q", got)
	}
	if tp.Generation() == 0 {
		t.Error("generation did not move")
	}
}

// TestLearnNestedPositions: once /repos/{param} is learned, the next position is learned
// among all owners' repositories.
func TestLearnNestedPositions(t *testing.T) {
	tp := newT(t, Config{Threshold: 3, LearnDelay: 0})
	for i := 0; i < 10; i++ {
		tp.Template("h", "GET", fmt.Sprintf("/repos/owner%c/proj%c", 'a'+i, 'a'+i), t0.Add(time.Duration(i)*time.Second))
	}
	if got := tp.Template("h", "GET", "/repos/zz/yy", t0.Add(time.Minute)).Template; got != "/repos/{param}/{param}" {
		t.Errorf("got %q; want /repos/{param}/{param}", got)
	}
}

func TestVersionNeverLearned(t *testing.T) {
	tp := newT(t, Config{Threshold: 2, LearnDelay: 0})
	for i := 1; i < 10; i++ {
		tp.Template("h", "GET", fmt.Sprintf("/api/v%d/ping", i), t0.Add(time.Duration(i)*time.Second))
	}
	if got := tp.Template("h", "GET", "/api/v9/ping", t0.Add(time.Hour)).Template; got != "/api/v9/ping" {
		t.Errorf("got %q", got)
	}
}

// TestLearnOrderIndependent feeds the same calls in capture order to one Templater and
// shuffled (within the learning delay) from 4 goroutines to another: every call's
// template must agree.
func TestLearnOrderIndependent(t *testing.T) {
	type call struct {
		path string
		ts   time.Time
	}
	rng := rand.New(rand.NewSource(1))
	var calls []call
	for i := 0; i < 4000; i++ {
		var p string
		switch rng.Intn(4) {
		case 0:
			p = fmt.Sprintf("/users/user%c%c/orders", 'a'+rng.Intn(26), 'a'+rng.Intn(26))
		case 1:
			p = fmt.Sprintf("/repos/o%c/r%c/issues", 'a'+rng.Intn(26), 'a'+rng.Intn(26))
		case 2:
			p = fmt.Sprintf("/static/%c%c.css", 'a'+rng.Intn(26), 'a'+rng.Intn(26))
		default:
			p = "/health"
		}
		calls = append(calls, call{p, t0.Add(time.Duration(i) * 10 * time.Millisecond)})
	}
	cfg := Config{Threshold: 20, LearnDelay: 2 * time.Second}
	seq := newT(t, cfg)
	want := make([]string, len(calls))
	for i, c := range calls {
		want[i] = seq.Template("h", "GET", c.path, c.ts).Template
	}
	reg := metrics.NewRegistry()
	cfg.Metrics = reg
	par := newT(t, cfg)
	got := make([]string, len(calls))
	// Four workers take shuffled calls of one batch (0.5s of capture time) at a time, so
	// they run apart by less than the 2s delay, as sensor workers fed one capture do.
	const batch = 50
	for lo := 0; lo < len(calls); lo += batch {
		idx := rng.Perm(min(batch, len(calls)-lo))
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for j := w; j < len(idx); j += 4 {
					i := lo + idx[j]
					got[i] = par.Template("h", "GET", calls[i].path, calls[i].ts).Template
				}
			}(w)
		}
		wg.Wait()
	}
	merged := 0
	for i := range calls {
		if got[i] != want[i] {
			t.Fatalf("call %d %s: parallel %q, sequential %q", i, calls[i].path, got[i], want[i])
		}
		if strings.Contains(want[i], Param) {
			merged++
		}
	}
	if merged == 0 {
		t.Fatal("nothing was learned: the test proves nothing")
	}
	for _, s := range reg.Snapshot() {
		if s.Name == "apiscope_template_late_total" && s.Value != 0 {
			t.Errorf("late calls: %v; want 0", s.Value)
		}
	}
}

func TestLearnBoundedMemory(t *testing.T) {
	reg := metrics.NewRegistry()
	tp := newT(t, Config{Threshold: 4, LearnDelay: 0, MaxHosts: 2, MaxKeysPerHost: 10, MaxKeys: 15, Metrics: reg})
	for i := 0; i < 1000; i++ {
		tp.Template(fmt.Sprintf("h%d", i%5), "GET", fmt.Sprintf("/a%c/b%c/c%c", 'a'+i%26, 'a'+i/26%26, 'a'+i%7), t0.Add(time.Duration(i)))
	}
	l := tp.learn
	if len(l.hosts) > 2 || l.nkeys.Load() > 15 {
		t.Errorf("hosts %d, keys %d: caps not held", len(l.hosts), l.nkeys.Load())
	}
	for _, h := range l.hosts {
		if h.nkeys.Load() > 10 {
			t.Errorf("host keys %d > 10", h.nkeys.Load())
		}
		for i := range h.stripes {
			for _, p := range h.stripes[i].keys {
				if len(p.values) > 5 {
					t.Errorf("position holds %d values > threshold+1", len(p.values))
				}
			}
		}
	}
	long := newT(t, Config{Threshold: 1})
	for i := 0; i < 5; i++ {
		long.Template("h", "GET", "/x/"+strings.Repeat(string(rune('a'+i)), maxLearnValue+1), t0.Add(time.Duration(i)))
	}
	if n := long.learn.nkeys.Load(); n != 1 { // only the position of "x"
		t.Errorf("segments over %d bytes were learned: %d positions", maxLearnValue, n)
	}
	var capped float64
	for _, s := range reg.Snapshot() {
		if s.Name == "apiscope_template_capped_total" {
			capped += s.Value
		}
	}
	if capped == 0 {
		t.Error("caps hit but not counted")
	}
}

func TestSaveLoad(t *testing.T) {
	tp := newT(t, Config{Threshold: 3, LearnDelay: 0})
	for i := 0; i < 10; i++ {
		tp.Template("API.example.com", "GET", fmt.Sprintf("/users/u%c/repos/r%c", 'a'+i, 'a'+i), t0.Add(time.Duration(i)*time.Second))
		tp.Template("API.example.com", "GET", fmt.Sprintf("/users/u%c/repos/r%c", 'a'+i, 'b'+i), t0.Add(time.Duration(i)*time.Second))
	}
	var buf bytes.Buffer
	if err := tp.Save(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"/users/{param}"`) || !strings.Contains(buf.String(), `"format": 1`) {
		t.Fatalf("saved:\n%s", buf.String())
	}
	fresh := newT(t, Config{Threshold: 3})
	if err := fresh.Load(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	// Loaded merges apply at once, at any capture time.
	if got := fresh.Template("api.example.com", "GET", "/users/new/repos/x", t0).Template; got != "/users/{param}/repos/{param}" {
		t.Errorf("after load: %q", got)
	}
	if fresh.Generation() != tp.Generation() {
		t.Errorf("generation %d, saved %d", fresh.Generation(), tp.Generation())
	}
	var again bytes.Buffer
	if err := fresh.Save(&again); err != nil {
		t.Fatal(err)
	}
	if again.String() != buf.String() {
		t.Errorf("save after load differs:\n%s\nvs\n%s", again.String(), buf.String())
	}
	for _, bad := range []string{`{"format":2}`, `nope`, `{"format":1,"hosts":{"h":{"GET":["users/{param}"]}}}`} {
		if err := newT(t, Config{}).Load(strings.NewReader(bad)); err == nil {
			t.Errorf("Load(%s) accepted", bad)
		}
	}
}

const petstoreYAML = `openapi: 3.0.3
info: {title: pets, version: "1"}
servers:
  - url: https://api.example.com/v1
paths:
  /pets:
    get: {responses: {"200": {description: ok}}}
    post: {responses: {"201": {description: ok}}}
  /pets/{petId}:
    get: {responses: {"200": {description: ok}}}
    delete: {responses: {"204": {description: ok}}}
  /pets/mine:
    get: {responses: {"200": {description: ok}}}
  /pets/{petId}/photos/{name}.{ext}:
    get: {responses: {"200": {description: ok}}}
  /files/{file}.json:
    get: {responses: {"200": {description: ok}}}
`

const anyHostJSON = `{"openapi":"3.1.0","paths":{"/users/{userId}":{"get":{}},"/users/{userId}/keys":{"get":{},"post":{}},"/shared":{"$ref":"other.yaml#/paths/shared"}}}`

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOpenAPI(t *testing.T) {
	pets, err := LoadOpenAPI(writeFile(t, "pets.yaml", petstoreYAML))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pets.Servers, []Server{{Host: "api.example.com", Base: "/v1"}}) {
		t.Fatalf("servers %+v", pets.Servers)
	}
	users, err := LoadOpenAPI(writeFile(t, "users.json", anyHostJSON))
	if err != nil {
		t.Fatal(err)
	}
	internal, err := LoadOpenAPI("internal.example.com=" + writeFile(t, "users.json", anyHostJSON))
	if err != nil {
		t.Fatal(err)
	}
	tp := newT(t, Config{Specs: []*Spec{pets, users, internal}})
	tests := []struct {
		host, method, path string
		want               string
		shadow             bool
	}{
		{"api.example.com", "GET", "/v1/pets", "/v1/pets", false},
		{"api.example.com", "GET", "/v1/pets/42", "/v1/pets/{petId}", false},
		{"api.example.com:443", "GET", "/v1/pets/mine", "/v1/pets/mine", false},
		{"api.example.com", "GET", "/v1/pets/42/photos/cat.png", "/v1/pets/{petId}/photos/{name}.{ext}", false},
		{"api.example.com", "GET", "/v1/files/a.json", "/v1/files/{file}.json", false},
		{"api.example.com", "GET", "/v1/pets/", "/v1/pets", false},
		{"api.example.com", "DELETE", "/v1/pets/42", "/v1/pets/{petId}", false},
		{"api.example.com", "PUT", "/v1/pets/42", "/v1/pets/{petId}", true},
		{"api.example.com", "GET", "/v1/admin/users/7", "/v1/admin/users/{id}", true},
		{"api.example.com", "GET", "/pets/42", "/pets/{id}", true},
		// Hosts without their own document use the host-less one.
		{"other.example.com", "GET", "/users/42", "/users/{userId}", false},
		{"other.example.com", "POST", "/users/42/keys", "/users/{userId}/keys", false},
		{"other.example.com", "GET", "/orders/42", "/orders/{id}", true},
		{"other.example.com", "PATCH", "/shared", "/shared", false},
		{"internal.example.com", "GET", "/users/alice", "/users/{userId}", false},
		{"internal.example.com", "GET", "/debug/vars", "/debug/vars", true},
	}
	for _, tt := range tests {
		got := tp.Template(tt.host, tt.method, tt.path, t0)
		if got.Template != tt.want || got.Shadow != tt.shadow {
			t.Errorf("%s %s%s = %q shadow=%v; want %q shadow=%v", tt.method, tt.host, tt.path, got.Template, got.Shadow, tt.want, tt.shadow)
		}
	}
	// Without any host-less document, unknown hosts are never shadow.
	tp2 := newT(t, Config{Specs: []*Spec{pets}})
	if got := tp2.Template("elsewhere", "GET", "/x/1", t0); got.Shadow || got.Template != "/x/{id}" {
		t.Errorf("uncovered host: %+v", got)
	}
}

func TestOpenAPIErrors(t *testing.T) {
	for name, doc := range map[string]string{
		"empty":     ``,
		"no paths":  `openapi: 3.0.0`,
		"not oas":   `{"paths":{"/a":{"get":{}}}}`,
		"bad path":  `{"openapi":"3.0.0","paths":{"a":{"get":{}}}}`,
		"bad yaml":  "openapi: [3\n",
		"swagger 1": `{"swagger":"1.2","paths":{"/a":{}}}`,
	} {
		if _, err := ParseOpenAPI([]byte(doc), name); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := LoadOpenAPI(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("missing file accepted")
	}
	s, err := ParseOpenAPI([]byte(`{"swagger":"2.0","host":"legacy.example.com","basePath":"/api","paths":{"/items/{id}":{"get":{}}}}`), "sw")
	if err != nil {
		t.Fatal(err)
	}
	tp := newT(t, Config{Specs: []*Spec{s}})
	if got := tp.Template("legacy.example.com", "GET", "/api/items/9", t0); got.Template != "/api/items/{id}" || got.Shadow {
		t.Errorf("swagger 2: %+v", got)
	}
}

func TestStaticIgnoresOnlineLearning(t *testing.T) {
	tp := newT(t, Config{Threshold: 2})
	for i := 0; i < 10; i++ {
		tp.Static("h", "GET", fmt.Sprintf("/u/n%c", 'a'+i))
	}
	if got := tp.Template("h", "GET", "/u/zz", t0.Add(time.Hour)).Template; got != "/u/zz" {
		t.Errorf("Static learned: %q", got)
	}
	for i := 0; i < 10; i++ {
		tp.Template("h", "GET", fmt.Sprintf("/u/n%c", 'a'+i), t0.Add(time.Duration(i)))
	}
	if got := tp.Template("h", "GET", "/u/zz", t0.Add(time.Hour)).Template; got != "/u/{param}" {
		t.Errorf("Template did not learn: %q", got)
	}
	if got := tp.Static("h", "GET", "/u/zz").Template; got != "/u/zz" {
		t.Errorf("Static applies what was learned online: %q", got)
	}
	if got := tp.Static("h", "GET", "/u/42").Template; got != "/u/{id}" {
		t.Errorf("Static does not classify: %q", got)
	}
	// Loaded templates do apply.
	if err := tp.Load(strings.NewReader(`{"format":1,"hosts":{"h":{"GET":["/teams/{param}"]}}}`)); err != nil {
		t.Fatal(err)
	}
	if got := tp.Static("h", "GET", "/teams/red").Template; got != "/teams/{param}" {
		t.Errorf("Static ignores loaded templates: %q", got)
	}
}
