package capture

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzFileSource reads arbitrary bytes as a capture file: opening and reading must end
// in io.EOF or an error, never a panic, and never hand out a frame longer than the file;
// ReadFrame must give what Next gives. Seeds: testdata/fuzz/FuzzFileSource (small pcap,
// pcapng and gzip files).
func FuzzFileSource(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := OpenFile(p)
		if err != nil {
			return
		}
		defer s.Close()
		checkReadFrame(t, p, 1000)
		for i := 0; i < 1000; i++ {
			frame, _, err := s.Next()
			if err == io.EOF || err != nil {
				return
			}
			if len(frame) > maxFrameLen {
				t.Fatalf("frame of %d bytes", len(frame))
			}
		}
	})
}
