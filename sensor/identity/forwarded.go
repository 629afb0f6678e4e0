package identity

import (
	"net/netip"
	"strings"
)

// maxForwardHops bounds the entries walked in one X-Forwarded-For or Forwarded header.
const maxForwardHops = 32

// ClientAddr returns the client address behind trusted proxies. When peer is in trusted,
// it walks Forwarded (preferred) or X-Forwarded-For from the right, skipping trusted
// proxies, and returns the first untrusted address with via = true; if every listed hop is
// trusted, the leftmost is returned. Otherwise, or when neither header is present, it
// returns peer. malformed reports an entry that could not be parsed; the walk stops there
// and the last good address (or peer) is returned.
func ClientAddr(h Headers, peer netip.Addr, trusted []netip.Prefix) (addr netip.Addr, via, malformed bool) {
	peer = peer.Unmap()
	if !inPrefixes(peer, trusted) {
		return peer, false, false
	}
	var list string
	var fwd bool
	if v := headerList(h, "Forwarded"); v != "" {
		list, fwd = v, true
	} else if v := headerList(h, "X-Forwarded-For"); v != "" {
		list = v
	} else {
		return peer, false, false
	}
	addr = peer
	for n := 0; list != "" && n < maxForwardHops; n++ {
		var entry string
		if i := strings.LastIndexByte(list, ','); i >= 0 {
			entry, list = list[i+1:], list[:i]
		} else {
			entry, list = list, ""
		}
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		if fwd {
			var ok bool
			if entry, ok = forwardedFor(entry); !ok {
				continue // an element without for= names no hop
			}
		}
		a, ok := parseHop(entry)
		if !ok {
			// "unknown" and obfuscated identifiers (RFC 7239 6.3) end the chain we can
			// follow without being malformed.
			if !strings.EqualFold(entry, "unknown") && !strings.HasPrefix(entry, "_") {
				malformed = true
			}
			return addr, addr != peer, malformed
		}
		addr = a
		if !inPrefixes(a, trusted) {
			return a, true, malformed
		}
	}
	return addr, addr != peer, malformed
}

// headerList returns every value of a list-valued header joined by ", ", as RFC 9110
// says repeated fields combine: a proxy that appends its own X-Forwarded-For line after
// the client's must not be hidden behind the first line. It needs a Headers that also
// has Values (httpwire.Header does); otherwise only the first value is seen.
func headerList(h Headers, name string) string {
	hv, ok := h.(interface{ Values(string) []string })
	if !ok {
		return h.Get(name)
	}
	vs := hv.Values(name)
	switch len(vs) {
	case 0:
		return ""
	case 1:
		return vs[0]
	}
	return strings.Join(vs, ", ")
}

// forwardedFor returns the for= parameter of one Forwarded element, unquoted.
func forwardedFor(elem string) (string, bool) {
	for elem != "" {
		var pair string
		if i := strings.IndexByte(elem, ';'); i >= 0 {
			pair, elem = elem[:i], elem[i+1:]
		} else {
			pair, elem = elem, ""
		}
		pair = strings.TrimSpace(pair)
		if len(pair) > 4 && strings.EqualFold(pair[:4], "for=") {
			v := pair[4:]
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v, true
		}
	}
	return "", false
}

// parseHop parses "1.2.3.4", "1.2.3.4:80", "2001:db8::1", "[2001:db8::1]" or
// "[2001:db8::1]:80".
func parseHop(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return a.Unmap().WithZone(""), true
		}
	}
	return netip.Addr{}, false
}

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
