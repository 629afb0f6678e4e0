package identity

import (
	"encoding/base64"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/metrics"
	"github.com/apiscope/apiscope/sensor/httpwire"
)

// httpwire.Header is what the sensor passes in.
var _ Headers = httpwire.Header(nil)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func jwt(payload string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(payload)) + ".c2lnbmF0dXJl"
}

func hdr(kv ...string) httpwire.Header {
	var h httpwire.Header
	for i := 0; i+1 < len(kv); i += 2 {
		h = append(h, httpwire.Field{Name: kv[i], Value: kv[i+1]})
	}
	return h
}

func basic(userpass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(userpass))
}

func newResolver(t testing.TB, cfg Config) (*Resolver, *metrics.Registry) {
	t.Helper()
	reg := metrics.NewRegistry()
	if cfg.Key == nil {
		cfg.Key = testKey
	}
	cfg.Metrics = reg
	r, err := New(cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	return r, reg
}

func counter(reg *metrics.Registry, name, labels string) float64 {
	for _, s := range reg.Snapshot() {
		if s.Name == name && s.Labels == labels {
			return s.Value
		}
	}
	return 0
}

func TestResolve(t *testing.T) {
	r, _ := newResolver(t, Config{})
	fp := func(kind Kind, cred string) string { return r.Fingerprint(kind, cred) }
	peer := netip.MustParseAddr("198.51.100.7")
	aliceTok := jwt(`{"sub":"alice","iss":"https://idp.example.com","scope":"read write","azp":"alice"}`)
	agentTok := jwt(`{"sub":"alice","iss":"https://idp.example.com","azp":"webapp","act":{"sub":"bot-7","act":{"sub":"orchestrator"}},"scp":["orders.read","orders.write"]}`)
	azpTok := jwt(`{"sub":"alice","azp":"mobile-app"}`)
	ccTok := jwt(`{"client_id":"svc-billing","scope":"invoices"}`)
	bareTok := jwt(`{"iss":"x"}`)
	numTok := jwt(`{"sub":12345}`)
	pipeTok := jwt(`{"sub":"alice|agent:root"}`)
	badTok := "eyJhbGciOi.!!!notbase64!!!.sig"
	tests := []struct {
		name  string
		h     httpwire.Header
		query string
		want  Identity
	}{
		{"jwt sub", hdr("Authorization", "Bearer "+aliceTok), "",
			Identity{ClientID: "jwt:alice", Principal: "alice", Auth: models.AuthJWT, CredFP: fp(KindJWT, aliceTok), Scope: "read write", Issuer: "https://idp.example.com"}},
		{"jwt act", hdr("authorization", "bearer "+agentTok), "",
			Identity{ClientID: "jwt:alice|agent:bot-7", Principal: "alice", Actor: "bot-7", Auth: models.AuthJWT, CredFP: fp(KindJWT, agentTok), Scope: "orders.read orders.write", Issuer: "https://idp.example.com"}},
		{"jwt azp actor", hdr("Authorization", "Bearer "+azpTok), "",
			Identity{ClientID: "jwt:alice|agent:mobile-app", Principal: "alice", Actor: "mobile-app", Auth: models.AuthJWT, CredFP: fp(KindJWT, azpTok)}},
		{"jwt client credentials", hdr("Authorization", "Bearer "+ccTok), "",
			Identity{ClientID: "agent:svc-billing", Actor: "svc-billing", Auth: models.AuthJWT, CredFP: fp(KindJWT, ccTok), Scope: "invoices"}},
		{"jwt no subject", hdr("Authorization", "Bearer "+bareTok), "",
			Identity{ClientID: "jwtfp:" + fp(KindJWT, bareTok), Auth: models.AuthJWT, CredFP: fp(KindJWT, bareTok), Issuer: "x"}},
		{"jwt numeric sub", hdr("Authorization", "Bearer "+numTok), "",
			Identity{ClientID: "jwt:12345", Principal: "12345", Auth: models.AuthJWT, CredFP: fp(KindJWT, numTok)}},
		{"jwt forged separator", hdr("Authorization", "Bearer "+pipeTok), "",
			Identity{ClientID: "jwt:alice%7Cagent:root", Principal: "alice|agent:root", Auth: models.AuthJWT, CredFP: fp(KindJWT, pipeTok)}},
		{"jwt in access_token query", nil, "a=1&access_token=" + aliceTok,
			Identity{ClientID: "jwt:alice", Principal: "alice", Auth: models.AuthJWT, CredFP: fp(KindJWT, aliceTok), Scope: "read write", Issuer: "https://idp.example.com"}},
		{"malformed jwt falls back to api key header", hdr("Authorization", "Bearer "+badTok, "X-API-Key", "k-123"), "",
			Identity{ClientID: "apikey:" + fp(KindAPIKey, "k-123"), Auth: models.AuthAPIKey, CredFP: fp(KindAPIKey, "k-123")}},
		{"malformed jwt alone is an opaque bearer", hdr("Authorization", "Bearer "+badTok), "",
			Identity{ClientID: "apikey:" + fp(KindAPIKey, badTok), Auth: models.AuthAPIKey, CredFP: fp(KindAPIKey, badTok)}},
		{"opaque bearer", hdr("Authorization", "Bearer gho_16C7e42F292c6912E7710c838347Ae178B4a"), "",
			Identity{ClientID: "apikey:" + fp(KindAPIKey, "gho_16C7e42F292c6912E7710c838347Ae178B4a"), Auth: models.AuthAPIKey, CredFP: fp(KindAPIKey, "gho_16C7e42F292c6912E7710c838347Ae178B4a")}},
		{"basic", hdr("Authorization", basic("bob:hunter2")), "",
			Identity{ClientID: "basic:bob", Principal: "bob", Auth: models.AuthBasic, CredFP: fp(KindBasic, "bob:hunter2")}},
		{"basic key as user", hdr("Authorization", basic("sk_live_abc123:")), "",
			Identity{ClientID: "apikey:" + fp(KindAPIKey, "sk_live_abc123"), Auth: models.AuthAPIKey, CredFP: fp(KindAPIKey, "sk_live_abc123")}},
		{"basic malformed falls to cookie", hdr("Authorization", "Basic !!!", "Cookie", "theme=dark; sessionid=s3ss"), "",
			Identity{ClientID: "cookie:" + fp(KindCookie, "sessionid=s3ss"), Auth: models.AuthCookie, CredFP: fp(KindCookie, "sessionid=s3ss")}},
		{"basic without colon", hdr("Authorization", basic("justauser")), "",
			Identity{ClientID: "ip:198.51.100.7", Auth: models.AuthNone}},
		{"digest", hdr("Authorization", `Digest username="carol", realm="api@example.com", nonce="dcd98b", uri="/x", response="6629fae4"`), "",
			Identity{ClientID: "basic:carol", Principal: "carol", Auth: models.AuthBasic, CredFP: fp(KindBasic, "digest\x00carol\x00api@example.com")}},
		{"digest escaped user", hdr("Authorization", `Digest realm=r, username="a\"b"`), "",
			Identity{ClientID: `basic:a"b`, Principal: `a"b`, Auth: models.AuthBasic, CredFP: fp(KindBasic, "digest\x00a\"b\x00r")}},
		{"digest without user", hdr("Authorization", `Digest realm="r"`), "",
			Identity{ClientID: "ip:198.51.100.7", Auth: models.AuthNone}},
		{"aws sigv4 access key", hdr("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"), "",
			Identity{ClientID: "apikey:" + fp(KindAPIKey, "AKIDEXAMPLE"), Auth: models.AuthAPIKey, CredFP: fp(KindAPIKey, "AKIDEXAMPLE")}},
		{"token scheme", hdr("Authorization", "Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"), "",
			Identity{ClientID: "apikey:" + fp(KindAPIKey, "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"), Auth: models.AuthAPIKey, CredFP: fp(KindAPIKey, "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b")}},
		{"ntlm is not a stable credential", hdr("Authorization", "NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw=="), "",
			Identity{ClientID: "ip:198.51.100.7", Auth: models.AuthNone}},
		{"api key header", hdr("X-API-Key", " k-123 "), "",
			Identity{ClientID: "apikey:" + fp(KindAPIKey, "k-123"), Auth: models.AuthAPIKey, CredFP: fp(KindAPIKey, "k-123")}},
		{"api key second header", hdr("api-key", "k-456"), "",
			Identity{ClientID: "apikey:" + fp(KindAPIKey, "k-456"), Auth: models.AuthAPIKey, CredFP: fp(KindAPIKey, "k-456")}},
		{"api key query escaped", nil, "q=x&api_key=k%2B1",
			Identity{ClientID: "apikey:" + fp(KindAPIKey, "k+1"), Auth: models.AuthAPIKey, CredFP: fp(KindAPIKey, "k+1")}},
		{"header key before query key", hdr("X-API-Key", "k-h"), "api_key=k-q",
			Identity{ClientID: "apikey:" + fp(KindAPIKey, "k-h"), Auth: models.AuthAPIKey, CredFP: fp(KindAPIKey, "k-h")}},
		{"session cookie", hdr("Cookie", `a=b; JSESSIONID="abc123"`), "",
			Identity{ClientID: "cookie:" + fp(KindCookie, "jsessionid=abc123"), Auth: models.AuthCookie, CredFP: fp(KindCookie, "jsessionid=abc123")}},
		{"other cookies only", hdr("Cookie", "theme=dark; lang=en"), "",
			Identity{ClientID: "ip:198.51.100.7", Auth: models.AuthNone}},
		{"trace parent", hdr("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "X-Request-ID", "rid-1"), "",
			Identity{ClientID: "ip:198.51.100.7", Auth: models.AuthNone, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736"}},
		{"bad traceparent falls to request id", hdr("traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "X-Request-ID", "rid-1"), "",
			Identity{ClientID: "ip:198.51.100.7", Auth: models.AuthNone, TraceID: "rid-1"}},
		{"request id with spaces ignored", hdr("X-Request-ID", "a b"), "",
			Identity{ClientID: "ip:198.51.100.7", Auth: models.AuthNone}},
		{"nothing", nil, "",
			Identity{ClientID: "ip:198.51.100.7", Auth: models.AuthNone}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.ClientIP = peer
			// Twice: the second answer comes from the credential cache.
			for pass := 0; pass < 2; pass++ {
				var got Identity
				r.Resolve(tt.h, tt.query, peer, &got)
				if got != tt.want {
					t.Errorf("pass %d: Resolve =\n%+v\nwant\n%+v", pass, got, tt.want)
				}
			}
		})
	}
}

func TestMalformedCounted(t *testing.T) {
	r, reg := newResolver(t, Config{})
	var id Identity
	for i := 0; i < 3; i++ {
		r.Resolve(hdr("Authorization", "Bearer a.b.c"), "", netip.MustParseAddr("192.0.2.1"), &id)
		r.Resolve(hdr("Authorization", "Basic %%%"), "", netip.MustParseAddr("192.0.2.1"), &id)
		r.Resolve(hdr("Cookie", "novalue; session=1"), "", netip.MustParseAddr("192.0.2.1"), &id)
	}
	for what, want := range map[string]float64{"jwt": 3, "basic": 3, "cookie": 3} {
		if got := counter(reg, "apiscope_identity_malformed_total", `{what="`+what+`"}`); got != want {
			t.Errorf("malformed{what=%s} = %v; want %v", what, got, want)
		}
	}
}

func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}
	r, _ := newResolver(t, Config{TrustedProxies: trusted})
	tests := []struct {
		name    string
		peer    string
		h       httpwire.Header
		want    string
		wantXFF string
	}{
		{"untrusted peer ignores xff", "203.0.113.5", hdr("X-Forwarded-For", "1.2.3.4"), "203.0.113.5", ""},
		{"trusted peer, one hop", "10.0.0.1", hdr("X-Forwarded-For", "1.2.3.4"), "1.2.3.4", "1.2.3.4"},
		{"rightmost untrusted", "10.0.0.1", hdr("X-Forwarded-For", "6.6.6.6, 1.2.3.4, 10.0.0.9"), "1.2.3.4", "1.2.3.4"},
		{"spoofed left entry ignored", "10.0.0.1", hdr("X-Forwarded-For", "10.1.1.1, 5.5.5.5"), "5.5.5.5", "5.5.5.5"},
		{"all trusted: leftmost", "10.0.0.1", hdr("X-Forwarded-For", "10.1.1.1, 10.2.2.2"), "10.1.1.1", "10.1.1.1"},
		{"xff with port", "10.0.0.1", hdr("X-Forwarded-For", "1.2.3.4:5678"), "1.2.3.4", "1.2.3.4"},
		{"xff garbage", "10.0.0.1", hdr("X-Forwarded-For", "garbage"), "10.0.0.1", ""},
		{"xff garbage left of good", "10.0.0.1", hdr("X-Forwarded-For", "garbage, 10.3.3.3"), "10.3.3.3", "10.3.3.3"},
		{"forwarded", "10.0.0.1", hdr("Forwarded", `for=192.0.2.60;proto=http;by=203.0.113.43`), "192.0.2.60", "192.0.2.60"},
		{"forwarded v6 quoted", "10.0.0.1", hdr("Forwarded", `for="[2001:db8:cafe::17]:4711", for=10.9.9.9`), "2001:db8:cafe::17", "2001:db8:cafe::17"},
		{"forwarded preferred over xff", "10.0.0.1", hdr("X-Forwarded-For", "1.1.1.1", "Forwarded", "for=2.2.2.2"), "2.2.2.2", "2.2.2.2"},
		{"forwarded unknown", "10.0.0.1", hdr("Forwarded", "for=unknown"), "10.0.0.1", ""},
		{"v6 trusted peer", "2001:db8:ffff::1", hdr("X-Forwarded-For", "2001:db8::5"), "2001:db8::5", "2001:db8::5"},
		{"v4-mapped peer", "::ffff:10.0.0.1", hdr("X-Forwarded-For", "1.2.3.4"), "1.2.3.4", "1.2.3.4"},
		{"trusted, no header", "10.0.0.1", nil, "10.0.0.1", ""},
		{"repeated xff lines combine", "10.0.0.1", hdr("X-Forwarded-For", "6.6.6.6", "X-Forwarded-For", "1.2.3.4"), "1.2.3.4", "1.2.3.4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var id Identity
			r.Resolve(tt.h, "", netip.MustParseAddr(tt.peer), &id)
			if id.ClientIP.String() != tt.want || id.XFF != tt.wantXFF {
				t.Errorf("client %v xff %q; want %v %q", id.ClientIP, id.XFF, tt.want, tt.wantXFF)
			}
			if id.ClientID != "ip:"+tt.want {
				t.Errorf("client_id %q; want ip:%s", id.ClientID, tt.want)
			}
		})
	}
}

func TestRedactQuery(t *testing.T) {
	r, _ := newResolver(t, Config{APIKeyParams: []string{"api_key", "key"}})
	tests := []struct{ in, want string }{
		{"", ""},
		{"a=1&b=2", "a=1&b=2"},
		{"api_key=SECRET", "api_key=" + Redacted},
		{"a=1&KEY=SECRET&b=2", "a=1&KEY=" + Redacted + "&b=2"},
		{"access_token=T&x", "access_token=" + Redacted + "&x"},
		{"api%5Fkey=S", "api%5Fkey=" + Redacted},
		{"X-Amz-Signature=abc&X-Amz-Date=1", "X-Amz-Signature=" + Redacted + "&X-Amz-Date=1"},
		{"api_key", "api_key"},
		// Unicode folding matches names of other byte lengths: "ſecret" (long s) and
		// "Key" (Kelvin sign) are the secret and key parameters to EqualFold.
		{"ſecret=S", "ſecret=" + Redacted},
		{"Key=S&keys=1", "Key=" + Redacted + "&keys=1"},
	}
	for _, tt := range tests {
		if got := r.RedactQuery(tt.in); got != tt.want {
			t.Errorf("RedactQuery(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestConfigDisablesRules(t *testing.T) {
	r, _ := newResolver(t, Config{APIKeyHeaders: []string{}, SessionCookies: []string{}, APIKeyParams: []string{"token_x"}})
	var id Identity
	r.Resolve(hdr("X-API-Key", "k", "Cookie", "session=s"), "api_key=q", netip.MustParseAddr("192.0.2.1"), &id)
	if id.Auth != models.AuthNone {
		t.Errorf("disabled rules still applied: %+v", id)
	}
	r.Resolve(nil, "token_x=v", netip.MustParseAddr("192.0.2.1"), &id)
	if id.Auth != models.AuthAPIKey {
		t.Errorf("configured param not used: %+v", id)
	}
	if _, err := New(Config{Key: testKey, APIKeyHeaders: []string{"bad name"}}, nil); err == nil {
		t.Error("bad header name accepted")
	}
	if _, err := New(Config{Key: []byte("short")}, nil); err == nil {
		t.Error("short key accepted")
	}
}

func TestFingerprintSharedKey(t *testing.T) {
	a, _ := newResolver(t, Config{})
	b, _ := newResolver(t, Config{})
	c, _ := newResolver(t, Config{Key: []byte("another-key-of-sufficient-length")})
	if a.FingerprintAPIKey("k") != b.FingerprintAPIKey("k") {
		t.Error("same key, different fingerprints")
	}
	if a.FingerprintAPIKey("k") == c.FingerprintAPIKey("k") {
		t.Error("different keys, same fingerprint")
	}
	if fp := a.FingerprintAPIKey("k"); len(fp) != 2*fpBytes || strings.Trim(fp, "0123456789abcdef") != "" {
		t.Errorf("fingerprint %q is not %d hex characters", fp, 2*fpBytes)
	}
}

func TestResolveKey(t *testing.T) {
	dir := t.TempDir()
	noEnv := func(string) string { return "" }
	// Explicit key wins.
	k, err := ResolveKey(KeySource{Key: testKey, Getenv: func(string) string { return "x-from-env-xxxxxxxxxxxxx" }}, nil)
	if err != nil || string(k) != string(testKey) {
		t.Fatalf("explicit: %q %v", k, err)
	}
	// File, whitespace trimmed.
	f := filepath.Join(dir, "key")
	os.WriteFile(f, []byte("  file-key-0123456789abcdef\n"), 0o600)
	if k, err := ResolveKey(KeySource{File: f, Getenv: noEnv}, nil); err != nil || string(k) != "file-key-0123456789abcdef" {
		t.Fatalf("file: %q %v", k, err)
	}
	if _, err := ResolveKey(KeySource{File: filepath.Join(dir, "missing"), Getenv: noEnv}, nil); err == nil {
		t.Error("missing key file accepted")
	}
	// Environment.
	env := func(n string) string {
		if n == KeyEnv {
			return "env-key-0123456789abcdef"
		}
		return ""
	}
	if k, err := ResolveKey(KeySource{Getenv: env}, nil); err != nil || string(k) != "env-key-0123456789abcdef" {
		t.Fatalf("env: %q %v", k, err)
	}
	if _, err := ResolveKey(KeySource{Getenv: func(string) string { return "short" }}, nil); err == nil {
		t.Error("short env key accepted")
	}
	// Generated once, kept with mode 0600, then reused.
	state := filepath.Join(dir, "state", "apiscope", "fp.key")
	k1, err := ResolveKey(KeySource{StateFile: state, Getenv: noEnv}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(state)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("state file %v mode %v", err, st.Mode())
	}
	k2, err := ResolveKey(KeySource{StateFile: state, Getenv: noEnv}, nil)
	if err != nil || string(k1) != string(k2) || len(k1) != 64 {
		t.Fatalf("state key not reused: %q %q %v", k1, k2, err)
	}
	t.Setenv("XDG_STATE_HOME", dir)
	if p, _ := DefaultStateFile(); p != filepath.Join(dir, "apiscope", "fp.key") {
		t.Errorf("DefaultStateFile = %q", p)
	}
}

func TestParseTraceparent(t *testing.T) {
	for in, want := range map[string]string{
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01":        "4bf92f3577b34da6a3ce929d0e0e4736",
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future": "4bf92f3577b34da6a3ce929d0e0e4736",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x":      "",
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01":        "",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01":        "",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01":        "",
		"garbage": "",
	} {
		got, ok := ParseTraceparent(in)
		if got != want || ok != (want != "") {
			t.Errorf("ParseTraceparent(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestResolvedCounted(t *testing.T) {
	r, reg := newResolver(t, Config{})
	peer := netip.MustParseAddr("192.0.2.1")
	var id Identity
	for _, h := range []httpwire.Header{
		hdr("Authorization", "Bearer "+jwt(`{"sub":"alice"}`)),
		hdr("X-API-Key", "k"), hdr("Authorization", "Bearer opaque"),
		hdr("Authorization", basic("bob:pw")), hdr("Authorization", basic("bob:pw")), hdr("Authorization", basic("bob:pw")),
		hdr("Cookie", "session=s"), hdr("Cookie", "session=s"), hdr("Cookie", "session=s"), hdr("Cookie", "session=s"),
		nil, nil, nil, nil, nil,
	} {
		r.Resolve(h, "", peer, &id)
	}
	for auth, want := range map[string]float64{models.AuthJWT: 1, models.AuthAPIKey: 2, models.AuthBasic: 3, models.AuthCookie: 4, models.AuthNone: 5} {
		if got := counter(reg, "apiscope_identity_resolved_total", `{auth="`+auth+`"}`); got != want {
			t.Errorf("resolved{auth=%s} = %v; want %v", auth, got, want)
		}
	}
}
