package capture

import (
	"errors"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Source is what the sensor reads frames from: a capture file or a live interface.
// A Source is not safe for concurrent use, except that Close may be called from another
// goroutine to stop a blocked Next.
type Source interface {
	// Next returns the next frame and its capture info. The bytes are valid until the
	// next call to Next. At the end of a file (or after Close) it returns io.EOF.
	Next() (data []byte, ci gopacket.CaptureInfo, err error)
	// LinkTypeOf returns the link type of the frame that ci came with.
	LinkTypeOf(ci gopacket.CaptureInfo) layers.LinkType
	// Close releases the file or the interface.
	Close() error
}

// ErrPermission is wrapped by OpenLive when the process may not capture packets.
var ErrPermission = errors.New("permission denied: live capture needs root or the CAP_NET_RAW and CAP_NET_ADMIN capabilities")

// ErrUnknownFormat is wrapped by OpenFile when a file is neither pcap nor pcapng.
var ErrUnknownFormat = errors.New("not a pcap or pcapng file")

// ErrTruncated is wrapped by Next when a file ends in the middle of a frame.
var ErrTruncated = errors.New("capture file truncated")

var (
	_ Source = (*FileSource)(nil)
	_ Source = (*LiveSource)(nil)
)
