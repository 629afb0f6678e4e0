package tcpstream

import (
	"net/netip"
	"testing"
	"time"

	"github.com/apiscope/apiscope/sensor/decode"
)

// countHandler checks what a connection is told: sides are 0 or 1, nothing arrives after
// End, and End comes once.
type countHandler struct {
	t     *testing.T
	ended bool
	bytes [2]int
}

func (h *countHandler) check(side int) {
	if side != 0 && side != 1 {
		h.t.Fatalf("side %d", side)
	}
	if h.ended {
		h.t.Fatal("call after End")
	}
}
func (h *countHandler) Feed(side int, b []byte, _ time.Time) { h.check(side); h.bytes[side] += len(b) }
func (h *countHandler) Gap(side int, n int, _ time.Time) {
	h.check(side)
	if n <= 0 {
		h.t.Fatalf("gap of %d bytes", n)
	}
}
func (h *countHandler) Close(side int, _ time.Time) { h.check(side) }
func (h *countHandler) End(time.Time) {
	if h.ended {
		h.t.Fatal("End twice")
	}
	h.ended = true
}

// FuzzAssembler drives one or two connections with arbitrary segments: direction,
// sequence offset, flags and payload length come from the input. Whatever arrives, the
// Assembler must not panic (not even a recovered one), never deliver more bytes than
// were sent, and end every connection at FlushAll.
func FuzzAssembler(f *testing.F) {
	f.Add([]byte("\x00\x00\x02\x05hello\x01\x00\x12\x05world\x00\x05\x10\x03abc"))
	f.Add([]byte("\x00\x10\x00\x04data\x00\x00\x00\x04DATA\x80\x00\x01\x00"))
	f.Add([]byte("\x01\xff\x04\x00\x00\x00\x04\x00\x41\x00\x00\x02hi"))
	f.Fuzz(func(t *testing.T, in []byte) {
		before := mPanics.Load()
		var hs []*countHandler
		a := NewAssembler(&Config{MaxBufferedPagesPerConnection: 4, MaxBufferedPagesTotal: 16, MaxConnections: 2, FlushTimeout: time.Second},
			func(Conn) Handler { h := &countHandler{t: t}; hs = append(hs, h); return h }, nil)
		c, s := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
		ts := time.Unix(1000, 0)
		sent := 0
		for len(in) >= 4 {
			ctl, off, flags, n := in[0], in[1], in[2], int(in[3])
			in = in[4:]
			n = min(n, len(in))
			seg := &decode.Segment{TS: ts, Src: c, Dst: s, SrcPort: 1000 + uint16(ctl>>7), DstPort: 80,
				Seq: 100 + uint32(off)*7, Ack: 500, Flags: flags & 0x1f, Payload: in[:n]}
			if ctl&1 == 1 {
				seg.Src, seg.Dst, seg.SrcPort, seg.DstPort = s, c, 80, seg.SrcPort
				seg.Seq, seg.Ack = 500+uint32(off)*7, 100
			}
			sent += n
			in = in[n:]
			a.Add(seg)
			ts = ts.Add(time.Duration(ctl&0x0e) * 100 * time.Millisecond)
			if ctl&0x40 != 0 {
				a.Tick(ts)
			}
		}
		a.FlushAll(time.Time{})
		if mPanics.Load() != before {
			t.Fatal("the Assembler recovered from a panic")
		}
		got := 0
		for _, h := range hs {
			if !h.ended {
				t.Fatal("a connection did not end at FlushAll")
			}
			got += h.bytes[0] + h.bytes[1]
		}
		if got > sent {
			t.Fatalf("delivered %d bytes of %d sent", got, sent)
		}
		if a.Open() != 0 {
			t.Fatalf("Open() = %d after FlushAll", a.Open())
		}
	})
}
