package httpwire

import (
	"bytes"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/apiscope/apiscope/sensor/h2wire"
)

// entry is one request awaiting its response and its emission. The Transaction, Request
// and Response live in one allocation; the emitted *Transaction points into it.
type entry struct {
	tx          Transaction
	req         Request
	resp        Response
	answered    bool   // a final response's headers were matched to it
	reqDone     bool   // the request's body ended (or was given up)
	respDone    bool   // the response's body ended (or was given up)
	respLost    bool   // the response began in a capture gap: emitted without one
	reqAckOK    bool   // reqAck is known
	reqAck      uint32 // what the client had acknowledged of the server's bytes when the request began
	placeholder bool   // stands for a request lost in a gap, or holds a response for a late one (hold): never emitted
	size        int    // bytes of the request's header strings, charged to MaxPendingBytes

	// reqHdr and respHdr are Header slices of an earlier use of this entry, whose room
	// the next headers reuse (Config.ReuseTransactions).
	reqHdr, respHdr Header
}

// Conn parses the two directions of one TCP connection and pairs requests with responses.
// It is a push parser: the caller hands it reassembled bytes and capture gaps as they come,
// and Conn keeps only bounded state between calls (a partial line, the header section of
// the message in progress, and the pending requests). It never starts a goroutine.
//
// A Conn is not safe for concurrent use: all calls for one connection come from one
// goroutine. emit is called synchronously from Feed, Gap, Close and End and must not call
// back into the Conn; the Transaction it receives is the callee's to keep.
type Conn struct {
	lim    limits
	emit   func(*Transaction)
	sides  [2]side
	client int // side that sends requests; -1 until a start line tells

	q            []*entry // pending requests in order; q[head:] are live
	head         int
	pendingBytes int // sum of size over q[head:]

	// lostResps counts responses that came (or were lost in a gap) while no request
	// awaited one, since the last response paired with a seen request. A request lost in
	// a gap, reported later, takes one of them instead of the next response: gaps and
	// data of the two sides do not reach the parser in capture order.
	lostResps int

	// held is a response that came while no request awaited it, kept for a request the
	// capture saw before it but the reassembler delivers after it (see hold). heldAck is
	// how far into the client's bytes its segment acknowledged.
	held     *entry
	heldAck  uint32
	heldRank int // lostResps counted before the held response and still unclaimed

	// spare is an emitted entry kept for the next request when Config.ReuseTransactions
	// says emit does not keep it.
	spare *entry

	paired    bool         // a response was paired with a seen request: the roles are sure
	roleClean bool         // the roles were decided by a side's first bytes, not after skipped ones
	upgraded  bool         // 101 or CONNECT 2xx: later bytes are not HTTP
	probing   bool         // CONNECT 2xx: the tunnel's first bytes may show HTTP going on inside it
	probeBuf  []byte       // the tunnel's first client bytes while too few to tell (see probe)
	h2        *h2wire.Conn // HTTP/2 parser the connection was handed to (hand-off at the end of this file)
	h2Prior   bool         // the client sent the HTTP/2 preface: Feed hands its side over
	ended     bool
	logged    bool

	// spanBuf holds the spans of a header section read whole (wholeHeaders) until its
	// strings are made.
	spanBuf [3 + 2*wholeFields]span
}

// NewConn returns the parser of one connection. cfg may be nil (defaults); emit receives
// every transaction, in request order.
func NewConn(cfg *Config, emit func(*Transaction)) *Conn {
	c := &Conn{lim: cfg.limits(), emit: emit, client: -1}
	c.sides[0].id, c.sides[1].id = 0, 1
	// Nothing seen yet: leading bytes that are not a start line mean the capture began
	// mid-message, which is skipped and counted, not an error.
	c.sides[0].quiet, c.sides[1].quiet = true, true
	return c
}

// Feed parses the next bytes sent by side (0 or 1) captured at ts. b is borrowed: it is
// not retained after Feed returns. Either side may speak first; the first start line seen
// decides which side is the client.
func (c *Conn) Feed(side int, b []byte, ts time.Time) {
	if side&^1 != 0 || c.ended {
		return
	}
	s := &c.sides[side]
	for len(b) > 0 {
		if c.upgraded && c.probing {
			if b = c.probe(side, b); b == nil {
				break // kept until the next bytes tell
			}
		}
		if c.upgraded {
			if c.h2Prior && c.h2 == nil {
				c.startH2(side, false, len(h2Preface)+2)
			}
			if c.h2 != nil {
				c.h2.Feed(side, b, ts)
			} else {
				mUpgradedBytes.Add(uint64(len(b)))
			}
			break
		}
		n := 0
		if s.state == stateStart && !s.skipLine {
			n = c.quickStart(s, b, ts) // the usual message, without step's dispatch
		}
		if n == 0 {
			n = c.step(s, b, ts)
		}
		b = b[n:]
		s.seqNext += uint32(n)
		s.fed = true
	}
	if c.h2Prior && c.h2 == nil {
		c.startH2(side, false, len(h2Preface)+2) // the preface line ended this Feed
	}
	if s.lineP != nil { // the usual Feed, of whole lines, took no line buffer
		s.releaseLine()
	}
}

// Gap reports n bytes sent by side that were lost before the next Feed. In a body they
// are skipped and the message is marked Partial; in a header section the message is kept
// with what was parsed (marked Partial) and the side resynchronises on the next start
// line.
//
// Lost bytes that begin at a message boundary (or run past the end of a body) held the
// start of a message, and pairing must not shift by one because of it: a lost response is
// charged to the oldest unanswered request, which is emitted without a response and marked
// Partial; a lost request takes a place in the queue so that its response, if seen, is
// not paired with the next request (it is counted as unmatched). This needs the side's role
// and a side seen from its start; otherwise the next message of the side is marked Partial.
func (c *Conn) Gap(side int, n int, ts time.Time) {
	if side&^1 != 0 || c.ended || n <= 0 {
		return
	}
	mGaps.Inc()
	mGapBytes.Add(uint64(n))
	if c.upgraded {
		if c.probing {
			c.endProbe(nil) // the tunnel's first bytes are lost: nothing to judge it by
		}
		if c.h2 != nil {
			c.h2.Gap(side, n, ts)
		}
		return
	}
	s := &c.sides[side]
	s.skipped = true
	atBoundary, inHeaders := false, false
	switch s.state {
	case stateStart:
		atBoundary = !s.resyncing
		// A line that began where bytes resumed after an earlier gap begins where a
		// segment did, as requests do: with a short snap length every request line is
		// cut so, one segment after another.
		inHeaders = (atBoundary || s.gapEdge) && c.cutRequestLine(s)
	case stateHeaders:
		// The message is kept with what was parsed; whether the gap also took the
		// start of the next one cannot be told.
		inHeaders = true
		s.partial = true
		c.endHeaders(s, true)
	case stateBody, stateChunkData:
		s.partial = true
		if int64(n) <= s.remaining {
			s.bodyN += int64(n)
			s.remaining -= int64(n)
			switch {
			case s.remaining > 0:
			case s.state == stateChunkData:
				s.state = stateChunkLine
			default:
				c.finish(s)
			}
			s.fed = true
			return
		}
		// The gap ran past the body. After a Content-Length body the next message began
		// in it; after a chunk the framing is lost and what follows is unknown.
		atBoundary = s.state == stateBody
		s.bodyN += s.remaining
		c.finish(s)
	case stateChunkLine, stateTrailers:
		s.partial = true
		c.finish(s)
	case stateBodyClose:
		s.partial = true
		s.bodyN += int64(n)
		s.fed = true
		return
	}
	s.dropLine()
	if !inHeaders && (!atBoundary || !c.lostMessage(s, ts)) {
		s.gapNext = true
	}
	c.resync(s)
	s.fed, s.gapEdge = true, true
}

// cutRequestLine keeps a request whose line the gap on s cut (a frame cut by the snap
// length, a lost segment): a known method, a space and the start of a target are as sure
// a sign of a request as a whole line is. It is recorded Partial, with the target as far
// as it was captured, and it reports whether there was one.
func (c *Conn) cutRequestLine(s *side) bool {
	if len(s.line) == 0 || (c.client >= 0 && c.client != s.id) {
		return false
	}
	line := bytes.TrimSuffix(s.line, []byte("\r"))
	me, ta, ok := truncatedRequest(line)
	if !ok {
		return false
	}
	target, version := line[ta:], []byte(nil)
	if i := bytes.LastIndexByte(target, ' '); i > 0 {
		// "GET /x HTT": the target is whole and the version cut, or whole itself.
		tail := target[i+1:]
		if isVersion(tail) || len(tail) < len("HTTP/1.") && strings.HasPrefix("HTTP/1.", string(tail)) {
			target = trimRightSpace(target[:i])
			if isVersion(tail) {
				version = tail
			}
		}
	}
	c.beginRequestHead(s, len(line), line[:me], target, version)
	s.partial = true
	c.endHeaders(s, true)
	return true
}

// hold keeps the response beginning on s, which no waiting request can take, for the
// next request the client side delivers. Data of the two sides reaches the parser in
// capture order only while neither waits for a hole: a request held back behind lost
// bytes (or cut by the snap length and ended by the connection's end) arrives after its
// response. The response is parsed into an entry of its own meanwhile; claimHeld gives it
// to the request if the TCP positions prove it answers that one. Only the latest such
// response can answer a request still to come: one held before is given up (counted
// unmatched), and without positions none is kept. hold returns the entry to parse into,
// or nil.
func (c *Conn) hold(s *side) *entry {
	c.dropHeld()
	if !s.msgAckOK || !s.msgSeqOK {
		mUnmatched.Inc()
		return nil
	}
	h := &entry{placeholder: true}
	c.held, c.heldAck, c.heldRank = h, s.msgAck, c.lostResps-1 // (the caller counted it)
	return h
}

// claimHeld gives the held response to e, the request just parsed on s, when e waits
// first and the response's segment acknowledged e's first byte: the server had e when it
// answered. That holds whatever the capture times say (taps that merge the two
// directions can stamp an answer before its request). Otherwise no later request can
// claim it (the client's bytes arrive in order), and it is dropped.
func (c *Conn) claimHeld(e *entry, s *side) {
	h := c.held
	if c.firstUnanswered() != e || !s.msgSeqOK || int32(c.heldAck-s.msgSeq) <= 0 {
		c.dropHeld()
		return
	}
	c.held = nil
	e.resp = h.resp
	e.answered, e.respDone = true, h.respDone
	if srv := &c.sides[1-s.id]; srv.entry == h {
		srv.entry = e // the body still being read is e's now
	}
	c.lostResps, c.paired = 0, true
	mHeldClaimed.Inc()
}

// dropHeld gives up the held response: it answered a request the capture lost.
func (c *Conn) dropHeld() {
	h := c.held
	if h == nil {
		return
	}
	c.held = nil
	if srv := &c.sides[1-c.client&1]; srv.entry == h {
		srv.entry = nil // the rest of its body is read as unmatched
	}
	mUnmatched.Inc()
}

// lostMessage accounts for a message whose start was lost on s (see Gap). It reports
// whether it could.
func (c *Conn) lostMessage(s *side, ts time.Time) bool {
	if c.client < 0 {
		return false
	}
	if s.id == c.client {
		if !s.fed {
			return false // bytes before the capture began: their responses may be lost too
		}
		e := &entry{placeholder: true, reqDone: true}
		e.tx.Req, e.tx.ClientSide = &e.req, s.id
		e.req.TS = ts
		if c.lostResps > 0 {
			c.lostResps--
			e.answered, e.respDone, e.respLost = true, true, true
			// The oldest response without a request is the lost request's: the
			// held one, when none came before it.
			if c.held != nil {
				if c.heldRank--; c.heldRank < 0 {
					c.dropHeld()
				}
			}
		}
		c.push(e)
		c.tryEmit()
		return true
	}
	if !s.fed && !c.sides[c.client].cleanStart {
		return false // the lost bytes may answer requests sent before the capture began
	}
	e := c.firstUnanswered()
	if e == nil {
		c.lostResps = min(c.lostResps+1, c.lim.maxPending)
		return true
	}
	e.answered, e.respDone, e.respLost = true, true, true
	e.req.Partial = true
	c.tryEmit()
	return true
}

// Close reports that side sent FIN or RST: a response body delimited by the connection's
// close ends here.
func (c *Conn) Close(side int, ts time.Time) {
	if side&^1 != 0 || c.ended {
		return
	}
	if c.h2 != nil {
		c.h2.Close(side, ts)
	}
	s := &c.sides[side]
	if s.state == stateBodyClose {
		c.finish(s)
	}
}

// End reports that the connection is over (closed, timed out, or input ended). Messages in
// progress are completed (close-delimited bodies normally, others marked Partial), and
// every pending request is emitted, with Resp nil when no response was seen. Later calls
// are ignored.
func (c *Conn) End(ts time.Time) {
	if c.ended {
		return
	}
	// Requests first, so a response in progress finds its request queued.
	first := 0
	if c.client == 1 {
		first = 1
	}
	if !c.upgraded {
		c.endSide(&c.sides[first])
		c.endSide(&c.sides[1-first])
	}
	for c.head < len(c.q) {
		e := c.q[c.head]
		c.q[c.head] = nil
		c.head++
		c.emitEntry(e)
	}
	if c.h2 != nil {
		c.h2.End(ts)
	}
	c.dropHeld()
	if c.probing {
		c.endProbe(nil) // a tunnel that never said enough
	}
	c.q, c.head = nil, 0
	c.ended = true
	for i := range c.sides {
		c.sides[i].reset()
		c.sides[i].dropLine()
		c.sides[i].releaseLine()
	}
}

func (c *Conn) endSide(s *side) {
	switch s.state {
	case stateStart:
		if !s.resyncing || s.gapEdge {
			c.cutRequestLine(s) // a request line the end cut
		}
		s.dropLine()
	case stateHeaders:
		s.partial = true
		c.endHeaders(s, true)
	case stateBodyClose:
		c.finish(s)
	default:
		s.partial = true
		c.finish(s)
	}
}

// push queues a request. Past MaxPending requests or MaxPendingBytes of their headers,
// the oldest pending ones are emitted first: with the response parsed so far (marked
// Partial) if one had begun, without one otherwise.
func (c *Conn) push(e *entry) {
	for c.head < len(c.q) && (len(c.q)-c.head >= c.lim.maxPending || c.pendingBytes+e.size > c.lim.maxPendingBytes) {
		c.parseError(e.tx.ClientSide, reasonTooManyPending)
		old := c.q[c.head]
		c.q[c.head] = nil
		c.head++
		srv := &c.sides[1-e.tx.ClientSide]
		if srv.entry == old {
			srv.entry = nil // the rest of its response is parsed as unmatched
			old.resp.BodyBytes, old.resp.Partial = srv.bodyN, true
			old.respDone = true
		}
		old.reqDone = true
		c.emitEntry(old)
	}
	c.pendingBytes += e.size
	c.q = append(c.q, e)
}

// firstUnanswered returns the oldest pending request without a final response.
// At says that the next bytes fed on side begin at TCP sequence number seq and that the
// segment carrying the first of them acknowledged the other side's bytes up to acked
// (ackOK false when unknown). A
// caller that knows positions calls it before Feed (it implements tcpstream.Positioner);
// responses are then paired by position where responses were lost (byPosition).
func (c *Conn) At(side int, seq, acked uint32, ackOK bool) {
	if side&^1 != 0 {
		return
	}
	s := &c.sides[side]
	s.seqNext, s.seqOK = seq, true
	s.ackNow, s.ackOK = acked, ackOK
}

// byPosition returns the request a response that begins at server sequence number seq
// answers, head being the oldest one waiting. HTTP/1.1 answers in order, so that is
// head, unless whole responses were lost: a request is sent after its client has
// received the responses before it, so when a later waiting request was sent having
// acknowledged more of the server's bytes than head, up to seq, the response answers
// that one, and the requests before it lost their responses (emitted without one,
// partial). The oldest of the requests sent at the same acknowledgment is taken, which
// keeps pipelined requests (all sent before any response) in order.
func (c *Conn) byPosition(head *entry, seq uint32, ts time.Time) *entry {
	if head.placeholder || !head.reqAckOK || int32(head.reqAck-seq) > 0 || c.head+1 == len(c.q) {
		return head // (the last test: no other request waits, the keep-alive case)
	}
	best, bestAt := head, -1
scan:
	for i, e := range c.q[c.head:] {
		switch {
		case e.answered || e == head:
		case e.placeholder:
			// A lost request: where its response would sit is not known, so nothing
			// past it is skipped to.
			break scan
		case e.reqAckOK && int32(e.reqAck-seq) <= 0 && int32(e.reqAck-best.reqAck) > 0 && !e.req.TS.After(ts):
			best, bestAt = e, i
		}
	}
	if best == head {
		return head
	}
	for _, e := range c.q[c.head : c.head+bestAt] {
		if !e.answered {
			e.answered, e.respDone, e.respLost = true, true, true
			e.req.Partial = true
			mLostByPosition.Inc()
		}
	}
	return best
}

func (c *Conn) firstUnanswered() *entry {
	for _, e := range c.q[c.head:] {
		if !e.answered {
			return e
		}
	}
	return nil
}

// tryEmit emits completed transactions from the head of the queue, in request order.
func (c *Conn) tryEmit() {
	for c.head < len(c.q) {
		e := c.q[c.head]
		if !e.reqDone || !e.respDone {
			break
		}
		c.q[c.head] = nil
		c.head++
		c.emitEntry(e)
	}
	switch {
	case c.head == len(c.q):
		c.q, c.head = c.q[:0], 0
	case c.head >= 32 && 2*c.head >= len(c.q):
		n := copy(c.q, c.q[c.head:])
		clear(c.q[n:])
		c.q, c.head = c.q[:n], 0
	}
}

func (c *Conn) emitEntry(e *entry) {
	c.pendingBytes -= e.size
	if e.placeholder {
		if e.respDone && !e.respLost {
			mUnmatched.Inc()
		}
		return
	}
	e.tx.Resp = nil
	if e.respDone && !e.respLost {
		e.tx.Resp = &e.resp
	} else {
		mNoResponse.Inc()
	}
	mTransactions.Inc()
	if c.emit != nil {
		c.emit(&e.tx)
	}
	if c.lim.reuse && c.sides[0].entry != e && c.sides[1].entry != e {
		c.spare = e
	}
}

// newEntry returns a zeroed entry for a request: the spare one when there is one, with
// the room of its Header slices kept aside for reuse. The room still holds the old
// fields, which buildHeader overwrites (and clears past the new ones): the strings of
// one earlier message per connection stay reachable meanwhile, as they do while the
// entry is spare.
func (c *Conn) newEntry() *entry {
	e := c.spare
	if e == nil {
		return &entry{}
	}
	c.spare = nil
	rh, ph := e.req.Header, e.resp.Header
	if rh == nil {
		rh = e.reqHdr
	}
	if ph == nil {
		ph = e.respHdr
	}
	*e = entry{reqHdr: rh[:0], respHdr: ph[:0]}
	return e
}

func (c *Conn) parseError(side, reason int) {
	mParseErrors[reason].Inc()
	if !c.logged && c.lim.log != nil {
		c.logged = true
		c.lim.log.Debug("http parse error", zap.String("reason", reasonNames[reason]), zap.Int("side", side))
	}
}

// contradicts reports, for a line s is about to skip, whether it is a start line of the
// other role that proves the roles wrong: decided from a line inside a body (a capture
// that began mid-response, whose body quotes a request), they must be swapped. The proof
// is the side's very first line when the roles were decided after skipped bytes, or both
// sides showing the other role's lines. Once a pair is made the roles are sure.
func (c *Conn) contradicts(s *side, line []byte) bool {
	if c.paired || c.client < 0 {
		return false
	}
	if s.id == c.client {
		if _, ok := parseStatusLine(line); !ok {
			return false
		}
	} else if _, ok := parseRequestLine(line, methodKnown); !ok {
		return false
	}
	first := !s.begun && !s.skipped
	s.contra = true
	return (first && !c.roleClean) || c.sides[1-s.id].contra
}

// flipRoles swaps client and server. What was parsed under the wrong roles (requests
// that were body text) is dropped, counted as a parse error.
func (c *Conn) flipRoles() {
	c.parseError(c.client, reasonRoleFlip)
	clear(c.q)
	c.q, c.head, c.lostResps = c.q[:0], 0, 0
	c.held = nil // body text, like the requests
	for i := range c.sides {
		o := &c.sides[i]
		if o.state != stateStart {
			o.reset()
			o.resyncing, o.quiet = true, true
		}
		o.contra = false
	}
	c.client = 1 - c.client
	c.roleClean = true // proven, not guessed
}

// Upgrade kinds (label values of apiscope_sensor_http_upgrades_total).
const (
	upgradeProtocol = iota // 101 Switching Protocols (WebSocket, h2c)
	upgradeConnect         // 2xx answer to CONNECT
	upgradeH2              // HTTP/2 connection preface
)

// h2Preface is the first line of the HTTP/2 connection preface.
const h2Preface = "PRI * HTTP/2.0"

// upgrade stops HTTP parsing after e's final response: the bytes that follow belong to
// another protocol (WebSocket, a CONNECT tunnel).
func (c *Conn) upgrade(e *entry, kind int) {
	mUpgrades[kind].Inc()
	c.upgraded = true
	switch {
	case kind == upgradeH2:
		c.h2Prior = true // Feed knows the side that sent the preface
	case kind == upgradeConnect:
		c.probing = true
	case kind == upgradeProtocol && e != nil && hasToken(e.req.Header.Get("Upgrade"), "h2c"):
		c.startH2(e.tx.ClientSide, true, 0)
	}
	if e != nil && !e.reqDone {
		cl := &c.sides[e.tx.ClientSide]
		if cl.entry == e {
			cl.entry = nil
			e.req.BodyBytes = cl.bodyN
		}
		e.reqDone = true
	}
	c.tryEmit()
}

// probe judges a CONNECT tunnel by its first bytes. Most tunnels carry TLS, which stays
// unparsed; a proxy tunnel can also carry plain HTTP (an HTTP/2 preface included), and
// then the client's first bytes are a request line, whose requests are calls like any
// other, as in Suricata's libhtp and Zeek. b are the next bytes of side; probe returns
// the bytes to go on with, nil when it keeps them to decide (a segment as short as "GE"),
// and clears upgraded when HTTP goes on.
func (c *Conn) probe(side int, b []byte) []byte {
	if side != c.client {
		if len(bytes.TrimLeft(b, "\r\n")) == 0 {
			// A stray line end after the server's 2xx (blank lines between messages
			// are allowed) tells nothing yet.
			mUpgradedBytes.Add(uint64(len(b)))
			c.sides[side].seqNext += uint32(len(b))
			return nil
		}
		return c.endProbe(b) // a server speaking first: not HTTP
	}
	x := b
	if len(c.probeBuf) > 0 {
		x = append(c.probeBuf, b...)
	}
	switch probeVerdict(x) {
	case probeMore:
		c.probeBuf = append(c.probeBuf[:0], x...)
		return nil
	case probeHTTP:
		c.upgraded = false
		c.sides[side].seqNext -= uint32(len(c.probeBuf)) // x begins with the kept bytes
		c.probing, c.probeBuf = false, nil
		mTunnelHTTP.Inc()
		return x
	}
	return c.endProbe(b)
}

// endProbe leaves the tunnel unparsed: the bytes kept to judge it are counted as such,
// and b goes on to be.
func (c *Conn) endProbe(b []byte) []byte {
	mUpgradedBytes.Add(uint64(len(c.probeBuf)))
	c.probing, c.probeBuf = false, nil
	return b
}

// Probe verdicts.
const (
	probeTunnel = iota // not HTTP: the tunnel stays unparsed
	probeHTTP          // a request line or the HTTP/2 preface begins
	probeMore          // too few bytes to tell
)

// probeLimit is more than the longest known method and its space, and the preface line.
const probeLimit = 24

// probeVerdict tells whether a tunnel whose client sent x first carries HTTP.
func probeVerdict(x []byte) int {
	if y := bytes.TrimLeft(x, "\r\n"); len(y) < len(x) { // blank lines before a request are allowed
		if len(x) >= probeLimit {
			return probeTunnel
		}
		if len(y) == 0 {
			return probeMore
		}
		x = y
	}
	if n := knownMethodAt(x); n > 0 && x[n] == ' ' || bytes.HasPrefix(x, []byte(h2Preface)) {
		return probeHTTP
	}
	if len(x) >= probeLimit {
		return probeTunnel
	}
	if bytes.HasPrefix([]byte(h2Preface), x) {
		return probeMore
	}
	for _, m := range methodsByFirst[x[0]] {
		if len(x) <= len(m) && string(x) == m[:len(x)] {
			return probeMore
		}
	}
	return probeTunnel
}

// HTTP/2 hand-off. A connection that turns out to carry cleartext HTTP/2 (the client's
// preface, or 101 to "Upgrade: h2c") is handed to an h2wire.Conn, whose exchanges are
// emitted as Transactions through the same emit function. With h2c, the HTTP/1.1 request
// was already emitted with its 101; h2wire counts its stream-1 response without emitting
// it again.

// startH2 hands the rest of the connection to an HTTP/2 parser. prefaceSeen is how many
// preface bytes this parser already consumed on the client side.
func (c *Conn) startH2(client int, upgrade bool, prefaceSeen int) {
	cfg := &h2wire.Config{
		MaxHeaderListSize: c.lim.maxHeaderBytes,
		MaxHeaders:        c.lim.maxHeaders,
		BodyPrefix:        c.lim.bodyPrefix,
		Logger:            c.lim.log,
	}
	c.h2 = h2wire.NewConn(cfg, h2wire.Start{Client: client, Upgrade: upgrade, PrefaceSeen: prefaceSeen}, c.emitH2)
}

// emitH2 turns an HTTP/2 exchange into a Transaction (Version "HTTP/2", URI from :path).
func (c *Conn) emitH2(x *h2wire.Exchange) {
	e := &entry{}
	e.tx.ClientSide = x.ClientSide
	q := x.Req
	e.req = Request{
		TS: q.TS, Method: q.Method, URI: q.Path, Version: "HTTP/2", Header: h2Header(q.Header),
		BodyBytes: q.BodyBytes, Body: q.Body, Partial: q.Partial, Truncated: q.Truncated,
	}
	e.tx.Req = &e.req
	if r := x.Resp; r != nil {
		e.resp = Response{
			TS: r.TS, Status: r.Status, Version: "HTTP/2", Header: h2Header(r.Header),
			BodyBytes: r.BodyBytes, Body: r.Body, Partial: r.Partial, Truncated: r.Truncated,
		}
		e.tx.Resp = &e.resp
	}
	if c.emit != nil {
		c.emit(&e.tx)
	}
}

func h2Header(fields []h2wire.Field) Header {
	if len(fields) == 0 {
		return nil
	}
	h := make(Header, len(fields))
	for i, f := range fields {
		h[i] = Field(f)
	}
	return h
}

// hasToken reports whether the comma-separated list v holds token, compared
// case-insensitively.
func hasToken(v, token string) bool {
	for v != "" {
		var t string
		t, v, _ = strings.Cut(v, ",")
		if strings.EqualFold(strings.TrimSpace(t), token) {
			return true
		}
	}
	return false
}
