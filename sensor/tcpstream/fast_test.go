package tcpstream

import (
	"fmt"
	"math/rand"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apiscope/apiscope/pkg/metrics"
	"github.com/apiscope/apiscope/sensor/decode"
)

// fullRecorder writes down every call with its side, bytes, capture time and position.
type fullRecorder struct {
	name string
	log  *[]string
}

func (r *fullRecorder) Feed(side int, b []byte, ts time.Time) {
	*r.log = append(*r.log, fmt.Sprintf("%s feed %d %q at %v", r.name, side, b, ts.Sub(t0)))
}
func (r *fullRecorder) At(side int, seq, acked uint32, ok bool) {
	*r.log = append(*r.log, fmt.Sprintf("%s at %d seq=%d ack=%d %v", r.name, side, seq, acked, ok))
}
func (r *fullRecorder) Gap(side int, n int, ts time.Time) {
	*r.log = append(*r.log, fmt.Sprintf("%s gap %d %d at %v", r.name, side, n, ts.Sub(t0)))
}
func (r *fullRecorder) Close(side int, ts time.Time) {
	*r.log = append(*r.log, fmt.Sprintf("%s close %d at %v", r.name, side, ts.Sub(t0)))
}
func (r *fullRecorder) End(ts time.Time) {
	*r.log = append(*r.log, fmt.Sprintf("%s end at %v", r.name, ts.Sub(t0)))
}

// counters are the reassembly counters both paths must move alike (tests in this
// package do not run in parallel).
var counters = []struct {
	name string
	c    *metrics.Counter
}{
	{"streams", mStreams}, {"gaps", mGaps}, {"gap bytes", mGapBytes}, {"acked holes", mAckedHoles},
	{"reopened", mReopened}, {"reset closed", mResetClosed}, {"idle closed", mIdleClosed},
	{"forced buffer", mForcedBuffer}, {"forced conn", mForcedConn}, {"dropped conn", mDroppedConn},
	{"panics", mPanics},
}

// step is a segment or, with seg nil, a tick at ts.
type step struct {
	seg *decode.Segment
	ts  time.Time
}

// playSteps runs steps through an Assembler, on the in-order path or through the
// reassembler alone, and returns what the handlers were told and the open count.
func playSteps(cfg *Config, steps []step, reassemblerOnly bool) []string {
	var log []string
	before := map[string]uint64{}
	for _, c := range counters {
		before[c.name] = c.c.Load()
	}
	a := NewAssembler(cfg, func(c Conn) Handler {
		return &fullRecorder{name: c.Side0.String() + ">" + c.Side1.String(), log: &log}
	}, nil)
	a.reassemblerOnly = reassemblerOnly
	for _, st := range steps {
		if st.seg == nil {
			from := len(log)
			a.Tick(st.ts)
			sort.Strings(log[from:]) // connections end in the reassembler's map order
			log = append(log, fmt.Sprintf("tick open=%d", a.Open()))
			continue
		}
		seg := *st.seg
		seg.Payload = append([]byte(nil), st.seg.Payload...)
		a.Add(&seg)
		for i := range seg.Payload {
			seg.Payload[i] = '!' // the Assembler must not keep the payload
		}
	}
	from := len(log)
	a.FlushAll(time.Time{})
	sort.Strings(log[from:])
	// Connections ended by one flush (a tick, the connection bound) end in the
	// reassembler's map order, so the calls are compared connection by connection, in
	// order within each.
	sort.SliceStable(log, func(i, j int) bool { return connOf(log[i]) < connOf(log[j]) })
	log = append(log, fmt.Sprintf("open=%d", a.Open()))
	for _, c := range counters {
		log = append(log, fmt.Sprintf("%s %d", c.name, c.c.Load()-before[c.name]))
	}
	return log
}

// connOf is the connection a log line is about ("" for ticks).
func connOf(line string) string {
	if strings.HasPrefix(line, "tick ") {
		return ""
	}
	c, _, _ := strings.Cut(line, " ")
	return c
}

// The table cases give the same result on the in-order path as through the reassembler
// alone.
func TestInOrderPathMatchesReassemblerOnCases(t *testing.T) {
	for _, tt := range assemblerCases {
		t.Run(tt.name, func(t *testing.T) {
			var steps []step
			for _, p := range tt.pkts {
				if p.flags == "T" {
					steps = append(steps, step{ts: t0.Add(p.at)})
					continue
				}
				steps = append(steps, step{seg: segment(t, p)})
			}
			cfg := tt.cfg
			want := playSteps(&cfg, steps, true)
			if got := playSteps(&cfg, steps, false); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("in-order path:\n%s\nreassembler alone:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// Random captures (connections opened or caught mid-stream, segments reordered,
// repeated, overlapping, lost, FINs, RSTs, reused ports, idle time, timestamps that go
// back) give the same handler calls, in the same order and with the same times, on the
// in-order path as through the reassembler alone.
func TestInOrderPathMatchesReassemblerRandom(t *testing.T) {
	n := 600
	if testing.Short() {
		n = 100
	}
	for seed := 0; seed < n; seed++ {
		steps := randomSteps(rand.New(rand.NewSource(int64(seed))))
		cfg := &Config{IdleTimeout: 3 * time.Second, FlushTimeout: time.Second, MaxConnections: 3}
		want := playSteps(cfg, steps, true)
		if got := playSteps(cfg, steps, false); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("seed %d: in-order path:\n%s\nreassembler alone:\n%s", seed, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

func randomSteps(r *rand.Rand) []step {
	type conn struct {
		c, s     netip.AddrPort
		seq      [2]uint32
		isn      [2]uint32
		finished [2]bool
	}
	var conns []*conn
	for i := 0; i < 1+r.Intn(3); i++ {
		c := &conn{
			c: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, 1}), uint16(40000+r.Intn(2))),
			s: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, 2}), 80),
		}
		if r.Intn(4) == 0 {
			c.c = netip.AddrPortFrom(netip.MustParseAddr("2001:db8::1"), c.c.Port())
			c.s = netip.AddrPortFrom(netip.MustParseAddr("2001:db8::2"), 80)
		}
		c.isn = [2]uint32{r.Uint32(), r.Uint32()}
		if r.Intn(8) == 0 {
			c.isn[0] = 0xffffff00 // wraps
		}
		conns = append(conns, c)
	}
	var steps []step
	now := t0
	mk := func(c *conn, side int, seq uint32, flags uint8, data string) *decode.Segment {
		src, dst := c.c, c.s
		if side == 1 {
			src, dst = dst, src
		}
		return &decode.Segment{TS: now, Src: src.Addr(), Dst: dst.Addr(), SrcPort: src.Port(), DstPort: dst.Port(),
			Seq: seq, Ack: c.seq[1-side] + uint32(r.Intn(3)) - 1, Flags: flags | decode.FlagACK, Payload: []byte(data), Window: 100}
	}
	for _, c := range conns {
		if r.Intn(4) != 0 { // a handshake, else caught mid-stream
			steps = append(steps, step{seg: mk(c, 0, c.isn[0], decode.FlagSYN, "")})
			if r.Intn(6) != 0 {
				s := mk(c, 1, c.isn[1], decode.FlagSYN, "")
				steps = append(steps, step{seg: s})
			}
			c.seq = [2]uint32{c.isn[0] + 1, c.isn[1] + 1}
		} else {
			c.seq = c.isn
		}
	}
	for i := 0; i < 4+r.Intn(40); i++ {
		c := conns[r.Intn(len(conns))]
		side := r.Intn(2)
		now = now.Add(time.Duration(r.Intn(300)) * time.Millisecond)
		if r.Intn(15) == 0 {
			if len(steps) > 0 && steps[len(steps)-1].seg != nil && r.Intn(2) == 0 {
				last := steps[len(steps)-1].seg
				steps = append(steps, step{ts: last.TS.Add(3 * time.Second)}) // exactly the idle timeout
			}
			now = now.Add(time.Duration(1+r.Intn(5)) * time.Second)
			steps = append(steps, step{ts: now})
		} else if r.Intn(8) == 0 {
			steps = append(steps, step{ts: now}) // a tick while the connections go on (RST linger)
		}
		data := strings.Repeat(string(rune('a'+r.Intn(26))), 1+r.Intn(6))
		var flags uint8
		switch r.Intn(25) {
		case 0:
			flags = decode.FlagFIN
		case 1:
			flags = decode.FlagRST
			data = ""
		case 2:
			data = "" // a bare ACK
		case 3:
			flags = decode.FlagSYN // a new SYN on the same ports
			data = ""
			c.isn[side] = r.Uint32()
			c.seq[side] = c.isn[side]
		}
		seg := mk(c, side, c.seq[side], flags, data)
		if r.Intn(20) == 0 {
			seg.Flags &^= decode.FlagACK // no acknowledgment: positions say so
		}
		if r.Intn(8) == 0 {
			// Captures merged from several interfaces go back in time a little.
			seg.TS = seg.TS.Add(-time.Duration(r.Intn(600)) * time.Millisecond)
		}
		c.seq[side] += uint32(len(data))
		if flags&(decode.FlagFIN|decode.FlagSYN) != 0 {
			c.seq[side]++
		}
		switch r.Intn(10) {
		case 0: // lost
			continue
		case 1: // held back behind the next one
			steps = append(steps, step{seg: mk(c, side, c.seq[side], 0, "zz")})
			c.seq[side] += 2
		case 2: // sent twice
			steps = append(steps, step{seg: seg})
		case 3: // overlapping retransmission
			steps = append(steps, step{seg: seg})
			if len(seg.Payload) > 1 {
				o := *seg
				o.Seq++
				o.Payload = append(append([]byte(nil), seg.Payload[1:]...), 'y')
				c.seq[side]++
				seg = &o
			}
		}
		steps = append(steps, step{seg: seg})
	}
	return steps
}

// FuzzInOrderPath drives up to two connections with arbitrary segments (direction,
// sequence offset, flags, payload, idle time, ticks and timestamps that go back from the
// input) and requires the in-order path and the reassembler alone to tell the handlers
// the same things.
func FuzzInOrderPath(f *testing.F) {
	f.Add([]byte("\x00\x00\x02\x05hello\x01\x00\x12\x05world\x00\x05\x10\x03abc"))
	f.Add([]byte("\x00\x00\x10\x04data\x00\x01\x10\x04DATA\xc0\x00\x01\x00\x01\x02\x04\x00"))
	f.Fuzz(func(t *testing.T, in []byte) {
		c, s := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
		ts := t0
		var steps []step
		for len(in) >= 4 && len(steps) < 200 {
			ctl, off, flags, n := in[0], in[1], in[2], int(in[3])
			in = in[4:]
			n = min(n, len(in))
			seg := &decode.Segment{TS: ts, Src: c, Dst: s, SrcPort: 1000 + uint16(ctl>>7), DstPort: 80,
				Seq: 100 + uint32(off), Ack: 500, Flags: flags & 0x1f, Payload: in[:n]}
			if ctl&1 == 1 {
				seg.Src, seg.Dst, seg.SrcPort, seg.DstPort = s, c, 80, seg.SrcPort
				seg.Seq, seg.Ack = 500+uint32(off), 100
			}
			if ctl&0x10 != 0 {
				seg.TS = ts.Add(-500 * time.Millisecond) // a capture that goes back in time
			}
			in = in[n:]
			steps = append(steps, step{seg: seg})
			ts = ts.Add(time.Duration(ctl&0x0e) * 100 * time.Millisecond)
			if ctl&0x40 != 0 {
				steps = append(steps, step{ts: ts})
			}
		}
		cfg := &Config{MaxBufferedPagesPerConnection: 4, MaxBufferedPagesTotal: 16, MaxConnections: 2,
			FlushTimeout: time.Second, IdleTimeout: 2 * time.Second}
		want := playSteps(cfg, steps, true)
		if got := playSteps(cfg, steps, false); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("in-order path:\n%s\nreassembler alone:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// posRecorder is a Handler and Positioner that writes down positions and bytes.
type posRecorder struct{ log *[]string }

func (r *posRecorder) At(side int, seq, acked uint32, ok bool) {
	*r.log = append(*r.log, fmt.Sprintf("at %d seq=%d ack=%d %v", side, seq, acked, ok))
}
func (r *posRecorder) Feed(side int, b []byte, _ time.Time) {
	*r.log = append(*r.log, fmt.Sprintf("feed %d %s", side, b))
}
func (r *posRecorder) Gap(side int, n int, _ time.Time) {
	*r.log = append(*r.log, fmt.Sprintf("gap %d %d", side, n))
}
func (r *posRecorder) Close(int, time.Time) {}
func (r *posRecorder) End(time.Time)        {}

// A Positioner is told the sequence number of the first byte of every Feed and the
// acknowledgment of the segment that byte came in, also for bytes the reassembler held
// back behind a hole, on either path.
func TestPositions(t *testing.T) {
	ps := with(
		pkt{seq: 1, data: "abc", ack: 1},
		pkt{fromServer: true, seq: 1, data: "HTTP", ack: 4},
		pkt{seq: 7, data: "ghi", ack: 5},  // held behind a hole
		pkt{seq: 4, data: "def", ack: 5},  // fills it
		pkt{seq: 20, data: "xyz", ack: 9}, // behind a hole that never fills
		pkt{fromServer: true, seq: 5, data: "/1.1", ack: 10},
		pkt{flags: "T", at: 10 * time.Second},
	)
	want := []string{
		"at 0 seq=1001 ack=5001 true", "feed 0 abc",
		"at 1 seq=5001 ack=1004 true", "feed 1 HTTP",
		"at 0 seq=1004 ack=5005 true", "feed 0 defghi",
		"at 1 seq=5005 ack=1010 true", "feed 1 /1.1",
		"gap 0 10", "at 0 seq=1020 ack=5009 true", "feed 0 xyz",
	}
	for _, only := range []bool{false, true} {
		var log []string
		a := NewAssembler(nil, func(Conn) Handler { return &posRecorder{log: &log} }, nil)
		a.reassemblerOnly = only
		for _, p := range ps {
			if p.flags == "T" {
				a.Tick(t0.Add(p.at))
				continue
			}
			a.Add(segment(t, p))
		}
		if strings.Join(log, "\n") != strings.Join(want, "\n") {
			t.Fatalf("reassembler only %v:\n%s\nwant:\n%s", only, strings.Join(log, "\n"), strings.Join(want, "\n"))
		}
	}
}

// TestLookupMatchesConns holds the connection cache to the map it stands in front of:
// connections that share ports (one slot), IPv4 and IPv6 and IPv4-mapped addresses,
// both ends alike, successors on reused ports, connections that end, idle out or are
// handed to the reassembler. After every segment, every key finds in the cache (both
// when filling it and when hitting it) what it finds in conns.
func TestLookupMatchesConns(t *testing.T) {
	addrs := []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"),
		netip.MustParseAddr("::ffff:10.0.0.1"), netip.MustParseAddr("2001:db8::1")}
	ports := []uint16{80, 81, 80 ^ 1 ^ 81} // 80^81 == 1^(80^1^81): every pair shares a slot
	r := rand.New(rand.NewSource(1))
	for round := 0; round < 50; round++ {
		a := NewAssembler(&Config{MaxConnections: 4, IdleTimeout: time.Second}, func(Conn) Handler { return &countHandler{t: t} }, nil)
		now := t0
		for i := 0; i < 300; i++ {
			now = now.Add(time.Duration(r.Intn(200)) * time.Millisecond)
			seg := &decode.Segment{TS: now, Src: addrs[r.Intn(len(addrs))], Dst: addrs[r.Intn(len(addrs))],
				SrcPort: ports[r.Intn(len(ports))], DstPort: ports[r.Intn(len(ports))],
				Seq: uint32(r.Intn(4)), Flags: decode.FlagACK}
			switch r.Intn(8) {
			case 0:
				seg.Flags = decode.FlagSYN
			case 1:
				seg.Flags |= decode.FlagFIN
			case 2:
				seg.Flags |= decode.FlagRST
			case 3:
				a.Tick(now)
			}
			if r.Intn(2) == 0 {
				seg.Payload = []byte("x")
			}
			a.Add(seg)
			for _, s := range addrs {
				for _, d := range addrs {
					for _, sp := range ports {
						for _, dp := range ports {
							k := &decode.Segment{Src: s, Dst: d, SrcPort: sp, DstPort: dp}
							want, wok := a.conns[keyOf(s, sp, d, dp)]
							for j := 0; j < 2; j++ {
								if got, ok := a.lookup(k); got != want || ok != wok {
									t.Fatalf("round %d segment %d: lookup %v:%d>%v:%d = %v %v, conns has %v %v",
										round, i, s, sp, d, dp, got, ok, want, wok)
								}
							}
						}
					}
				}
			}
		}
		a.FlushAll(time.Time{})
	}
}

// A connection whose two ends are the same address and port (a forged or looped
// segment) is side 0 for every segment, on the in-order path as in the reassembler.
func TestInOrderPathSameEnds(t *testing.T) {
	ap := netip.MustParseAddr("10.0.0.9")
	var steps []step
	for i, f := range []uint8{decode.FlagSYN, decode.FlagACK, decode.FlagACK, decode.FlagACK | decode.FlagFIN} {
		seg := &decode.Segment{TS: t0.Add(time.Duration(i) * time.Millisecond), Src: ap, Dst: ap, SrcPort: 7, DstPort: 7,
			Seq: 100, Ack: 100, Flags: f}
		if i > 0 {
			seg.Seq = 101 + uint32(i-1)*2
			seg.Payload = []byte("ab")
		}
		steps = append(steps, step{seg: seg})
	}
	cfg := &Config{}
	want := playSteps(cfg, steps, true)
	if got := playSteps(cfg, steps, false); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("in-order path:\n%s\nreassembler alone:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A SYN from a side whose FIN was delivered on the in-order path opens a new
// connection, also when the old one was caught mid-stream (no SYN seen), as through
// the reassembler alone.
func TestInOrderPathReopenAfterFIN(t *testing.T) {
	var steps []step
	for _, p := range []pkt{
		{seq: 1, data: "abc"},
		{fromServer: true, seq: 1, data: "HTTP"},
		{seq: 4, flags: "F", data: "d"},
		{fromServer: true, seq: 5, data: "/1.1", at: time.Millisecond},
		{seq: 0, flags: "S", isnDelta: 1000, at: 2 * time.Millisecond},
		{fromServer: true, seq: 0, flags: "SA", isnDelta: 1000, at: 3 * time.Millisecond},
		{seq: 1, data: "new", isnDelta: 1000, at: 4 * time.Millisecond},
	} {
		steps = append(steps, step{seg: segment(t, p)})
	}
	cfg := &Config{}
	want := playSteps(cfg, steps, true)
	if got := playSteps(cfg, steps, false); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("in-order path:\n%s\nreassembler alone:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(strings.Join(want, "\n"), "reopened 1") {
		t.Fatalf("no connection reopened:\n%s", strings.Join(want, "\n"))
	}
}
