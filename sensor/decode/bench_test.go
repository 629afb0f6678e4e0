package decode

import (
	"testing"

	"github.com/google/gopacket/layers"
)

// TestDecodeAllocs pins the hot path: an ordinary frame, a tunnelled one and a non-TCP
// one decode without allocating.
func TestDecodeAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates; allocation pins run without -race")
	}
	dns := serialize(t, eth(layers.EthernetTypeIPv4), ip4(outerSrc4, outerDst4, layers.IPProtocolUDP), udp(53), fixed(1, 2, 3))
	for _, tc := range []struct {
		name string
		data []byte
	}{{"ethernet ipv4 tcp", ethIPv4TCP(t)}, {"vxlan", vxlanFrame(t)}, {"udp", dns}} {
		d := NewDecoder(Config{})
		c := ci(tc.data)
		allocs := testing.AllocsPerRun(1000, func() {
			if _, err := d.Decode(tc.data, layers.LinkTypeEthernet, c); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per frame; want 0", tc.name, allocs)
		}
	}
}

func benchmarkDecode(b *testing.B, data []byte, frame bool) {
	d := NewDecoder(Config{})
	c := ci(data)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var seg *Segment
		var err error
		if frame {
			seg, err = d.DecodeFrame(data, layers.LinkTypeEthernet, c.Timestamp, c.Length)
		} else {
			seg, err = d.Decode(data, layers.LinkTypeEthernet, c)
		}
		if seg == nil || err != nil {
			b.Fatal(seg, err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	b.Run("ethernet-ipv4-tcp", func(b *testing.B) { benchmarkDecode(b, ethIPv4TCP(b), false) })
	b.Run("vxlan", func(b *testing.B) { benchmarkDecode(b, vxlanFrame(b), false) })
}

// BenchmarkDecodeFrame is the sensor's per-frame call.
func BenchmarkDecodeFrame(b *testing.B) {
	b.Run("ethernet-ipv4-tcp", func(b *testing.B) { benchmarkDecode(b, ethIPv4TCP(b), true) })
	b.Run("vxlan", func(b *testing.B) { benchmarkDecode(b, vxlanFrame(b), true) })
}
