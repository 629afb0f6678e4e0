package tcpstream

import (
	"net/netip"
	"time"

	"github.com/google/gopacket/reassembly"

	"github.com/apiscope/apiscope/sensor/decode"
)

// The in-order path. Nearly every segment of a healthy capture arrives exactly where
// its direction's stream is up to, and most of the rest are bare ACKs. For those the
// reassembler's machinery (its connection pool, locks, page lists, scatter-gather) does
// nothing but bookkeeping, yet it was about a third of a flow worker's time. So a
// connection starts outside the reassembler: this file keeps the little state the
// reassembler would (per direction: the next sequence number expected, whether the
// direction is closed; per connection: when it was last seen), applies the same Accept
// logic and delivers the same bytes, ends and times to the handler, in the same order.
// The first segment that is not exactly in order (a hole, a retransmission, an overlap,
// a SYN on a connection already seen) makes the connection adopted: its state is handed
// to the reassembler, which holds it from then on, and the segment goes there.
//
// The reassembler's behaviour that the in-order path reproduces, from
// gopacket/reassembly's AssembleWithContext, handleBytes, sendToConnection and
// FlushWithOptions:
//   - a direction's first segment starts it: a SYN at its sequence number plus one,
//     anything else at its own sequence number (Accept forces the start);
//   - a segment at the expected sequence number is delivered at once when it carries
//     bytes, a FIN or a SYN, and then moves the expected number past its bytes (and its
//     FIN); a bare ACK only goes through Accept;
//   - a FIN closes its direction after its delivery; when both are closed the connection
//     is complete and forgotten;
//   - Accept sees every segment of the connection, also those of a closed direction,
//     whose use ends there;
//   - a connection whose latest segment is older than the idle timeout has its open
//     directions closed (each counted) and is complete.

// connKey names a connection seen from one direction, as the reassembler's pool does:
// IPv4 endpoints when both addresses are IPv4, 16-byte ones otherwise.
type connKey struct {
	src, dst     [16]byte
	sport, dport uint16
	v4           bool
}

func keyOf(src netip.Addr, sport uint16, dst netip.Addr, dport uint16) connKey {
	return connKey{src: src.As16(), dst: dst.As16(), sport: sport, dport: dport, v4: src.Is4() && dst.Is4()}
}

// connSlot is a connection and the side that sends in the key's direction.
type connSlot struct {
	s    *stream
	side uint8
}

// halfState is the reassembler's state of one direction that the in-order path keeps.
type halfState struct {
	next    uint32 // next sequence number expected, when started
	started bool
	closed  bool
}

// connCacheBits sizes the direct-mapped cache of connections in front of conns: a map
// lookup (hashing a 38-byte key) cost three times the rest of a segment's lookup, and
// a capture interleaves its connections, so remembering only the last one missed once
// per request.
const connCacheBits = 8

// cacheSlot is a connection's slot in the cache. It depends on the ports alone, the same
// for both directions, so one slot serves a connection and a key's stale entries can
// only sit in its own slot.
func cacheSlot(p, q uint16) uint32 {
	return uint32(p^q) * 0x9e3779b1 >> (32 - connCacheBits)
}

// lookup finds the connection of seg's key. The cache is tried first: its entry is a
// connection that conns holds under both its keys (track and untrack keep it so), and
// equal addresses and ports are equal keys. Anything else (a miss, another connection
// in the slot, addresses equal as keys but not as netip.Addr) is looked up in conns. A
// connection whose two keys are one (both ends alike, as keys) is not cached: conns
// holds it for side 0 whichever end a segment comes from.
func (a *Assembler) lookup(seg *decode.Segment) (connSlot, bool) {
	i := cacheSlot(seg.SrcPort, seg.DstPort)
	if st := a.cache[i]; st != nil {
		c := &st.conn
		if seg.SrcPort == c.Side0.Port() && seg.DstPort == c.Side1.Port() &&
			seg.Src == c.Side0.Addr() && seg.Dst == c.Side1.Addr() {
			return connSlot{s: st, side: 0}, true
		}
		if seg.SrcPort == c.Side1.Port() && seg.DstPort == c.Side0.Port() &&
			seg.Src == c.Side1.Addr() && seg.Dst == c.Side0.Addr() {
			return connSlot{s: st, side: 1}, true
		}
	}
	k := keyOf(seg.Src, seg.SrcPort, seg.Dst, seg.DstPort)
	sl, ok := a.conns[k]
	if ok && (k.sport != k.dport || k.src != k.dst) {
		a.cache[i] = sl.s
	}
	return sl, ok
}

// track records st (made by the reassembler) under both its keys, side 1 first: a
// connection whose two ends are the same has one key, and the reassembler takes its
// segments for side 0.
func (a *Assembler) track(st *stream) {
	c := st.conn
	a.cache[cacheSlot(c.Side0.Port(), c.Side1.Port())] = nil // a predecessor's keys
	a.conns[keyOf(c.Side1.Addr(), c.Side1.Port(), c.Side0.Addr(), c.Side0.Port())] = connSlot{s: st, side: 1}
	a.conns[keyOf(c.Side0.Addr(), c.Side0.Port(), c.Side1.Addr(), c.Side1.Port())] = connSlot{s: st, side: 0}
}

// untrack forgets st once it is complete; a successor on the same addresses may
// already have taken its keys.
func (a *Assembler) untrack(st *stream) {
	c := st.conn
	if i := cacheSlot(c.Side0.Port(), c.Side1.Port()); a.cache[i] == st {
		a.cache[i] = nil
	}
	for _, k := range [2]connKey{
		keyOf(c.Side0.Addr(), c.Side0.Port(), c.Side1.Addr(), c.Side1.Port()),
		keyOf(c.Side1.Addr(), c.Side1.Port(), c.Side0.Addr(), c.Side0.Port()),
	} {
		if a.conns[k].s == st {
			delete(a.conns, k)
		}
	}
}

// fast handles seg on the in-order path and reports true, or reports false when seg
// must go to the reassembler (its connection is held there, or is handed over now).
// newer says that seg is later than every segment and tick before it.
func (a *Assembler) fast(seg *decode.Segment, newer bool) bool {
	sl, ok := a.lookup(seg)
	syn := seg.Flags&decode.FlagSYN != 0
	if ok {
		st, d := sl.s, int(sl.side)
		if st.held {
			return false
		}
		if h := &st.half[d]; h.started && seg.Flags&(decode.FlagSYN|decode.FlagRST) == 0 &&
			!st.discard && !st.dead && !st.done {
			// Nearly every segment: what inOrder and fastSegment do, in short.
			if seg.Seq != h.next {
				a.adopt(st)
				return false
			}
			a.steadySegment(st, h, d, seg, newer)
			return true
		}
		if !a.inOrder(st, d, seg, syn) {
			a.adopt(st)
			return false
		}
	} else {
		if syn && (len(seg.Payload) > 0 || seg.Flags&(decode.FlagFIN|decode.FlagRST) != 0) {
			return false // an odd opening: the reassembler makes the connection
		}
		sl = connSlot{s: a.newStream(seg), side: 0}
		sl.s.lastSeen = seg.TS
	}
	a.seg = seg
	a.phase = phaseAssemble
	a.guardSegment(sl.s, int(sl.side), seg, syn, newer)
	a.seg = nil
	return true
}

// newStream makes and tracks the connection seg opens (for the in-order path and for
// streamFactory.New), discarding it when the connection bound is reached.
func (a *Assembler) newStream(seg *decode.Segment) *stream {
	st := &stream{a: a}
	st.conn = Conn{
		Side0: netip.AddrPortFrom(seg.Src, seg.SrcPort),
		Side1: netip.AddrPortFrom(seg.Dst, seg.DstPort),
	}
	a.track(st)
	if a.open >= a.maxConns {
		st.discard = true
	} else {
		a.open++
	}
	return st
}

// inOrder reports whether the reassembler would use seg (side d of st) at once or
// ignore it, so that the in-order path may handle it.
func (a *Assembler) inOrder(st *stream, d int, seg *decode.Segment, syn bool) bool {
	if st.discard || st.dead {
		return true // Accept refuses everything
	}
	h := &st.half[d]
	switch {
	case syn:
		// Only a direction's opening SYN; any other one may open a new connection on
		// the same ports (reopenWith), which is the reassembler's business.
		return !h.started && !st.syn[d] && !st.closed[d] && !st.done && len(seg.Payload) == 0 &&
			seg.Flags&(decode.FlagFIN|decode.FlagRST) == 0
	case !h.started:
		return true // a direction's first segment starts it where it is
	default:
		return seg.Seq == h.next
	}
}

// guardSegment is guard(func() { a.fastSegment(st, d, seg, syn, newer) }) without making a
// closure and without calling recover for every segment that did not panic.
func (a *Assembler) guardSegment(st *stream, d int, seg *decode.Segment, syn, newer bool) {
	finished := false
	defer func() {
		if !finished {
			a.recovered(recover())
		}
	}()
	a.fastSegment(st, d, seg, syn, newer)
	finished = true
	a.cur = nil
}

// fastSegment does for seg (side d of st) what the reassembler and Accept would. newer
// (seg is later than a.now was) spares a time comparison: a.now is never earlier than
// st.lastSeen.
func (a *Assembler) fastSegment(st *stream, d int, seg *decode.Segment, syn, newer bool) {
	h := &st.half[d]
	if newer || seg.TS.After(st.lastSeen) {
		st.lastSeen = seg.TS
	}
	next := reassembly.Sequence(-1)
	if h.started {
		next = reassembly.Sequence(h.next)
	}
	start := syn && !h.started
	hdr := segHdr{seq: seg.Seq, ack: seg.Ack, syn: syn, ackf: seg.Flags&decode.FlagACK != 0,
		rst: seg.Flags&decode.FlagRST != 0}
	if !st.accept(d, &hdr, next, &start) || h.closed {
		return
	}
	if !h.started {
		h.started = true
		h.next = seg.Seq
		if syn {
			h.next++
		}
	}
	fin := seg.Flags&decode.FlagFIN != 0
	end := fin || hdr.rst
	if len(seg.Payload) > 0 || end || syn {
		st.deliver(d, seg.Payload, end, 0, seg.TS, seg.Ack, seg.Flags&decode.FlagACK != 0)
	}
	h.next += uint32(len(seg.Payload))
	if fin {
		h.next++
	}
	if end {
		h.closed = true
		if st.half[1-d].closed {
			st.ReassemblyComplete(nil)
		}
	}
}

// steadySegment is fastSegment for a segment without SYN or RST at the
// next sequence number of a started direction of a live connection (neither
// discarded, dead nor done), which is nearly every one. Of accept's work only the
// times and the acknowledgment are left: the segment is neither a direction's first
// nor beyond a hole, and the reassembler would not keep it. st.lastAt equals
// st.lastSeen here: both start at the connection's first segment (newStream, then
// accept as that segment starts its direction) and follow every later segment the same
// way until the connection is discarded, dead or done, which never come here. Only
// the handler calls need guard's recovery, so only steadyDeliver has it.
func (a *Assembler) steadySegment(st *stream, h *halfState, d int, seg *decode.Segment, newer bool) {
	if newer || seg.TS.After(st.lastSeen) {
		st.lastSeen, st.lastAt = seg.TS, seg.TS
	}
	ackf := seg.Flags&decode.FlagACK != 0
	if ackf {
		st.noteAck(1-d, seg.Ack)
	}
	if h.closed || len(seg.Payload) == 0 && seg.Flags&decode.FlagFIN == 0 {
		return // a bare ACK calls no handler, so it needs no guard
	}
	a.steadyDeliver(st, h, d, seg, ackf)
}

// steadyDeliver is the rest of steadySegment for a segment with bytes or a FIN, under
// guard: deliver's work for bytes that follow the side's last ones on a live connection
// is, once the handler exists and no gap or queued acknowledgment is pending, only the
// position, the bytes and the end.
func (a *Assembler) steadyDeliver(st *stream, h *halfState, d int, seg *decode.Segment, ackf bool) {
	finished := false
	defer func() {
		if !finished {
			a.recovered(recover())
		}
	}()
	fin := seg.Flags&decode.FlagFIN != 0
	b := seg.Payload
	if st.h == nil || st.startGap[d] != 0 || st.queuedLive[d] != 0 {
		st.deliver(d, b, fin, 0, seg.TS, seg.Ack, ackf)
	} else {
		a.cur = st
		if fin {
			st.closed[d] = true
		}
		if len(b) > 0 {
			if st.pos != nil && st.posOK[d] {
				st.pos.At(d, st.seqAt[d], seg.Ack, ackf)
			}
			st.seqAt[d] += uint32(len(b))
			st.h.Feed(d, b, seg.TS)
		}
		if fin {
			st.h.Close(d, seg.TS)
		}
	}
	h.next += uint32(len(b))
	if fin {
		h.next++
		h.closed = true
		if st.half[1-d].closed {
			st.ReassemblyComplete(nil)
		}
	}
	finished = true
	a.cur = nil
}

// closeIdle closes the connections on the in-order path last seen before tc (all of
// them when tc is zero) and returns how many directions it closed.
func (a *Assembler) closeIdle(tc time.Time) int {
	closed := 0
	for _, sl := range a.conns {
		st := sl.s
		if sl.side != 0 || st.held || (!tc.IsZero() && !st.lastSeen.Before(tc)) {
			continue
		}
		for d := 1; d >= 0; d-- { // the reassembler's order: server side, then client side
			if !st.half[d].closed {
				st.half[d].closed = true
				closed++
			}
		}
		a.guard(func() { st.ReassemblyComplete(nil) })
	}
	return closed
}

// adopt hands st to the reassembler: made-up empty segments, one per direction that
// has started, give it each direction's next sequence number (a closed direction gets
// its FIN again) and the connection's last-seen time, while Accept and ReassembledSG
// ignore them. Side 0 goes first, so that the reassembler's client-to-server
// direction is side 0 as for connections it made itself.
func (a *Assembler) adopt(st *stream) {
	st.held = true
	a.adopting = st
	for d := 0; d < 2; d++ {
		h := &st.half[d]
		if !h.started {
			continue
		}
		src, dst := st.conn.Side0, st.conn.Side1
		if d == 1 {
			src, dst = dst, src
		}
		seg := decode.Segment{TS: st.lastSeen, Src: src.Addr(), Dst: dst.Addr(), SrcPort: src.Port(),
			DstPort: dst.Port(), Seq: h.next, Flags: decode.FlagACK}
		if h.closed {
			seg.Seq--
			seg.Flags |= decode.FlagFIN
		}
		a.fillTCP(&seg)
		nf := netFlow(&seg)
		ctx := &pktCtx{ts: st.lastSeen}
		a.guard(func() { a.asm.AssembleWithContext(nf, &a.tcp, ctx) })
	}
	a.adopting = nil
}
