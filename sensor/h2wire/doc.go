// Package h2wire rebuilds HTTP/2 transactions from the two byte streams of a cleartext
// HTTP/2 connection (h2c), as a passive observer that sees what was sent, gaps included.
//
// # Contract with the caller
//
// One Conn per connection, made once the connection is known to speak HTTP/2: the client
// sent the connection preface (prior knowledge, RFC 9113 section 3.3), or the server
// answered an HTTP/1.1 request carrying "Upgrade: h2c" with 101 Switching Protocols
// (RFC 7540 section 3.2). The caller pushes each direction's reassembled bytes with
// Feed(side, b, ts), reports bytes that were never captured with Gap, a FIN or RST with
// Close and the end of the connection with End, exactly as for an HTTP/1.x parser. Every
// Exchange is handed to the emit function given to NewConn when its stream completes. No
// call blocks, none starts a goroutine, and b is never retained.
//
// # What is parsed
//
// Frames of any size the protocol allows (up to 16 MiB; the peer's SETTINGS_MAX_FRAME_SIZE
// is not needed because nothing but HPACK state is buffered): HEADERS and CONTINUATION
// with HPACK decoding (one decoder per direction, golang.org/x/net/http2/hpack, fed in
// pieces as the bytes come), padding and priority fields, DATA counted per stream as body
// bytes (padding excluded), END_STREAM, RST_STREAM, GOAWAY, and trailers (a second
// HEADERS block). SETTINGS, PING, PRIORITY, WINDOW_UPDATE and unknown frames are counted
// and skipped: the only setting that matters to an observer, the header table size, is
// checked by accepting dynamic table size updates up to Config.MaxDynamicTable.
// PUSH_PROMISE blocks are decoded to keep the HPACK state in step, counted, and otherwise
// ignored, as are pushed streams. 1xx interim responses are skipped.
//
// A request's pseudo-header fields become Request.Method, Path, Authority and Scheme; a
// "host" field is added from :authority when the request has none, so consumers that read
// the Host header work unchanged. Cookie crumbs (RFC 9113 section 8.2.3) are joined into
// one "cookie" field.
//
// # Gaps and errors
//
// HPACK is stateful: a header block that is lost or cannot be decoded leaves the dynamic
// table of that direction unknown, and every later header block of the connection
// unreadable. So a gap that falls anywhere but inside a DATA frame (or another frame that
// carries no header block), an HPACK error, or a broken frame sequence stops the Conn:
// transactions already complete were emitted, the open ones are emitted at once marked
// Partial, and the rest of the connection is counted and ignored. A gap inside a DATA
// frame only marks that stream's message Partial.
//
// # Limits
//
// Config bounds the fields kept per header block (count and bytes; pseudo-header values
// are cut to what is left of the byte budget), the longest HPACK string, the dynamic
// table size the peer may choose, and the streams tracked at once with the header bytes
// they hold. What a limit cuts is counted and marked Truncated (fields) or emitted early
// (streams, oldest first); memory per connection is bounded whatever the input. The
// "host" field made from :authority is added even past MaxHeaders.
package h2wire
