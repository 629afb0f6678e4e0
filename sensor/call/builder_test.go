package call

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/metrics"
	"github.com/apiscope/apiscope/sensor/httpwire"
	"github.com/apiscope/apiscope/sensor/identity"
	"github.com/apiscope/apiscope/sensor/template"
)

var (
	t0      = time.Date(2026, 3, 1, 9, 30, 0, 123456789, time.UTC)
	testKey = []byte("call-test-key-0123456789abcdef")
	client  = netip.MustParseAddrPort("10.0.0.5:51234")
	server  = netip.MustParseAddrPort("192.0.2.10:443")
)

func newBuilder(t testing.TB, cfg Config) *Builder {
	t.Helper()
	if cfg.Identity.Key == nil {
		cfg.Identity.Key = testKey
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.NewRegistry()
	}
	b, err := NewBuilder(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hdr(kv ...string) httpwire.Header {
	var h httpwire.Header
	for i := 0; i+1 < len(kv); i += 2 {
		h = append(h, httpwire.Field{Name: kv[i], Value: kv[i+1]})
	}
	return h
}

func jwt(payload string) string {
	e := base64.RawURLEncoding
	return e.EncodeToString([]byte(`{"alg":"ES256"}`)) + "." + e.EncodeToString([]byte(payload)) + ".c2ln"
}

func TestBuildEveryField(t *testing.T) {
	b := newBuilder(t, Config{Identity: identity.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}})
	tok := jwt(`{"sub":"alice","iss":"https://idp.example","act":{"sub":"bot-7"},"scope":"orders:read"}`)
	tx := &httpwire.Transaction{
		Req: &httpwire.Request{TS: t0, Method: "GET", URI: "/api/v2/orders/ORD-12345?expand=items&api_key=k", Version: "HTTP/1.1",
			Header: hdr("Host", "shop.example.com", "User-Agent", "agent/2", "Authorization", "Bearer "+tok,
				"X-Forwarded-For", "203.0.113.77", "traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
			BodyBytes: 12, Partial: true},
		Resp: &httpwire.Response{TS: t0.Add(42500 * time.Microsecond), Status: 200, Version: "HTTP/1.1",
			Header: hdr("Content-Type", "application/json"), BodyBytes: 2048, Truncated: true},
	}
	var got models.APICall
	b.Build(tx, client, server, &got)
	fp := b.ids.Fingerprint(identity.KindJWT, tok)
	want := models.APICall{
		TS: t0, SrcIP: "10.0.0.5", SrcPort: 51234, DstIP: "192.0.2.10", DstPort: 443,
		Method: "GET", Host: "shop.example.com",
		URI: "/api/v2/orders/ORD-12345?expand=items&api_key=REDACTED", Path: "/api/v2/orders/ORD-12345", Query: "expand=items&api_key=REDACTED",
		Template: "/api/v2/orders/{id}", Status: 200, ReqBytes: 12, RespBytes: 2048, LatencyMS: 42.5,
		UserAgent: "agent/2", ContentType: "application/json",
		ClientID: "jwt:alice|agent:bot-7", Principal: "alice", Actor: "bot-7", Auth: models.AuthJWT, CredFP: fp,
		TraceID: "0af7651916cd43dd8448eb211c80319c", Partial: true, Truncated: true,
		Scope: "orders:read", Issuer: "https://idp.example", XFF: "203.0.113.77",
	}
	if got != want {
		t.Errorf("Build =\n%+v\nwant\n%+v", got, want)
	}
}

func TestBuildNoResponseAndOddTargets(t *testing.T) {
	b := newBuilder(t, Config{})
	tests := []struct {
		uri, host           string
		wantHost, wantTmpl  string
		wantPath, wantQuery string
	}{
		{"/users/42", "api.example", "api.example", "/users/{id}", "/users/42", ""},
		{"http://proxy.example/users/7?x=1", "", "proxy.example", "/users/{id}", "http://proxy.example/users/7", "x=1"},
		{"HTTPS://Secure.example", "", "Secure.example", "/", "HTTPS://Secure.example", ""},
		{"*", "api.example", "api.example", "*", "*", ""},
		{"/search?", "api.example", "api.example", "/search", "/search", ""},
	}
	for _, tt := range tests {
		tx := &httpwire.Transaction{Req: &httpwire.Request{TS: t0, Method: "OPTIONS", URI: tt.uri, Header: hdr("Host", tt.host)}}
		var c models.APICall
		b.Build(tx, client, server, &c)
		if c.Host != tt.wantHost || c.Template != tt.wantTmpl || c.Path != tt.wantPath || c.Query != tt.wantQuery || c.URI != tt.uri {
			t.Errorf("%q: host %q template %q path %q query %q uri %q", tt.uri, c.Host, c.Template, c.Path, c.Query, c.URI)
		}
		if c.Status != 0 || c.LatencyMS != 0 || c.ClientID != "ip:10.0.0.5" || c.Auth != models.AuthNone {
			t.Errorf("%q: status %d latency %v client %q auth %q", tt.uri, c.Status, c.LatencyMS, c.ClientID, c.Auth)
		}
	}
	var c models.APICall
	c.Host = "stale"
	b.Build(&httpwire.Transaction{}, client, server, &c)
	if c != (models.APICall{}) {
		t.Errorf("transaction without request: %+v", c)
	}
}

func TestBuildOpenAPIShadow(t *testing.T) {
	dir := t.TempDir()
	doc := filepath.Join(dir, "api.json")
	os.WriteFile(doc, []byte(`{"openapi":"3.0.0","paths":{"/users/{userId}":{"get":{}}}}`), 0o600)
	b := newBuilder(t, Config{OpenAPI: []string{"api.example=" + doc}})
	for _, tt := range []struct {
		method, uri, tmpl string
		shadow            bool
	}{
		{"GET", "/users/42", "/users/{userId}", false},
		{"DELETE", "/users/42", "/users/{userId}", true},
		{"GET", "/internal/debug/7", "/internal/debug/{id}", true},
	} {
		var c models.APICall
		b.Build(&httpwire.Transaction{Req: &httpwire.Request{TS: t0, Method: tt.method, URI: tt.uri, Header: hdr("Host", "api.example")}}, client, server, &c)
		if c.Template != tt.tmpl || c.Shadow != tt.shadow {
			t.Errorf("%s %s: template %q shadow %v; want %q %v", tt.method, tt.uri, c.Template, c.Shadow, tt.tmpl, tt.shadow)
		}
	}
	if _, err := NewBuilder(Config{Identity: identity.Config{Key: testKey}, OpenAPI: []string{filepath.Join(dir, "none.yaml")}}, nil); err == nil {
		t.Error("missing OpenAPI file accepted")
	}
}

func TestTemplatesFileRoundTrip(t *testing.T) {
	file := filepath.Join(t.TempDir(), "templates.json")
	cfg := Config{TemplatesFile: file, Template: template.Config{Threshold: 3}}
	b := newBuilder(t, cfg)
	sink := &memSink{}
	ws := b.WrapSink(sink)
	for i := 0; i < 8; i++ {
		tx := &httpwire.Transaction{
			Req:  &httpwire.Request{TS: t0.Add(time.Duration(i) * time.Second), Method: "GET", URI: fmt.Sprintf("/teams/team%c/members", 'a'+i), Header: hdr("Host", "api.example")},
			Resp: &httpwire.Response{TS: t0.Add(time.Duration(i)*time.Second + time.Millisecond), Status: 200},
		}
		var c models.APICall
		b.Build(tx, client, server, &c)
		if c.Template != c.Path {
			t.Fatalf("Build applied learning: %q", c.Template)
		}
		if err := ws.Write(&c); err != nil {
			t.Fatal(err)
		}
	}
	if got := sink.calls[7].Template; got != "/teams/{param}/members" {
		t.Errorf("learned in output stage: %q; want /teams/{param}/members", got)
	}
	if err := ws.Close(); err != nil || !sink.closed {
		t.Fatalf("close: %v, next closed %v", err, sink.closed)
	}
	again := newBuilder(t, cfg)
	var c models.APICall
	again.Build(&httpwire.Transaction{Req: &httpwire.Request{TS: t0, Method: "GET", URI: "/teams/new/members", Header: hdr("Host", "api.example")}}, client, server, &c)
	if c.Template != "/teams/{param}/members" {
		t.Errorf("after reload: %q", c.Template)
	}
	os.WriteFile(file, []byte("{broken"), 0o600)
	if _, err := NewBuilder(Config{Identity: identity.Config{Key: testKey}, TemplatesFile: file}, nil); err == nil {
		t.Error("broken templates file accepted")
	}
}

type memSink struct {
	calls  []models.APICall
	closed bool
}

func (s *memSink) Write(c *models.APICall) error { s.calls = append(s.calls, *c); return nil }
func (s *memSink) Close() error                  { s.closed = true; return nil }

func TestKeyFromStateFile(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Key: identity.KeySource{StateFile: filepath.Join(dir, "fp.key"), Getenv: func(string) string { return "" }}, Metrics: metrics.NewRegistry()}
	b1, err := NewBuilder(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := NewBuilder(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b1.ids.FingerprintAPIKey("k") != b2.ids.FingerprintAPIKey("k") {
		t.Error("two builders with one state file disagree")
	}
}

// TestBuildConcurrent runs Build from several goroutines (go test -race).
func TestBuildConcurrent(t *testing.T) {
	b := newBuilder(t, Config{Template: template.Config{Threshold: 4}})
	ws := b.WrapSink(&memSink{})
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				tx := &httpwire.Transaction{
					Req: &httpwire.Request{TS: t0.Add(time.Duration(i) * time.Millisecond), Method: "GET",
						URI:    fmt.Sprintf("/u/n%d/x?api_key=key%d", i%50, w),
						Header: hdr("Host", "h", "Cookie", fmt.Sprintf("session=s%d", i%7))},
					Resp: &httpwire.Response{TS: t0.Add(time.Duration(i)*time.Millisecond + 1), Status: 200},
				}
				var c models.APICall
				b.Build(tx, client, server, &c)
				if c.CredFP == "" {
					t.Errorf("no fingerprint")
					return
				}
				mu.Lock()
				ws.Write(&c)
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
}

func BenchmarkBuild(b *testing.B) {
	bl := newBuilder(b, Config{Identity: identity.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}})
	tok := jwt(`{"sub":"alice","iss":"https://idp.example","act":{"sub":"bot-7"},"scope":"orders:read"}`)
	txs := make([]*httpwire.Transaction, 16)
	for i := range txs {
		txs[i] = &httpwire.Transaction{
			Req: &httpwire.Request{TS: t0.Add(time.Duration(i) * time.Millisecond), Method: "GET", URI: fmt.Sprintf("/api/v2/orders/%d/items?expand=1", 1000+i), Version: "HTTP/1.1",
				Header: hdr("Host", "shop.example.com", "User-Agent", "agent/2", "Accept", "application/json", "Authorization", "Bearer "+tok, "X-Forwarded-For", "203.0.113.77")},
			Resp: &httpwire.Response{TS: t0.Add(time.Duration(i)*time.Millisecond + 40*time.Millisecond), Status: 200, Header: hdr("Content-Type", "application/json"), BodyBytes: 512},
		}
	}
	var c models.APICall
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		bl.Build(txs[i%len(txs)], client, server, &c)
	}
}

func BenchmarkBuildParallel(b *testing.B) {
	bl := newBuilder(b, Config{})
	tx := &httpwire.Transaction{
		Req:  &httpwire.Request{TS: t0, Method: "GET", URI: "/api/v2/orders/42/items", Header: hdr("Host", "shop.example.com", "X-API-Key", "k-0123456789")},
		Resp: &httpwire.Response{TS: t0.Add(time.Millisecond), Status: 200},
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var c models.APICall
		for pb.Next() {
			bl.Build(tx, client, server, &c)
		}
	})
}

func BenchmarkLearn(b *testing.B) {
	bl := newBuilder(b, Config{})
	calls := make([]models.APICall, 64)
	for i := range calls {
		calls[i] = models.APICall{TS: t0.Add(time.Duration(i) * time.Millisecond), Method: "GET", Host: "shop.example.com",
			Path: fmt.Sprintf("/api/v2/customers/c%c%c/orders", 'a'+i%26, 'a'+i/26)}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c := calls[i%len(calls)]
		bl.Learn(&c)
	}
}

// TestBuildAllocs pins Build's allocations for a typical authenticated call: the strings
// that become record fields (addresses, client id, template, forwarded address), nothing
// per header or per rule.
func TestBuildAllocs(t *testing.T) {
	if raceEnabled || testing.Short() {
		t.Skip("allocation counts differ under the race detector")
	}
	bl := newBuilder(t, Config{Identity: identity.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}})
	tx := &httpwire.Transaction{
		Req: &httpwire.Request{TS: t0, Method: "GET", URI: "/api/v2/orders/1000/items?expand=1",
			Header: hdr("Host", "shop.example.com", "Authorization", "Bearer "+jwt(`{"sub":"alice","act":{"sub":"bot-7"}}`), "X-Forwarded-For", "203.0.113.77")},
		Resp: &httpwire.Response{TS: t0.Add(time.Millisecond), Status: 200, Header: hdr("Content-Type", "application/json")},
	}
	var c models.APICall
	bl.Build(tx, client, server, &c)
	if n := testing.AllocsPerRun(200, func() { bl.Build(tx, client, server, &c) }); n > 8 {
		t.Errorf("Build allocates %v times; want at most 8", n)
	}
}

// TestBuildWithAddrsMatchesBuild: handing Build the connection's formatted addresses, or
// leaving the templates to the sink, changes nothing else.
func TestBuildWithAddrsMatchesBuild(t *testing.T) {
	b := newBuilder(t, Config{})
	mapped := netip.AddrPortFrom(netip.MustParseAddr("::ffff:10.9.8.7"), 4242)
	v6 := netip.AddrPortFrom(netip.MustParseAddr("2001:db8::1"), 443)
	tx := &httpwire.Transaction{
		Req:  &httpwire.Request{TS: t0, Method: "GET", URI: "/users/42?x=1", Header: hdr("Host", "api.example", "X-API-Key", "k1")},
		Resp: &httpwire.Response{TS: t0.Add(time.Millisecond), Status: 200},
	}
	for _, ends := range [][2]netip.AddrPort{{client, server}, {mapped, v6}, {v6, mapped}} {
		var want, got, late models.APICall
		b.Build(tx, ends[0], ends[1], &want)
		b.BuildWithAddrs(tx, ends[0], ends[1], b.AddrString(ends[0].Addr()), b.AddrString(ends[1].Addr()), &got)
		if got != want {
			t.Errorf("BuildWithAddrs %+v\nBuild          %+v", got, want)
		}
		st := b.SinkTemplated()
		st.BuildWithAddrs(tx, ends[0], ends[1], st.AddrString(ends[0].Addr()), "", &late)
		if late.Template != "" || late.Shadow {
			t.Errorf("SinkTemplated set template %q shadow %v", late.Template, late.Shadow)
		}
		late.Template, late.Shadow = want.Template, want.Shadow
		if late != want {
			t.Errorf("SinkTemplated %+v\nBuild         %+v", late, want)
		}
	}
}
