package h2wire

import "time"

// Field is one header field as decoded (HTTP/2 field names are lower case).
type Field struct {
	Name, Value string
}

// Request is one HTTP/2 request: the HEADERS block that opened a stream, and its body.
type Request struct {
	// TS is the capture time of the first byte of the stream's first HEADERS frame.
	TS       time.Time
	StreamID uint32
	// Method, Path, Authority and Scheme are the :method, :path, :authority and :scheme
	// pseudo-header fields ("" when absent).
	Method, Path, Authority, Scheme string
	// Header holds the regular fields in the order sent, with a "host" field from
	// :authority appended when none was sent and cookie crumbs joined into one field.
	Header []Field
	// BodyBytes counts the DATA payload of the stream from the client, padding excluded.
	BodyBytes int64
	// Body is the body's first Config.BodyPrefix bytes; nil when off.
	Body []byte
	// Partial is set when a gap hit the stream, the stream was reset, or the connection
	// ended or stopped being decodable before the request ended.
	Partial bool
	// Truncated is set when a Config limit cut the header fields.
	Truncated bool
}

// Response is the final response of a stream (1xx interim responses are not reported).
type Response struct {
	// TS is the capture time of the first byte of the response's HEADERS frame.
	TS     time.Time
	Status int
	Header []Field
	// BodyBytes counts the DATA payload of the stream from the server, padding excluded.
	BodyBytes int64
	// Body is the body's first Config.BodyPrefix bytes; nil when off.
	Body []byte
	// Partial is set as for Request.
	Partial   bool
	Truncated bool
}

// Exchange is one stream: a request and its response. Resp is nil when no final response
// was seen before the stream or the connection ended.
type Exchange struct {
	Req  *Request
	Resp *Response
	// ClientSide is the side (0 or 1, as passed to Conn.Feed) that sent the request.
	ClientSide int
}
