package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/klauspost/compress/gzip"
)

// maxFrameLen bounds the captured length of one frame in a pcap file. Files often declare
// a snaplen smaller than the frames they hold (writers that never truncate, TSO frames),
// so the declared snaplen is not trusted; a corrupt length beyond this bound ends the
// file with an error instead of a huge allocation.
const maxFrameLen = 1 << 20

// readBufSize is the read-ahead on the file and on the decompressed stream.
const readBufSize = 256 << 10

// FileSource streams frames from a pcap or pcapng file, gzipped or not. Memory use does
// not depend on the file's size. Not safe for concurrent use, except Progress, which a
// progress display may call from another goroutine.
type FileSource struct {
	path   string
	f      *os.File
	size   int64
	read   atomic.Int64 // bytes read from the file (compressed bytes for a .gz)
	gz     *gzip.Reader
	pcap   *recordReader
	ng     *pcapgo.NgReader
	lt     layers.LinkType
	frames int64
	err    error // sticky: io.EOF or the error that ended the file
	// Frames and bytes read but not yet added to the process counters (frames-pubFrames
	// and pendBytes): they are added every 256 frames of Next, every read-ahead of
	// ReadFrame, at the end of the file and at Close, which keeps two atomic adds off
	// the per-frame path.
	pubFrames int64
	pendBytes uint64
}

// countingReader counts the bytes read from the file for Progress.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// OpenFile opens a capture file. The format is recognised from the first bytes: pcap
// (either byte order, micro- or nanosecond timestamps), pcapng, and either of them
// gzipped. The name is not looked at.
func OpenFile(path string) (*FileSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open capture file: %w", err)
	}
	s := &FileSource{path: path, f: f}
	if st, err := f.Stat(); err == nil {
		s.size = st.Size()
	}
	if err := s.open(); err != nil {
		f.Close()
		return nil, fmt.Errorf("open capture file %s: %w", path, err)
	}
	return s, nil
}

func (s *FileSource) open() error {
	br := bufio.NewReaderSize(countingReader{r: s.f, n: &s.read}, readBufSize)
	magic, err := br.Peek(4)
	if err != nil {
		return fmt.Errorf("%w: file shorter than 4 bytes", ErrUnknownFormat)
	}
	if magic[0] == 0x1f && magic[1] == 0x8b {
		if s.gz, err = gzip.NewReader(br); err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
		br = bufio.NewReaderSize(s.gz, readBufSize)
		if magic, err = br.Peek(4); err != nil {
			return fmt.Errorf("%w: gzipped content shorter than 4 bytes", ErrUnknownFormat)
		}
	}
	switch {
	case isPcapMagic(magic):
		m := [4]byte(magic)
		hdr, err := pcapgo.NewReader(br)
		if err != nil {
			return fmt.Errorf("pcap header: %w", err)
		}
		s.lt = hdr.LinkType()
		s.pcap = newRecordReader(br, m[:], maxFrameLen)
	case magic[0] == 0x0a && magic[1] == 0x0d && magic[2] == 0x0d && magic[3] == 0x0a:
		// With mixed link types pcapgo does not read ahead to the first interface, so
		// LinkType is taken from the first interface description block here.
		s.lt = ngFirstLinkType(br)
		s.ng, err = pcapgo.NewNgReader(&ngGuard{r: br}, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		switch {
		case errors.Is(err, io.EOF):
			// A section without any interface holds no frames: an empty capture.
			s.err = io.EOF
		case err != nil:
			return fmt.Errorf("pcapng header: %w", err)
		}
	default:
		return fmt.Errorf("%w: magic %x", ErrUnknownFormat, magic)
	}
	return nil
}

// ngFirstLinkType peeks at a pcapng file's section header and, when the next block is
// an interface description, returns its link type; 0 (NULL) when it cannot tell.
func ngFirstLinkType(br *bufio.Reader) layers.LinkType {
	hdr, err := br.Peek(12)
	if err != nil {
		return 0
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if binary.BigEndian.Uint32(hdr[8:12]) == 0x1a2b3c4d {
		bo = binary.BigEndian
	}
	shbLen := int(bo.Uint32(hdr[4:8]))
	if shbLen < 28 || shbLen > readBufSize-16 {
		return 0
	}
	b, err := br.Peek(shbLen + 10)
	if err != nil || bo.Uint32(b[shbLen:shbLen+4]) != 1 { // interface description block
		return 0
	}
	return layers.LinkType(bo.Uint16(b[shbLen+8 : shbLen+10]))
}

func isPcapMagic(m []byte) bool {
	switch uint32(m[0])<<24 | uint32(m[1])<<16 | uint32(m[2])<<8 | uint32(m[3]) {
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1:
		return true
	}
	return false
}

// Next returns the next frame. The bytes are valid until the next call. At the end of
// the file it returns io.EOF. A file that is truncated or corrupt ends, after every good
// frame, with an error that says so and how many frames were read (ErrTruncated for a
// frame cut short); every later call returns the same error.
func (s *FileSource) Next() ([]byte, gopacket.CaptureInfo, error) {
	if s.err != nil {
		return nil, gopacket.CaptureInfo{}, s.err
	}
	var (
		data []byte
		ci   gopacket.CaptureInfo
		err  error
	)
	if s.pcap != nil {
		data, ci, err = s.pcap.next()
	} else {
		data, ci, err = s.ng.ZeroCopyReadPacketData()
	}
	if err != nil {
		s.err = s.endError(err, ci)
		s.publish()
		return nil, gopacket.CaptureInfo{}, s.err
	}
	s.count(len(data))
	return data, ci, nil
}

// ReadFrame reads the next frame into f (see Source): the frames, times, link types and
// errors of Next. A pcap record that lies whole in the read-ahead with a sound header,
// nearly every one, is taken in place (recordReader.inPlace), without Next's CaptureInfo
// and error handling; anything else is read through Next. Its frames are published to
// the process counters when that happens, every read-ahead, rather than every 256
// frames.
func (s *FileSource) ReadFrame(f *Frame) error {
	if r := s.pcap; r != nil && s.err == nil {
		if data, ts, length, ok := r.inPlace(); ok {
			f.Data, f.Timestamp, f.Length, f.LinkType = data, ts, length, s.lt
			s.frames++
			s.pendBytes += uint64(len(data))
			return nil
		}
	}
	return s.readFrame(f)
}

// readFrame is ReadFrame through Next.
func (s *FileSource) readFrame(f *Frame) error {
	s.publish()
	data, ci, err := s.Next()
	if err != nil {
		return err
	}
	f.Data, f.Timestamp, f.Length, f.LinkType = data, ci.Timestamp, ci.Length, s.LinkTypeOf(ci)
	return nil
}

// count counts a frame of n bytes handed out.
func (s *FileSource) count(n int) {
	s.frames++
	s.pendBytes += uint64(n)
	if s.frames&255 == 0 {
		s.publish()
	}
}

// publish adds the frames and bytes counted since the last call to the process counters.
func (s *FileSource) publish() {
	mFrames.Add(uint64(s.frames - s.pubFrames))
	mBytes.Add(s.pendBytes)
	s.pubFrames, s.pendBytes = s.frames, 0
}

// endError turns a reader error into io.EOF for a clean end, or a described error.
func (s *FileSource) endError(err error, ci gopacket.CaptureInfo) error {
	// A clean end is io.EOF before any byte of a new record. io.EOF after a record
	// header (the frame's bytes are missing) or io.ErrUnexpectedEOF is a truncated file.
	if err == io.EOF && ci.CaptureLength == 0 {
		return io.EOF
	}
	mFileErrors.Inc()
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s: %w after %d good frames", s.path, ErrTruncated, s.frames)
	}
	return fmt.Errorf("%s: corrupt after %d good frames: %w", s.path, s.frames, err)
}

// LinkType returns the link type of the file (of the first interface for pcapng).
func (s *FileSource) LinkType() layers.LinkType { return s.lt }

// LinkTypeOf returns the link type of the frame ci came with. In pcapng each interface
// has its own link type.
func (s *FileSource) LinkTypeOf(ci gopacket.CaptureInfo) layers.LinkType {
	if len(ci.AncillaryData) > 0 {
		if lt, ok := ci.AncillaryData[0].(layers.LinkType); ok {
			return lt
		}
	}
	return s.lt
}

// Frames returns how many frames Next has returned.
func (s *FileSource) Frames() int64 { return s.frames }

// Progress returns the share of the file read so far, from 0 to 1 (compressed bytes for
// a gzipped file). It reads ahead of Next by at most a buffer. Safe to call from another
// goroutine.
func (s *FileSource) Progress() float64 {
	if s.size <= 0 {
		return 0
	}
	p := float64(s.read.Load()) / float64(s.size)
	if p > 1 {
		p = 1
	}
	return p
}

// Close closes the file.
func (s *FileSource) Close() error {
	s.publish()
	if s.gz != nil {
		s.gz.Close()
	}
	if s.err == nil {
		s.err = io.EOF
	}
	return s.f.Close()
}
