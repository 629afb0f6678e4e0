// Package httpwire rebuilds HTTP/1.x transactions from the two byte streams of a TCP
// connection, as a passive observer that sees what was sent, gaps included.
//
// # Contract with the reassembler
//
// One Conn per connection. The caller pushes each direction's reassembled bytes with
// Feed(side, b, ts), where side is 0 or 1 in whatever order the capture showed them (the
// Conn learns which side is the client from the first request or status line it sees),
// reports bytes that were never captured with Gap, a FIN or RST with Close, and the end of
// the connection (both closed, idle timeout, end of input) with End. Every Transaction is
// handed to the emit function given to NewConn, in request order. No call blocks, none
// starts a goroutine, and b is never retained: a Conn keeps at most one partial line per
// side and the header section of the message in progress, both bounded by Config.
//
// # What is parsed
//
// HTTP/1.0 and 1.1, keep-alive and pipelining (responses are matched to requests in
// order; at most Config.MaxPending wait), bodies framed by Content-Length, chunked coding
// (extensions ignored, trailers skipped) or the server's close. Bodies are counted, not
// kept, unless Config.BodyPrefix asks for their first bytes. Responses to HEAD, 204 and
// 304 have no body; 1xx interim responses are skipped and the request waits for its final
// response. A 101 Switching Protocols, or a 2xx answer to CONNECT, ends HTTP/1.x on the
// connection: the transaction is emitted and later bytes are only counted. A CONNECT
// tunnel whose client begins with a request line carries plain HTTP, and parsing goes on
// (as libhtp and Zeek do); one that begins otherwise (TLS) stays unparsed. The
// connection also turns into cleartext HTTP/2 on a 101 answering `Upgrade: h2c`, or the
// client's `PRI * HTTP/2.0` preface: then the rest of both directions goes to
// sensor/h2wire, whose exchanges come out through the same emit callback as
// Transactions with Version "HTTP/2".
//
// Header names keep their case and are compared case-insensitively; obs-fold continuation
// lines are joined with a space. The request-target is kept exactly as sent, spaces and
// tabs included. Bare LF line ends are accepted, as servers do.
//
// # Damage
//
// Bytes that are not a start line where one is expected (a capture that began mid-body,
// garbage, a body whose framing was lost) are skipped up to the next plausible request or
// status line, counted; a start line glued to the tail of such bytes is found too. A gap
// in a body is skipped and marks the message Partial; a gap in a header section keeps the
// message with what was parsed, marks it Partial and resynchronises.
//
// Pairing is kept in step across gaps: when lost bytes held the start of a response, the
// oldest unanswered request is emitted without one (Partial); when they held a request, a
// placeholder takes its place in the queue so that its response, if seen, is counted
// rather than paired with the next request.
//
// When the caller gives TCP positions (Conn.At, which tcpstream calls before each Feed),
// whole responses lost without a gap being reported are noticed too: a response answers
// the oldest waiting request sent with the highest acknowledgment of the server's bytes up
// to the response's first byte, and the requests before that one are emitted without a
// response (Partial). A response that arrives while no request waits (its request held
// back by the reassembler behind lost client bytes) is kept for the next request, which
// takes it if the response's segment acknowledged that request's first byte, whatever
// the capture times say; a lost request (a gap where a request began) takes it instead
// when it is the oldest response without a request. Otherwise a response never pairs
// with a request whose first byte was captured after the response's.
//
// A request line cut by a gap or by the connection's end (a snap length shorter than the
// line) is recorded, Partial, when it shows a known method and a target. Past a limit the
// message is recorded with Truncated and parsing goes on at the next message boundary. A
// response without a pending request (capture started mid-stream) is counted, not
// emitted. Every one of these paths increments a counter of metrics.Default (see
// metrics.go); none panics.
//
// # Timestamps
//
// Request.TS and Response.TS are the capture times passed with the Feed that carried the
// message's first byte.
package httpwire
