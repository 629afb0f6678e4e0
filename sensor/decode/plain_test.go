package decode

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/apiscope/apiscope/sensor/capture"
)

// describeSegment renders every field of s, payload included.
func describeSegment(s *Segment) string {
	if s == nil {
		return "nil"
	}
	return fmt.Sprintf("%v %v:%d>%v:%d seq=%d ack=%d win=%d flags=%x wire=%d trunc=%v vlan=%d payload=%q cap=%d",
		s.TS, s.Src, s.SrcPort, s.Dst, s.DstPort, s.Seq, s.Ack, s.Window, s.Flags, s.WireLen,
		s.Truncated, s.VLAN, s.Payload, cap(s.Payload))
}

// checkPlain requires DecodeFrame, when it takes an Ethernet frame itself, to give the
// Segment the general path gives. It reports whether DecodeFrame took the frame: a
// fresh decoder's layer parser has then decoded nothing, and the frame was not refused
// before it (an empty frame).
func checkPlain(t testing.TB, data []byte, ci gopacket.CaptureInfo) bool {
	t.Helper()
	fast := NewDecoder(Config{})
	s, err := fast.DecodeFrame(data, layers.LinkTypeEthernet, ci.Timestamp, ci.Length)
	if len(fast.decoded) != 0 || err != nil {
		return false
	}
	if s == nil {
		t.Fatalf("frame %x: DecodeFrame took it and gave no segment", data)
	}
	slow := NewDecoder(Config{})
	slow.root.next = ltEthernet
	want, err := slow.run(data, ci.Timestamp, ci.Length, 0)
	if err != nil || describeSegment(s) != describeSegment(want) {
		t.Fatalf("frame %x:\nDecodeFrame: %s\ngeneral:     %s (%v)", data, describeSegment(s), describeSegment(want), err)
	}
	return true
}

// Every Ethernet frame of the corpus that DecodeFrame takes itself decodes as the
// general path decodes it.
func TestDecodeFramePlainMatchesGeneralOnCorpus(t *testing.T) {
	dir := corpusPath(t, "")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	taken, frames := 0, 0
	for _, e := range ents {
		if n := e.Name(); !strings.HasSuffix(n, ".pcap") && !strings.HasSuffix(n, ".pcapng") {
			continue
		}
		src, err := capture.OpenFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for {
			data, ci, err := src.Next()
			if err != nil {
				break
			}
			if src.LinkTypeOf(ci) != layers.LinkTypeEthernet {
				continue
			}
			frames++
			if checkPlain(t, bytes.Clone(data), ci) {
				taken++
			}
		}
		src.Close()
	}
	t.Logf("DecodeFrame took %d of %d Ethernet frames itself", taken, frames)
	if taken == 0 {
		t.Fatal("DecodeFrame took no frame of the corpus itself")
	}
}

// Crafted edge cases around what DecodeFrame takes itself: lengths, padding, options,
// fragments.
func TestDecodeFramePlainEdges(t *testing.T) {
	base := serialize(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4},
		&layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: innerSrc4, DstIP: innerDst4},
		&layers.TCP{SrcPort: 1234, DstPort: 80, Seq: 7, Ack: 9, ACK: true, PSH: true, Window: 512},
		gopacket.Payload("hello"))
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(base)) }
	ci := func(b []byte) gopacket.CaptureInfo {
		return gopacket.CaptureInfo{Timestamp: testTS, CaptureLength: len(b), Length: len(b) + 3}
	}
	cases := map[string][]byte{
		"plain":             base,
		"ethernet padding":  append(bytes.Clone(base), 0, 0, 0, 0),
		"total length 0":    mut(func(b []byte) []byte { b[16], b[17] = 0, 0; return b }),
		"total length long": mut(func(b []byte) []byte { b[17] += 10; return b }),
		"total length 39":   mut(func(b []byte) []byte { b[16], b[17] = 0, 39; return b }),
		"more fragments":    mut(func(b []byte) []byte { b[20] |= 0x20; return b }),
		"fragment offset":   mut(func(b []byte) []byte { b[21] = 1; return b }),
		"don't fragment":    mut(func(b []byte) []byte { b[20] |= 0x40; return b }),
		"tcp offset 4":      mut(func(b []byte) []byte { b[46] = 4 << 4; return b }),
		"tcp offset 15":     mut(func(b []byte) []byte { b[46] = 15 << 4; return b }),
		"tcp offset 6":      mut(func(b []byte) []byte { b[46] = 6 << 4; return b }),
		"udp":               mut(func(b []byte) []byte { b[23] = 17; return b }),
		"ihl 6":             mut(func(b []byte) []byte { b[14] = 0x46; return b }),
		"version 6":         mut(func(b []byte) []byte { b[14] = 0x65; return b }),
		"cut":               base[:50],
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) { checkPlain(t, b, ci(b)) })
	}
}
