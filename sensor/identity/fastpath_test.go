package identity

import (
	"math/rand/v2"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// queryValueRef is queryValue without the length filter: every key is folded.
func queryValueRef(q, name string) string {
	for q != "" {
		var pair string
		if i := strings.IndexByte(q, '&'); i >= 0 {
			pair, q = q[:i], q[i+1:]
		} else {
			pair, q = q, ""
		}
		k, v, ok := strings.Cut(pair, "=")
		if !ok || !strings.EqualFold(k, name) || v == "" {
			continue
		}
		if strings.ContainsAny(v, "%+") {
			if u, err := url.QueryUnescape(v); err == nil {
				return u
			}
		}
		return v
	}
	return ""
}

// pieces are the bytes and runes the randomized fast-path tests build strings from:
// ASCII, white space of every kind, the non-ASCII runes that fold to ASCII letters
// (Kelvin sign, long s) and invalid UTF-8.
var pieces = []string{
	"a", "k", "K", "s", "S", "_", "=", "&", "%41", "+", " ", "\t", "\r", "\n", "\v", "\f",
	"\u0085", "\u00a0", "\u2000", "\u3000", "\u212a", "\u017f", "\xff", "\xc2", "api", "key", "ey",
	"token", "access_", "Bearer", "é",
}

func randomString(rng *rand.Rand, n int) string {
	var b strings.Builder
	for range rng.IntN(n) {
		b.WriteString(pieces[rng.IntN(len(pieces))])
	}
	return b.String()
}

func TestTrimSpaceFastPath(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		s := randomString(rng, 6)
		if got, want := trimSpace(s), strings.TrimSpace(s); got != want {
			t.Fatalf("trimSpace(%q) = %q; want %q", s, got, want)
		}
	}
}

func TestQueryValueFastPath(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	names := []string{"api_key", "access_token", "key", "k", "\u212aey", "ſecret", "é", "Api_Key"}
	for range 100000 {
		q, name := randomString(rng, 10), names[rng.IntN(len(names))]
		if got, want := queryValue(q, name), queryValueRef(q, name); got != want {
			t.Fatalf("queryValue(%q, %q) = %q; want %q", q, name, got, want)
		}
	}
	for _, tt := range []struct{ q, name, want string }{
		{"\u212aey=1", "key", "1"},
		{"ſecret=2", "secret", "2"},
		{"KEY=3&key=4", "key", "3"},
		{"ke=5", "key", ""},
	} {
		if got := queryValue(tt.q, tt.name); got != tt.want {
			t.Errorf("queryValue(%q, %q) = %q; want %q", tt.q, tt.name, got, tt.want)
		}
	}
}

// TestSecretParamFastPath holds isSecretParam to a fold of every redacted name, with
// configurations with and without non-ASCII names.
func TestSecretParamFastPath(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, cfg := range []Config{{}, {RedactParams: []string{"\u212aeys"}}, {APIKeyParams: []string{"k", strings.Repeat("p", 70)}}} {
		r, _ := newResolver(t, cfg)
		for range 50000 {
			name := randomString(rng, 5)
			if rng.IntN(4) == 0 {
				name = r.redact[rng.IntN(len(r.redact))]
			}
			want := false
			for _, s := range r.redact {
				if u, err := url.QueryUnescape(name); err == nil && strings.EqualFold(u, s) || err != nil && strings.EqualFold(name, s) {
					want = true
				}
			}
			if got := r.isSecretParam(name); got != want {
				t.Fatalf("config %+v: isSecretParam(%q) = %v; want %v", cfg, name, got, want)
			}
		}
	}
}

// TestNoTrustedProxies: without trusted proxies the client is the peer, unmapped, and
// forwarding headers are not read.
func TestNoTrustedProxies(t *testing.T) {
	r, _ := newResolver(t, Config{})
	for _, peer := range []string{"192.0.2.1", "::ffff:192.0.2.1", "2001:db8::1"} {
		p := netip.MustParseAddr(peer)
		h := hdr("X-Forwarded-For", "1.2.3.4", "Forwarded", "for=5.6.7.8")
		var id Identity
		r.Resolve(h, "", p, &id)
		addr, via, bad := ClientAddr(h, p, nil)
		if id.ClientIP != addr || id.XFF != "" || via || bad || id.ClientID != "ip:"+addr.String() {
			t.Errorf("peer %s: %+v; ClientAddr %v %v %v", peer, id, addr, via, bad)
		}
	}
}
