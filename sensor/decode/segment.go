package decode

import (
	"net/netip"
	"time"
)

// TCP flag bits carried in Segment.Flags.
const (
	FlagFIN uint8 = 1 << iota
	FlagSYN
	FlagRST
	FlagPSH
	FlagACK
	FlagURG
)

// Segment is the innermost TCP segment of one captured frame, after every link layer,
// VLAN tag, tunnel and IP fragment has been removed: what the packet would have looked
// like captured directly.
//
// Payload is borrowed: it is valid until the next call to the Decoder that produced it.
// Copy it to keep it.
type Segment struct {
	TS               time.Time
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Window           uint16
	Flags            uint8 // FlagFIN | FlagSYN | ...
	Payload          []byte
	// WireLen is the frame's original length on the wire (for byte counters).
	WireLen int
	// Truncated is set when the capture's snaplen cut the frame: Payload is shorter
	// than the IP header says the segment is.
	Truncated bool
	// VLAN is the ID of the 802.1Q/802.1ad tag nearest the segment (the inner tag of
	// QinQ), 0 when the frame has none. The same connection mirrored on several VLANs
	// arrives once per VLAN; a flow key that includes VLAN keeps the copies apart.
	VLAN uint16
}

// Has reports whether every flag in f is set.
func (s *Segment) Has(f uint8) bool { return s.Flags&f == f }
