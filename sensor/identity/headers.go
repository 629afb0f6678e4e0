package identity

import (
	"strings"
	"unicode/utf8"

	"github.com/apiscope/apiscope/sensor/httpwire"
)

// reqHeaders is what the rules read from one request's header block: the first value of
// each header they use, as Headers.Get returns it.
type reqHeaders struct {
	traceparent, requestID, authorization, cookie string
	// apiKey is the first configured API-key header, in configuration order, whose first
	// value is not blank, trimmed; "" when there is none.
	apiKey string
}

// Slots of the headers the rules read; API-key headers follow from slotAPIKey on, in
// configuration order.
const (
	slotTraceparent = iota
	slotRequestID
	slotAuthorization
	slotCookie
	slotAPIKey
	// maxSlots bounds the slots one pass tracks (a bit each in a uint64); a configuration
	// with more API-key headers reads them with Get.
	maxSlots = 64
)

// wantedHeader is one header name the rules read and its slot.
type wantedHeader struct {
	name string
	slot uint8
}

// headerIndex finds the headers the rules read in one pass over a header block instead
// of one Get (a scan of every field) per name: a call's block has few fields and the
// rules ask for up to six names, most of them absent.
type headerIndex struct {
	// byLen[n] are the wanted names n bytes long; byLen[maxNameLen] those at least that
	// long. Two names of different byte lengths are never equal in Get's comparison (it
	// tests the length first), so most fields are passed over after one look-up.
	byLen [maxNameLen + 1][]wantedHeader
	// firsts[n] has bit b&31 set for the first byte b of each name in byLen[n], and
	// every bit when one of them does not begin with ASCII: a field whose length is not
	// wanted, or whose ASCII first byte begins no wanted name of its length in any case,
	// costs one or two tests.
	firsts [maxNameLen + 1]uint32
	ok     bool // false: too many names, read them with Get
}

const maxNameLen = 63

func newHeaderIndex(apiKeyHeaders []string) headerIndex {
	var x headerIndex
	names := append([]string{"traceparent", "X-Request-ID", "Authorization", "Cookie"}, apiKeyHeaders...)
	if len(names) > maxSlots {
		return x
	}
	for i, n := range names {
		l := min(len(n), maxNameLen)
		x.byLen[l] = append(x.byLen[l], wantedHeader{name: n, slot: uint8(i)})
		if c := n[0]; c < utf8.RuneSelf {
			x.firsts[l] |= 1 << (c & 31)
		} else {
			x.firsts[l] = ^uint32(0)
		}
	}
	x.ok = true
	return x
}

// read fills out from h: in one pass over the fields of an httpwire.Header, else with
// Get. Both give the same values.
func (r *Resolver) read(h Headers, out *reqHeaders) {
	var fields []httpwire.Field
	switch hh := h.(type) {
	case *httpwire.Header:
		if hh == nil || !r.hdrs.ok {
			r.readGet(h, out)
			return
		}
		fields = *hh
	case httpwire.Header:
		if !r.hdrs.ok {
			r.readGet(h, out)
			return
		}
		fields = hh
	default:
		r.readGet(h, out)
		return
	}
	x := &r.hdrs
	var seen uint64
	keyAt := maxSlots // slot of the API-key header chosen so far
	for i := range fields {
		name := fields[i].Name
		l := min(len(name), maxNameLen)
		m := x.firsts[l]
		if m == 0 { // no wanted name of this length (none is empty)
			continue
		}
		// Upper and lower case ASCII letters share their low five bits. A non-ASCII
		// first byte may still fold to an ASCII letter (long s, Kelvin sign).
		if c := name[0]; c < utf8.RuneSelf && m&(1<<(c&31)) == 0 {
			continue
		}
		for _, w := range x.byLen[l] {
			bit := uint64(1) << w.slot
			if seen&bit != 0 || len(name) != len(w.name) {
				continue
			}
			// Names of equal length whose first bytes are ASCII and differ beyond
			// case do not match: most fields are told apart here, without a call.
			// (l > 0: no wanted name is empty.)
			if c, d := name[0]|0x20, w.name[0]|0x20; c != d && c|d < utf8.RuneSelf {
				continue
			}
			// The same test as httpwire.Header.Get: equal lengths, then the exact
			// spelling, then Unicode simple folding.
			if name != w.name && !strings.EqualFold(name, w.name) {
				continue
			}
			seen |= bit // Get returns the first value, even an empty one
			v := fields[i].Value
			switch w.slot {
			case slotTraceparent:
				out.traceparent = v
			case slotRequestID:
				out.requestID = v
			case slotAuthorization:
				out.authorization = v
			case slotCookie:
				out.cookie = v
			default:
				if int(w.slot) < keyAt {
					if v = strings.TrimSpace(v); v != "" {
						out.apiKey, keyAt = v, int(w.slot)
					}
				}
			}
		}
	}
}

// readGet is read for any Headers.
func (r *Resolver) readGet(h Headers, out *reqHeaders) {
	out.traceparent = h.Get("traceparent")
	out.requestID = h.Get("X-Request-ID")
	out.authorization = h.Get("Authorization")
	out.cookie = h.Get("Cookie")
	for _, n := range r.cfg.APIKeyHeaders {
		if v := strings.TrimSpace(h.Get(n)); v != "" {
			out.apiKey = v
			break
		}
	}
}
