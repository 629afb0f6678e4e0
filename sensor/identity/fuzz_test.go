package identity

import (
	"encoding/base64"
	"net/netip"
	"strings"
	"testing"
)

// FuzzParseJWT: arbitrary tokens, and arbitrary payloads wrapped as tokens, never panic;
// a decoded token never reports its subject as its actor and keeps scope within bounds.
func FuzzParseJWT(f *testing.F) {
	for _, s := range []string{
		`{"sub":"alice"}`, `{"sub":"a","act":{"sub":"b"}}`, `{"scp":["a",1,true,null,{"x":1},["y"]]}`,
		`{"sub":1e400}`, `null`, `[]`, `{"act":"x"}`, `{"sub":"a","azp":"a"}`, "\xff", `{"scope":` + strings.Repeat("[", 200) + `}`,
	} {
		f.Add(s, false)
		f.Add(jwt(s), true)
	}
	f.Add("a.b.c", true)
	f.Add("..", true)
	f.Fuzz(func(t *testing.T, s string, raw bool) {
		tok := s
		if !raw {
			tok = "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString([]byte(s)) + ".x"
		}
		c, err := ParseJWT(tok)
		if err != nil {
			return
		}
		if a := c.Actor(); a != "" && a == c.Sub {
			t.Fatalf("actor equals subject %q", a)
		}
		if len(c.Scope) > maxScopeBytes {
			t.Fatalf("scope %d bytes > %d", len(c.Scope), maxScopeBytes)
		}
	})
}

// FuzzFindCookie: no panic, and a found value is a substring of the header.
func FuzzFindCookie(f *testing.F) {
	for _, s := range []string{"session=abc", `a=b; JSESSIONID="x"`, ";;;=;", "session", `session=""`, "a=b;session=c;session=d", "=x; sid=1"} {
		f.Add(s)
	}
	names := DefaultSessionCookies
	f.Fuzz(func(t *testing.T, h string) {
		name, v, _ := FindCookie(h, names)
		if v != "" && !strings.Contains(h, v) {
			t.Fatalf("value %q not in header %q", v, h)
		}
		if (name == "") != (v == "") {
			t.Fatalf("name %q value %q", name, v)
		}
	})
}

// FuzzClientAddr: no panic; the result is the peer or an address listed in the header.
func FuzzClientAddr(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "1.2.3.4, 10.0.0.2", `for="[2001:db8::1]:80";proto=https`, "unknown", ",,,", "for=_hidden, for=1.1.1.1", "[::1]", "1.2.3.4:99999"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	peer := netip.MustParseAddr("10.0.0.1")
	f.Fuzz(func(t *testing.T, v string, fwd bool) {
		name := "X-Forwarded-For"
		if fwd {
			name = "Forwarded"
		}
		addr, via, _ := ClientAddr(hdr(name, v), peer, trusted)
		if !addr.IsValid() {
			t.Fatalf("invalid address from %q", v)
		}
		if !via && addr != peer {
			t.Fatalf("not via a proxy but %v != peer", addr)
		}
	})
}

// FuzzAuthParam: no panic on any credentials list; a found value never contains more
// bytes than the input.
func FuzzAuthParam(f *testing.F) {
	for _, s := range []string{`username="bob", realm="r"`, `realm=r,username=x`, `username="a\"b`, `=,=,=`, `username`, `"`, `Credential=AKID/x, Signature=y`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if v := authParam(s, "username"); len(v) > len(s) {
			t.Fatalf("authParam(%q) = %q", s, v)
		}
		awsAccessKeyID(s)
	})
}
