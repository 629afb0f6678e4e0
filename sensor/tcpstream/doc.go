// Package tcpstream rebuilds the two byte streams of each TCP connection from segments,
// on top of gopacket/reassembly, and hands them to a Handler (the HTTP parser).
//
// One Assembler belongs to one flow worker goroutine and has its own StreamPool: the flow
// sharder guarantees that both directions of a connection reach the same worker, so no
// state is shared and nothing is locked.
//
// What the Assembler does with awkward traffic:
//
//   - Out-of-order segments are buffered in pages until the missing bytes arrive;
//     retransmitted and overlapping bytes are delivered once.
//   - Connections already open when capture starts are accepted without a SYN: the first
//     segment seen in a direction starts that direction, and the Handler resynchronises.
//   - Bytes that never arrive (drops before the capture point) become a Handler.Gap once
//     the out-of-order data behind them is older than Config.FlushTimeout in capture time,
//     when a memory bound forces it, or at FlushAll.
//   - A FIN ends a direction (Handler.Close); a connection ends (Handler.End) when both
//     directions have, when it has been idle for Config.IdleTimeout of capture time, or
//     at FlushAll.
//   - An RST is reported as Handler.Close but not believed outright, since endpoints
//     drop RSTs that fail their checks and attackers forge them: data that follows is
//     still delivered, and the connection ends once it has stayed quiet for a second.
//   - A SYN with a new initial sequence number, or after its direction closed, starts a
//     new connection on the same addresses and ports (a reused port, or a handshake
//     after forged RSTs): the old one ends first.
//   - When the receiver acknowledges bytes that were never captured, the hole is
//     delivered as a gap at once instead of after FlushTimeout; a direction first seen
//     mid-stream starts with a gap for the bytes its peer had already acknowledged.
//   - Memory is bounded per connection and per Assembler (buffered pages), and so is the
//     number of open connections; every time a bound forces a flush or a drop it is counted.
//
// A Handler that also implements Positioner is told, before each Feed, the TCP sequence
// number of the first byte and the acknowledgment number of the segment it came in (for
// bytes held back behind a hole, that of the segment they arrived in).
//
// Segments that arrive exactly in order, nearly all of them, take a shorter path
// (fast.go) that keeps the reassembler's per-direction state itself and tells the
// Handler exactly what the reassembler would; the first segment out of order hands the
// connection to the reassembler for good. Tests drive both paths with the same random
// segment sequences and require the same Handler calls.
//
// Time is capture time throughout: Tick is called with the capture clock, never the wall
// clock, so a capture file gives the same result on every run.
package tcpstream
