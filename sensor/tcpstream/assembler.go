package tcpstream

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"runtime/debug"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/reassembly"
	"go.uber.org/zap"

	"github.com/apiscope/apiscope/sensor/decode"
)

// Handler receives the reassembled bytes of one connection. Side 0 is the direction of
// the first segment seen (the source of that segment sends on side 0), which is not
// necessarily the client. Calls for one connection come from one goroutine, in order.
type Handler interface {
	// Feed delivers the next bytes of one side. b is borrowed until Feed returns.
	Feed(side int, b []byte, ts time.Time)
	// Gap reports n bytes of one side that were never captured, before the next Feed.
	Gap(side int, n int, ts time.Time)
	// Close reports that a side sent FIN or RST.
	Close(side int, ts time.Time)
	// End reports that the connection is over (both sides closed, idle timeout or end of
	// input). No call follows.
	End(ts time.Time)
}

// Positioner is a Handler that also wants to know where the bytes it is fed sit in the
// TCP stream (httpwire pairs a response with the request whose client had acknowledged
// the bytes before it). At is called before Feed, when known.
type Positioner interface {
	// At says that the next bytes fed on side begin at TCP sequence number seq, and
	// that the segment carrying the first of them acknowledged the other side's bytes
	// up to acked (ackOK false when it carried no acknowledgment).
	At(side int, seq, acked uint32, ackOK bool)
}

// Conn names a connection's two ends as first seen: Side0 sent the first segment.
type Conn struct {
	Side0, Side1 netip.AddrPort
}

// Factory makes the Handler of a new connection.
type Factory func(c Conn) Handler

// Config bounds an Assembler. The zero value gives bounded defaults.
type Config struct {
	// FlushTimeout is how long, in capture time, out-of-order data waits for the bytes
	// before it; then the hole becomes a gap. Zero means 5 s.
	FlushTimeout time.Duration
	// IdleTimeout ends a connection with no packets for this long in capture time.
	// Zero means 2 min.
	IdleTimeout time.Duration
	// MaxBufferedPagesPerConnection bounds out-of-order data held for one direction of a
	// connection, in pages of about 1900 bytes. Zero means 1024 (about 2 MiB).
	MaxBufferedPagesPerConnection int
	// MaxBufferedPagesTotal bounds out-of-order data held by one Assembler. Zero means
	// 65536 (about 125 MiB).
	MaxBufferedPagesTotal int
	// MaxConnections bounds the connections one Assembler tracks. Past it the oldest idle
	// connections are closed early and, if that is not enough, new connections are
	// ignored (counted). Zero means 262144.
	MaxConnections int
}

func durOr(v, d time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return d
}

func intOr(v, d int) int {
	if v > 0 {
		return v
	}
	return d
}

// Validate rejects negative values.
func (c *Config) Validate() error {
	if c.FlushTimeout < 0 || c.IdleTimeout < 0 || c.MaxBufferedPagesPerConnection < 0 ||
		c.MaxBufferedPagesTotal < 0 || c.MaxConnections < 0 {
		return fmt.Errorf("tcp reassembly limits must not be negative")
	}
	return nil
}

type phase uint8

const (
	phaseAssemble phase = iota
	phaseFlush
)

// pktCtx is the AssemblerContext of one segment. Out-of-order pages keep a pointer to it
// until they are delivered, so a segment that is queued needs its own; they are carved
// from slabs to avoid an allocation per packet, and a slot is only used up by a segment
// the reassembler queued (see ctxKept): in-order segments, nearly all of them, reuse one.
type pktCtx struct {
	ts    time.Time
	ack   uint32 // the segment's acknowledgment number, when ackOK
	ackOK bool
}

func (c *pktCtx) GetCaptureInfo() gopacket.CaptureInfo {
	return gopacket.CaptureInfo{Timestamp: c.ts}
}

const ctxSlab = 1024

// rstLinger is how long, in capture time, a connection must stay quiet after an RST
// before it is ended.
const rstLinger = time.Second

// maxStartGap bounds the hole reported before the first segment of a direction seen
// mid-stream; anything larger is taken for unrelated sequence numbers.
const maxStartGap = 1 << 24

// Assembler reassembles the connections of one flow worker. It is not safe for
// concurrent use: one goroutine owns it.
type Assembler struct {
	asm     *reassembly.Assembler
	factory Factory
	log     *zap.Logger

	flushTimeout, idleTimeout time.Duration
	maxConns                  int
	maxConnPages              int
	ackedHole                 bool // the current segment lowered the page bound

	open       int       // streams with a Handler, not yet complete
	now        time.Time // capture clock: latest segment or tick time
	lastForced time.Time
	phase      phase
	cur        *stream // stream being called into, for panic attribution
	seg        *decode.Segment

	tcp      layers.TCP
	hdr      [20]byte // a.tcp's ports point into it (fillTCP)
	tcpReady bool
	slab     []pktCtx
	ctxKept  bool // the reassembler may keep the current segment's context (Accept)
	panic    bool

	reset     []*stream // connections that saw an RST and have not ended yet
	reopen    *stream   // connection whose successor's SYN the current segment is
	synthetic bool      // reopenWith is closing a connection with made-up RSTs
	reopening bool      // reopenWith is assembling the SYN again

	conns map[connKey]connSlot // every connection, under both directions' keys (fast.go)
	// reassemblerOnly sends every segment to the reassembler: tests compare the two paths.
	reassemblerOnly bool
	adopting        *stream                     // adopt is handing this connection to the reassembler
	cache           [1 << connCacheBits]*stream // connections by cacheSlot (lookup)
}

// NewAssembler returns an Assembler that makes a Handler with f for each new connection.
// log may be nil.
func NewAssembler(cfg *Config, f Factory, log *zap.Logger) *Assembler {
	if cfg == nil {
		cfg = &Config{}
	}
	if log == nil {
		log = zap.NewNop()
	}
	a := &Assembler{
		factory:      f,
		log:          log,
		flushTimeout: durOr(cfg.FlushTimeout, 5*time.Second),
		idleTimeout:  durOr(cfg.IdleTimeout, 2*time.Minute),
		maxConns:     intOr(cfg.MaxConnections, 262144),
		conns:        make(map[connKey]connSlot),
	}
	a.asm = reassembly.NewAssembler(reassembly.NewStreamPool(&streamFactory{a: a}))
	a.maxConnPages = intOr(cfg.MaxBufferedPagesPerConnection, 1024)
	a.asm.MaxBufferedPagesPerConnection = a.maxConnPages
	a.asm.MaxBufferedPagesTotal = intOr(cfg.MaxBufferedPagesTotal, 65536)
	return a
}

// Open returns the number of connections being tracked.
func (a *Assembler) Open() int { return a.open }

// Add processes one segment. s.Payload is not retained.
func (a *Assembler) Add(s *decode.Segment) {
	newer := s.TS.After(a.now)
	if newer {
		a.now = s.TS
	}
	if a.open >= a.maxConns {
		a.relieve()
	}
	if !a.reassemblerOnly && a.fast(s, newer) {
		return
	}
	a.fillTCP(s)
	nf := netFlow(s)
	if len(a.slab) == 0 {
		a.slab = make([]pktCtx, ctxSlab)
	}
	ctx := &a.slab[0]
	ctx.ts, ctx.ack, ctx.ackOK = s.TS, s.Ack, s.Flags&decode.FlagACK != 0
	a.seg = s
	a.phase = phaseAssemble
	a.ctxKept = true
	a.guard(func() { a.asm.AssembleWithContext(nf, &a.tcp, ctx) })
	a.seg = nil
	if a.ctxKept {
		a.slab = a.slab[1:]
	}
	if a.ackedHole {
		a.ackedHole = false
		a.asm.MaxBufferedPagesPerConnection = a.maxConnPages
	}
	if old := a.reopen; old != nil {
		a.reopen = nil
		a.reopenWith(old, s)
	}
}

// reopenWith ends the connection old, makes the reassembler forget it, and assembles s
// (the SYN that opens its successor) again so that it starts a new connection. The
// reassembler forgets a connection once both its halves are closed, so each half that
// is still open is sent a made-up RST at the first sequence number seen from it, which
// it takes as old data and therefore accepts. Should that fail (a half that wrapped past
// 2 GiB), the SYN is dropped as before.
func (a *Assembler) reopenWith(old *stream, s *decode.Segment) {
	mReopened.Inc()
	old.end(a.now)
	a.synthetic = true
	for d := 0; d < 2 && !old.removed; d++ {
		if old.closed[d] {
			continue
		}
		src, dst := old.conn.Side0, old.conn.Side1
		if d == 1 {
			src, dst = dst, src
		}
		rst := decode.Segment{TS: s.TS, Src: src.Addr(), Dst: dst.Addr(), SrcPort: src.Port(), DstPort: dst.Port(),
			Seq: old.first[d], Flags: decode.FlagRST | decode.FlagACK}
		a.assembleOne(&rst)
	}
	a.synthetic = false
	a.reopening = true
	a.assembleOne(s)
	a.reopening = false
	a.reopen = nil
}

// netFlow is the network flow gopacket's reassembler keys s by.
func netFlow(s *decode.Segment) gopacket.Flow {
	if s.Src.Is4() && s.Dst.Is4() {
		src, dst := s.Src.As4(), s.Dst.As4()
		return gopacket.NewFlow(layers.EndpointIPv4, src[:], dst[:])
	}
	src, dst := s.Src.As16(), s.Dst.As16()
	return gopacket.NewFlow(layers.EndpointIPv6, src[:], dst[:])
}

// assembleOne assembles s with no bound checks (used by reopenWith).
func (a *Assembler) assembleOne(s *decode.Segment) {
	a.fillTCP(s)
	nf := netFlow(s)
	ctx := &pktCtx{ts: s.TS, ack: s.Ack, ackOK: s.Flags&decode.FlagACK != 0}
	a.seg = s
	a.guard(func() { a.asm.AssembleWithContext(nf, &a.tcp, ctx) })
	a.seg = nil
}

// fillTCP makes a.tcp describe s. layers.TCP keeps its port endpoints (which the
// reassembler's connection key is built from) in unexported slices that only decoding
// sets; decoding a.hdr once points them at a.hdr[0:4] for good, so each segment only
// writes its ports there and fills the exported fields the reassembler reads, which
// costs a third of decoding a header every time.
func (a *Assembler) fillTCP(s *decode.Segment) {
	h := a.hdr[:]
	if !a.tcpReady {
		h[12] = 5 << 4
		_ = a.tcp.DecodeFromBytes(h, gopacket.NilDecodeFeedback)
		a.tcpReady = true
	}
	binary.BigEndian.PutUint16(h[0:], s.SrcPort)
	binary.BigEndian.PutUint16(h[2:], s.DstPort)
	t := &a.tcp
	t.SrcPort, t.DstPort = layers.TCPPort(s.SrcPort), layers.TCPPort(s.DstPort)
	t.Seq, t.Ack = s.Seq, s.Ack
	f := s.Flags
	t.FIN = f&decode.FlagFIN != 0
	t.SYN = f&decode.FlagSYN != 0
	t.RST = f&decode.FlagRST != 0
	t.PSH = f&decode.FlagPSH != 0
	t.ACK = f&decode.FlagACK != 0
	t.URG = f&decode.FlagURG != 0
	t.Window = s.Window
	t.Payload = s.Payload
}

// Tick advances the capture clock to now: out-of-order data older than FlushTimeout is
// delivered behind a gap and connections idle for IdleTimeout end.
func (a *Assembler) Tick(now time.Time) {
	if now.After(a.now) {
		a.now = now
	}
	a.phase = phaseFlush
	var closed int
	a.guard(func() {
		_, closed = a.asm.FlushWithOptions(reassembly.FlushOptions{
			T:  a.now.Add(-a.flushTimeout),
			TC: a.now.Add(-a.idleTimeout),
		})
	})
	closed += a.closeIdle(a.now.Add(-a.idleTimeout))
	if closed > 0 {
		mIdleClosed.Add(uint64(closed))
	}
	a.endReset()
}

// endReset ends the connections that have stayed quiet for rstLinger since an RST. The
// reassembler keeps their entry until the idle timeout, without data or parser.
func (a *Assembler) endReset() {
	kept := a.reset[:0]
	for _, s := range a.reset {
		switch {
		case s.done || s.dead:
		case a.now.Sub(s.lastAt) >= rstLinger:
			mResetClosed.Inc()
			a.guard(func() { s.end(a.now) })
		default:
			kept = append(kept, s)
		}
	}
	clear(a.reset[len(kept):])
	a.reset = kept
}

// FlushAll delivers everything buffered and ends every connection (end of input). now is
// the capture time of the end of input, the same for every worker so that what the
// handlers are told does not depend on how connections were sharded; the clock never
// goes back.
func (a *Assembler) FlushAll(now time.Time) {
	if now.After(a.now) {
		a.now = now
	}
	a.phase = phaseFlush
	a.closeIdle(time.Time{})
	// A recovered panic leaves the connection involved dead; flush again for the rest.
	for i := 0; i < 16; i++ {
		a.panic = false
		a.guard(func() { a.asm.FlushAll() })
		if !a.panic {
			return
		}
	}
}

// relieve runs when the connection bound is reached: connections idle for a while are
// closed early, at most once per second of capture time.
func (a *Assembler) relieve() {
	if !a.lastForced.IsZero() && a.now.Sub(a.lastForced) < time.Second {
		return
	}
	a.lastForced = a.now
	mForcedConn.Inc()
	early := min(a.idleTimeout, 30*time.Second)
	a.phase = phaseFlush
	a.guard(func() {
		a.asm.FlushWithOptions(reassembly.FlushOptions{T: a.now.Add(-a.flushTimeout), TC: a.now.Add(-early)})
	})
	a.closeIdle(a.now.Add(-early))
}

// guard runs f and recovers a panic from it: the bug is counted and logged with its
// stack (the logger samples), and the connection being processed is dropped.
func (a *Assembler) guard(f func()) {
	defer func() { a.recovered(recover()) }()
	f()
	a.cur = nil
}

// recovered handles what a deferred call of guard (or rescue) recovered: nothing when
// r is nil (no panic), else the count, the log and the dropped connection.
func (a *Assembler) recovered(r any) {
	if r == nil {
		return
	}
	a.panic = true
	mPanics.Inc()
	fields := []zap.Field{zap.Any("panic", r), zap.ByteString("stack", debug.Stack())}
	if a.cur != nil {
		fields = append(fields, zap.Stringer("side0", a.cur.conn.Side0), zap.Stringer("side1", a.cur.conn.Side1))
		a.cur.kill()
	}
	a.log.Error("flow worker recovered from a bug; connection dropped", fields...)
	a.cur = nil
}

func (a *Assembler) ts(ac reassembly.AssemblerContext) time.Time {
	if c, ok := ac.(*pktCtx); ok && c != nil {
		return c.ts
	}
	return a.now
}

type streamFactory struct{ a *Assembler }

func (f *streamFactory) New(_, _ gopacket.Flow, _ *layers.TCP, _ reassembly.AssemblerContext) reassembly.Stream {
	a := f.a
	if st := a.adopting; st != nil {
		return st
	}
	s := a.seg
	if s == nil || a.synthetic {
		// Connections are only created by Add; keep the pool consistent regardless.
		return &stream{a: a, discard: true}
	}
	st := a.newStream(s)
	st.held = true
	// The Handler is made when the first byte or gap arrives: a connection seen only as
	// bare ACKs (the last ACK after both FINs, scans) costs no parser.
	return st
}

// stream is the reassembly.Stream of one connection.
type stream struct {
	a        *Assembler
	conn     Conn
	h        Handler
	ack      [2]reassembly.Sequence // highest acknowledgement of each side's bytes
	acked    [2]bool
	startGap [2]int    // bytes acknowledged before the first segment seen of a side
	first    [2]uint32 // sequence number of the first segment seen of each side
	seen     [2]bool
	synSeq   [2]uint32 // initial sequence number of each side's SYN
	syn      [2]bool
	closed   [2]bool   // the side's FIN or RST was delivered
	removed  bool      // the reassembler has forgotten the connection
	rstAt    time.Time // capture time of the first RST, zero if none
	lastAt   time.Time // capture time of the latest segment
	discard  bool      // over the connection bound: ignored
	dead     bool      // a bug was recovered while processing it
	done     bool

	// Connections the reassembler does not hold (held false) are followed by the
	// in-order path (fast.go), which keeps the reassembler's per-direction state here.
	pos Positioner // h, when it wants positions
	// queuedAcks remembers where the last segments the reassembler queued begin and
	// what they acknowledged: delivered later, their bytes reach the handler with the
	// context of whatever segment released them.
	queuedAcks [2][8]queuedAck
	queuedNext [2]uint8
	queuedLive [2]uint8  // entries of queuedAcks still ok
	seqAt      [2]uint32 // sequence number of the next byte to deliver, per side
	posOK      [2]bool   // seqAt is known

	held     bool         // the reassembler holds the connection
	half     [2]halfState // per side, while not held
	lastSeen time.Time    // latest segment of either side, while not held
}

func (s *stream) kill() {
	if s.dead || s.discard {
		return
	}
	s.dead = true
	s.h = nil
}

func (s *stream) Accept(tcp *layers.TCP, _ gopacket.CaptureInfo, dir reassembly.TCPFlowDirection, nextSeq reassembly.Sequence, start *bool, _ reassembly.AssemblerContext) bool {
	if s.a.adopting != nil {
		// A made-up segment that gives the reassembler a connection's state (adopt).
		*start = true
		return true
	}
	d := 0
	if dir == reassembly.TCPDirServerToClient {
		d = 1
	}
	h := segHdr{seq: tcp.Seq, ack: tcp.Ack, syn: tcp.SYN, ackf: tcp.ACK, rst: tcp.RST}
	ok := s.accept(d, &h, nextSeq, start)
	tcp.RST = h.rst
	return ok
}

// segHdr is what accept reads of a segment's TCP header; accept clears rst.
type segHdr struct {
	seq, ack       uint32
	syn, ackf, rst bool
}

// accept is the reassembler's Accept for a segment of side d, shared with the in-order
// path (fast.go): it decides whether the segment is used and keeps the connection's
// bookkeeping (handshake, RST, acknowledgements, mid-stream starts).
func (s *stream) accept(d int, tcp *segHdr, nextSeq reassembly.Sequence, start *bool) bool {
	if s.discard {
		mDroppedConn.Inc()
		return false
	}
	if s.dead {
		return false
	}
	if s.a.synthetic {
		// A segment made by reopen to close this connection's halves.
		if nextSeq == -1 {
			*start = true
		}
		return true
	}
	if tcp.syn {
		// A SYN with another initial sequence number, or after this side closed, opens
		// a new connection on the same addresses and ports (a reused port, or a forged
		// RST before the real handshake): the reassembler's state for the old one would
		// swallow it, so reopen replaces it once this call returns.
		if (s.syn[d] && s.synSeq[d] != tcp.seq) || s.closed[d] || s.done {
			if !s.a.reopening {
				s.a.reopen = s
			}
			return false
		}
		s.syn[d], s.synSeq[d] = true, tcp.seq
	}
	if s.done {
		return false
	}
	ts := s.a.now
	if s.a.seg != nil {
		ts = s.a.seg.TS
	}
	if ts.After(s.lastAt) {
		s.lastAt = ts
	}
	if tcp.rst {
		// An RST is not taken at its word: endpoints ignore RSTs that fail their checks
		// (a bad TCP-MD5 signature, a sequence number out of window, an evasion attempt)
		// and go on talking, and what they send afterwards must still be parsed. The
		// reassembler sees a plain ACK, the handler hears that the side closed, and the
		// connection ends once it has stayed quiet for rstLinger of capture time. A new
		// handshake on the same ports meanwhile replaces it (see reopenWith).
		tcp.rst = false
		if s.h != nil {
			s.h.Close(d, ts)
		}
		if s.rstAt.IsZero() {
			s.rstAt = ts
			s.a.reset = append(s.a.reset, s)
		}
	}
	if !s.seen[d] {
		s.seen[d], s.first[d] = true, tcp.seq
	}
	if tcp.ackf {
		s.noteAck(1-d, tcp.ack)
	}
	if nextSeq != -1 && s.acked[d] && nextSeq.Difference(s.ack[d]) > 0 &&
		nextSeq.Difference(reassembly.Sequence(tcp.seq)) > 0 {
		// The receiver has acknowledged bytes of this direction that were never
		// captured, and this segment lies beyond them: no retransmission will ever fill
		// the hole, so waiting for FlushTimeout would only hold the data back. Lowering
		// the page bound for this one segment makes the reassembler deliver the queued
		// data behind a gap now, for this connection only.
		s.a.ackedHole = true
		s.a.asm.MaxBufferedPagesPerConnection = 1
	}
	// Accept connections already open when capture started: the first segment seen in a
	// direction starts it, and the parser resynchronises on the next message.
	if !*start && nextSeq == -1 && !tcp.syn {
		*start = true
		// The other side may already have acknowledged bytes of this direction that
		// were never captured: the stream then starts behind a gap, which the parser
		// needs to know about to pair responses correctly.
		if s.acked[d] {
			if n := s.ack[d].Difference(reassembly.Sequence(tcp.seq)); n > 0 && n < maxStartGap {
				s.startGap[d] = n
			}
		}
	}
	if nextSeq == -1 {
		// The direction starts here: at this segment, or after the SYN.
		s.seqAt[d], s.posOK[d] = tcp.seq, true
		if tcp.syn {
			s.seqAt[d]++
		}
	}
	s.noteQueued(tcp, nextSeq, start)
	if s.a.ctxKept && tcp.ackf && s.pos != nil {
		i := s.queuedNext[d] % uint8(len(s.queuedAcks[d]))
		if !s.queuedAcks[d][i].ok {
			s.queuedLive[d]++
		}
		s.queuedAcks[d][i] = queuedAck{seq: tcp.seq, ack: tcp.ack, ok: true}
		s.queuedNext[d]++
	}
	return true
}

// noteAck remembers how far side r's bytes have been acknowledged by the other side.
func (s *stream) noteAck(r int, ack uint32) {
	if a := reassembly.Sequence(ack); !s.acked[r] || a.Difference(s.ack[r]) < 0 {
		s.ack[r], s.acked[r] = a, true
	}
}

// queuedAck is where a queued segment begins and what it acknowledged.
type queuedAck struct {
	seq, ack uint32
	ok       bool
}

// noteQueued tells Add whether the reassembler may keep the segment it accepted, and
// with it the segment's context: it queues (and so keeps) exactly the segments that
// neither start a direction (a SYN, or a forced start) nor begin at or before the next
// expected byte; it delivers the others at once and forgets them.
func (s *stream) noteQueued(tcp *segHdr, nextSeq reassembly.Sequence, start *bool) {
	if nextSeq == -1 {
		s.a.ctxKept = !tcp.syn && !*start
		return
	}
	s.a.ctxKept = nextSeq.Difference(reassembly.Sequence(tcp.seq)) > 0
}

func (s *stream) ReassembledSG(sg reassembly.ScatterGather, ac reassembly.AssemblerContext) {
	if s.dead || s.discard || s.done || s.a.adopting != nil {
		return
	}
	dir, _, end, skip := sg.Info()
	side := 0
	if dir == reassembly.TCPDirServerToClient {
		side = 1
	}
	var b []byte
	if n, _ := sg.Lengths(); n > 0 {
		b = sg.Fetch(n)
	}
	// The context is the segment the delivered bytes begin with: the one that filled
	// the hole, or the first one queued when a flush gives up on a hole.
	var ack uint32
	ackOK := false
	if c, ok := ac.(*pktCtx); ok && c != nil {
		ack, ackOK = c.ack, c.ackOK
	}
	// The time is that of the segment holding the first delivered byte: a page queued
	// behind a hole keeps its own, where ac is the segment that released it (a later
	// one, when a flush or an acknowledged hole forced the delivery).
	ts := sg.CaptureInfo(0).Timestamp
	if ts.IsZero() {
		ts = s.a.ts(ac)
	}
	s.deliver(side, b, end, skip, ts, ack, ackOK)
}

// deliver hands the handler what the reassembler (or the in-order path) releases for
// side: skip bytes lost before b (if positive), b, and the side's end. ack is the
// acknowledgment number of the segment b begins with (ackOK false when it had none).
func (s *stream) deliver(side int, b []byte, end bool, skip int, ts time.Time, ack uint32, ackOK bool) {
	if s.dead || s.discard || s.done {
		return
	}
	a := s.a
	if end {
		s.closed[side] = true
	}
	if s.h == nil {
		if len(b) == 0 && skip <= 0 && s.startGap[side] == 0 {
			return
		}
		a.cur = s
		mStreams.Inc()
		s.h = a.factory(s.conn)
		s.pos, _ = s.h.(Positioner)
	}
	a.cur = s
	if g := s.startGap[side]; g > 0 {
		s.startGap[side] = 0
		mGaps.Inc()
		mGapBytes.Add(uint64(g))
		s.h.Gap(side, g, ts)
	}
	if skip > 0 {
		mGaps.Inc()
		mGapBytes.Add(uint64(skip))
		switch {
		case a.ackedHole:
			mAckedHoles.Inc()
		case a.phase == phaseAssemble:
			// While assembling, data is only delivered past a hole when a page budget
			// forced it.
			mForcedBuffer.Inc()
		}
		s.h.Gap(side, skip, ts)
	}
	if s.posOK[side] {
		s.seqAt[side] += uint32(max(skip, 0))
	}
	if len(b) > 0 {
		if s.pos != nil && s.posOK[side] {
			if s.queuedLive[side] > 0 {
				for i := range s.queuedAcks[side] {
					if q := &s.queuedAcks[side][i]; q.ok && q.seq == s.seqAt[side] {
						ack, ackOK = q.ack, true
						q.ok = false
						s.queuedLive[side]--
					}
				}
			}
			s.pos.At(side, s.seqAt[side], ack, ackOK)
		}
		s.seqAt[side] += uint32(len(b))
		s.h.Feed(side, b, ts)
	}
	if end && s.h != nil {
		s.h.Close(side, ts)
	}
	a.cur = nil
}

func (s *stream) ReassemblyComplete(_ reassembly.AssemblerContext) bool {
	s.removed = true
	s.a.untrack(s)
	s.end(s.a.now)
	return true
}

// end finishes the connection once: the handler's End, then nothing more.
func (s *stream) end(ts time.Time) {
	if s.done {
		return
	}
	s.done = true
	if s.discard {
		return
	}
	s.a.open--
	if s.h != nil {
		s.a.cur = s
		s.h.End(ts)
		s.a.cur = nil
		s.h = nil
	}
}
