package capture

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/google/gopacket"
)

// recordReader reads the records of a classic pcap file out of a read-ahead buffer of
// its own: a frame is returned in place, and a record header costs a bounds check and
// four loads, where pcapgo.Reader copies every frame into its own buffer through two
// io.ReadFull calls (and reading through bufio.Reader's Peek and Discard cost three
// calls a frame). It gives the same frames, times and errors as
// pcapgo.Reader.ZeroCopyReadPacketData with the snap length raised to maxFrameLen.
// pcapgo.NewReader still reads the file header, through the bufio.Reader the records
// are then read from: with a read-ahead at least as large as that reader's buffer, the
// reads after its buffered bytes go straight into the read-ahead.
type recordReader struct {
	r       io.Reader
	buf     []byte // read-ahead; the unread bytes are buf[lo:hi]
	lo, hi  int
	err     error  // what the last read returned, once the buffered bytes are used up
	be      bool   // big-endian file (the byte order is tested here, not called through an interface)
	nsScale uint32 // 1000 for microsecond files, 1 for nanosecond ones
	snaplen uint32
}

// recordReadAhead is the read-ahead of a recordReader; a frame longer than it grows it.
const recordReadAhead = 1 << 20

// newRecordReader reads records from r, positioned after the file header whose magic
// number is magic.
func newRecordReader(r io.Reader, magic []byte, snaplen uint32) *recordReader {
	rr := &recordReader{r: r, buf: make([]byte, recordReadAhead), nsScale: 1000, snaplen: snaplen}
	switch uint32(magic[0])<<24 | uint32(magic[1])<<16 | uint32(magic[2])<<8 | uint32(magic[3]) {
	case 0xa1b2c3d4:
		rr.be = true
	case 0xa1b23c4d:
		rr.be, rr.nsScale = true, 1
	case 0x4d3cb2a1:
		rr.nsScale = 1
	}
	return rr
}

// fill makes n bytes readable when the file has them: the unread bytes move to the
// front of the read-ahead (grown when n is larger) and reads follow until n bytes are
// there or a read fails. It reports whether n bytes are readable.
func (r *recordReader) fill(n int) bool {
	if r.hi-r.lo >= n {
		return true
	}
	buf := r.buf
	if n > len(buf) {
		buf = make([]byte, n)
	}
	r.hi = copy(buf, r.buf[r.lo:r.hi])
	r.lo, r.buf = 0, buf
	for empty := 0; r.hi < n && r.err == nil; {
		m, err := r.r.Read(r.buf[r.hi:])
		r.hi += m
		r.err = err
		if m == 0 && err == nil {
			if empty++; empty == 100 { // as bufio.Reader gives up on a reader that returns nothing
				r.err = io.ErrNoProgress
			}
		}
	}
	return r.hi >= n
}

// short is the error of a record cut short with got of its bytes readable: the read
// error, io.ErrUnexpectedEOF for an end of file inside the record after its first
// minimum bytes, io.EOF for one at its start (as io.ReadFull and pcapgo say).
func (r *recordReader) short(got, minimum int) error {
	if got > minimum && r.err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return r.err
}

func (r *recordReader) u32(b []byte) uint32 {
	if r.be {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

// inPlace takes the next frame when its record lies whole in the read-ahead with a
// sound header, as nearly every record does: its bytes (valid until the following
// read), capture time and original length. For anything else (a record that needs a
// refill, or a header next refuses) it reports false, having read nothing, and next
// reads the record the general way.
func (r *recordReader) inPlace() (data []byte, ts time.Time, length int, ok bool) {
	lo := r.lo
	if r.hi-lo < 16 {
		return nil, ts, 0, false
	}
	h := r.buf[lo : lo+16 : lo+16]
	caplen, wire := r.u32(h[8:12]), r.u32(h[12:16])
	n := 16 + int(caplen)
	if caplen > r.snaplen || caplen > wire || r.hi-lo < n {
		return nil, ts, 0, false
	}
	r.lo = lo + n
	ts = time.Unix(int64(r.u32(h[0:4])), int64(r.u32(h[4:8])*r.nsScale)).UTC()
	return r.buf[lo+16 : lo+n : lo+n], ts, int(wire), true
}

// next returns the next frame, valid until the following call.
func (r *recordReader) next() ([]byte, gopacket.CaptureInfo, error) {
	var ci gopacket.CaptureInfo
	if !r.fill(16) {
		return nil, ci, r.short(r.hi-r.lo, 0)
	}
	h := r.buf[r.lo : r.lo+16]
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
	if !r.fill(n) {
		return nil, ci, r.short(r.hi-r.lo, 16)
	}
	data := r.buf[r.lo+16 : r.lo+n : r.lo+n]
	r.lo += n
	return data, ci, nil
}
