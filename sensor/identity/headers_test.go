package identity

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/apiscope/apiscope/sensor/httpwire"
)

// getOnly hides an httpwire.Header's type, so Resolve reads it with Get (and
// ClientAddr with Values), the general path.
type getOnly struct{ h httpwire.Header }

func (g getOnly) Get(name string) string      { return g.h.Get(name) }
func (g getOnly) Values(name string) []string { return g.h.Values(name) }

// randomHeader builds header blocks that exercise the one-pass read: the rules' names in
// any case, repeated, empty or blank, non-ASCII look-alikes, fields of every length.
func randomHeader(rng *rand.Rand, tok string) httpwire.Header {
	names := []string{
		"Host", "User-Agent", "Accept", "Content-Type", "Content-Length",
		"Authorization", "authorization", "AUTHORIZATION", "Cookie", "cookie", "COOKIE",
		"traceparent", "Traceparent", "X-Request-ID", "x-request-id", "X-Request-Id",
		"X-API-Key", "x-api-key", "Api-Key", "api-key", "X-Token", "x-token", "Forwarded",
		"X-Forwarded-For", "X-API-\u212aey", "Api-\u212aey", "Aut\u017forization",
		"Authorizatio", "Authorizations", "Cookies", strings.Repeat("X-Long-", 12), "",
		// Equal byte lengths, equal under folding, first bytes ASCII on one side only.
		"s\u017f-Key", "\u017fs-Key", "S\u017f-KEY", "\u017fS-key",
	}
	values := []string{
		"", " ", "  k1 ", "k2", "Bearer " + tok, "Bearer t7", "Basic " + "Ym9iOnB3", "Basic Ym9iOg==",
		"Token abc", "session=s1", "sid=x; session=y", "novalue; session=z", "junk",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "req-1", " req-2 ",
		"1.2.3.4", "10.0.0.9, 5.6.7.8", "for=192.0.2.60", "Digest username=\"u\", realm=\"r\"",
	}
	n := rng.IntN(10)
	var h httpwire.Header
	for range n {
		h = append(h, httpwire.Field{Name: names[rng.IntN(len(names))], Value: values[rng.IntN(len(values))]})
	}
	return h
}

// TestReadEquivalence holds Resolve on an httpwire.Header (one pass over its fields) to
// Resolve on the same header seen only through Get, with several configurations.
func TestReadEquivalence(t *testing.T) {
	tok := jwt(`{"sub":"alice","act":{"sub":"bot"}}`)
	many := make([]string, 70) // more API-key headers than one pass tracks
	for i := range many {
		many[i] = "X-K" + strings.Repeat("e", i) + "y"
	}
	many[69] = "X-API-Key"
	configs := []Config{
		{},
		{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
		{APIKeyHeaders: []string{"X-Token", "x-api-key", "X-API-KEY", "Api-Key"}},
		{APIKeyHeaders: []string{}, SessionCookies: []string{}},
		{APIKeyHeaders: []string{"Api-\u212aey", strings.Repeat("X-Long-", 12)}},
		{APIKeyHeaders: []string{"s\u017f-Key"}},
		{APIKeyHeaders: []string{"\u017fs-Key", "X-API-Key"}},
		{APIKeyHeaders: many},
	}
	queries := []string{"", "page=0", "api_key=q", "access_token=" + tok, "access_token=opaque"}
	peers := []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("198.51.100.7")}
	for ci, cfg := range configs {
		fast, fastReg := newResolver(t, cfg)
		slow, slowReg := newResolver(t, cfg)
		rng := rand.New(rand.NewPCG(uint64(ci), 1))
		for i := range 5000 {
			h := randomHeader(rng, tok)
			q := queries[rng.IntN(len(queries))]
			peer := peers[rng.IntN(len(peers))]
			var a, b, c Identity
			fast.Resolve(h, q, peer, &a)
			fast.Resolve(&h, q, peer, &b)
			slow.Resolve(getOnly{h}, q, peer, &c)
			slow.Resolve(getOnly{h}, q, peer, &c)
			if a != c || b != c {
				t.Fatalf("config %d case %d: header %q query %q:\nvalue   %+v\npointer %+v\nGet     %+v", ci, i, h, q, a, b, c)
			}
		}
		if a, b := fastReg.Snapshot(), slowReg.Snapshot(); !reflect.DeepEqual(a, b) {
			t.Errorf("config %d: counters differ:\n%v\n%v", ci, a, b)
		}
	}
}
