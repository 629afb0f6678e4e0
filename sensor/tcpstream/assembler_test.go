package tcpstream

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/apiscope/apiscope/sensor/decode"
)

// recorder is a Handler that writes down what it is told, one line per call.
type recorder struct {
	conn Conn
	log  *[]string
}

func (r *recorder) Feed(side int, b []byte, _ time.Time) {
	*r.log = append(*r.log, fmt.Sprintf("feed %d %s", side, b))
}
func (r *recorder) Gap(side int, n int, _ time.Time) {
	*r.log = append(*r.log, fmt.Sprintf("gap %d %d", side, n))
}
func (r *recorder) Close(side int, _ time.Time) {
	*r.log = append(*r.log, fmt.Sprintf("close %d", side))
}
func (r *recorder) End(time.Time) { *r.log = append(*r.log, "end") }

var (
	client = netip.MustParseAddrPort("10.0.0.1:40000")
	server = netip.MustParseAddrPort("10.0.0.2:80")
	t0     = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
)

// pkt describes one crafted segment.
type pkt struct {
	fromServer bool
	seq        uint32 // relative to the sender's ISN
	flags      string // any of "S", "F", "R", "A"
	data       string
	at         time.Duration
	ack        uint32 // relative to the peer's ISN; zero means 1
	isnDelta   uint32 // added to both initial sequence numbers (a new connection)
}

const clientISN, serverISN = 1000, 5000

// segment serialises p with gopacket and decodes it back into a decode.Segment, so the
// test goes through real wire bytes.
func segment(t testing.TB, p pkt) *decode.Segment {
	t.Helper()
	src, dst, isn, peer := client, server, uint32(clientISN), uint32(serverISN)
	if p.fromServer {
		src, dst, isn, peer = server, client, serverISN, clientISN
	}
	isn, peer = isn+p.isnDelta, peer+p.isnDelta
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP,
		SrcIP: net.IP(src.Addr().AsSlice()), DstIP: net.IP(dst.Addr().AsSlice())}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()),
		Seq: isn + p.seq, Ack: peer + max(p.ack, 1), Window: 65535,
		SYN: strings.Contains(p.flags, "S"), FIN: strings.Contains(p.flags, "F"),
		RST: strings.Contains(p.flags, "R"), ACK: !strings.Contains(p.flags, "S") || p.fromServer}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0, 1, 2, 3, 4, 5}, DstMAC: net.HardwareAddr{0, 1, 2, 3, 4, 6}, EthernetType: layers.EthernetTypeIPv4}
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, tcp, gopacket.Payload(p.data)); err != nil {
		t.Fatal(err)
	}
	pk := gopacket.NewPacket(buf.Bytes(), layers.LayerTypeEthernet, gopacket.Default)
	i4 := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	tc := pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
	s := &decode.Segment{TS: t0.Add(p.at), Seq: tc.Seq, Ack: tc.Ack, Window: tc.Window,
		SrcPort: uint16(tc.SrcPort), DstPort: uint16(tc.DstPort), Payload: tc.Payload, WireLen: len(buf.Bytes())}
	s.Src, _ = netip.AddrFromSlice(i4.SrcIP.To4())
	s.Dst, _ = netip.AddrFromSlice(i4.DstIP.To4())
	for f, on := range map[uint8]bool{decode.FlagFIN: tc.FIN, decode.FlagSYN: tc.SYN, decode.FlagRST: tc.RST, decode.FlagACK: tc.ACK, decode.FlagPSH: tc.PSH} {
		if on {
			s.Flags |= f
		}
	}
	return s
}

// run feeds pkts (and ticks, given as packets with flags "T") and returns the log.
func run(t *testing.T, cfg *Config, pkts []pkt, flushAll bool) []string {
	t.Helper()
	var log []string
	a := NewAssembler(cfg, func(c Conn) Handler { return &recorder{conn: c, log: &log} }, nil)
	for _, p := range pkts {
		if p.flags == "T" {
			a.Tick(t0.Add(p.at))
			continue
		}
		a.Add(segment(t, p))
	}
	if flushAll {
		a.FlushAll(time.Time{})
	}
	return log
}

var handshake = []pkt{
	{seq: 0, flags: "S"},
	{fromServer: true, seq: 0, flags: "SA"},
	{seq: 1, flags: "A"},
}

func with(ps ...pkt) []pkt { return append(append([]pkt{}, handshake...), ps...) }

// assemblerCases are crafted segment sequences and what the handler must be told.
var assemblerCases = []struct {
	name     string
	cfg      Config
	pkts     []pkt
	flushAll bool
	want     []string
}{
	{
		name: "in order with FIN on both sides",
		pkts: with(
			pkt{seq: 1, data: "GET / HTTP/1.1\r\n\r\n"},
			pkt{fromServer: true, seq: 1, data: "HTTP/1.1 200 OK\r\n\r\n"},
			pkt{seq: 19, flags: "F"},
			pkt{fromServer: true, seq: 20, flags: "F"},
		),
		want: []string{"feed 0 GET / HTTP/1.1\r\n\r\n", "feed 1 HTTP/1.1 200 OK\r\n\r\n", "close 0", "close 1", "end"},
	},
	{
		name: "out of order is put back in order",
		pkts: with(
			pkt{seq: 4, data: "def"},
			pkt{seq: 1, data: "abc"},
			pkt{seq: 7, data: "ghi"},
		),
		want: []string{"feed 0 abcdef", "feed 0 ghi"},
	},
	{
		name: "retransmission is delivered once",
		pkts: with(
			pkt{seq: 1, data: "abc"},
			pkt{seq: 1, data: "abc"},
			pkt{seq: 4, data: "def"},
		),
		want: []string{"feed 0 abc", "feed 0 def"},
	},
	{
		name: "overlapping segment delivers only new bytes",
		pkts: with(
			pkt{seq: 1, data: "abcd"},
			pkt{seq: 3, data: "cdefg"},
		),
		want: []string{"feed 0 abcd", "feed 0 efg"},
	},
	{
		name: "mid-stream start without SYN",
		pkts: []pkt{
			{seq: 100, flags: "A", data: "tail of body", ack: 300},
			{fromServer: true, seq: 300, flags: "A", data: "HTTP/1.1 200 OK\r\n\r\n"},
		},
		want: []string{"feed 0 tail of body", "feed 1 HTTP/1.1 200 OK\r\n\r\n"},
	},
	{
		name: "mid-stream start behind bytes the peer acknowledged",
		pkts: []pkt{
			{seq: 1, flags: "A", data: "GET / HTTP/1.1\r\n\r\n", ack: 1},
			{fromServer: true, seq: 101, flags: "A", data: "body tail"},
		},
		want: []string{"feed 0 GET / HTTP/1.1\r\n\r\n", "gap 1 100", "feed 1 body tail"},
	},
	{
		name: "gap is reported once the flush timeout passes",
		cfg:  Config{FlushTimeout: time.Second},
		pkts: with(
			pkt{seq: 1, data: "abc"},
			pkt{seq: 10, data: "xyz", at: time.Second},
			pkt{flags: "T", at: 1500 * time.Millisecond},
			pkt{flags: "T", at: 2500 * time.Millisecond},
		),
		want: []string{"feed 0 abc", "gap 0 6", "feed 0 xyz"},
	},
	{
		name: "a hole the receiver acknowledged is delivered at once",
		pkts: with(
			pkt{seq: 1, data: "abc"},
			pkt{seq: 7, data: "ghi"},
			pkt{fromServer: true, seq: 1, flags: "A", ack: 10},
			pkt{seq: 10, data: "jkl"},
		),
		want: []string{"feed 0 abc", "gap 0 3", "feed 0 ghijkl"},
	},
	{
		name: "RST closes its side",
		pkts: with(
			pkt{seq: 1, data: "GET"},
			pkt{fromServer: true, seq: 1, flags: "R"},
		),
		want: []string{"feed 0 GET", "close 1"},
	},
	{
		name: "data after an ignored RST is still delivered",
		pkts: with(
			pkt{seq: 1, data: "GET"},
			pkt{seq: 4, flags: "R"},
			pkt{seq: 4, data: "MORE"},
		),
		want: []string{"feed 0 GET", "close 0", "feed 0 MORE"},
	},
	{
		name: "a connection quiet after an RST ends at the next tick",
		pkts: with(
			pkt{seq: 1, data: "GET"},
			pkt{fromServer: true, seq: 1, flags: "R", at: time.Second},
			pkt{flags: "T", at: 1500 * time.Millisecond},
			pkt{flags: "T", at: 2500 * time.Millisecond},
		),
		want: []string{"feed 0 GET", "close 1", "end"},
	},
	{
		name: "a new handshake after an RST starts a new connection",
		pkts: with(
			pkt{seq: 1, data: "old"},
			pkt{seq: 4, flags: "R"},
			pkt{seq: 0, flags: "S", isnDelta: 5555},
			pkt{fromServer: true, seq: 0, flags: "SA", isnDelta: 5555},
			pkt{seq: 1, data: "new", isnDelta: 5555},
		),
		want: []string{"feed 0 old", "close 0", "end", "feed 0 new"},
	},
	{
		name: "a new handshake on a reused port replaces the old connection",
		pkts: with(
			pkt{seq: 1, data: "old"},
			pkt{seq: 0, flags: "S", isnDelta: 77777, at: time.Second},
			pkt{fromServer: true, seq: 0, flags: "SA", isnDelta: 77777, at: time.Second},
			pkt{seq: 1, data: "new", isnDelta: 77777, at: time.Second},
		),
		want: []string{"feed 0 old", "end", "feed 0 new"},
	},
	{
		name: "a forged RST before the handshake does not hide the connection",
		pkts: []pkt{
			{seq: 0, flags: "S"},
			{fromServer: true, seq: 1, flags: "R"},
			{fromServer: true, seq: 0, flags: "SA"},
			{seq: 1, flags: "A"},
			{seq: 1, data: "GET"},
			{fromServer: true, seq: 1, data: "200"},
		},
		want: []string{"feed 0 GET", "feed 1 200"},
	},
	{
		name: "idle timeout ends the connection in capture time",
		cfg:  Config{IdleTimeout: 10 * time.Second},
		pkts: with(
			pkt{seq: 1, data: "GET"},
			pkt{flags: "T", at: 5 * time.Second},
			pkt{flags: "T", at: 11 * time.Second},
		),
		want: []string{"feed 0 GET", "end"},
	},
	{
		name: "FlushAll delivers buffered data behind a gap and ends",
		pkts: with(
			pkt{seq: 1, data: "abc"},
			pkt{seq: 7, data: "ghi"},
		),
		flushAll: true,
		want:     []string{"feed 0 abc", "gap 0 3", "feed 0 ghi", "end"},
	},
	{
		name: "per-connection page bound forces delivery behind a gap",
		cfg:  Config{MaxBufferedPagesPerConnection: 2},
		pkts: with(
			pkt{seq: 1, data: "a"},
			pkt{seq: 10, data: "b"},
			pkt{seq: 20, data: "c"},
			pkt{seq: 30, data: "d"},
		),
		// Two pages held ("b", "c"): "d" pushes out the oldest queued data.
		want: []string{"feed 0 a", "gap 0 8", "feed 0 b", "gap 0 9", "feed 0 c"},
	},
}

func TestAssemblerCases(t *testing.T) {
	for _, tt := range assemblerCases {
		t.Run(tt.name, func(t *testing.T) {
			got := run(t, &tt.cfg, tt.pkts, tt.flushAll)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("handler saw\n  %q\nwant\n  %q", got, tt.want)
			}
		})
	}
}

func TestTotalPageBoundForcesDelivery(t *testing.T) {
	var log []string
	a := NewAssembler(&Config{MaxBufferedPagesTotal: 2}, func(c Conn) Handler { return &recorder{conn: c, log: &log} }, nil)
	before := mForcedBuffer.Load()
	for i := 0; i < 3; i++ { // three connections, each with one out-of-order segment
		for _, p := range []pkt{{seq: 1, flags: "A", data: "a"}, {seq: 10, flags: "A", data: "b"}} {
			s := segment(t, p)
			s.SrcPort += uint16(i)
			a.Add(s)
		}
	}
	if got := mForcedBuffer.Load() - before; got == 0 {
		t.Errorf("no forced flush counted with %d connections over a 2-page budget; log %q", 3, log)
	}
}

func TestConnectionBoundClosesIdleConnectionsEarly(t *testing.T) {
	var log []string
	a := NewAssembler(&Config{MaxConnections: 1}, func(c Conn) Handler { return &recorder{conn: c, log: &log} }, nil)
	before := mForcedConn.Load()
	a.Add(segment(t, pkt{seq: 1, flags: "A", data: "old"}))
	s := segment(t, pkt{seq: 1, flags: "A", data: "new", at: time.Minute})
	s.SrcPort++
	a.Add(s)
	if got := mForcedConn.Load() - before; got != 1 {
		t.Errorf("forced flushes for the connection bound = %d; want 1", got)
	}
	if strings.Join(log, "|") != "feed 0 old|end|feed 0 new" {
		t.Errorf("handlers saw %q; want the idle connection ended before the new one starts", log)
	}
}

func TestSide0IsFirstSender(t *testing.T) {
	var conns []Conn
	var log []string
	a := NewAssembler(nil, func(c Conn) Handler { conns = append(conns, c); return &recorder{conn: c, log: &log} }, nil)
	a.Add(segment(t, pkt{fromServer: true, seq: 1, flags: "A", data: "HTTP/1.1 200 OK\r\n\r\n"}))
	if len(conns) != 1 || conns[0].Side0 != server || conns[0].Side1 != client {
		t.Fatalf("connections = %v; want one with side 0 = %v", conns, server)
	}
	if a.Open() != 1 {
		t.Errorf("Open() = %d; want 1", a.Open())
	}
}

func TestConnectionBound(t *testing.T) {
	var log []string
	n := 0
	a := NewAssembler(&Config{MaxConnections: 2}, func(c Conn) Handler { n++; return &recorder{conn: c, log: &log} }, nil)
	before := mDroppedConn.Load()
	for i := 0; i < 5; i++ {
		s := segment(t, pkt{seq: 1, flags: "A", data: "x"})
		s.SrcPort += uint16(i)
		a.Add(s)
	}
	if n != 2 || a.Open() != 2 {
		t.Errorf("handlers made = %d, open = %d; want 2 and 2", n, a.Open())
	}
	if d := mDroppedConn.Load() - before; d != 3 {
		t.Errorf("dropped segments counted = %d; want 3", d)
	}
}

// panicker blows up on its first Feed, standing in for a bug in a parser.
type panicker struct{ ended *bool }

func (p *panicker) Feed(int, []byte, time.Time) { panic("parser bug") }
func (p *panicker) Gap(int, int, time.Time)     {}
func (p *panicker) Close(int, time.Time)        {}
func (p *panicker) End(time.Time)               { *p.ended = true }

// On either path, a panic in a handler is counted and logged once, with the
// connection, and drops that connection alone; the next segments go on.
func TestPanicDropsOnlyThatConnection(t *testing.T) {
	for _, only := range []bool{false, true} {
		var log []string
		var ended bool
		first := true
		core, logs := observer.New(zap.ErrorLevel)
		a := NewAssembler(nil, func(c Conn) Handler {
			if first {
				first = false
				return &panicker{ended: &ended}
			}
			return &recorder{conn: c, log: &log}
		}, zap.New(core))
		a.reassemblerOnly = only
		before := mPanics.Load()
		a.Add(segment(t, pkt{seq: 1, flags: "A", data: "boom"}))
		a.Add(segment(t, pkt{seq: 5, flags: "A", data: "ignored"}))
		other := segment(t, pkt{seq: 1, flags: "A", data: "fine"})
		other.SrcPort++
		a.Add(other)
		a.FlushAll(time.Time{})
		if got := mPanics.Load() - before; got != 1 {
			t.Errorf("reassembler only %v: panics counted = %d; want 1", only, got)
		}
		if ended {
			t.Errorf("reassembler only %v: the dead connection's handler was still called", only)
		}
		if strings.Join(log, "|") != "feed 0 fine|end" {
			t.Errorf("reassembler only %v: healthy connection saw %q", only, log)
		}
		if got := logs.FilterMessageSnippet("recovered from a bug").All(); len(got) != 1 ||
			got[0].ContextMap()["side0"] != client.String() || got[0].ContextMap()["panic"] != "parser bug" {
			t.Errorf("reassembler only %v: logged %v", only, logs.All())
		}
	}
}

func BenchmarkAssemblerInOrder(b *testing.B) {
	var log []string
	a := NewAssembler(nil, func(c Conn) Handler { return nopHandler{} }, nil)
	_ = log
	body := strings.Repeat("x", 200)
	segs := make([]*decode.Segment, 0, 2)
	segs = append(segs, segment(b, pkt{seq: 1, flags: "A", data: body}), segment(b, pkt{fromServer: true, seq: 1, flags: "A", data: body}))
	b.ReportAllocs()
	b.SetBytes(int64(2 * len(body)))
	for i := 0; i < b.N; i++ {
		for _, s := range segs {
			s.Seq += uint32(len(body))
			a.Add(s)
		}
	}
}

type nopHandler struct{}

func (nopHandler) Feed(int, []byte, time.Time) {}
func (nopHandler) Gap(int, int, time.Time)     {}
func (nopHandler) Close(int, time.Time)        {}
func (nopHandler) End(time.Time)               {}

// timedRecorder writes down what it is fed with the capture time it is given.
type timedRecorder struct{ log *[]string }

func (r *timedRecorder) Feed(side int, b []byte, ts time.Time) {
	*r.log = append(*r.log, fmt.Sprintf("feed %d %s at %v", side, b, ts.Sub(t0)))
}
func (r *timedRecorder) Gap(side int, n int, ts time.Time) {
	*r.log = append(*r.log, fmt.Sprintf("gap %d %d at %v", side, n, ts.Sub(t0)))
}
func (r *timedRecorder) Close(int, time.Time) {}
func (r *timedRecorder) End(time.Time)        {}

// A segment the reassembler queues keeps its own capture time while in-order segments,
// which share one context (Add), come and go: the queued data, delivered behind a gap
// when its hole times out, carries the time it was captured at.
func TestQueuedSegmentKeepsItsTime(t *testing.T) {
	var log []string
	a := NewAssembler(nil, func(Conn) Handler { return &timedRecorder{log: &log} }, nil)
	ps := with(
		pkt{seq: 1, data: "abc", at: time.Millisecond},
		pkt{seq: 7, data: "ghi", at: 10 * time.Millisecond},
	)
	for i := 0; i < 5; i++ {
		ps = append(ps, pkt{fromServer: true, seq: 1 + uint32(3*i), data: "xyz", at: time.Duration(20+i) * time.Millisecond})
	}
	for _, p := range ps {
		a.Add(segment(t, p))
	}
	a.Tick(t0.Add(10 * time.Second))
	want := []string{
		"feed 0 abc at 1ms",
		"feed 1 xyz at 20ms", "feed 1 xyz at 21ms", "feed 1 xyz at 22ms", "feed 1 xyz at 23ms", "feed 1 xyz at 24ms",
		"gap 0 3 at 10ms", "feed 0 ghi at 10ms",
	}
	if strings.Join(log, "\n") != strings.Join(want, "\n") {
		t.Fatalf("handler was told:\n%s\nwant:\n%s", strings.Join(log, "\n"), strings.Join(want, "\n"))
	}
}

// Queued data released early, because the receiver acknowledged the hole before it and a
// later segment arrived, carries its own capture time too, not the later segment's.
func TestAckedHoleDeliveryKeepsQueuedTime(t *testing.T) {
	var log []string
	a := NewAssembler(nil, func(Conn) Handler { return &timedRecorder{log: &log} }, nil)
	ps := with(
		pkt{seq: 1, data: "abc", at: time.Millisecond},
		pkt{seq: 7, data: "ghi", at: 10 * time.Millisecond},
		pkt{fromServer: true, seq: 1, data: "xyz", ack: 10, at: 20 * time.Millisecond},
		pkt{seq: 10, data: "jkl", at: 30 * time.Millisecond},
	)
	for _, p := range ps {
		a.Add(segment(t, p))
	}
	want := []string{
		"feed 0 abc at 1ms",
		"feed 1 xyz at 20ms",
		"gap 0 3 at 10ms", "feed 0 ghijkl at 10ms", // (the later segment's bytes join them)
	}
	if strings.Join(log, "\n") != strings.Join(want, "\n") {
		t.Fatalf("handler was told:\n%s\nwant:\n%s", strings.Join(log, "\n"), strings.Join(want, "\n"))
	}
}
