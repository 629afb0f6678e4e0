package models

import (
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// appendAPICall appends c as one JSON object to dst, byte for byte what encoding/json
// writes for it with c.TS in UTC: the same field order, omitempty fields, HTML-safe string
// escaping, float and time formats. It walks the fields directly instead of through
// reflection, which made encoding the largest single cost of writing calls out; on error
// dst is returned unchanged in length. TestAppendAPICallMatchesEncodingJSON and
// FuzzAppendAPICall hold it to encoding/json, TestAppendAPICallKnowsEveryField fails when
// APICall gains a field this does not write.
func appendAPICall(dst []byte, c *APICall, newline bool) ([]byte, error) {
	ts := c.TS.UTC()
	if u := ts.Unix(); u < minRFC3339Unix || u > maxRFC3339Unix { // year outside [0,9999]
		return dst, errors.New("models: call timestamp year outside [0,9999]")
	}
	if math.IsNaN(c.LatencyMS) || math.IsInf(c.LatencyMS, 0) {
		return dst, errors.New("models: call latency is not a finite number")
	}
	// Field names carry the quotes of the strings around them: `","host":"` closes one
	// value, names the next and opens it.
	dst = append(dst, `{"ts":"`...)
	dst = appendRFC3339NanoUTC(dst, ts)
	dst = append(dst, `","src_ip":"`...)
	dst = appendJSONStringBody(dst, c.SrcIP)
	dst = append(dst, `","src_port":`...)
	dst = appendUint(dst, uint64(c.SrcPort))
	dst = append(dst, `,"dst_ip":"`...)
	dst = appendJSONStringBody(dst, c.DstIP)
	dst = append(dst, `","dst_port":`...)
	dst = appendUint(dst, uint64(c.DstPort))
	dst = append(dst, `,"method":"`...)
	dst = appendJSONStringBody(dst, c.Method)
	dst = append(dst, `","host":"`...)
	dst = appendJSONStringBody(dst, c.Host)
	dst = append(dst, `","uri":"`...)
	dst, plain := appendStringBody(dst, c.URI)
	dst = append(dst, `","path":"`...)
	// Path is usually the start of URI, and CredFP the end of ClientID: when the whole
	// needed no escaping and holds the part, the part needs none either, and is copied
	// without testing it again.
	dst = appendPart(dst, c.Path, plain && strings.HasPrefix(c.URI, c.Path))
	dst = append(dst, `","query":"`...)
	dst = appendJSONStringBody(dst, c.Query)
	dst = append(dst, `","template":"`...)
	dst = appendJSONStringBody(dst, c.Template)
	dst = append(dst, `","status":`...)
	dst = appendInt(dst, int64(c.Status))
	dst = append(dst, `,"req_bytes":`...)
	dst = appendInt(dst, c.ReqBytes)
	dst = append(dst, `,"resp_bytes":`...)
	dst = appendInt(dst, c.RespBytes)
	dst = append(dst, `,"latency_ms":`...)
	dst = appendJSONFloat(dst, c.LatencyMS)
	dst = append(dst, `,"user_agent":"`...)
	dst = appendJSONStringBody(dst, c.UserAgent)
	dst = append(dst, `","content_type`...) // in two pieces of at most 16 bytes, which the
	dst = append(dst, `":"`...)             // compiler copies inline instead of calling memmove
	dst = appendJSONStringBody(dst, c.ContentType)
	dst = append(dst, `","client_id":"`...)
	dst, plain = appendStringBody(dst, c.ClientID)
	dst = append(dst, `","principal":"`...)
	dst = appendJSONStringBody(dst, c.Principal)
	dst = append(dst, `","actor":"`...)
	dst = appendJSONStringBody(dst, c.Actor)
	dst = append(dst, `","auth":"`...)
	dst = appendJSONStringBody(dst, c.Auth)
	dst = append(dst, `","cred_fp":"`...)
	dst = appendPart(dst, c.CredFP, plain && strings.HasSuffix(c.ClientID, c.CredFP))
	dst = append(dst, `","trace_id":"`...)
	dst = appendJSONStringBody(dst, c.TraceID)
	dst = append(dst, `","partial":`...)
	dst = strconv.AppendBool(dst, c.Partial)
	dst = append(dst, `,"truncated":`...)
	dst = strconv.AppendBool(dst, c.Truncated)
	if c.Shadow {
		dst = append(dst, `,"shadow":true`...)
	}
	if c.Scope != "" {
		dst = append(dst, `,"scope":`...)
		dst = appendJSONString(dst, c.Scope)
	}
	if c.Issuer != "" {
		dst = append(dst, `,"iss":`...)
		dst = appendJSONString(dst, c.Issuer)
	}
	if c.XFF != "" {
		dst = append(dst, `,"xff":`...)
		dst = appendJSONString(dst, c.XFF)
	}
	if newline {
		return append(dst, '}', '\n'), nil
	}
	return append(dst, '}'), nil
}

// appendRFC3339NanoUTC appends t, a time in UTC with a year in [0,9999], as
// t.AppendFormat(dst, time.RFC3339Nano) does, without interpreting a layout.
func appendRFC3339NanoUTC(dst []byte, t time.Time) []byte {
	year, month, day, hour, min, sec := civil(t.Unix())
	// The longest form is appended with its separators in place (in two pieces of at most
	// 16 bytes, which the compiler copies without a call), its digits filled in two at a
	// time from a table, and what the nanoseconds leave unused cut off again.
	n0 := len(dst)
	dst = append(dst, "0000-00-00T00:00"...)
	dst = append(dst, ":00.000000000Z"...)
	b := dst[n0 : n0+30]
	put2(b[0:], year/100)
	put2(b[2:], year%100)
	put2(b[5:], month)
	put2(b[8:], day)
	put2(b[11:], hour)
	put2(b[14:], min)
	put2(b[17:], sec)
	ns := t.Nanosecond()
	if ns == 0 {
		b[19] = 'Z'
		return dst[:n0+20]
	}
	// Nine digits with the trailing zeros dropped.
	put2(b[20:], ns/10000000)
	put2(b[22:], ns/100000%100)
	put2(b[24:], ns/1000%100)
	put2(b[26:], ns/10%100)
	b[28] = byte('0' + ns%10)
	// The trailing '0' digits among the last eight are the high zero bytes of that word
	// minus '0's; when all eight are '0' the first digit is not, as ns is not zero.
	zeros := bits.LeadingZeros64(binary.LittleEndian.Uint64(b[21:29])^0x3030303030303030) / 8
	n := 29 - zeros
	b[n] = 'Z'
	return dst[:n0+n+1]
}

// digits2 holds "00" to "99".
const digits2 = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// pairs[v] holds the two digits of v in [0, 99] as a little-endian uint16: written with
// one store, and indexed by a byte, so without a bounds check.
var pairs = func() (t [256]uint16) {
	for v := 0; v < 100; v++ {
		t[v] = uint16(digits2[2*v]) | uint16(digits2[2*v+1])<<8
	}
	return t
}()

// put2 writes v, in [0, 99], as two digits at b[0:2].
func put2(b []byte, v int) {
	binary.LittleEndian.PutUint16(b, pairs[uint8(v)])
}

// append2 appends v, in [0, 99], as two digits.
func append2(dst []byte, v uint64) []byte {
	return binary.LittleEndian.AppendUint16(dst, pairs[uint8(v)])
}

// civil splits u, seconds since 1970-01-01 UTC in [minRFC3339Unix, maxRFC3339Unix], into
// the proleptic Gregorian date and the time of day (the days-to-civil algorithm of
// H. Hinnant, in integer arithmetic only: cheaper than time.Time's Date and Clock
// together).
func civil(u int64) (year, month, day, hour, min, sec int) {
	// In unsigned arithmetic, which divides by constants with fewer instructions: u is
	// counted from 0000-01-01 (the caller checks it is not earlier), and the days from
	// 0000-03-01 one era (400 years) early, so that neither is ever negative.
	s := uint64(u - minRFC3339Unix)
	days, rem := s/86400, s%86400
	hour, min, sec = int(rem/3600), int(rem%3600/60), int(rem%60)
	z := days - 60 + 146097 // days since -0400-03-01 (0000-03-01 is day 60 of year 0)
	era := z / 146097
	doe := z - era*146097                                  // [0, 146096]
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // [0, 399]
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // [0, 365]
	mp := (5*doy + 2) / 153                                // [0, 11], from March
	day = int(doy - (153*mp+2)/5 + 1)
	month = int(mp + 3)
	if month > 12 {
		month -= 12
	}
	year = int(yoe+era*400) - 400
	if month <= 2 {
		year++
	}
	return year, month, day, hour, min, sec
}

// The seconds of 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the range of years
// encoding/json accepts for a time.
const (
	minRFC3339Unix = -62167219200
	maxRFC3339Unix = 253402300799
)

// apiCallFields are the json names appendAPICall writes, in order.
var apiCallFields = []string{"ts", "src_ip", "src_port", "dst_ip", "dst_port", "method", "host", "uri", "path",
	"query", "template", "status", "req_bytes", "resp_bytes", "latency_ms", "user_agent", "content_type",
	"client_id", "principal", "actor", "auth", "cred_fp", "trace_id", "partial", "truncated", "shadow",
	"scope", "iss", "xff"}

const hexDigits = "0123456789abcdef"

// jsonSafe[b] is true for the ASCII bytes encoding/json copies as they are in HTML-safe
// mode: printable, not '"', '\\', '<', '>' or '&'.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
	}
	return t
}()

// appendJSONString quotes s as encoding/json does with HTML escaping on: <, > and & as
// \u00XX, other control bytes as \u00XX or their short escapes, invalid UTF-8 bytes as
// \ufffd, U+2028 and U+2029 escaped.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendJSONStringBody(dst, s)
	return append(dst, '"')
}

// appendJSONStringBody appends s escaped as appendJSONString does, without the quotes:
// appendAPICall writes them with the field names around it.
func appendJSONStringBody(dst []byte, s string) []byte {
	dst, _ = appendStringBody(dst, s)
	return dst
}

// appendPart appends s as appendJSONStringBody does, copying it as it is when plain
// reports that it is known to need no escaping.
func appendPart(dst []byte, s string, plain bool) []byte {
	if plain {
		return append(dst, s...)
	}
	return appendJSONStringBody(dst, s)
}

// appendStringBody is appendJSONStringBody, and reports whether s is plain: whether every
// byte of s is ASCII and copied as it is, so that any part of s is plain too.
func appendStringBody(dst []byte, s string) ([]byte, bool) {
	// Most strings need no escaping: test them eight bytes at a time and append each word
	// as it is tested, which for the short strings of a call is cheaper than a copy call.
	// A string of eight bytes or more ends with a word that overlaps the one before it,
	// written over the bytes it repeats; a shorter one is tested in one word padded with a
	// safe byte, and the padding appended is cut off again.
	n := len(s)
	if n >= 8 {
		n0 := len(dst)
		for i := 0; i < n-8; i += 8 {
			w := load8(s, i)
			if mayNeedEscape(w) {
				return appendJSONStringFrom(dst[:n0], s, i), false
			}
			dst = binary.LittleEndian.AppendUint64(dst, w)
		}
		w := load8(s, n-8)
		if mayNeedEscape(w) {
			return appendJSONStringFrom(dst[:n0], s, (n-1)&^7), false
		}
		return binary.LittleEndian.AppendUint64(dst[:n0+n-8], w), true
	}
	if n == 0 {
		return dst, true
	}
	w := loadShort(s)
	if mayNeedEscape(w) {
		return appendJSONStringFrom(dst, s, 0), false
	}
	n0 := len(dst)
	return binary.LittleEndian.AppendUint64(dst, w)[:n0+n], true
}

// loadShort returns s, of one to seven bytes, as a little-endian word padded with 'a',
// which never needs escaping. It loads two overlapping halves instead of byte by byte.
func loadShort(s string) uint64 {
	const pad = 0x6161616161616161
	n := uint(len(s))
	var w uint64
	switch {
	case n >= 4:
		lo := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24
		hi := uint64(s[n-4]) | uint64(s[n-3])<<8 | uint64(s[n-2])<<16 | uint64(s[n-1])<<24
		w = lo | hi<<((n-4)*8&63)
	case n >= 2:
		w = uint64(s[0]) | uint64(s[1])<<8 | (uint64(s[n-2])|uint64(s[n-1])<<8)<<((n-2)*8&63)
	default:
		w = uint64(s[0])
	}
	return w | pad<<(n*8&63)
}

// appendJSONStringFrom appends s escaped, without quotes, the bytes before i being known
// to need no escaping.
func appendJSONStringFrom(dst []byte, s string, i int) []byte {
	start := 0
	for i < len(s) {
		if i+8 <= len(s) && !mayNeedEscape(load8(s, i)) {
			i += 8 // eight bytes copied as they are
			continue
		}
		b := s[i]
		if b < utf8.RuneSelf {
			if jsonSafe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

// Word-at-a-time test for the bytes appendJSONString copies unchanged: most strings
// (addresses, paths, identifiers) are plain ASCII, and testing eight bytes at once makes
// encoding them several times cheaper than a lookup per byte.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// load8 returns s[i:i+8] as a little-endian word (one load: the indexes are constant).
func load8(s string, i int) uint64 {
	w := s[i : i+8]
	return uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
}

// mayNeedEscape reports whether a byte of x is a control byte, non-ASCII, '"', '\\', '<',
// '>' or '&', or one of '^', '|' and '~': whether the word must be looked at byte by byte.
// The last three need no escaping; they are flagged because testing for them with '<',
// '>' and '\\' at once saves instructions on every word, and they are rare in the strings
// of a call. For that set the test is exact. A byte's high bit in the result comes from:
//   - x itself: non-ASCII bytes;
//   - x - 0x20..: bytes below 0x20, which borrow (ASCII bytes at 0x20 or above do not
//     reach the high bit);
//   - v - 0x01.. for v = x with bits 1, 5 and 6 cleared ^ 0x1c.. ('<', '>', '\\', '^',
//     '|', '~' and two control bytes), x with bit 2 cleared ^ 0x22.. ('"', '&'): the
//     bytes where v is zero. (The classic zero-byte test also masks with ^v; that only
//     clears non-ASCII bytes, already flagged.)
//
// A borrow from a flagged byte can flag the byte above it, never a word with no flagged
// byte, so the answer for the word is exact.
func mayNeedEscape(x uint64) bool {
	lt := x&^(0x62*lsb) ^ 0x1c*lsb
	qu := x&^(0x04*lsb) ^ 0x22*lsb
	t := (x - 0x20*lsb) | x | (lt - lsb) | (qu - lsb)
	return t&msb != 0
}

// appendInt appends v in decimal as strconv.AppendInt(dst, v, 10) does. Ports, statuses
// and body sizes are mostly below 100000: those take a division or two by constants and a
// two-digit table instead of strconv's general loop. It is small enough to be inlined.
func appendInt(dst []byte, v int64) []byte {
	if v < 0 {
		dst = append(dst, '-')
		v = -v // math.MinInt64 stays itself, which as a uint64 is its magnitude
	}
	return appendUint(dst, uint64(v))
}

// appendUint appends v in decimal as strconv.AppendUint(dst, v, 10) does.
func appendUint(dst []byte, v uint64) []byte {
	switch {
	case v < 10:
		return append(dst, byte('0'+v))
	case v < 100:
		return append2(dst, v)
	case v < 1000:
		return append2(append(dst, byte('0'+v/100)), v%100)
	case v < 10000:
		return append2(append2(dst, v/100), v%100)
	case v < 100000:
		r := v % 10000
		return append2(append2(append(dst, byte('0'+v/10000)), r/100), r%100)
	}
	return strconv.AppendUint(dst, v, 10)
}

// appendMilli appends k/1000 in decimal, without trailing fraction zeros or a bare dot.
func appendMilli(dst []byte, k uint64) []byte {
	// The dot and all three fraction digits, then the trailing zeros cut off again (and
	// the dot with them for a whole number). Below 10 ms, the usual case, the integer
	// digit goes with the dot.
	q, frac := k/1000, k%1000
	var dot int
	if q < 10 {
		dot = len(dst) + 1
		dst = append(dst, byte('0'+q), '.', byte('0'+frac/100))
	} else {
		dst = appendUint(dst, q)
		dot = len(dst)
		dst = append(dst, '.', byte('0'+frac/100))
	}
	dst = append2(dst, frac%100)
	switch {
	case frac%10 != 0:
		return dst
	case frac%100 != 0:
		return dst[:dot+3]
	case frac != 0:
		return dst[:dot+2]
	}
	return dst[:dot]
}

// appendJSONFloat formats f as encoding/json does (ES6 number formatting: 'f' between 1e-6
// and 1e21, otherwise 'e' with a two-digit exponent shortened to one).
func appendJSONFloat(dst []byte, f float64) []byte {
	if f >= 0.001 && f < 1e12 {
		// Latencies are whole microseconds in milliseconds, k/1000: the float nearest
		// k/1000 prints as k/1000 with the trailing zeros dropped, which is what
		// strconv's shortest formatting gives, found without its general algorithm.
		// (Below 1e12 a decimal with at most three fraction digits is within half a
		// float step of f only if it is k/1000 itself.) The test is of k/1000 against f,
		// so k may be found by the cheapest rounding of f*1000: any k it passes is right.
		if k := int64(f*1000 + 0.5); float64(k)/1000 == f {
			return appendMilli(dst, uint64(k))
		}
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}
