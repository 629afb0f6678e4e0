package models

import (
	"encoding/json"
	"time"
)

// SchemaVersion is the version of the APICall and Finding records. It changes only when a
// field is renamed or removed; additions keep it.
const SchemaVersion = 1

// APICall is one HTTP request and its response, rebuilt from mirrored packets.
type APICall struct {
	// TS is the capture time of the request's first byte (UTC).
	TS time.Time `json:"ts"`
	// SrcIP and SrcPort are the client end of the TCP connection.
	SrcIP   string `json:"src_ip"`
	SrcPort uint16 `json:"src_port"`
	// DstIP and DstPort are the server end.
	DstIP   string `json:"dst_ip"`
	DstPort uint16 `json:"dst_port"`

	Method string `json:"method"`
	Host   string `json:"host"`
	// URI is the request-target exactly as sent.
	URI string `json:"uri"`
	// Path and Query are URI split at the first '?'.
	Path  string `json:"path"`
	Query string `json:"query"`
	// Template is Path with identifiers replaced: /users/{id}/orders/{id}.
	Template string `json:"template"`

	// Status is the response status code; 0 when no response was seen.
	Status int `json:"status"`
	// ReqBytes and RespBytes are body sizes (decoded length of chunked bodies).
	ReqBytes  int64 `json:"req_bytes"`
	RespBytes int64 `json:"resp_bytes"`
	// LatencyMS is request first byte to response first byte, in milliseconds.
	LatencyMS float64 `json:"latency_ms"`

	UserAgent   string `json:"user_agent"`
	ContentType string `json:"content_type"`

	// ClientID is the stable identity baselines belong to (DESIGN.md, Identity).
	ClientID string `json:"client_id"`
	// Principal is the authenticated subject when known (JWT sub, Basic-auth user).
	Principal string `json:"principal"`
	// Actor is the agent acting for the principal (JWT act.sub, azp or client_id).
	Actor string `json:"actor"`
	// Auth is one of AuthJWT, AuthAPIKey, AuthBasic, AuthCookie, AuthNone.
	Auth string `json:"auth"`
	// CredFP is the keyed fingerprint of the credential, never the credential.
	CredFP string `json:"cred_fp"`
	// TraceID is the W3C traceparent trace id or X-Request-ID when present.
	TraceID string `json:"trace_id"`

	// Partial is set when a capture gap hit the request or its response.
	Partial bool `json:"partial"`
	// Truncated is set when a header limit cut the message short.
	Truncated bool `json:"truncated"`
	// Shadow is set when an OpenAPI document was given for the host and the path is not in it.
	Shadow bool `json:"shadow,omitempty"`
	// Scope is the OAuth scope claim of the bearer token, when present.
	Scope string `json:"scope,omitempty"`
	// Issuer is the JWT iss claim, when present.
	Issuer string `json:"iss,omitempty"`
	// XFF is the client address taken from X-Forwarded-For/Forwarded via a trusted proxy.
	XFF string `json:"xff,omitempty"`
}

// Auth kinds.
const (
	AuthJWT    = "jwt"
	AuthAPIKey = "apikey"
	AuthBasic  = "basic"
	AuthCookie = "cookie"
	AuthNone   = "none"
)

// MarshalAPICall encodes c as one JSON object (no trailing newline). Timestamps are RFC 3339
// with nanoseconds in UTC. The bytes are those encoding/json writes for the struct (field
// order, omitempty, HTML-safe escaping); it fails, as encoding/json does, when the year is
// outside [0,9999] or LatencyMS is NaN or infinite.
func MarshalAPICall(c *APICall) ([]byte, error) {
	b, err := appendAPICall(make([]byte, 0, 512), c, false)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// AppendAPICall appends c as one JSON object (no newline) to dst: MarshalAPICall's bytes
// without its allocation. On error dst is returned as it was.
func AppendAPICall(dst []byte, c *APICall) ([]byte, error) {
	n := len(dst)
	dst, err := appendAPICall(dst, c, false)
	if err != nil {
		return dst[:n], err
	}
	return dst, nil
}

// AppendAPICallJSON appends c as one JSON line (with '\n') to dst. It allocates only when
// dst must grow; on error dst is returned as it was.
func AppendAPICallJSON(dst []byte, c *APICall) ([]byte, error) {
	n := len(dst)
	dst, err := appendAPICall(dst, c, true)
	if err != nil {
		return dst[:n], err
	}
	return dst, nil
}

// UnmarshalAPICall decodes one APICall JSON object.
func UnmarshalAPICall(b []byte, c *APICall) error {
	return json.Unmarshal(b, c)
}
