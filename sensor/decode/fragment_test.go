package decode

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// fragments4 splits an IPv4 packet (header without options) into fragments carrying
// size bytes of payload each (a multiple of 8), each wrapped in an Ethernet header.
func fragments4(t *testing.T, pkt []byte, size int) [][]byte {
	t.Helper()
	hl := int(pkt[0]&0x0f) * 4
	payload := pkt[hl:]
	var out [][]byte
	for off := 0; off < len(payload); off += size {
		end := min(off+size, len(payload))
		f := append(append([]byte(nil), pkt[:hl]...), payload[off:end]...)
		binary.BigEndian.PutUint16(f[2:4], uint16(len(f)))
		ff := uint16(off / 8)
		if end < len(payload) {
			ff |= 0x2000 // more fragments
		}
		binary.BigEndian.PutUint16(f[6:8], ff)
		out = append(out, append(serialize(t, eth(layers.EthernetTypeIPv4))[:14:14], f...))
	}
	return out
}

// fragments6 splits an IPv6 packet (no extension headers) the same way.
func fragments6(t *testing.T, pkt []byte, size int, id uint32) [][]byte {
	t.Helper()
	payload := pkt[40:]
	var out [][]byte
	for off := 0; off < len(payload); off += size {
		end := min(off+size, len(payload))
		f := append([]byte(nil), pkt[:40]...)
		fh := make([]byte, 8)
		fh[0] = pkt[6]
		of := uint16(off/8) << 3
		if end < len(payload) {
			of |= 1
		}
		binary.BigEndian.PutUint16(fh[2:4], of)
		binary.BigEndian.PutUint32(fh[4:8], id)
		f[6] = 44
		f = append(append(f, fh...), payload[off:end]...)
		binary.BigEndian.PutUint16(f[4:6], uint16(len(f)-40))
		out = append(out, append(serialize(t, eth(layers.EthernetTypeIPv6))[:14:14], f...))
	}
	return out
}

func ipv4Packet(t *testing.T) []byte { return serialize(t, inner4()...) }
func ipv6Packet(t *testing.T) []byte { return serialize(t, inner6()...) }

// feed decodes frames in the given order, one capture-time millisecond apart, and
// returns the segments produced.
func feed(t *testing.T, d *Decoder, frames [][]byte, order []int) []*Segment {
	t.Helper()
	var segs []*Segment
	for i, k := range order {
		f := frames[k]
		c := gopacket.CaptureInfo{Timestamp: testTS.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(f), Length: len(f)}
		seg, err := d.Decode(f, layers.LinkTypeEthernet, c)
		if err != nil {
			t.Fatalf("fragment %d: %v", k, err)
		}
		if seg != nil {
			s := *seg
			s.Payload = append([]byte(nil), seg.Payload...)
			segs = append(segs, &s)
		}
	}
	return segs
}

func seq(n int) []int {
	o := make([]int, n)
	for i := range o {
		o[i] = i
	}
	return o
}

func reversed(n int) []int {
	o := seq(n)
	for i, j := 0, n-1; i < j; i, j = i+1, j-1 {
		o[i], o[j] = o[j], o[i]
	}
	return o
}

func TestFragmentReassembly(t *testing.T) {
	v4 := fragments4(t, ipv4Packet(t), 16)
	v6 := fragments6(t, ipv6Packet(t), 24, 77)
	if len(v4) < 4 || len(v6) < 3 {
		t.Fatalf("too few fragments: %d, %d", len(v4), len(v6))
	}
	shuffled := []int{2, 0, 4, 1, 3}
	for i := 5; i < len(v4); i++ {
		shuffled = append(shuffled, i)
	}
	overlap := append([]int{0, 1, 1, 0, 2}, seq(len(v4))[2:]...)
	tests := []struct {
		name   string
		frames [][]byte
		order  []int
		v6     bool
	}{
		{"ipv4 in order", v4, seq(len(v4)), false},
		{"ipv4 reversed", v4, reversed(len(v4)), false},
		{"ipv4 shuffled", v4, shuffled, false},
		{"ipv4 duplicates and overlaps", v4, overlap, false},
		{"ipv6 in order", v6, seq(len(v6)), true},
		{"ipv6 reversed", v6, reversed(len(v6)), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder(Config{})
			before := mFragReassembled.Load()
			segs := feed(t, d, tc.frames, tc.order)
			if len(segs) != 1 {
				t.Fatalf("got %d segments; want 1", len(segs))
			}
			seg := segs[0]
			seg.TS = testTS // the rebuilt datagram carries its last fragment's time
			wantInner(t, seg, tc.v6)
			if d.PendingFragments() != 0 {
				t.Errorf("PendingFragments = %d; want 0", d.PendingFragments())
			}
			if got := mFragReassembled.Load() - before; got != 1 {
				t.Errorf("reassembled counter moved by %d; want 1", got)
			}
		})
	}
}

func TestFragmentedTunnel(t *testing.T) {
	// VXLAN whose outer IPv4 packet was fragmented on the way to the mirror target.
	outer := serialize(t, join(ip4(outerSrc4, outerDst4, layers.IPProtocolUDP), udp(4789),
		&layers.VXLAN{ValidIDFlag: true, VNI: 5}, eth(layers.EthernetTypeIPv4), inner4())...)
	segs := feed(t, NewDecoder(Config{}), fragments4(t, outer, 32), reversed(len(fragments4(t, outer, 32))))
	if len(segs) != 1 {
		t.Fatalf("got %d segments; want 1", len(segs))
	}
	segs[0].TS = testTS
	wantInner(t, segs[0], false)
}

func TestFragmentDrops(t *testing.T) {
	v4 := fragments4(t, ipv4Packet(t), 16)
	at := func(d *Decoder, f []byte, ts time.Time) {
		t.Helper()
		if seg, err := d.Decode(f, layers.LinkTypeEthernet, gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(f), Length: len(f)}); seg != nil || err != nil {
			t.Fatalf("Decode = %v, %v; want nothing yet", seg, err)
		}
	}
	withID := func(f []byte, id uint16) []byte {
		g := append([]byte(nil), f...)
		binary.BigEndian.PutUint16(g[14+4:14+6], id)
		return g
	}
	t.Run("timeout in capture time", func(t *testing.T) {
		d := NewDecoder(Config{FragmentTimeout: 10 * time.Second})
		before := mFragDropped[dropTimeout].Load()
		at(d, v4[0], testTS)
		at(d, withID(v4[0], 9), testTS.Add(5*time.Second))
		if d.PendingFragments() != 2 {
			t.Fatalf("pending = %d; want 2", d.PendingFragments())
		}
		at(d, withID(v4[0], 10), testTS.Add(12*time.Second))
		if d.PendingFragments() != 2 || mFragDropped[dropTimeout].Load() != before+1 {
			t.Errorf("pending = %d, timeouts +%d; want 2, +1", d.PendingFragments(), mFragDropped[dropTimeout].Load()-before)
		}
		// The rest of the expired datagram arrives: it cannot complete.
		for _, f := range v4[1:] {
			at(d, f, testTS.Add(13*time.Second))
		}
	})
	t.Run("table full evicts oldest", func(t *testing.T) {
		d := NewDecoder(Config{MaxFragmentDatagrams: 2})
		before := mFragDropped[dropTableFull].Load()
		for id := uint16(1); id <= 3; id++ {
			at(d, withID(v4[0], id), testTS.Add(time.Duration(id)*time.Millisecond))
		}
		if d.PendingFragments() != 2 || mFragDropped[dropTableFull].Load() != before+1 {
			t.Errorf("pending = %d, table_full +%d; want 2, +1", d.PendingFragments(), mFragDropped[dropTableFull].Load()-before)
		}
	})
	t.Run("too many fragments", func(t *testing.T) {
		d := NewDecoder(Config{MaxFragments: 2})
		before := mFragDropped[dropTooMany].Load()
		for _, f := range v4[:3] {
			at(d, f, testTS)
		}
		if mFragDropped[dropTooMany].Load() != before+1 {
			t.Errorf("too_many_fragments did not move")
		}
	})
	t.Run("too large", func(t *testing.T) {
		d := NewDecoder(Config{})
		before := mFragDropped[dropTooLarge].Load()
		f := append([]byte(nil), v4[1]...)
		binary.BigEndian.PutUint16(f[14+6:14+8], 0x2000|8190) // offset 65520 + 16 bytes
		at(d, f, testTS)
		if mFragDropped[dropTooLarge].Load() != before+1 || d.PendingFragments() != 0 {
			t.Errorf("too_large did not move or datagram kept")
		}
	})
	t.Run("two different ends", func(t *testing.T) {
		d := NewDecoder(Config{})
		before := mFragDropped[dropInconsistent].Load()
		last := v4[len(v4)-1]
		at(d, last, testTS)
		short := append([]byte(nil), v4[1]...)
		binary.BigEndian.PutUint16(short[14+6:14+8], 2) // offset 16, no more fragments
		at(d, short, testTS)
		if mFragDropped[dropInconsistent].Load() != before+1 {
			t.Errorf("inconsistent did not move")
		}
	})
	t.Run("snaplen cut fragment", func(t *testing.T) {
		d := NewDecoder(Config{})
		before := mFragDropped[dropTruncated].Load()
		at(d, v4[0][:len(v4[0])-4], testTS)
		if mFragDropped[dropTruncated].Load() != before+1 || d.PendingFragments() != 0 {
			t.Errorf("truncated did not move or datagram kept")
		}
	})
}

func TestAddSpan(t *testing.T) {
	tests := []struct {
		adds [][2]int
		want []span
	}{
		{[][2]int{{0, 8}, {8, 16}}, []span{{0, 16}}},
		{[][2]int{{16, 24}, {0, 8}}, []span{{0, 8}, {16, 24}}},
		{[][2]int{{16, 24}, {0, 8}, {8, 16}}, []span{{0, 24}}},
		{[][2]int{{0, 8}, {16, 24}, {32, 40}, {4, 36}}, []span{{0, 40}}},
		{[][2]int{{10, 20}, {12, 14}}, []span{{10, 20}}},
		{[][2]int{{10, 20}, {30, 40}, {22, 25}}, []span{{10, 20}, {22, 25}, {30, 40}}},
	}
	for _, tc := range tests {
		var dg datagram
		for _, a := range tc.adds {
			dg.addSpan(a[0], a[1])
		}
		if len(dg.spans) != len(tc.want) {
			t.Errorf("addSpan %v = %v; want %v", tc.adds, dg.spans, tc.want)
			continue
		}
		for i := range tc.want {
			if dg.spans[i] != tc.want[i] {
				t.Errorf("addSpan %v = %v; want %v", tc.adds, dg.spans, tc.want)
				break
			}
		}
	}
}
