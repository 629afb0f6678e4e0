package httpwire

import (
	"fmt"

	"go.uber.org/zap"
)

// Default limits. They bound the memory one connection can hold whatever it is sent.
const (
	// DefaultMaxHeaderBytes caps the start line plus header lines of one message
	// (net/http's DefaultMaxHeaderBytes is 1 MiB; servers in front of APIs use 8-64 KiB).
	DefaultMaxHeaderBytes = 64 << 10
	// DefaultMaxHeaders caps the header fields kept per message.
	DefaultMaxHeaders = 100
	// DefaultMaxStartLine caps a request or status line (nginx's large header buffer is 8 KiB;
	// long query strings of API calls motivate the margin).
	DefaultMaxStartLine = 16 << 10
	// DefaultMaxChunkLine caps a chunk-size line with its extensions (net/http/internal's
	// maxLineLength).
	DefaultMaxChunkLine = 4 << 10
	// DefaultMaxPending caps requests awaiting a response on one connection (Zeek's
	// max_pending_requests): a one-sided capture or a flood of pipelined requests must not
	// grow the queue without end.
	DefaultMaxPending = 100
	// DefaultMaxPendingBytes caps the header bytes held by requests awaiting a response,
	// so MaxPending requests of MaxHeaderBytes each cannot pin 6 MiB per connection.
	DefaultMaxPendingBytes = 1 << 20
)

// Config tunes a Conn. The zero value works and means the bounded defaults above. One
// Config may be shared by any number of Conns; it is only read.
type Config struct {
	// MaxHeaderBytes caps the start line plus header lines of one message. Fields past it
	// are not kept and the message is marked Truncated; framing fields (Content-Length,
	// Transfer-Encoding) are still honoured so the next message is found. Zero means
	// DefaultMaxHeaderBytes; it also caps a single header or trailer line.
	MaxHeaderBytes int
	// MaxHeaders caps the header fields kept per message. Zero means DefaultMaxHeaders.
	MaxHeaders int
	// MaxStartLine caps a request or status line. A longer request line with a known
	// method is recorded with the target cut at the limit and Truncated set. Zero means
	// DefaultMaxStartLine.
	MaxStartLine int
	// MaxChunkLine caps a chunk-size line including extensions. Zero means
	// DefaultMaxChunkLine.
	MaxChunkLine int
	// MaxPending caps requests awaiting a response per connection; past it the oldest is
	// emitted without a response. Zero means DefaultMaxPending.
	MaxPending int
	// MaxPendingBytes caps the header bytes (method, target, fields) held by requests
	// awaiting a response; past it the oldest are emitted as MaxPending does. Zero means
	// DefaultMaxPendingBytes.
	MaxPendingBytes int
	// BodyPrefix is how many bytes of each body (decoded, for chunked bodies) are kept in
	// Request.Body / Response.Body. Zero means none: bodies are counted, not kept.
	BodyPrefix int
	// Logger receives one debug line per connection for its first parse error (reason and
	// side, never content). Nil means no logging; counters are kept either way.
	Logger *zap.Logger
	// ReuseTransactions promises that emit keeps neither the *Transaction it receives nor
	// its Request, Response or their Header slices once it returns (their strings and
	// Body may be kept: they are never reused). The Conn then reuses that memory for the
	// next message of the connection, which saves allocations per transaction.
	ReuseTransactions bool
}

// Validate reports the first field with a value that cannot be used.
func (c *Config) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{
		{"MaxHeaderBytes", c.MaxHeaderBytes},
		{"MaxHeaders", c.MaxHeaders},
		{"MaxStartLine", c.MaxStartLine},
		{"MaxChunkLine", c.MaxChunkLine},
		{"MaxPending", c.MaxPending},
		{"MaxPendingBytes", c.MaxPendingBytes},
		{"BodyPrefix", c.BodyPrefix},
	} {
		if f.v < 0 {
			return fmt.Errorf("httpwire: %s must not be negative, got %d", f.name, f.v)
		}
	}
	return nil
}

// limits are a Config resolved once per Conn, so the hot path reads plain ints.
type limits struct {
	maxHeaderBytes  int
	maxHeaders      int
	maxStartLine    int
	maxChunkLine    int
	maxPending      int
	maxPendingBytes int
	bodyPrefix      int
	log             *zap.Logger
	reuse           bool
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

func (c *Config) limits() limits {
	if c == nil {
		c = &Config{}
	}
	l := limits{
		maxHeaderBytes:  orDefault(c.MaxHeaderBytes, DefaultMaxHeaderBytes),
		maxHeaders:      orDefault(c.MaxHeaders, DefaultMaxHeaders),
		maxStartLine:    orDefault(c.MaxStartLine, DefaultMaxStartLine),
		maxChunkLine:    orDefault(c.MaxChunkLine, DefaultMaxChunkLine),
		maxPending:      orDefault(c.MaxPending, DefaultMaxPending),
		maxPendingBytes: orDefault(c.MaxPendingBytes, DefaultMaxPendingBytes),
		bodyPrefix:      max(c.BodyPrefix, 0),
		log:             c.Logger,
		reuse:           c.ReuseTransactions,
	}
	// A start line is part of the header section, so it can never exceed it.
	l.maxStartLine = min(l.maxStartLine, l.maxHeaderBytes)
	return l
}
