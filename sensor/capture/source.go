package capture

import (
	"errors"
	"time"

	"github.com/google/gopacket/layers"
)

// Source is what the sensor reads frames from: a capture file or a live interface.
// A Source is not safe for concurrent use, except that Close may be called from another
// goroutine to stop a blocked ReadFrame.
//
// Both sources also have the gopacket-shaped Next and LinkTypeOf, which give the same
// frames with a gopacket.CaptureInfo; ReadFrame is the per-frame path of the sensor: it
// fills a Frame the caller keeps, where Next returns 72 bytes of capture info by value
// and the link type takes another call.
type Source interface {
	// ReadFrame reads the next frame into f. f.Data is valid until the next call to
	// ReadFrame or Next. At the end of a file (or after Close) it returns io.EOF; on an
	// error f is left as it was.
	ReadFrame(f *Frame) error
	// Close releases the file or the interface.
	Close() error
}

// Frame is one captured frame, as ReadFrame fills it.
type Frame struct {
	// Data is the captured bytes (the capture length is len(Data)), borrowed from the
	// source until its next read.
	Data []byte
	// Timestamp is the capture time, as Next's CaptureInfo.Timestamp.
	Timestamp time.Time
	// Length is the frame's length on the wire, as Next's CaptureInfo.Length.
	Length int
	// LinkType is the frame's link type, as LinkTypeOf gives it.
	LinkType layers.LinkType
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
