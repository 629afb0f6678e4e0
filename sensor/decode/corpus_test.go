package decode

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apiscope/apiscope/sensor/capture"
)

// corpusDir holds real captures from other projects' test suites (see its README.md).
const corpusDir = "../../../shared/corpus/real-pcaps"

// corpusPath returns the path of a corpus capture, skipping the test when the corpus
// is absent (failing instead when CI=true).
func corpusPath(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(corpusDir, name)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("corpus capture %s missing under CI: %v", name, err)
		}
		t.Skipf("corpus capture %s not present (%v); skipping", name, err)
	}
	return p
}

// fileStats is what decoding a whole capture gave.
type fileStats struct {
	frames, segments, nonTCP, errs int
	ports                          map[uint16]int // segments by the lower of the two ports
	payloadBytes                   int
	errLayers                      map[string]int
}

func decodeFile(t testing.TB, path string) fileStats {
	t.Helper()
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatalf("OpenFile(%s): %v", path, err)
	}
	defer src.Close()
	d := NewDecoder(Config{})
	st := fileStats{ports: map[uint16]int{}, errLayers: map[string]int{}}
	for {
		data, ci, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next after %d frames: %v", st.frames, err)
		}
		st.frames++
		seg, err := d.Decode(data, src.LinkTypeOf(ci), ci)
		switch {
		case err != nil:
			st.errs++
			var de *DecodeError
			if errors.As(err, &de) {
				st.errLayers[de.Layer]++
			}
		case seg == nil:
			st.nonTCP++
		default:
			st.segments++
			st.ports[min(seg.SrcPort, seg.DstPort)]++
			st.payloadBytes += len(seg.Payload)
		}
	}
	return st
}

func TestCorpusAllFiles(t *testing.T) {
	dir := corpusPath(t, "")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		n := e.Name()
		if !strings.HasSuffix(n, ".pcap") && !strings.HasSuffix(n, ".pcapng") {
			continue
		}
		st := decodeFile(t, filepath.Join(dir, n))
		t.Logf("%-70s frames=%5d tcp=%5d nontcp=%4d errs=%d %v", n, st.frames, st.segments, st.nonTCP, st.errs, st.errLayers)
	}
}
