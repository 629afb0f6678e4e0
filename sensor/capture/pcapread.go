package capture

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/google/gopacket"
)

// recordReader reads the records of a classic pcap file straight out of the buffered
// reader: a frame that fits in the buffer is returned in place (bufio.Reader.Peek) and
// skipped on the next call, where pcapgo.Reader copies every frame into its own buffer
// through two io.ReadFull calls. It gives the same frames, times and errors as
// pcapgo.Reader.ZeroCopyReadPacketData with the snap length raised to maxFrameLen.
// pcapgo.NewReader still reads the file header: it reads through the bufio.Reader it is
// given, rather than a buffer of its own, because that one holds at least 4096 bytes.
type recordReader struct {
	br      *bufio.Reader
	be      bool   // big-endian file (the byte order is tested here, not called through an interface)
	nsScale uint32 // 1000 for microsecond files, 1 for nanosecond ones
	snaplen uint32
	skip    int    // bytes of the previous record still to discard
	big     []byte // frames longer than the buffer
}

// newRecordReader reads records from br, positioned after the file header whose magic
// number is magic.
func newRecordReader(br *bufio.Reader, magic []byte, snaplen uint32) *recordReader {
	r := &recordReader{br: br, nsScale: 1000, snaplen: snaplen}
	switch uint32(magic[0])<<24 | uint32(magic[1])<<16 | uint32(magic[2])<<8 | uint32(magic[3]) {
	case 0xa1b2c3d4:
		r.be = true
	case 0xa1b23c4d:
		r.be, r.nsScale = true, 1
	case 0x4d3cb2a1:
		r.nsScale = 1
	}
	return r
}

func (r *recordReader) u32(b []byte) uint32 {
	if r.be {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

// next returns the next frame, valid until the following call.
func (r *recordReader) next() ([]byte, gopacket.CaptureInfo, error) {
	var ci gopacket.CaptureInfo
	if r.skip > 0 {
		if _, err := r.br.Discard(r.skip); err != nil {
			return nil, ci, err // cannot happen: the bytes were peeked
		}
		r.skip = 0
	}
	h, err := r.br.Peek(16)
	if len(h) < 16 {
		if len(h) > 0 && err == io.EOF {
			err = io.ErrUnexpectedEOF // as io.ReadFull: part of a header
		}
		return nil, ci, err
	}
	ci.Timestamp = time.Unix(int64(r.u32(h[0:4])), int64(r.u32(h[4:8])*r.nsScale)).UTC()
	ci.CaptureLength = int(r.u32(h[8:12]))
	ci.Length = int(r.u32(h[12:16]))
	if ci.CaptureLength > int(r.snaplen) {
		return nil, ci, fmt.Errorf("capture length exceeds snap length: %d > %d", ci.CaptureLength, r.snaplen)
	}
	if ci.CaptureLength > ci.Length {
		return nil, ci, fmt.Errorf("capture length exceeds original packet length: %d > %d", ci.CaptureLength, ci.Length)
	}
	n := 16 + ci.CaptureLength
	if n <= r.br.Size() {
		b, err := r.br.Peek(n)
		if len(b) < n {
			if len(b) > 16 && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, ci, err
		}
		r.skip = n
		return b[16:n:n], ci, nil
	}
	if _, err := r.br.Discard(16); err != nil {
		return nil, ci, err
	}
	if cap(r.big) < ci.CaptureLength {
		r.big = make([]byte, ci.CaptureLength)
	}
	data := r.big[:ci.CaptureLength]
	if _, err := io.ReadFull(r.br, data); err != nil {
		return nil, ci, err
	}
	return data, ci, nil
}
