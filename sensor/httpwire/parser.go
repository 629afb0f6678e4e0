package httpwire

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/bits"
	"sync"
	"time"
	"unicode/utf8"
)

// state is where one direction's parser stands (packetbeat's parserState).
type state uint8

const (
	stateStart     state = iota // expecting a request or status line; blank lines and garbage skipped
	stateHeaders                // header lines up to the empty line
	stateBody                   // Content-Length body; remaining bytes left
	stateChunkLine              // chunk-size line (an empty line ends the previous chunk's data)
	stateChunkData              // chunk data; remaining bytes left
	stateTrailers               // trailer lines after the last chunk
	stateBodyClose              // response body that ends when the server closes
)

// span is a [a, b) range of a message's header text: the scratch buffer, or the start
// line and header section when read whole (wholeHeaders).
type span struct{ a, b int32 }

// scratch holds the header section of the message in progress: names and values copied
// compactly (no CRLF, no colon, folded lines joined), so the strings of a message cost one
// allocation. It is pooled because an idle connection needs none.
type scratch struct {
	hdr   []byte
	spans []span // request: method, target, version; response: version; then name, value pairs
}

var scratchPool = sync.Pool{New: func() any { return &scratch{hdr: make([]byte, 0, 1024), spans: make([]span, 0, 32)} }}

// linePool holds buffers for lines split across Feed calls.
var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// maxPooled keeps buffers grown by a huge message from being pinned in a pool.
const maxPooled = 128 << 10

// side is the parser of one direction.
type side struct {
	id int

	// Line assembly across Feed calls.
	line   []byte // partial line (pooled buffer)
	lineP  *[]byte
	lineTS time.Time // capture time of the line's first byte
	curOff int       // offset in the line where the current Feed's bytes begin

	// TCP positions (Conn.At), when the caller gives them.
	seqNext   uint32 // sequence number of the next byte fed
	ackNow    uint32 // what this side had acknowledged of the other's bytes
	seqOK     bool
	ackOK     bool
	lineSeq   uint32 // sequence number of the line's first byte
	lineAck   uint32 // ackNow when the line began
	lineSeqOK bool
	lineAckOK bool

	skipLine   bool // discard through the next LF (the rest of an over-long line)
	skipCounts bool // the discarded bytes count as resync-skipped
	resyncing  bool // bytes were skipped or lost since the last message: accept only proper start lines
	quiet      bool // skipped bytes are expected (capture start, after a gap): no parse error
	gapNext    bool // a gap came before the next message: mark it Partial
	gapEdge    bool // nothing was skipped since the last gap: a line kept now began where bytes resumed
	fed        bool // bytes or a gap were seen on this side
	cleanStart bool // the side's first bytes were a start line: nothing before was lost
	begun      bool // a message was begun on this side
	skipped    bool // bytes were skipped or lost on this side
	contra     bool // a start line of the other role was skipped here

	// The message in progress, cleared by reset in one go.
	message
}

// message is what a side knows of the message in progress.
type message struct {
	state     state
	isReq     bool
	msgTS     time.Time
	msgSeq    uint32 // sequence number of the message's first byte
	msgAck    uint32 // ackNow when the message began
	msgSeqOK  bool
	msgAckOK  bool
	sc        *scratch
	hdrBytes  int // bytes of the header section so far
	trlBytes  int // bytes of trailers so far
	nFields   int
	truncated bool
	partial   bool
	canFold   bool  // the last header line was stored, so a continuation extends it
	lastKind  uint8 // framing kind of the last header line, for continuations
	status    int
	te        bool // Transfer-Encoding present
	teChunked bool // its last coding is chunked
	clSeen    bool
	clBad     bool
	clConfl   bool
	cl        int64
	entry     *entry // request: its queue entry; response: the matched request or nil
	remaining int64
	bodyN     int64
	keep      []byte // body prefix when Config.BodyPrefix > 0
}

// Framing kinds of a header line.
const (
	fieldOther uint8 = iota
	fieldContentLength
	fieldTransferEncoding
)

// step parses from the start of b and returns how many bytes it consumed (at least one).
func (c *Conn) step(s *side, b []byte, ts time.Time) int {
	if s.skipLine {
		i := bytes.IndexByte(b, '\n')
		n := len(b)
		if i >= 0 {
			n = i + 1
			s.skipLine = false
		}
		if s.skipCounts {
			mResyncBytes.Add(uint64(n))
			s.skipCounts = s.skipLine
		}
		return n
	}
	switch s.state {
	case stateStart: // Feed tried quickStart
		return c.stepStart(s, b, ts)
	case stateHeaders:
		return c.stepHeaders(s, b, ts)
	case stateBody, stateChunkData:
		n := len(b)
		if int64(n) > s.remaining {
			n = int(s.remaining)
		}
		c.addBody(s, b[:n])
		s.remaining -= int64(n)
		if s.remaining == 0 {
			if s.state == stateChunkData {
				s.state = stateChunkLine
			} else {
				c.finish(s)
			}
		}
		return n
	case stateChunkLine:
		return c.stepChunkLine(s, b, ts)
	case stateTrailers:
		line, raw, n, res := s.readLine(b, c.lim.maxHeaderBytes, ts)
		switch {
		case res == lineMore:
		case res == lineLong:
			c.truncate(s, limitTrailerBytes)
		case len(line) == 0:
			c.finish(s)
		default:
			s.trlBytes += raw
			if s.trlBytes > c.lim.maxHeaderBytes {
				c.truncate(s, limitTrailerBytes)
			}
		}
		return n
	default: // stateBodyClose
		c.addBody(s, b)
		return len(b)
	}
}

func (c *Conn) stepStart(s *side, b []byte, ts time.Time) int {
	if len(s.line) == 0 {
		// A start line begins here: where, and what its segment acknowledged.
		s.lineSeq, s.lineSeqOK = s.seqNext, s.seqOK
		s.lineAck, s.lineAckOK = s.ackNow, s.ackOK
	}
	line, raw, n, res := s.readLine(b, c.lim.maxStartLine, ts)
	wantReq := c.client < 0 || c.client == s.id
	wantResp := c.client < 0 || c.client != s.id
	switch res {
	case lineMore:
		return n
	case lineLong:
		c.startTooLong(s, line, wantReq, wantResp)
		return n
	}
	if len(line) == 0 {
		return n // blank lines between messages are allowed (RFC 9112 section 2.2)
	}
	if wantReq && string(line) == h2Preface {
		// Prior-knowledge HTTP/2 (RFC 9113 section 3.3): not HTTP/1.x from here on.
		c.upgrade(nil, upgradeH2)
		return n
	}
	// A proper request line, the common case, is parsed once: findStart would try it
	// first and return offset 0, and the same offsets are used below.
	var r reqLine
	parsed := false
	if wantReq {
		accept := methodToken
		if s.resyncing {
			accept = methodUpper // as findStart does
		}
		r, parsed = parseRequestLine(line, accept)
	}
	p, kind := 0, kindRequest
	status, parsedStatus := 0, false
	if !parsed && wantResp {
		// Likewise a proper status line: findStart would try it next.
		status, parsedStatus = parseStatusLine(line)
		kind = kindResponse
	}
	if !parsed && !parsedStatus {
		p, kind = findStart(line, wantReq, wantResp, s.resyncing)
	}
	if kind == kindNone && c.contradicts(s, line) {
		c.flipRoles()
		p, kind = findStart(line, !wantReq, !wantResp, s.resyncing)
	}
	if kind == kindNone {
		c.skipGarbage(s, raw)
		return n
	}
	if p > 0 {
		c.skipGarbage(s, p)
	}
	msgTS := s.lineTS
	s.msgAck, s.msgAckOK = s.lineAck, s.lineAckOK
	if p >= s.curOff {
		msgTS = ts
		s.msgAck, s.msgAckOK = s.ackNow, s.ackOK
	}
	s.msgSeq, s.msgSeqOK = s.lineSeq+uint32(p), s.lineSeqOK
	c.begin(s, kind == kindRequest, msgTS, raw-p)
	line = line[p:]
	// The start line's parts, as offsets in line: method, target and version, or the
	// version of a status line.
	var parts [3]span
	np := 1
	if kind == kindRequest {
		if !parsed {
			var ok bool
			r, ok = parseRequestLine(line, methodToken)
			if !ok {
				r, _ = parseLenientRequestLine(line)
			}
		}
		parts = [3]span{{0, int32(r.methodEnd)}, {int32(r.targetA), int32(r.targetB)}, {int32(r.versionA), int32(r.versionB)}}
		np = 3
	} else {
		if !parsedStatus {
			status, _ = parseStatusLine(line)
		}
		s.status = status
		parts[0] = span{0, 8}
	}
	if p == 0 && s.curOff == 0 {
		// The start line is b[:len(line)], nothing kept from an earlier Feed: the
		// header section may follow whole in b.
		return c.afterStart(s, b, n, &parts, np)
	}
	sc := s.takeScratch()
	for _, x := range parts[:np] {
		sc.addSpan(line[x.a:x.b])
	}
	return n
}

// quickStart is stepStart for the usual start of a message: its start line whole at the
// head of b (nothing kept from an earlier Feed, within MaxStartLine), once the roles are
// known and outside a resync, a proper request line from the client or status line from
// the server. It does what stepStart does with such a line, without the line assembly,
// the role tests and the search for a start line in garbage; for any other line it
// returns 0, having changed nothing, and stepStart reads it.
func (c *Conn) quickStart(s *side, b []byte, ts time.Time) int {
	if len(s.line) != 0 || c.client < 0 || s.resyncing {
		return 0
	}
	i := bytes.IndexByte(b, '\n')
	if i <= 0 || i > c.lim.maxStartLine {
		return 0
	}
	line := b[:i]
	if line[i-1] == '\r' {
		line = line[:i-1]
	}
	var parts [3]span
	np, status := 1, 0
	isReq := s.id == c.client
	if isReq {
		r, ok := parseRequestLine(line, methodToken) // refuses the HTTP/2 preface
		if !ok {
			return 0
		}
		parts = [3]span{{0, int32(r.methodEnd)}, {int32(r.targetA), int32(r.targetB)}, {int32(r.versionA), int32(r.versionB)}}
		np = 3
	} else {
		var ok bool
		if status, ok = parseStatusLine(line); !ok {
			return 0
		}
		parts[0] = span{0, 8}
	}
	s.msgAck, s.msgAckOK = s.ackNow, s.ackOK
	s.msgSeq, s.msgSeqOK = s.seqNext, s.seqOK
	c.begin(s, isReq, ts, i+1)
	s.status = status
	return c.afterStart(s, b, i+1, &parts, np)
}

// afterStart reads what follows a start line that is b[:n], whose parts are at the
// offsets parts[:np]: the header section when it lies whole in b (wholeHeaders), and then
// a Content-Length body that lies whole in b too, which ends the message here rather
// than in another round of Feed's loop. Otherwise the start line's parts go to the
// scratch and the header section is read line by line. It returns the bytes of b used.
func (c *Conn) afterStart(s *side, b []byte, n int, parts *[3]span, np int) int {
	if m := c.wholeHeaders(s, b, n, parts, np); m > 0 {
		n += m
		if s.state == stateBody && s.remaining <= int64(len(b)-n) {
			k := int(s.remaining)
			c.addBody(s, b[n:n+k])
			c.finish(s)
			n += k
		}
		return n
	}
	sc := s.takeScratch()
	for _, x := range parts[:np] {
		sc.addSpan(b[x.a:x.b])
	}
	return n
}

// wholeFields is how many fields wholeHeaders keeps the spans of in Conn.spanBuf; a
// longer section's spans grow onto the heap.
const wholeFields = 16

// wholeHeaders reads a header section that lies whole in b after its start line
// (b[:start], the start line's parts at the offsets given by parts[:np]) and has nothing
// the line-by-line path would do differently: no folded, malformed or over-limit line.
// The message's strings are then one copy of b up to the empty line, the names and
// values spans of it, instead of being gathered line by line into a scratch buffer and
// copied again; the message takes no scratch. It returns the bytes it read after start,
// or 0, having changed nothing, when the section is not whole in b or needs the
// line-by-line path.
func (c *Conn) wholeHeaders(s *side, b []byte, start int, parts *[3]span, np int) int {
	// The spans go to the Conn's room, not an array on the stack that each call would
	// have to zero first.
	buf := &c.spanBuf
	buf[0], buf[1], buf[2] = parts[0], parts[1], parts[2]
	spans := buf[:np]
	maxSpans := np + 2*c.lim.maxHeaders
	// A line must end (its LF) before limit, for the header bytes to stay within the
	// limit: s.hdrBytes counts the start line, read from b[:start].
	limit := c.lim.maxHeaderBytes - s.hdrBytes + start
	off := start
	for {
		// The empty line that ends the section.
		if off >= len(b) {
			return 0
		}
		if b[off] == '\n' {
			break
		}
		if b[off] == '\r' && off+1 < len(b) && b[off+1] == '\n' {
			break
		}
		if len(spans) >= maxSpans || isSpace(b[off]) {
			return 0
		}
		i := bytes.IndexByte(b[off:], '\n')
		lf := off + i
		if i < 0 || lf >= limit {
			return 0
		}
		colon := indexColon(b[off:lf])
		if colon < 0 {
			return 0
		}
		colon += off
		vb := lf
		if b[vb-1] == '\r' { // vb-1 >= colon, which is not CR
			vb--
		}
		nb := colon
		for nb > off && isSpace(b[nb-1]) {
			nb--
		}
		if nb == off {
			return 0
		}
		va := colon + 1
		for va < vb && isSpace(b[va]) {
			va++
		}
		for vb > va && isSpace(b[vb-1]) {
			vb--
		}
		spans = append(spans, span{int32(off), int32(nb)}, span{int32(va), int32(vb)})
		off = lf + 1
	}
	// Everything checked: now what the line-by-line path would have done, field by
	// field. (Kept out of the loop above, whose live values already outnumber the
	// registers.)
	size := int(parts[0].b-parts[0].a) + int(parts[1].b-parts[1].a) + int(parts[2].b-parts[2].a)
	for i := np; i+1 < len(spans); i += 2 {
		n, v := spans[i], spans[i+1]
		size += int(n.b-n.a) + int(v.b-v.a)
		if l := int(n.b - n.a); l != len("content-length") && l != len("transfer-encoding") { // fieldKind's only lengths
			continue
		}
		k := fieldKind(b[n.a:n.b])
		if k == fieldOther {
			continue
		}
		s.lastKind = k
		if k == fieldContentLength && !s.clSeen && !s.clBad {
			if n, ok := parseDecimal(b[v.a:v.b]); ok {
				s.clSeen, s.cl = true, n // the usual single length: framing's first case
				continue
			}
		}
		c.framing(s, k, b[v.a:v.b])
	}
	s.hdrBytes += off - start
	s.nFields = (len(spans) - np) / 2
	if b[off] == '\r' {
		off++
	}
	off++ // past the empty line
	// What endHeadersOf does, without its call.
	if str := string(b[:off]); s.isReq {
		c.endRequestHeaders(s, false, str, size, spans)
	} else {
		c.endResponseHeaders(s, false, str, spans)
	}
	return off - start
}

// indexColon is bytes.IndexByte(b, ':') for the name part of a header line, a few
// bytes long: eight bytes at a time, by the classic has-zero test (whose lowest flagged
// byte is always a true zero), it costs less than the call.
func indexColon(b []byte) int {
	const colons = ':' * lsb8
	i := 0
	for w := b; len(w) >= 8; w = w[8:] {
		x := binary.LittleEndian.Uint64(w) ^ colons
		if m := (x - lsb8) &^ x & (0x80 * lsb8); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	for ; i < len(b); i++ {
		if b[i] == ':' {
			return i
		}
	}
	return -1
}

// startTooLong handles a start line longer than MaxStartLine: a request with a known
// method is kept with its target cut at the limit, a status line with its code; anything
// else is garbage, skipped through the end of the line.
func (c *Conn) startTooLong(s *side, prefix []byte, wantReq, wantResp bool) {
	if wantReq {
		if me, ta, ok := truncatedRequest(prefix); ok {
			c.beginRequestHead(s, len(prefix), prefix[:me], prefix[ta:], nil)
			c.truncate(s, limitStartLine)
			return
		}
	}
	if wantResp {
		if st, ok := parseStatusLine(prefix); ok {
			c.beginAtLine(s, false, len(prefix))
			s.status = st
			s.takeScratch().addSpan(prefix[:8])
			c.truncate(s, limitStartLine)
			return
		}
	}
	c.skipGarbage(s, len(prefix))
	s.skipCounts = s.skipLine
}

func (c *Conn) skipGarbage(s *side, n int) {
	mResyncBytes.Add(uint64(n))
	s.gapEdge = false
	s.skipped = true
	if !s.resyncing {
		s.resyncing = true
		if !s.quiet {
			c.parseError(s.id, reasonBadStartLine)
		}
	}
}

// beginAtLine begins a message at the start of the line s keeps, one that cannot be
// read whole (over MaxStartLine, or cut by a gap): its time and TCP position are the
// line's.
func (c *Conn) beginAtLine(s *side, isReq bool, raw int) {
	s.msgAck, s.msgAckOK = s.lineAck, s.lineAckOK
	s.msgSeq, s.msgSeqOK = s.lineSeq, s.lineSeqOK
	c.begin(s, isReq, s.lineTS, raw)
}

// beginRequestHead begins a request from the head of a line s keeps (see beginAtLine):
// the method, the target as far as it was kept, and the version if it was.
func (c *Conn) beginRequestHead(s *side, raw int, method, target, version []byte) {
	c.beginAtLine(s, true, raw)
	sc := s.takeScratch()
	sc.addSpan(method)
	sc.addSpan(target)
	sc.addSpan(version)
}

// begin starts a message on s whose start line (raw bytes) has been read.
func (c *Conn) begin(s *side, isReq bool, ts time.Time, raw int) {
	if c.client < 0 {
		c.client = s.id
		if !isReq {
			c.client = 1 - s.id
		}
		c.roleClean = !s.skipped
	}
	if isReq {
		mRequests.Inc()
	}
	if !s.begun {
		s.begun, s.cleanStart = true, !s.skipped
	}
	s.isReq = isReq
	s.msgTS = ts
	s.partial = s.gapNext
	s.gapNext, s.gapEdge = false, false
	s.resyncing = false
	s.quiet = false
	s.hdrBytes = raw
	s.state = stateHeaders
}

func (c *Conn) stepHeaders(s *side, b []byte, ts time.Time) int {
	used := 0
	for {
		var n int
		if i := bytes.IndexByte(b[used:], '\n'); len(s.line) == 0 && i >= 0 && i <= c.lim.maxHeaderBytes {
			// A whole line, nothing kept from an earlier Feed and within the limit: what
			// readLine would return, without its bookkeeping for the other cases.
			s.curOff, s.lineTS = 0, ts
			line := b[used : used+i]
			if i > 0 && line[i-1] == '\r' {
				line = line[:i-1]
			}
			c.headerLine(s, line, i+1)
			n = i + 1
		} else {
			n = c.stepHeaderLine(s, b[used:], ts)
		}
		used += n
		// Stay while more header lines follow in b: going back through Feed and step
		// for every line costs about as much as reading it. Whatever else comes next
		// (the body, a skipped line, an upgrade) is step's and Feed's to dispatch.
		if n == 0 || used == len(b) || s.state != stateHeaders || s.skipLine || c.upgraded {
			return used
		}
	}
}

// stepHeaderLine reads one line of a header section.
func (c *Conn) stepHeaderLine(s *side, b []byte, ts time.Time) int {
	line, raw, n, res := s.readLine(b, c.lim.maxHeaderBytes, ts)
	switch res {
	case lineMore:
		return n
	case lineLong:
		// A single line past the whole header budget: not kept, not interpreted.
		s.hdrBytes += len(line)
		s.canFold = false
		s.lastKind = fieldOther
		c.truncate(s, limitHeaderBytes)
		return n
	}
	c.headerLine(s, line, raw)
	return n
}

// headerLine interprets one whole line of a header section (without its CR LF); raw is
// its length on the wire.
func (c *Conn) headerLine(s *side, line []byte, raw int) {
	if len(line) == 0 {
		c.endHeaders(s, false)
		return
	}
	s.hdrBytes += raw
	fits := s.hdrBytes <= c.lim.maxHeaderBytes
	if isSpace(line[0]) { // obs-fold: continues the previous field
		v := trimSpace(line)
		if s.lastKind != fieldOther {
			c.framing(s, s.lastKind, v)
		}
		if !fits {
			s.canFold = false
			c.truncate(s, limitHeaderBytes)
			return
		}
		if s.canFold && len(v) > 0 {
			sc := s.sc
			last := &sc.spans[len(sc.spans)-1]
			if last.b > last.a {
				sc.hdr = append(sc.hdr, ' ')
			}
			sc.hdr = append(sc.hdr, v...)
			last.b = int32(len(sc.hdr))
		}
		return
	}
	colon := bytes.IndexByte(line, ':')
	name := line
	if colon > 0 {
		name = trimRightSpace(line[:colon])
	}
	if colon <= 0 || len(name) == 0 {
		c.parseError(s.id, reasonBadHeaderLine)
		s.canFold = false
		s.lastKind = fieldOther
		return
	}
	value := trimSpace(line[colon+1:])
	s.lastKind = fieldKind(name)
	if s.lastKind != fieldOther {
		c.framing(s, s.lastKind, value)
	}
	switch {
	case !fits:
		s.canFold = false
		c.truncate(s, limitHeaderBytes)
	case s.nFields >= c.lim.maxHeaders:
		s.canFold = false
		c.truncate(s, limitHeaderCount)
	default:
		s.sc.addField(name, value)
		s.nFields++
		s.canFold = true
	}
}

// fieldKind tells the framing fields from the others. The usual spelling of a name is
// tried first: a comparison with a constant of this length is two or three word loads.
func fieldKind(name []byte) uint8 {
	switch len(name) {
	case len("content-length"):
		if string(name) == "Content-Length" || equalFoldLower(name, "content-length") {
			return fieldContentLength
		}
	case len("transfer-encoding"):
		if string(name) == "Transfer-Encoding" || equalFoldLower(name, "transfer-encoding") {
			return fieldTransferEncoding
		}
	}
	return fieldOther
}

// equalFoldLower is bytes.EqualFold(b, []byte(lower)) for lower in lower-case ASCII. An
// ASCII b of the same length is compared byte by byte; anything else (non-ASCII bytes,
// which Unicode folding may match to an ASCII letter, or another length) goes to
// bytes.EqualFold.
func equalFoldLower(b []byte, lower string) bool {
	if n := len(b); n == len(lower) && n >= 8 {
		// Eight bytes at a time, the last word overlapping the one before: a header
		// name is compared in a few instructions rather than byte by byte. A word with
		// a non-ASCII byte goes to the byte loop below; an ASCII word that differs
		// settles it, since the runes before it lined up byte for byte.
		for i := 0; ; i += 8 {
			i = min(i, n-8)
			x := binary.LittleEndian.Uint64(b[i:])
			if x&(0x80*lsb8) != 0 {
				break
			}
			if lowerASCII8(x) != load8s(lower, i) {
				return false
			}
			if i == n-8 {
				return true
			}
		}
	}
	if len(b) == len(lower) {
		i := 0
		for ; i < len(b); i++ {
			c := b[i]
			if c >= utf8.RuneSelf {
				break
			}
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lower[i] {
				return false
			}
		}
		if i == len(b) {
			return true
		}
	}
	return bytes.EqualFold(b, []byte(lower))
}

const lsb8 = 0x0101010101010101

// lowerASCII8 lower-cases the ASCII letters of eight ASCII bytes: a byte's high bit is set
// in upper when it is at least 'A' and below '['.
func lowerASCII8(x uint64) uint64 {
	upper := (x + (0x80-'A')*lsb8) &^ (x + (0x80-'Z'-1)*lsb8) & (0x80 * lsb8)
	return x | upper>>2
}

// load8s is the little-endian word of s[i:i+8].
func load8s(s string, i int) uint64 {
	w := s[i : i+8]
	return uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
}

// framing applies a Content-Length or Transfer-Encoding value (or a continuation of one).
func (c *Conn) framing(s *side, kind uint8, v []byte) {
	if kind == fieldContentLength {
		if n, ok := parseDecimal(v); ok {
			// A single length, the usual value: what the list walk below does with
			// it, without the walk.
			c.contentLength(s, n, true)
			return
		}
	}
	for len(v) > 0 {
		var el []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			el, v = trimSpace(v[:i]), v[i+1:]
		} else {
			el, v = trimSpace(v), nil
		}
		if len(el) == 0 {
			continue
		}
		if kind == fieldTransferEncoding {
			s.te = true
			s.teChunked = equalFoldLower(el, "chunked")
			continue
		}
		n, ok := parseDecimal(el)
		c.contentLength(s, n, ok)
	}
}

// contentLength applies one element of a Content-Length value: n, or a bad one when !ok.
func (c *Conn) contentLength(s *side, n int64, ok bool) {
	switch {
	case !ok:
		if !s.clBad {
			s.clBad = true
			c.parseError(s.id, reasonBadContentLength)
		}
	case !s.clSeen:
		s.clSeen, s.cl = true, n
	case n != s.cl:
		// Differing lengths are a smuggling vector with no right answer; the last
		// is used, as Wireshark does, and the error is counted once.
		s.cl = n
		if !s.clConfl {
			s.clConfl = true
			c.parseError(s.id, reasonConflictingCL)
		}
	}
}

// parseDecimal parses a non-negative decimal of at most 18 digits (no overflow possible).
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// endHeaders completes the header section of s. abrupt means a gap or the connection's end
// cut it: the message is recorded with what was parsed and no body.
func (c *Conn) endHeaders(s *side, abrupt bool) {
	sc := s.sc
	c.endHeadersOf(s, abrupt, string(sc.hdr), len(sc.hdr), sc.spans)
}

// endHeadersOf completes the header section of s, whose strings are spans sp of str: a
// request's method, target and version, or a response's version, then name, value pairs.
// size is what a pending request is charged for.
func (c *Conn) endHeadersOf(s *side, abrupt bool, str string, size int, sp []span) {
	if s.isReq {
		c.endRequestHeaders(s, abrupt, str, size, sp)
	} else {
		c.endResponseHeaders(s, abrupt, str, sp)
	}
}

func (c *Conn) endRequestHeaders(s *side, abrupt bool, str string, size int, sp []span) {
	e := c.newEntry()
	e.tx.Req = &e.req
	e.tx.ClientSide = s.id
	r := &e.req
	r.TS = s.msgTS
	r.Method = str[sp[0].a:sp[0].b]
	r.URI = str[sp[1].a:sp[1].b]
	r.Version = str[sp[2].a:sp[2].b]
	r.Header = buildHeader(e.reqHdr, str, sp[3:])
	r.Truncated = s.truncated
	e.size = size
	e.reqAck, e.reqAckOK = s.msgAck, s.msgAckOK
	c.push(e)
	s.entry = e
	if c.held != nil {
		c.claimHeld(e, s)
	}
	if abrupt {
		c.finish(s)
		return
	}
	switch {
	case s.te:
		if s.clSeen || s.clBad {
			c.parseError(s.id, reasonTEAndCL)
		}
		if s.teChunked {
			s.state = stateChunkLine
			return
		}
		// A request body in an unknown coding has no end a reader can find (RFC 9112
		// section 6.3): the server answers 400 and closes. Resync finds what follows.
		c.parseError(s.id, reasonBadTE)
		c.finish(s)
	case s.clSeen && !s.clBad && s.cl > 0:
		s.remaining = s.cl
		s.state = stateBody
	default:
		c.finish(s)
	}
}

func (c *Conn) endResponseHeaders(s *side, abrupt bool, str string, sp []span) {
	st := s.status
	if st < 200 && st != 101 {
		// Interim response (100 Continue, 102, 103): the request waits for its final one.
		mInterim.Inc()
		s.reset()
		return
	}
	mResponses.Inc()
	e := c.firstUnanswered()
	if e != nil && !e.placeholder && e.req.TS.After(s.msgTS) {
		// A response cannot begin before its request: this one answers a request the
		// capture did not see. (A placeholder's time is when its loss was reported.)
		e = nil
	}
	if e != nil && s.msgSeqOK {
		e = c.byPosition(e, s.msgSeq, s.msgTS)
	}
	method := ""
	if e == nil {
		c.lostResps = min(c.lostResps+1, c.lim.maxPending)
		e = c.hold(s)
	}
	if e != nil {
		e.answered = true
		if !e.placeholder {
			c.lostResps = 0 // pairing is back on solid ground
			c.paired = true
		}
		method = e.req.Method
		r := &e.resp
		r.TS = s.msgTS
		r.Version = str[sp[0].a:sp[0].b]
		r.Status = st
		r.Header = buildHeader(e.respHdr, str, sp[1:])
		r.Truncated = s.truncated
	}
	s.entry = e
	switch {
	case abrupt:
		c.finish(s)
	case st == 101:
		c.finish(s)
		c.upgrade(e, upgradeProtocol)
	case method == "CONNECT" && st/100 == 2:
		c.finish(s)
		c.upgrade(e, upgradeConnect)
	case method == "HEAD" || st == 204 || st == 304:
		c.finish(s)
	case s.te && s.teChunked:
		s.state = stateChunkLine
	case s.te || s.clBad:
		// Transfer-Encoding without chunked last, or an unusable length: the body runs
		// to the server's close (RFC 9112 section 6.3).
		s.state = stateBodyClose
	case s.clSeen:
		if s.cl == 0 {
			c.finish(s)
			return
		}
		s.remaining = s.cl
		s.state = stateBody
	default:
		s.state = stateBodyClose
	}
}

// buildHeader returns the fields of the name, value span pairs sp of str, in room's
// memory when it has enough; nil when there are none. Room past the fields is cleared, so
// an earlier message's strings are not kept reachable by it.
func buildHeader(room Header, str string, sp []span) Header {
	if len(sp) < 2 {
		return nil
	}
	n := len(sp) / 2
	var h Header
	if cap(room) >= n {
		h = room[:n]
		if n < cap(room) {
			clear(room[n:cap(room)])
		}
	} else {
		h = make(Header, n)
	}
	for i := range h {
		n, v := sp[2*i], sp[2*i+1]
		h[i] = Field{Name: str[n.a:n.b], Value: str[v.a:v.b]}
	}
	return h
}

func (c *Conn) stepChunkLine(s *side, b []byte, ts time.Time) int {
	line, _, n, res := s.readLine(b, c.lim.maxChunkLine, ts)
	switch res {
	case lineMore:
		return n
	case lineLong:
		// Extensions past the limit are dropped; the size at the head still frames the
		// chunk, so parsing goes on.
		c.truncate(s, limitChunkLine)
	}
	line = trimSpace(line)
	if len(line) == 0 {
		return n // the CRLF that ends a chunk's data
	}
	size, ok := parseChunkSize(line)
	if !ok {
		c.parseError(s.id, reasonBadChunkSize)
		c.finish(s)
		s.resyncing, s.quiet = true, true
		return n
	}
	if size == 0 {
		s.state = stateTrailers
		s.trlBytes = 0
		return n
	}
	s.remaining = size
	s.state = stateChunkData
	return n
}

// parseChunkSize reads the hex size at the head of a chunk line; extensions (";name=value")
// are ignored. Sizes over 2^63-1 are refused (Zeek's chunk 2^64 overflow case).
func parseChunkSize(line []byte) (int64, bool) {
	i := 0
	for i < len(line) && line[i] == '0' {
		i++
	}
	var n uint64
	digits := 0
	for ; i < len(line); i++ {
		var d byte
		switch c := line[i]; {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			goto rest
		}
		digits++
		if digits > 16 {
			return 0, false
		}
		n = n<<4 | uint64(d)
	}
rest:
	if i == 0 || n > math.MaxInt64 {
		return 0, false
	}
	for ; i < len(line); i++ {
		if line[i] == ';' {
			break
		}
		if !isSpace(line[i]) {
			return 0, false
		}
	}
	return int64(n), true
}

func (c *Conn) addBody(s *side, b []byte) {
	s.bodyN += int64(len(b))
	if room := c.lim.bodyPrefix - len(s.keep); room > 0 && len(b) > 0 {
		s.keep = append(s.keep, b[:min(room, len(b))]...)
	}
}

// truncate marks the message cut short by limit, counting it once per message.
func (c *Conn) truncate(s *side, limit int) {
	if !s.truncated {
		s.truncated = true
		mTruncated[limit].Inc()
	}
}

// finish completes the message in progress and readies s for the next one.
func (c *Conn) finish(s *side) {
	if e := s.entry; e != nil {
		if s.isReq {
			r := &e.req
			r.BodyBytes, r.Body = s.bodyN, s.keep
			r.Partial = r.Partial || s.partial
			r.Truncated = r.Truncated || s.truncated
			e.reqDone = true
		} else {
			r := &e.resp
			r.BodyBytes, r.Body = s.bodyN, s.keep
			r.Partial = r.Partial || s.partial
			r.Truncated = r.Truncated || s.truncated
			e.respDone = true
		}
	}
	s.reset()
	c.tryEmit()
}

// resync makes s look for the next start line, skipping what precedes it without
// counting a parse error (the cause, a gap or a framing error, is already counted).
func (c *Conn) resync(s *side) {
	if s.state != stateStart {
		s.reset()
	}
	s.skipLine = false
	s.skipCounts = false
	s.resyncing, s.quiet = true, true
}

// reset clears the message in progress; the line state is kept.
func (s *side) reset() {
	if sc := s.sc; sc != nil {
		if cap(sc.hdr) <= maxPooled {
			sc.hdr, sc.spans = sc.hdr[:0], sc.spans[:0]
			scratchPool.Put(sc)
		}
	}
	s.message = message{}
}

// takeScratch gives the message in progress its scratch, where the line-by-line path
// gathers its strings; a header section read whole needs none.
func (s *side) takeScratch() *scratch {
	s.sc = scratchPool.Get().(*scratch)
	return s.sc
}

// addField adds a header line's name and value spans, growing hdr at most once.
func (sc *scratch) addField(name, value []byte) {
	a := len(sc.hdr)
	sc.hdr = append(sc.hdr, name...)
	m := len(sc.hdr)
	sc.hdr = append(sc.hdr, value...)
	sc.spans = append(sc.spans, span{int32(a), int32(m)}, span{int32(m), int32(len(sc.hdr))})
}

func (sc *scratch) addSpan(b []byte) {
	a := len(sc.hdr)
	sc.hdr = append(sc.hdr, b...)
	sc.spans = append(sc.spans, span{int32(a), int32(len(sc.hdr))})
}

// Line results.
const (
	lineMore = iota // no LF yet: the bytes were kept for the next Feed
	lineOK          // a whole line
	lineLong        // the line passed max: its first max bytes are returned, the rest is skipped
)

// readLine returns the next line of b (without CR LF) once complete, joining bytes kept
// from earlier Feed calls. raw is the line's length on the wire, n the bytes of b used.
// The returned line is valid until the next readLine.
func (s *side) readLine(b []byte, limit int, ts time.Time) (line []byte, raw, n, res int) {
	s.curOff = len(s.line)
	if len(s.line) == 0 {
		s.lineTS = ts
	}
	room := max(limit-len(s.line), 0)
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		if len(b) > room {
			line = s.takeLine(b[:room])
			s.skipLine = true
			return line, 0, len(b), lineLong
		}
		s.appendLine(b)
		return nil, 0, len(b), lineMore
	}
	if i > room {
		return s.takeLine(b[:room]), 0, i + 1, lineLong
	}
	line = s.takeLine(b[:i])
	raw = len(line) + 1
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, raw, i + 1, lineOK
}

// takeLine returns the kept bytes followed by tail, and empties the kept line.
func (s *side) takeLine(tail []byte) []byte {
	if len(s.line) == 0 {
		return tail
	}
	s.appendLine(tail)
	l := s.line
	s.line = s.line[:0]
	return l
}

func (s *side) appendLine(b []byte) {
	if s.lineP == nil {
		s.lineP = linePool.Get().(*[]byte)
		s.line = (*s.lineP)[:0]
	}
	s.line = append(s.line, b...)
}

func (s *side) dropLine() {
	s.line = s.line[:0]
}

// releaseLine returns an empty line buffer to the pool, so idle connections hold none.
func (s *side) releaseLine() {
	if s.lineP != nil && len(s.line) == 0 {
		if cap(s.line) <= maxPooled {
			*s.lineP = s.line[:0]
			linePool.Put(s.lineP)
		}
		s.lineP, s.line = nil, nil
	}
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	return trimRightSpace(b)
}

func trimRightSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}
