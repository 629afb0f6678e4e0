package httpwire

import (
	"bytes"
	"encoding/binary"
)

// Start-line recognition. A request line is METHOD SP request-target SP HTTP/1.d; the
// target is everything between the separators, so spaces and tabs inside it (sent by
// broken clients and by attackers) are kept as sent. A status line is HTTP/1.d SP 3DIGIT,
// then SP and a reason phrase or nothing.

// knownMethods are the methods accepted when resynchronising inside garbage, where any
// token would match too easily (IANA HTTP method registry, WebDAV, UPnP, QUERY).
var knownMethods = [...]string{
	"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY",
	"PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "SEARCH", "REPORT",
	"MKACTIVITY", "CHECKOUT", "MERGE", "M-SEARCH", "NOTIFY", "SUBSCRIBE", "UNSUBSCRIBE",
	"PURGE", "LINK", "UNLINK", "ACL", "BIND", "REBIND", "UNBIND", "MKCALENDAR", "ORDERPATCH",
	"VERSION-CONTROL", "LABEL", "UPDATE", "MKWORKSPACE", "BASELINE-CONTROL", "UNCHECKOUT",
	"CHECKIN", "MKREDIRECTREF", "UPDATEREDIRECTREF",
}

// methodsByFirst lists the known methods by first byte, to keep the resync scan cheap.
var methodsByFirst [256][]string

// tchar is RFC 9110's token character set.
var tchar [256]bool

func init() {
	for _, m := range knownMethods {
		methodsByFirst[m[0]] = append(methodsByFirst[m[0]], m)
	}
	for c := '0'; c <= '9'; c++ {
		tchar[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		tchar[c] = true
		tchar[c-'a'+'A'] = true
	}
	for _, c := range []byte("!#$%&'*+-.^_`|~") {
		tchar[c] = true
	}
}

func isKnownMethod(m []byte) bool {
	for _, k := range knownMethods {
		if string(m) == k {
			return true
		}
	}
	return false
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// isVersion reports whether v is HTTP/1.d.
func isVersion(v []byte) bool {
	return len(v) == 8 && string(v[:7]) == "HTTP/1." && v[7] >= '0' && v[7] <= '9'
}

// reqLine holds offsets into a request line.
type reqLine struct {
	methodEnd          int
	targetA, targetB   int
	versionA, versionB int
}

// Method acceptance of parseRequestLine.
const (
	methodKnown = iota // a registered method only: inside garbage, where tokens abound
	methodUpper        // a known method or an upper-case token: at a line start while resynchronising
	methodToken        // any token: where a message is expected
)

// parseRequestLine parses the full form METHOD SP target SP HTTP/1.d of line (CR already
// removed).
func parseRequestLine(line []byte, accept int) (reqLine, bool) {
	var r reqLine
	sp := 0
	for sp < len(line) && tchar[line[sp]] {
		sp++
	}
	if sp == 0 || sp == len(line) || !isSpace(line[sp]) || !methodOK(line[:sp], accept) {
		return r, false
	}
	end := len(line)
	for end > sp && isSpace(line[end-1]) {
		end--
	}
	va := end - 8
	if va <= sp+1 || !isVersion(line[va:end]) || !isSpace(line[va-1]) {
		return r, false
	}
	ta, tb := sp+1, va-1
	for ta < tb && isSpace(line[ta]) {
		ta++
	}
	for tb > ta && isSpace(line[tb-1]) {
		tb--
	}
	if ta == tb || hasCTL(line[ta:tb]) {
		return r, false
	}
	return reqLine{methodEnd: sp, targetA: ta, targetB: tb, versionA: va, versionB: end}, true
}

// parseLenientRequestLine accepts what servers answer although it is not HTTP/1.x: a
// known method followed by a target and a broken or missing version ("GET / HTTP/1.",
// "GET /HTTP/1.1", "OPTIONS"). Another protocol's version (SIP/2.0, RTSP/1.0, HTTP/2.0)
// refuses the line. An unknown method token is accepted only when the line still carries
// HTTP's signature (see unknownMethodLine): any token would match SMTP, IRC and FTP
// commands. Used only where a request is expected, never inside garbage.
func parseLenientRequestLine(line []byte) (reqLine, bool) {
	var r reqLine
	sp := 0
	for sp < len(line) && tchar[line[sp]] {
		sp++
	}
	if sp == 0 || (sp < len(line) && !isSpace(line[sp])) {
		return r, false
	}
	end := len(line)
	for end > sp && isSpace(line[end-1]) {
		end--
	}
	if !isKnownMethod(line[:sp]) && !unknownMethodLine(line[sp:end]) {
		return r, false
	}
	ta := sp
	for ta < end && isSpace(line[ta]) {
		ta++
	}
	tb, va := end, end
	// A last word that is (the start of) an HTTP version is the version.
	last := end
	for last > ta && !isSpace(line[last-1]) {
		last--
	}
	switch w := line[last:end]; {
	case last > ta && versionLike(w):
		va = last
		tb = last
		for tb > ta && isSpace(line[tb-1]) {
			tb--
		}
	case otherProtocol(w):
		return r, false
	}
	if hasCTL(line[ta:tb]) {
		return r, false
	}
	return reqLine{methodEnd: sp, targetA: ta, targetB: tb, versionA: va, versionB: end}, true
}

// unknownMethodLine reports whether rest, what follows an unknown method token (trailing
// spaces removed), is an origin-form target ending in an HTTP/1 version that is broken
// ("HTTP/1.") or glued to the target ("/HTTP/1.1"): a client that speaks HTTP with an
// odd method and a malformed line, which servers answer and tshark reports (CCM_POST in
// Zeek's http/methods capture). Text protocols' commands (EHLO host, MAIL FROM:<a>,
// NICK n, USER anonymous, RETR file) neither start their argument with '/' nor end in an
// HTTP version.
func unknownMethodLine(rest []byte) bool {
	ta := 0
	for ta < len(rest) && isSpace(rest[ta]) {
		ta++
	}
	if ta == 0 || ta == len(rest) || rest[ta] != '/' {
		return false
	}
	const v = "HTTP/1."
	n := len(rest)
	if rest[n-1] >= '0' && rest[n-1] <= '9' {
		n--
	}
	return n-len(v) > ta && string(rest[n-len(v):n]) == v
}

// versionLike reports whether w is "HTTP/1." followed by at most 2 bytes, or a prefix of
// "HTTP/1." of at least three bytes (a version cut by the snap length).
func versionLike(w []byte) bool {
	const v = "HTTP/1."
	if len(w) >= len(v) {
		return string(w[:len(v)]) == v && len(w) <= len(v)+2
	}
	return len(w) >= 3 && string(w) == v[:len(w)]
}

// otherProtocol reports whether w looks like a protocol version (NAME/1.0) that is not
// HTTP/1.x.
func otherProtocol(w []byte) bool {
	i := bytes.IndexByte(w, '/')
	if i <= 0 || i == len(w)-1 || versionLike(w) {
		return false
	}
	for _, c := range w[:i] {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	for _, c := range w[i+1:] {
		if (c < '0' || c > '9') && c != '.' {
			return false
		}
	}
	return true
}

func methodOK(m []byte, accept int) bool {
	switch accept {
	case methodToken:
		return true
	case methodUpper:
		for _, c := range m {
			if !(c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
				return isKnownMethod(m)
			}
		}
		return true
	}
	return isKnownMethod(m)
}

// hasCTL reports control bytes other than tab: a target never holds them, garbage does.
func hasCTL(b []byte) bool {
	// Eight bytes at a time: a word with no byte below 0x20 and none equal to 0x7f (the
	// classic has-less-than and has-zero tests, which never miss one) has no control
	// byte; any other word is looked at byte by byte. The last word overlaps the one
	// before rather than leaving a tail to the byte loop.
	n := len(b)
	if n < 8 {
		return hasCTLBytes(b)
	}
	for i := 0; ; i += 8 {
		i = min(i, n-8)
		x := binary.LittleEndian.Uint64(b[i:])
		y := x ^ 0x7f*lsb8
		if ((x-0x20*lsb8)&^x|(y-lsb8)&^y)&(0x80*lsb8) != 0 && hasCTLBytes(b[i:i+8]) {
			return true
		}
		if i == n-8 {
			return false
		}
	}
}

func hasCTLBytes(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return true
		}
	}
	return false
}

// parseStatusLine parses line (CR already removed) and returns the status code.
func parseStatusLine(line []byte) (int, bool) {
	if len(line) < 12 || !isVersion(line[:8]) || !isSpace(line[8]) {
		return 0, false
	}
	d := line[9:12]
	if d[0] < '1' || d[0] > '9' || d[1] < '0' || d[1] > '9' || d[2] < '0' || d[2] > '9' {
		return 0, false
	}
	if len(line) > 12 && !isSpace(line[12]) {
		return 0, false
	}
	return int(d[0]-'0')*100 + int(d[1]-'0')*10 + int(d[2]-'0'), true
}

// Start-line kinds.
const (
	kindNone = iota
	kindRequest
	kindResponse
)

// findStart looks for a start line in line and returns the offset where the message begins.
// At offset 0 any token method is accepted, and broken versions of known methods' request
// lines; while resynchronising only upper-case methods and proper lines are. Past offset 0
// (a message glued to the tail of lost or unparseable bytes) only known methods and status
// lines are.
func findStart(line []byte, wantReq, wantResp, resyncing bool) (int, int) {
	if wantReq {
		accept := methodToken
		if resyncing {
			accept = methodUpper
		}
		if _, ok := parseRequestLine(line, accept); ok {
			return 0, kindRequest
		}
	}
	if wantResp {
		if _, ok := parseStatusLine(line); ok {
			return 0, kindResponse
		}
	}
	if wantReq && !resyncing {
		if _, ok := parseLenientRequestLine(line); ok {
			return 0, kindRequest
		}
	}
	best, kind := -1, kindNone
	if wantReq {
		if p := findGluedRequest(line); p > 0 {
			best, kind = p, kindRequest
		}
	}
	if wantResp {
		lim := len(line)
		if best >= 0 {
			lim = best
		}
		for off := 1; off < lim; {
			i := bytes.Index(line[off:lim], []byte("HTTP/1."))
			if i < 0 {
				break
			}
			p := off + i
			if _, ok := parseStatusLine(line[p:]); ok {
				best, kind = p, kindResponse
				break
			}
			off = p + 1
		}
	}
	return best, kind
}

// findGluedRequest returns the offset past 0 where a request line with a known method
// begins, or -1. It is linear in the line: only offsets after the last control byte can
// start a valid line, and the method is checked before the line is parsed.
func findGluedRequest(line []byte) int {
	end := len(line)
	for end > 0 && isSpace(line[end-1]) {
		end--
	}
	va := end - 8
	if va < 2 || !isVersion(line[va:end]) || !isSpace(line[va-1]) {
		return -1 // a request line ends with its version
	}
	from := 1
	for i := va - 1; i >= 0; i-- {
		if c := line[i]; c < 0x20 && c != '\t' || c == 0x7f {
			from = max(from, i+1)
			break
		}
	}
	for p := from; p < va; p++ {
		m := knownMethodAt(line[p:va])
		if m == 0 || !isSpace(line[p+m]) {
			continue
		}
		if _, ok := parseRequestLine(line[p:], methodKnown); ok {
			return p
		}
	}
	return -1
}

// knownMethodAt returns the length of the known method b starts with (followed by more
// bytes), or 0.
func knownMethodAt(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	for _, k := range methodsByFirst[b[0]] {
		if len(b) > len(k) && string(b[:len(k)]) == k && !tchar[b[len(k)]] {
			return len(k)
		}
	}
	return 0
}

// truncatedRequest recognises the head of a request line longer than the limit: a known
// method, a separator and the start of a target. It returns the method end and the target
// start.
func truncatedRequest(prefix []byte) (int, int, bool) {
	sp := bytes.IndexByte(prefix, ' ')
	if sp <= 0 || !isKnownMethod(prefix[:sp]) {
		return 0, 0, false
	}
	ta := sp + 1
	for ta < len(prefix) && isSpace(prefix[ta]) {
		ta++
	}
	if ta == len(prefix) {
		return 0, 0, false
	}
	return sp, ta, true
}
