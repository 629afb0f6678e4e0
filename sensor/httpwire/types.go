package httpwire

import (
	"bytes"
	"time"
	"unicode/utf8"
)

// Field is one header line as sent (name case preserved). Values of folded (obs-fold)
// lines are joined with a single space.
type Field struct {
	Name, Value string
}

// Header is a message's header fields in the order sent.
type Header []Field

// Get returns the first value of the named field, compared case-insensitively; "" if absent.
func (h Header) Get(name string) string {
	for i := range h {
		// The length test first, here: most fields differ in length from name.
		// Then the exact spelling, which names on the wire almost always have, in
		// one memory comparison.
		if len(h[i].Name) == len(name) && (h[i].Name == name || equalFold(h[i].Name, name)) {
			return h[i].Value
		}
	}
	return ""
}

// Values returns every value of the named field, compared case-insensitively.
func (h Header) Values(name string) []string {
	var out []string
	for i := range h {
		if equalFold(h[i].Name, name) {
			out = append(out, h[i].Value)
		}
	}
	return out
}

// equalFold is bytes.EqualFold (Unicode simple folding) for strings of equal length,
// with a fast path for ASCII, which header names almost always are.
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if x|y >= utf8.RuneSelf {
			return bytes.EqualFold([]byte(a[i:]), []byte(b[i:]))
		}
		if x|0x20 != y|0x20 || x|0x20 < 'a' || x|0x20 > 'z' {
			return false
		}
	}
	return true
}

// Request is one parsed HTTP/1.x request, or an HTTP/2 request handed over from h2wire.
type Request struct {
	// TS is the capture time of the request's first byte.
	TS      time.Time
	Method  string
	URI     string // request-target exactly as sent
	Version string // "HTTP/1.1", "HTTP/1.0", "HTTP/2"
	Header  Header
	// BodyBytes is the body length (decoded length for chunked bodies).
	BodyBytes int64
	// Body is the body's first Config.BodyPrefix bytes (decoded); nil when off.
	Body []byte
	// Partial is set when a capture gap hit this message, when the connection ended
	// before its body did, or when its response was lost in a gap (Resp is then nil).
	Partial bool
	// Truncated is set when a limit (header bytes or count, request line, chunk line)
	// cut the message short.
	Truncated bool
}

// Response is one parsed final response (1xx interim responses are not reported).
type Response struct {
	// TS is the capture time of the response's first byte.
	TS      time.Time
	Status  int
	Version string
	Header  Header
	// BodyBytes is the body length (decoded length for chunked bodies).
	BodyBytes int64
	// Body is the body's first Config.BodyPrefix bytes (decoded); nil when off.
	Body []byte
	// Partial is set when a capture gap hit this message, or the connection ended
	// before its body did (close-delimited bodies excepted).
	Partial   bool
	Truncated bool
}

// Transaction is a request and its response. Response is nil when none was seen before
// the connection ended or timed out. A response seen without its request (a capture that
// starts mid-stream) is not a transaction and is only counted.
type Transaction struct {
	Req  *Request
	Resp *Response
	// ClientSide is the side (0 or 1, as passed to Conn.Feed) that sent the request.
	ClientSide int
}
