package h2wire

import (
	"fmt"

	"go.uber.org/zap"
)

// Default limits. They bound the memory one connection can hold whatever it is sent.
const (
	// DefaultMaxHeaderListSize caps the fields kept per header block, counted as RFC 9113
	// section 6.5.2 does (name + value + 32 per field), like an HTTP/1.x header section.
	DefaultMaxHeaderListSize = 64 << 10
	// DefaultMaxHeaders caps the regular fields kept per header block.
	DefaultMaxHeaders = 100
	// DefaultMaxStreams caps the streams tracked at once on one connection; past it the
	// oldest is emitted as it stands. Servers commonly advertise 100-250 concurrent streams.
	DefaultMaxStreams = 1000
	// DefaultMaxPendingBytes caps the header bytes held by open streams, so MaxStreams
	// streams with full header lists cannot pin 64 MiB per connection.
	DefaultMaxPendingBytes = 1 << 20
	// DefaultMaxDynamicTable caps the HPACK dynamic table a peer may ask for through
	// SETTINGS_HEADER_TABLE_SIZE (4 KiB is the protocol's default; browsers ask for 64 KiB).
	DefaultMaxDynamicTable = 64 << 10
	// DefaultMaxStringLength caps one HPACK-encoded name or value (a huge cookie).
	DefaultMaxStringLength = 256 << 10
)

// Config tunes a Conn. The zero value works and means the bounded defaults above. One
// Config may be shared by any number of Conns; it is only read.
type Config struct {
	// MaxHeaderListSize caps the fields kept per header block (name + value + 32 each).
	// Later fields are still decoded, to keep HPACK in step, but not kept, and the message
	// is marked Truncated. Pseudo-header fields are always kept. Zero means
	// DefaultMaxHeaderListSize.
	MaxHeaderListSize int
	// MaxHeaders caps the regular fields kept per header block. Zero means DefaultMaxHeaders.
	MaxHeaders int
	// MaxStreams caps the streams tracked at once. Zero means DefaultMaxStreams.
	MaxStreams int
	// MaxPendingBytes caps the header bytes (strings kept) held by open streams; past it
	// the oldest are emitted as MaxStreams does. Zero means DefaultMaxPendingBytes.
	MaxPendingBytes int
	// MaxDynamicTable caps the HPACK dynamic table size a peer may ask for. A header block
	// that uses more is an HPACK error. Zero means DefaultMaxDynamicTable.
	MaxDynamicTable int
	// MaxStringLength caps one HPACK name or value; a longer one is an HPACK error. Zero
	// means DefaultMaxStringLength.
	MaxStringLength int
	// BodyPrefix is how many bytes of each body (DATA payload as sent, padding excluded)
	// are kept in Request.Body / Response.Body. Zero means none: bodies are counted, not
	// kept.
	BodyPrefix int
	// Logger receives one debug line per connection for the first error (reason and
	// side, never content). Nil means no logging; counters are kept either way.
	Logger *zap.Logger
}

// Validate reports the first field with a value that cannot be used.
func (c *Config) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{
		{"MaxHeaderListSize", c.MaxHeaderListSize},
		{"MaxHeaders", c.MaxHeaders},
		{"MaxStreams", c.MaxStreams},
		{"MaxPendingBytes", c.MaxPendingBytes},
		{"MaxDynamicTable", c.MaxDynamicTable},
		{"MaxStringLength", c.MaxStringLength},
		{"BodyPrefix", c.BodyPrefix},
	} {
		if f.v < 0 {
			return fmt.Errorf("h2wire: %s must not be negative, got %d", f.name, f.v)
		}
	}
	if c.MaxDynamicTable > 1<<30 {
		return fmt.Errorf("h2wire: MaxDynamicTable must not exceed 1 GiB, got %d", c.MaxDynamicTable)
	}
	return nil
}

// limits are a Config resolved once per Conn.
type limits struct {
	maxListSize int
	maxHeaders  int
	maxStreams  int
	maxPending  int
	maxTable    uint32
	maxString   int
	bodyPrefix  int
	log         *zap.Logger
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
	return limits{
		maxListSize: orDefault(c.MaxHeaderListSize, DefaultMaxHeaderListSize),
		maxHeaders:  orDefault(c.MaxHeaders, DefaultMaxHeaders),
		maxStreams:  orDefault(c.MaxStreams, DefaultMaxStreams),
		maxPending:  orDefault(c.MaxPendingBytes, DefaultMaxPendingBytes),
		maxTable:    uint32(min(orDefault(c.MaxDynamicTable, DefaultMaxDynamicTable), 1<<30)),
		maxString:   orDefault(c.MaxStringLength, DefaultMaxStringLength),
		bodyPrefix:  max(c.BodyPrefix, 0),
		log:         c.Logger,
	}
}
