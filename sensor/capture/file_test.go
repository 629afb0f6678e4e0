package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/apiscope/apiscope/pkg/corpus"
)

// corpusPath returns a corpus capture (see pkg/corpus: skipped when absent, failed under CI).
func corpusPath(t testing.TB, name string) string {
	t.Helper()
	return corpus.Path(t, name)
}

// readAll reads a source to its end and returns the frame count, the bytes, the
// timestamps' sum and the error that ended it (nil for io.EOF).
type readResult struct {
	frames int
	bytes  int
	last   time.Time
	lts    map[layers.LinkType]int
	err    error
}

func readAll(t testing.TB, s *FileSource) readResult {
	t.Helper()
	r := readResult{lts: map[layers.LinkType]int{}}
	for {
		data, ci, err := s.Next()
		if err == io.EOF {
			return r
		}
		if err != nil {
			r.err = err
			if _, _, err2 := s.Next(); err2 != err && err2.Error() != err.Error() {
				t.Errorf("Next after the error = %v; want the same error again", err2)
			}
			return r
		}
		if len(data) != ci.CaptureLength {
			t.Fatalf("frame %d: %d bytes, CaptureLength %d", r.frames, len(data), ci.CaptureLength)
		}
		r.frames++
		r.bytes += len(data)
		r.last = ci.Timestamp
		r.lts[s.LinkTypeOf(ci)]++
	}
}

// checkReadFrame reads the file at path with ReadFrame and again with Next and
// LinkTypeOf, at most max frames (all for -1), and fails unless the two give the same
// frames, times, lengths, link types and final error. The files of the corpus, the cut
// and corrupt ones and the fuzzer's hold ReadFrame's in-place path to the general one.
func checkReadFrame(t testing.TB, path string, max int) {
	t.Helper()
	a, errA := OpenFile(path)
	b, errB := OpenFile(path)
	if errA != nil || errB != nil {
		if errA == nil || errB == nil || errA.Error() != errB.Error() {
			t.Fatalf("OpenFile twice: %v, %v", errA, errB)
		}
		return
	}
	defer a.Close()
	defer b.Close()
	sameReads(t, path, a, b, max)
}

// sameReads reads a with ReadFrame and b with Next, at most max frames (all for -1), and
// fails unless the two give the same frames, times, lengths, link types and final error.
func sameReads(t testing.TB, name string, a, b *FileSource, max int) {
	t.Helper()
	var f Frame
	for i := 0; i != max; i++ {
		errA := a.ReadFrame(&f)
		data, ci, errB := b.Next()
		if (errA == nil) != (errB == nil) || errA != nil && errA.Error() != errB.Error() {
			t.Fatalf("%s frame %d: ReadFrame error %v; Next error %v", name, i, errA, errB)
		}
		if errA != nil {
			if again := a.ReadFrame(&f); again != errA && again.Error() != errA.Error() {
				t.Fatalf("%s: ReadFrame after the error = %v; want %v again", name, again, errA)
			}
			break
		}
		if !bytes.Equal(f.Data, data) || len(f.Data) != ci.CaptureLength || f.Timestamp != ci.Timestamp ||
			f.Length != ci.Length || f.LinkType != b.LinkTypeOf(ci) {
			t.Fatalf("%s frame %d: ReadFrame gave %d bytes at %v length %d link %v; Next %d bytes at %v length %d link %v",
				name, i, len(f.Data), f.Timestamp, f.Length, f.LinkType, len(data), ci.Timestamp, ci.Length, b.LinkTypeOf(ci))
		}
	}
	if a.Frames() != b.Frames() {
		t.Fatalf("%s: Frames %d after ReadFrame, %d after Next", name, a.Frames(), b.Frames())
	}
}

// TestOpenFileCorpus reads every corpus capture and compares the frame count with
// tshark's (MANIFEST.tsv).
func TestOpenFileCorpus(t *testing.T) {
	manifest, err := os.ReadFile(corpusPath(t, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i, line := range strings.Split(strings.TrimSpace(string(manifest)), "\n") {
		f := strings.Split(line, "\t")
		if i == 0 || len(f) < 7 {
			continue
		}
		want, _ := strconv.Atoi(f[6])
		s, err := OpenFile(corpusPath(t, f[0]))
		if err != nil {
			t.Errorf("OpenFile(%s): %v", f[0], err)
			continue
		}
		r := readAll(t, s)
		s.Close()
		checkReadFrame(t, corpusPath(t, f[0]), -1)
		if r.err != nil || r.frames != want {
			t.Errorf("%s: %d frames, error %v; want %d frames and a clean end", f[0], r.frames, r.err, want)
		}
		if p := s.Progress(); p != 1 {
			t.Errorf("%s: Progress at the end = %v; want 1", f[0], p)
		}
		n++
	}
	if n < 100 {
		t.Errorf("only %d captures in MANIFEST.tsv", n)
	}
}

func gzipFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestOpenFileFormats: pcap, pcapng and both gzipped are read alike, whatever the name.
func TestOpenFileFormats(t *testing.T) {
	dir := t.TempDir()
	pcap := corpusPath(t, "zeek__http_pipelined-requests.pcap")
	ng := corpusPath(t, "zeek__http_cooper-grill-dvwa.pcapng")
	gzipFile(t, pcap, filepath.Join(dir, "a.pcap.gz"))
	gzipFile(t, ng, filepath.Join(dir, "b.pcapng.gz"))
	gzipFile(t, pcap, filepath.Join(dir, "no-extension"))
	tests := []struct{ name, path, same string }{
		{"pcap.gz", filepath.Join(dir, "a.pcap.gz"), pcap},
		{"pcapng.gz", filepath.Join(dir, "b.pcapng.gz"), ng},
		{"gzip without extension", filepath.Join(dir, "no-extension"), pcap},
		{"pcapng named .pcap", corpusPath(t, "ndpi__jsonrpc.pcap"), corpusPath(t, "ndpi__jsonrpc.pcap")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := OpenFile(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ref, err := OpenFile(tc.same)
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			got, want := readAll(t, s), readAll(t, ref)
			if got.err != nil || got.frames != want.frames || got.bytes != want.bytes || !got.last.Equal(want.last) || got.frames == 0 {
				t.Errorf("read %d frames %d bytes last %v err %v; want %d frames %d bytes last %v",
					got.frames, got.bytes, got.last, got.err, want.frames, want.bytes, want.last)
			}
			if s.LinkType() != layers.LinkTypeEthernet {
				t.Errorf("LinkType = %v; want Ethernet", s.LinkType())
			}
		})
	}
}

// writePcap writes n Ethernet frames of size bytes with nanosecond timestamps.
func writePcap(t testing.TB, path string, n, size int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriterNanos(&buf)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	frame := make([]byte, size)
	for i := 0; i < n; i++ {
		binary.BigEndian.PutUint32(frame, uint32(i))
		ts := time.Unix(1700000000, int64(i)*1001).UTC()
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: size, Length: size + 4}, frame); err != nil {
			t.Fatal(err)
		}
	}
	if path != "" {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestFileSourceFramesAndTimestamps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.pcap")
	writePcap(t, path, 100, 80)
	s, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 100; i++ {
		data, ci, err := s.Next()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		want := time.Unix(1700000000, int64(i)*1001).UTC()
		if got := binary.BigEndian.Uint32(data); got != uint32(i) || !ci.Timestamp.Equal(want) || ci.Length != 84 {
			t.Fatalf("frame %d: counter %d ts %v len %d; want %d %v 84", i, got, ci.Timestamp, ci.Length, i, want)
		}
	}
	if _, _, err := s.Next(); err != io.EOF {
		t.Fatalf("after the last frame: %v; want io.EOF", err)
	}
	if s.Frames() != 100 {
		t.Errorf("Frames = %d; want 100", s.Frames())
	}
}

// TestFileSourceDamaged: a damaged file yields every good frame, then a clear error.
func TestFileSourceDamaged(t *testing.T) {
	dir := t.TempDir()
	good := writePcap(t, "", 10, 100) // header 24, records 16+100
	rec := func(i int) int { return 24 + i*116 }
	corrupt := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(corrupt[rec(7)+8:], 50<<20) // caplen 50 MiB
	ng, err := os.ReadFile(corpusPath(t, "zeek__http_cooper-grill-dvwa.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	// The first enhanced packet block of the pcapng file, to damage its lengths.
	epb := 0
	for off := 0; off+8 <= len(ng); off += int(binary.LittleEndian.Uint32(ng[off+4:])) {
		if binary.LittleEndian.Uint32(ng[off:]) == 6 {
			epb = off
			break
		}
	}
	hugeCaplen := append([]byte(nil), ng...)
	binary.LittleEndian.PutUint32(hugeCaplen[epb+20:], 0xfffffff0)
	shortBlock := append([]byte(nil), ng...)
	binary.LittleEndian.PutUint32(shortBlock[epb+4:], 8)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(good)
	zw.Close()
	tests := []struct {
		name   string
		data   []byte
		frames int
		want   error // nil: any error naming corruption
	}{
		{"cut inside a frame", good[:rec(6)+16+40], 6, ErrTruncated},
		{"cut inside a record header", good[:rec(4)+9], 4, ErrTruncated},
		{"cut after a record header", good[:rec(3)+16], 3, ErrTruncated},
		{"impossible capture length", corrupt, 7, nil},
		{"pcapng cut", ng[:len(ng)/2], -1, ErrTruncated},
		{"pcapng impossible capture length", hugeCaplen, 0, nil},
		{"pcapng impossible block length", shortBlock, 0, nil},
		{"gzip cut", gz.Bytes()[:gz.Len()-30], -1, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			if err := os.WriteFile(p, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			before := mFileErrors.Load()
			s, err := OpenFile(p)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			r := readAll(t, s)
			if r.err == nil {
				t.Fatalf("read %d frames and a clean end; want an error", r.frames)
			}
			if tc.frames >= 0 && r.frames != tc.frames {
				t.Errorf("%d good frames before the error; want %d", r.frames, tc.frames)
			}
			if tc.want != nil && !errors.Is(r.err, tc.want) {
				t.Errorf("error %v; want %v", r.err, tc.want)
			}
			if !strings.Contains(r.err.Error(), strconv.Itoa(r.frames)+" good frames") {
				t.Errorf("error %q does not say how many frames were good", r.err)
			}
			if mFileErrors.Load() != before+1 {
				t.Errorf("capture errors counter did not move")
			}
			checkReadFrame(t, p, -1)
		})
	}
}

func TestPcapngHugeSnaplen(t *testing.T) {
	ng, err := os.ReadFile(corpusPath(t, "zeek__http_cooper-grill-dvwa.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	shbLen := int(binary.LittleEndian.Uint32(ng[4:]))
	if binary.LittleEndian.Uint32(ng[shbLen:]) != 1 {
		t.Fatal("no interface block after the section header")
	}
	huge := append([]byte(nil), ng...)
	binary.LittleEndian.PutUint32(huge[shbLen+12:], 0xffffffff)
	p := filepath.Join(t.TempDir(), "huge-snaplen.pcapng")
	os.WriteFile(p, huge, 0o644)
	a, err := OpenFile(p)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := OpenFile(corpusPath(t, "zeek__http_cooper-grill-dvwa.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got, want := readAll(t, a), readAll(t, b)
	if got.err != nil || got.frames != want.frames || got.bytes != want.bytes {
		t.Errorf("with a 4 GiB snaplen: %d frames %d bytes err %v; want %d frames %d bytes", got.frames, got.bytes, got.err, want.frames, want.bytes)
	}
}

func TestOpenFileRejects(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		"empty":      nil,
		"text":       []byte("GET / HTTP/1.1\r\n\r\n"),
		"gzip text":  gzipped([]byte("hello, world")),
		"short pcap": {0xd4, 0xc3, 0xb2, 0xa1, 2, 0},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		os.WriteFile(p, data, 0o644)
		if _, err := OpenFile(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("OpenFile(%s) = %v; want an error naming the file", name, err)
		} else if name != "short pcap" && !errors.Is(err, ErrUnknownFormat) {
			t.Errorf("OpenFile(%s) = %v; want ErrUnknownFormat", name, err)
		}
	}
	if _, err := OpenFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenFile(missing) = %v; want os.ErrNotExist", err)
	}
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// TestPcapngLinkTypePerInterface: a pcapng with two interfaces of different link types
// reports each frame's own.
func TestPcapngLinkTypePerInterface(t *testing.T) {
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{Name: "eth0", LinkType: layers.LinkTypeEthernet, SnapLength: 65535}, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	sll, err := w.AddInterface(pcapgo.NgInterface{Name: "any", LinkType: layers.LinkTypeLinuxSLL, SnapLength: 65535})
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]byte, 60)
	for i := 0; i < 6; i++ {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000+int64(i), 0), CaptureLength: 60, Length: 60, InterfaceIndex: i % 2 * sll}
		if err := w.WritePacket(ci, frame); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	p := filepath.Join(t.TempDir(), "mixed")
	os.WriteFile(p, buf.Bytes(), 0o644)
	s, err := OpenFile(p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := readAll(t, s)
	if r.err != nil || r.lts[layers.LinkTypeEthernet] != 3 || r.lts[layers.LinkTypeLinuxSLL] != 3 {
		t.Errorf("link types %v, err %v; want 3 Ethernet and 3 Linux SLL", r.lts, r.err)
	}
}

func TestFileSourceAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates; allocation pins run without -race")
	}
	path := filepath.Join(t.TempDir(), "a.pcap")
	writePcap(t, path, 5000, 200)
	s, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Next()
	allocs := testing.AllocsPerRun(1000, func() {
		if _, _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per frame; want 0", allocs)
	}
	var f Frame
	allocs = testing.AllocsPerRun(1000, func() {
		if err := s.ReadFrame(&f); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("ReadFrame: %.1f allocations per frame; want 0", allocs)
	}
}

func BenchmarkFileSource(b *testing.B) {
	dir := b.TempDir()
	plain := filepath.Join(dir, "bench.pcap")
	raw := writePcap(b, plain, 20000, 300)
	gz := filepath.Join(dir, "bench.pcap.gz")
	os.WriteFile(gz, gzipped(raw), 0o644)
	var f Frame
	reads := map[string]func(s *FileSource) error{
		"Next":      func(s *FileSource) error { _, _, err := s.Next(); return err },
		"ReadFrame": func(s *FileSource) error { return s.ReadFrame(&f) },
	}
	for _, path := range []string{plain, gz} {
		for _, how := range []string{"Next", "ReadFrame"} {
			read := reads[how]
			b.Run(filepath.Base(path)+"/"+how, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(raw)))
				for i := 0; i < b.N; i++ {
					s, err := OpenFile(path)
					if err != nil {
						b.Fatal(err)
					}
					n := 0
					for read(s) == nil {
						n++
					}
					s.Close()
					if n != 20000 {
						b.Fatalf("%d frames", n)
					}
				}
				b.ReportMetric(float64(b.N)*20000/b.Elapsed().Seconds(), "frames/s")
			})
		}
	}
}
