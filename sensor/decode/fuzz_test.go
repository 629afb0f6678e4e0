package decode

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// FuzzDecode feeds arbitrary bytes under an arbitrary link type. The decoder must not
// panic (panics are let through here rather than turned into errors), must name the
// layer of every error, must never hand out more payload than it was given, and must
// decode the frames DecodeFrame takes itself as the general path does.
// Seeds: testdata/fuzz/FuzzDecode (every frame of the table tests and some fragments;
// rewrite them with APISCOPE_WRITE_FUZZ_SEEDS=1 go test -run TestWriteFuzzSeeds).
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, lt uint8, data []byte) {
		d := NewDecoder(Config{MaxFragmentDatagrams: 4})
		d.parser.IgnorePanic = true
		c := gopacket.CaptureInfo{Timestamp: testTS, CaptureLength: len(data), Length: len(data)}
		if layers.LinkType(lt) == layers.LinkTypeEthernet {
			checkPlain(t, data, c) // the shortcut gives what the general path gives
		}
		// Twice: the second pass runs with whatever fragment state the first left.
		for i := 0; i < 2; i++ {
			seg, err := d.Decode(data, layers.LinkType(lt), c)
			if err != nil {
				var de *DecodeError
				if !errors.As(err, &de) || de.Layer == "" {
					t.Fatalf("error %v is not a *DecodeError naming a layer", err)
				}
				continue
			}
			if seg != nil && len(seg.Payload) > len(data) {
				t.Fatalf("payload of %d bytes from a frame of %d", len(seg.Payload), len(data))
			}
		}
	})
}

// TestWriteFuzzSeeds regenerates the checked-in seed corpus from the frame builders.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("APISCOPE_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set APISCOPE_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz/FuzzDecode")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, lt layers.LinkType, data []byte) {
		body := fmt.Sprintf("go test fuzz v1\nuint8(%d)\n[]byte(%s)\n", lt, strconv.Quote(string(data)))
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, tc := range frameCases() {
		write(fmt.Sprintf("case%02d", i), tc.lt, serialize(t, tc.ls...))
	}
	for i, f := range fragments4(t, ipv4Packet(t), 16)[:2] {
		write(fmt.Sprintf("frag4-%d", i), layers.LinkTypeEthernet, f)
	}
	for i, f := range fragments6(t, ipv6Packet(t), 24, 1)[:2] {
		write(fmt.Sprintf("frag6-%d", i), layers.LinkTypeEthernet, f)
	}
}
