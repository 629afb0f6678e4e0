package h2wire

import (
	"cmp"
	"encoding/binary"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/net/http2/hpack"
)

// Frame types and flags (RFC 9113 section 6).
const (
	frameData         = 0x0
	frameHeaders      = 0x1
	frameRSTStream    = 0x3
	framePushPromise  = 0x5
	frameGoAway       = 0x7
	frameContinuation = 0x9

	flagEndStream  = 0x1
	flagEndHeaders = 0x4
	flagPadded     = 0x8
	flagPriority   = 0x20
)

// Preface is the client connection preface (RFC 9113 section 3.4).
const Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// Start says how a connection begins.
type Start struct {
	// Client is the side (0 or 1, as passed to Feed) that sent the preface, or the
	// HTTP/1.1 request that asked for the upgrade.
	Client int
	// Upgrade is set for h2c through "Upgrade: h2c" and 101 Switching Protocols. Stream 1
	// then carries the response to that HTTP/1.1 request, which the caller has already
	// reported (with status 101): that response is counted, not emitted again.
	Upgrade bool
	// PrefaceSeen is how many bytes of the client's preface the caller already consumed
	// (16 when an HTTP/1.x parser read the line "PRI * HTTP/2.0\r\n"). The rest is
	// expected as the client's first bytes; bytes that differ are a counted parse error
	// and are read as frames.
	PrefaceSeen int
}

// state is where a side is in its byte stream.
type state uint8

const (
	stPreface state = iota // client preface bytes still expected
	stHeader               // collecting a 9-byte frame header
	stFixed                // collecting the fixed fields before a frame's content
	stContent              // a header block fragment or DATA payload
	stRest                 // padding, or a payload that is skipped
)

// blockKind is what a header block in progress will become.
type blockKind uint8

const (
	blkIgnore    blockKind = iota // PUSH_PROMISE, or fields nobody needs
	blkRequest                    // opens a request stream
	blkResponse                   // a response (final or 1xx) to a tracked request
	blkTrailers                   // a second block on a stream: only END_STREAM matters
	blkUnmatched                  // a response whose request was not seen
)

// block collects the fields of one header block.
type block struct {
	method, path, authority, scheme, status string
	fields                                  []Field
	size                                    int // RFC 9113 section 6.5.2 size of all fields
	kept                                    int // bytes of the strings kept
	truncated                               bool
}

// side is one direction's parser state.
type side struct {
	id         int
	st         state
	pre        int // offset in Preface of the next expected byte
	hdr        [9]byte
	fixed      [6]byte
	n          int // bytes collected in hdr or fixed
	need       int // fixed bytes wanted
	typ, flags uint8
	sid        uint32
	left       int       // payload bytes of the current frame not consumed yet
	content    int       // content bytes left, padding excluded
	ts         time.Time // capture time of the current frame's first byte
	dec        *hpack.Decoder
	lim        *limits

	// The header block in progress: HEADERS or PUSH_PROMISE until END_HEADERS.
	blkOpen bool
	blkSID  uint32
	blkEnd  bool // END_STREAM on the HEADERS frame that began it
	blkTS   time.Time
	blkKind blockKind
	blk     block
}

// stream is one request stream and its exchange, emitted as one allocation.
type stream struct {
	id       uint32
	ex       Exchange
	req      Request
	resp     Response
	hasResp  bool // a final response's headers were decoded
	reqDone  bool // END_STREAM from the client
	respDone bool // END_STREAM from the server after the final response
	hidden   bool // stream 1 of an h2c upgrade: counted, not emitted
	size     int  // header bytes held (request and response), charged to MaxPendingBytes
	reset    bool // the client reset it before a response: one may still be in flight
}

// Conn parses the two directions of one cleartext HTTP/2 connection and turns each
// request stream into an Exchange. It is a push parser like an HTTP/1.x one: the caller
// hands it reassembled bytes and capture gaps as they come, and Conn keeps bounded state
// between calls (one frame header, the HPACK decoders and the tracked streams).
//
// A Conn is not safe for concurrent use: all calls for one connection come from one
// goroutine. emit is called synchronously from Feed, Gap and End and must not call back
// into the Conn; the Exchange it receives is the callee's to keep.
type Conn struct {
	lim     limits
	emit    func(*Exchange)
	sides   [2]side
	client  int
	streams []*stream // open streams sorted by id
	pending int       // sum of size over streams
	stopped bool      // a gap or an error made the connection undecodable
	ended   bool
	logged  bool
}

// NewConn returns the parser of one HTTP/2 connection. cfg may be nil (defaults); emit
// receives every exchange when its stream completes, is reset, or the connection ends.
func NewConn(cfg *Config, start Start, emit func(*Exchange)) *Conn {
	c := &Conn{lim: cfg.limits(), emit: emit, client: start.Client & 1}
	for i := range c.sides {
		s := &c.sides[i]
		s.id = i
		s.st = stHeader
		s.dec = hpack.NewDecoder(4096, s.onField)
		s.dec.SetAllowedMaxDynamicTableSize(c.lim.maxTable)
		s.dec.SetMaxStringLength(c.lim.maxString)
	}
	cs := &c.sides[c.client]
	cs.st, cs.pre = stPreface, min(max(start.PrefaceSeen, 0), len(Preface))
	if cs.pre == len(Preface) {
		cs.st = stHeader
	}
	if start.Upgrade {
		// RFC 7540 section 3.2: the upgrade request is stream 1, half-closed by the client.
		st := &stream{id: 1, reqDone: true, hidden: true}
		st.ex.ClientSide = c.client
		c.streams = append(c.streams, st)
	}
	c.sides[0].setLimits(&c.lim)
	c.sides[1].setLimits(&c.lim)
	return c
}

// Feed parses the next bytes sent by side (0 or 1) captured at ts. b is borrowed: it is
// not retained after Feed returns.
func (c *Conn) Feed(side int, b []byte, ts time.Time) {
	if side&^1 != 0 || c.ended {
		return
	}
	s := &c.sides[side]
	for len(b) > 0 && !c.stopped {
		b = b[c.step(s, b, ts):]
	}
	if len(b) > 0 {
		mIgnoredBytes.Add(uint64(len(b)))
	}
}

// Gap reports n bytes sent by side that were lost before the next Feed. Inside a DATA
// frame (or padding, or a frame that carries nothing decoded) the frame boundaries are
// still known: the stream's message is marked Partial and parsing goes on. Anywhere else
// the HPACK state of the direction is lost, and the Conn stops (see the package doc).
func (c *Conn) Gap(side int, n int, ts time.Time) {
	if side&^1 != 0 || c.ended || n <= 0 {
		return
	}
	mGaps.Inc()
	if c.stopped {
		return
	}
	s := &c.sides[side]
	skippable := s.st == stRest || (s.st == stContent && s.typ == frameData)
	if !skippable || n > s.left {
		c.stop(s.id, reasonGap)
		return
	}
	for n > 0 && !c.stopped {
		switch s.st {
		case stContent:
			k := min(n, s.content)
			c.data(s, k, true)
			s.content -= k
			s.left -= k
			n -= k
			if s.content == 0 {
				c.afterContent(s)
			}
		case stRest:
			k := min(n, s.left)
			s.left -= k
			n -= k
			if s.left == 0 {
				c.endFrame(s)
			}
		default:
			// n <= left, so the frame cannot end before the gap does.
			c.stop(s.id, reasonGap)
			return
		}
	}
}

// Close reports that side sent FIN or RST. HTTP/2 messages end with END_STREAM, never
// with the connection, so nothing completes here; End emits what is still open.
func (c *Conn) Close(side int, ts time.Time) {}

// End reports that the connection is over. Every open stream is emitted in stream order,
// marked Partial where its messages did not end, with Resp nil when no final response was
// seen. Later calls are ignored.
func (c *Conn) End(ts time.Time) {
	if c.ended {
		return
	}
	c.flush()
	c.ended = true
	for i := range c.sides {
		c.sides[i].dec = nil
		c.sides[i].blk = block{}
	}
}

// step consumes the start of b on side s and reports how many bytes it used (at least one).
func (c *Conn) step(s *side, b []byte, ts time.Time) int {
	switch s.st {
	case stPreface:
		n := 0
		for n < len(b) && s.pre < len(Preface) {
			if b[n] != Preface[s.pre] {
				c.parseError(s.id, reasonPreface)
				s.pre, s.st = len(Preface), stHeader
				return n
			}
			n++
			s.pre++
		}
		if s.pre == len(Preface) {
			s.st = stHeader
		}
		return n
	case stHeader:
		if s.n == 0 {
			s.ts = ts
		}
		k := copy(s.hdr[s.n:], b)
		s.n += k
		if s.n == len(s.hdr) {
			s.n = 0
			c.beginFrame(s)
		}
		return k
	case stFixed:
		k := copy(s.fixed[s.n:s.need], b)
		s.n += k
		s.left -= k
		if s.n == s.need {
			s.n = 0
			c.fixedDone(s)
		}
		return k
	case stContent:
		k := min(len(b), s.content)
		if s.typ == frameData {
			c.data(s, k, false)
			if c.lim.bodyPrefix > 0 {
				c.keepBody(s, b[:k])
			}
		} else if _, err := s.dec.Write(b[:k]); err != nil {
			c.hpackError(s)
			return k
		}
		s.content -= k
		s.left -= k
		if s.content == 0 {
			c.afterContent(s)
		}
		return k
	default: // stRest
		k := min(len(b), s.left)
		s.left -= k
		if s.left == 0 {
			c.endFrame(s)
		}
		return k
	}
}

// beginFrame acts on a complete frame header.
func (c *Conn) beginFrame(s *side) {
	h := s.hdr[:]
	s.left = int(h[0])<<16 | int(h[1])<<8 | int(h[2])
	s.typ, s.flags = h[3], h[4]
	s.sid = binary.BigEndian.Uint32(h[5:]) & 0x7fffffff
	s.content = 0
	mFrames[min(int(s.typ), len(mFrames)-1)].Inc()
	if s.blkOpen && (s.typ != frameContinuation || s.sid != s.blkSID) {
		c.stop(s.id, reasonContinuation) // the block can never be finished
		return
	}
	need := 0
	switch s.typ {
	case frameData:
		if s.sid == 0 {
			c.parseError(s.id, reasonStreamID)
			c.skipFrame(s)
			return
		}
		if s.flags&flagPadded != 0 {
			need = 1
		}
	case frameHeaders, framePushPromise:
		if s.sid == 0 {
			c.stop(s.id, reasonStreamID) // its block is lost to the decoder
			return
		}
		if s.flags&flagPadded != 0 {
			need = 1
		}
		if s.typ == frameHeaders && s.flags&flagPriority != 0 {
			need += 5
		}
		if s.typ == framePushPromise {
			need += 4
		}
		c.openBlock(s)
	case frameContinuation:
		if !s.blkOpen {
			c.stop(s.id, reasonContinuation)
			return
		}
	case frameRSTStream:
		need = 4
	case frameGoAway:
		need = 4 // the last stream id; the error code and debug data are skipped
	}
	if need > s.left {
		c.parseError(s.id, reasonFrameSize)
		if s.blkOpen {
			c.stop(s.id, reasonFrameSize)
			return
		}
		c.skipFrame(s)
		return
	}
	s.need = need
	if need > 0 {
		s.st = stFixed
		return
	}
	c.fixedDone(s)
}

// skipFrame ignores the rest of the current frame.
func (c *Conn) skipFrame(s *side) {
	s.content = 0
	c.afterContent(s)
}

// fixedDone acts on a frame's fixed fields and sets up its content.
func (c *Conn) fixedDone(s *side) {
	switch s.typ {
	case frameData, frameHeaders, framePushPromise:
		pad := 0
		if s.flags&flagPadded != 0 {
			pad = int(s.fixed[0])
		}
		if pad > s.left {
			c.parseError(s.id, reasonFrameSize)
			if s.blkOpen {
				c.stop(s.id, reasonFrameSize)
				return
			}
			c.skipFrame(s)
			return
		}
		s.content = s.left - pad
	case frameContinuation:
		s.content = s.left
	case frameRSTStream:
		c.reset(s, s.sid)
	case frameGoAway:
		c.goAway(s, binary.BigEndian.Uint32(s.fixed[:4])&0x7fffffff)
	}
	if c.stopped {
		return
	}
	if s.content > 0 {
		s.st = stContent
		return
	}
	c.afterContent(s)
}

// afterContent moves past a frame's content to its padding or skipped rest.
func (c *Conn) afterContent(s *side) {
	s.content = 0
	if s.left > 0 {
		s.st = stRest
		return
	}
	c.endFrame(s)
}

// endFrame acts on a frame once all its bytes were seen.
func (c *Conn) endFrame(s *side) {
	s.st = stHeader
	switch s.typ {
	case frameData:
		if s.sid != 0 && s.flags&flagEndStream != 0 {
			c.endStream(s, s.sid)
		}
	case frameHeaders, framePushPromise, frameContinuation:
		if s.blkOpen && s.flags&flagEndHeaders != 0 {
			c.closeBlock(s)
		}
	}
}

// data counts n DATA payload bytes of the current frame for its stream; lost says they
// were not captured.
func (c *Conn) data(s *side, n int, lost bool) {
	st := c.find(s.sid)
	if st == nil {
		return
	}
	if s.id == c.client {
		st.req.BodyBytes += int64(n)
		st.req.Partial = st.req.Partial || lost
	} else if st.hasResp {
		st.resp.BodyBytes += int64(n)
		st.resp.Partial = st.resp.Partial || lost
	}
}

// keepBody appends DATA bytes of the current frame to its message's body prefix.
func (c *Conn) keepBody(s *side, p []byte) {
	st := c.find(s.sid)
	if st == nil {
		return
	}
	body := &st.req.Body
	if s.id != c.client {
		if !st.hasResp {
			return
		}
		body = &st.resp.Body
	}
	if room := c.lim.bodyPrefix - len(*body); room > 0 {
		*body = append(*body, p[:min(room, len(p))]...)
	}
}

// openBlock starts the header block of a HEADERS or PUSH_PROMISE frame and decides what
// its fields are for.
func (c *Conn) openBlock(s *side) {
	s.blkOpen, s.blkSID, s.blkTS = true, s.sid, s.ts
	s.blkEnd = s.typ == frameHeaders && s.flags&flagEndStream != 0
	s.blk = block{}
	kind := blkIgnore
	if s.typ == framePushPromise {
		mPushPromises.Inc()
	} else {
		st := c.find(s.sid)
		switch {
		case s.id == c.client && st == nil:
			kind = blkRequest
		case s.id == c.client:
			kind = blkTrailers
		case st == nil:
			kind = blkUnmatched
		case !st.hasResp:
			kind = blkResponse
		default:
			kind = blkTrailers
		}
	}
	s.blkKind = kind
	// Fields nobody keeps are still decoded (the dynamic table must stay in step) but
	// not turned into strings.
	s.dec.SetEmitEnabled(kind == blkRequest || kind == blkResponse)
}

// setLimits gives the field callback the limits it checks.
func (s *side) setLimits(l *limits) { s.lim = l }

// onField receives each decoded field of the block in progress.
func (s *side) onField(f hpack.HeaderField) {
	b := &s.blk
	b.size += len(f.Name) + len(f.Value) + 32
	if strings.HasPrefix(f.Name, ":") {
		// Pseudo-header fields are kept even past the limit, but a value is cut to what
		// is left of it (at least 1 KiB), as an HTTP/1.x start line is.
		v := f.Value
		if room := max(s.lim.maxListSize-b.kept, 1<<10); len(v) > room {
			v, b.truncated = v[:room], true
		}
		switch f.Name {
		case ":method":
			b.method = v
		case ":path":
			b.path = v
		case ":authority":
			b.authority = v
		case ":scheme":
			b.scheme = v
		case ":status":
			b.status = v
		default:
			return
		}
		b.kept += len(v)
		return
	}
	if len(b.fields) >= s.lim.maxHeaders || b.size > s.lim.maxListSize {
		b.truncated = true
		return
	}
	if b.fields == nil {
		// One allocation for a typical API message, with room for the host field added
		// to requests; append doubles it for longer lists.
		b.fields = make([]Field, 0, 8)
	}
	b.fields = append(b.fields, Field{Name: f.Name, Value: f.Value})
	b.kept += len(f.Name) + len(f.Value)
}

// closeBlock ends the header block in progress (END_HEADERS seen).
func (c *Conn) closeBlock(s *side) {
	s.blkOpen = false
	if err := s.dec.Close(); err != nil {
		c.hpackError(s)
		return
	}
	b := &s.blk
	if b.truncated {
		mTruncated.Inc()
	}
	switch s.blkKind {
	case blkRequest:
		c.openStream(s)
	case blkResponse:
		st := c.find(s.blkSID)
		if st == nil {
			break // evicted while its block was in flight
		}
		code, err := strconv.Atoi(b.status)
		if err == nil && code >= 100 && code < 200 {
			mInterim.Inc()
			break
		}
		if err != nil {
			code = 0
		}
		st.hasResp = true
		st.size += b.kept
		c.pending += b.kept
		st.resp = Response{TS: s.blkTS, Status: code, Header: b.fields, Truncated: b.truncated}
		if s.blkEnd {
			st.respDone = true
			c.tryDone(st)
		}
	case blkTrailers:
		if s.blkEnd {
			c.endStream(s, s.blkSID)
		}
	case blkUnmatched:
		mUnmatched.Inc()
	}
	s.blk = block{}
}

// openStream turns a client's first header block on a stream into a tracked request.
func (c *Conn) openStream(s *side) {
	b := &s.blk
	for len(c.streams) > 0 && (len(c.streams) >= c.lim.maxStreams || c.pending+b.kept > c.lim.maxPending) {
		if len(c.streams) >= c.lim.maxStreams {
			c.parseError(s.id, reasonTooManyStreams)
		} else {
			c.parseError(s.id, reasonPendingBytes)
		}
		old := c.streams[0]
		c.remove(old)
		c.release(old)
	}
	st := &stream{id: s.blkSID, reqDone: s.blkEnd, size: b.kept}
	c.pending += st.size
	st.ex.ClientSide = c.client
	st.req = Request{
		TS: s.blkTS, StreamID: s.blkSID,
		Method: b.method, Path: b.path, Authority: b.authority, Scheme: b.scheme,
		Header: requestHeader(b.fields, b.authority), Truncated: b.truncated,
	}
	i, _ := slices.BinarySearchFunc(c.streams, st.id, byID)
	c.streams = slices.Insert(c.streams, i, st)
	mStreams.Inc()
	if st.reqDone {
		c.tryDone(st)
	}
}

// requestHeader joins cookie crumbs into one field (RFC 9113 section 8.2.3) and adds a
// host field from :authority when none was sent, as an HTTP/1.1 request would carry.
func requestHeader(fields []Field, authority string) []Field {
	hasHost, cookies := false, 0
	for i := range fields {
		switch fields[i].Name {
		case "host":
			hasHost = true
		case "cookie":
			cookies++
		}
	}
	if cookies > 1 {
		var sb strings.Builder
		out := fields[:0]
		first := -1
		for _, f := range fields {
			if f.Name != "cookie" {
				out = append(out, f)
				continue
			}
			if first < 0 {
				first = len(out)
				out = append(out, f)
			} else {
				sb.WriteString("; ")
			}
			sb.WriteString(f.Value)
		}
		out[first].Value = sb.String()
		fields = out
	}
	if !hasHost && authority != "" {
		// Userinfo is forbidden in :authority (RFC 9113 section 8.3.1) and may hold a
		// password: it never reaches the host field.
		if i := strings.LastIndexByte(authority, '@'); i >= 0 {
			authority = authority[i+1:]
		}
		fields = append(fields, Field{Name: "host", Value: authority})
	}
	return fields
}

func byID(st *stream, id uint32) int { return cmp.Compare(st.id, id) }

// find returns the open stream with the given id, or nil.
func (c *Conn) find(id uint32) *stream {
	if i, ok := slices.BinarySearchFunc(c.streams, id, byID); ok {
		return c.streams[i]
	}
	return nil
}

// endStream records END_STREAM from side s on stream id.
func (c *Conn) endStream(s *side, id uint32) {
	st := c.find(id)
	if st == nil {
		return
	}
	if s.id == c.client {
		st.reqDone = true
	} else if st.hasResp {
		st.respDone = true
	}
	c.tryDone(st)
}

// tryDone emits st once both its messages ended (the request may have been cut short by
// the client's RST_STREAM).
func (c *Conn) tryDone(st *stream) {
	if st.respDone && (st.reqDone || st.reset) {
		c.remove(st)
		c.release(st)
	}
}

func (c *Conn) remove(st *stream) {
	if i, ok := slices.BinarySearchFunc(c.streams, st.id, byID); ok && c.streams[i] == st {
		c.streams = slices.Delete(c.streams, i, i+1)
		c.pending -= st.size
	}
}

// release emits st (already removed from the open streams), marking what did not end.
func (c *Conn) release(st *stream) {
	if !st.reqDone {
		st.req.Partial = true
	}
	if st.hasResp && !st.respDone {
		st.resp.Partial = true
	}
	if st.hidden {
		if st.hasResp {
			mUpgradeResponses.Inc()
		}
		return
	}
	st.ex.Req = &st.req
	st.ex.Resp = nil
	if st.hasResp {
		st.ex.Resp = &st.resp
	} else {
		mNoResponse.Inc()
	}
	mTransactions.Inc()
	if c.emit != nil {
		c.emit(&st.ex)
	}
}

// reset handles RST_STREAM on stream id from side s.
//
// A client that resets a stream before any response cannot stop a response the server
// already sent: such a response is still paired with the request when it comes (the
// stream is emitted when it ends, or at End). A server's reset, or a client's after the
// response began, ends the stream at once. A reset after a complete response (a server
// that no longer wants the rest of the request body, RFC 9113 section 8.1) does not make
// the request Partial.
func (c *Conn) reset(s *side, id uint32) {
	st := c.find(id)
	if st == nil {
		return
	}
	mResets.Inc()
	if s.id == c.client && !st.hasResp {
		st.reset = true
		return
	}
	if st.respDone {
		st.reqDone = true
	}
	c.remove(st)
	c.release(st)
}

// goAway handles GOAWAY: from the server, streams above last were never processed and
// will get no response.
func (c *Conn) goAway(s *side, last uint32) {
	mGoaways.Inc()
	if s.id == c.client {
		return
	}
	i, _ := slices.BinarySearchFunc(c.streams, last+1, byID)
	gone := slices.Clone(c.streams[i:])
	for _, st := range gone {
		c.remove(st)
		c.release(st)
	}
}

// flush emits every open stream in stream order.
func (c *Conn) flush() {
	open := c.streams
	c.streams, c.pending = nil, 0
	for _, st := range open {
		c.release(st)
	}
}

func (c *Conn) hpackError(s *side) {
	mHPACKErrors.Inc()
	c.stop(s.id, reasonHPACK)
}

// stop gives the connection up: what is open is emitted as Partial, the rest ignored.
func (c *Conn) stop(side, reason int) {
	if c.stopped {
		return
	}
	c.parseError(side, reason)
	mStopped.Inc()
	c.stopped = true
	for _, st := range c.streams {
		st.req.Partial = true
		st.resp.Partial = st.hasResp
	}
	c.flush()
	for i := range c.sides {
		c.sides[i].blkOpen = false
		c.sides[i].blk = block{}
	}
}

func (c *Conn) parseError(side, reason int) {
	mParseErrors[reason].Inc()
	if !c.logged && c.lim.log != nil {
		c.logged = true
		c.lim.log.Debug("http2 parse error", zap.String("reason", reasonNames[reason]), zap.Int("side", side))
	}
}
