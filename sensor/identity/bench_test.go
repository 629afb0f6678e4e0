package identity

import (
	"net/netip"
	"strconv"
	"testing"

	"github.com/apiscope/apiscope/sensor/httpwire"
)

func BenchmarkResolveJWT(b *testing.B) {
	r, _ := newResolver(b, Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	h := hdr("Host", "api.example.com", "User-Agent", "agent/1.0",
		"Authorization", "Bearer "+jwt(`{"sub":"alice","iss":"https://idp.example.com","act":{"sub":"bot-7"},"scope":"read"}`),
		"X-Forwarded-For", "203.0.113.9", "traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	peer := netip.MustParseAddr("10.0.0.1")
	var id Identity
	b.ReportAllocs()
	for b.Loop() {
		r.Resolve(h, "", peer, &id)
	}
}

func BenchmarkResolveNone(b *testing.B) {
	r, _ := newResolver(b, Config{})
	h := hdr("Host", "api.example.com", "User-Agent", "agent/1.0", "Accept", "*/*")
	peer := netip.MustParseAddr("198.51.100.7")
	var id Identity
	b.ReportAllocs()
	for b.Loop() {
		r.Resolve(h, "a=1", peer, &id)
	}
}

func BenchmarkFingerprint(b *testing.B) {
	r, _ := newResolver(b, Config{})
	b.ReportAllocs()
	for b.Loop() {
		r.FingerprintAPIKey("sk_live_0123456789abcdef")
	}
}

// BenchmarkResolveOpaqueBearer is the common case of the bench capture: an opaque bearer
// token among a few other headers, one of 100 tokens in turn.
func BenchmarkResolveOpaqueBearer(b *testing.B) {
	r, _ := newResolver(b, Config{})
	hs := make([]httpwire.Header, 100)
	for i := range hs {
		hs[i] = hdr("Host", "api.example.com", "User-Agent", "agent/1.0", "Accept", "*/*",
			"Authorization", "Bearer t"+strconv.Itoa(i), "Content-Type", "application/json", "Content-Length", "12")
	}
	peer := netip.MustParseAddr("198.51.100.7")
	var id Identity
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r.Resolve(&hs[i], "page=0", peer, &id)
		if i++; i == len(hs) {
			i = 0
		}
	}
}
