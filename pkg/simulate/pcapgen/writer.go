package pcapgen

import (
	"bufio"
	"container/heap"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// Options tune the wire. Zero values mean the defaults in parentheses.
type Options struct {
	// Seed drives every wire-level choice (ports, sequence numbers, losses).
	Seed uint64
	// Start is the capture's first instant, microseconds since the epoch; connections
	// first used within PreOpenWindow of it may have been opened before the capture.
	Start int64
	// PreOpenWindow (2 min) and PreOpenShare (0.5): how many early connections have no
	// handshake in the capture.
	PreOpenWindow time.Duration
	PreOpenShare  float64
	// RetransmitShare (0.002) is the share of response segments seen twice;
	// ReorderShare (0.002) the share of multi-segment responses with two segments
	// swapped. Negative disables.
	RetransmitShare float64
	ReorderShare    float64
	// IdleTimeout (60 s) closes idle keep-alive connections with a FIN exchange.
	IdleTimeout time.Duration
}

func (o *Options) defaults() {
	if o.PreOpenWindow == 0 {
		o.PreOpenWindow = 2 * time.Minute
	}
	if o.PreOpenShare == 0 {
		o.PreOpenShare = 0.5
	}
	if o.RetransmitShare == 0 {
		o.RetransmitShare = 0.002
	}
	if o.ReorderShare == 0 {
		o.ReorderShare = 0.002
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 60 * time.Second
	}
}

// Exchange is one request and its response, as the world describes it.
type Exchange struct {
	// TS is the request's first byte, microseconds since the epoch. Exchanges must be
	// written in non-decreasing TS order.
	TS      int64
	Src     netip.Addr
	Dst     netip.Addr
	DstPort uint16
	// Pool separates clients: only exchanges with the same Pool and Src share connections.
	Pool       uint32
	Method     string
	Host       string
	URI        []byte
	UserAgent  string
	AuthHeader string
	AuthValue  string
	// Headers are further request header lines, each ending in CRLF, sent as they are.
	Headers []byte
	Body    []byte
	Status  int
	// RespSize is the response body size for 2xx answers; errors get a small JSON error.
	RespSize  int
	Chunked   bool
	LatencyUS int64
	Close     bool
	RTTUS     int64
	MSS       int
	Server    string
}

// Result tells what the writer chose for an exchange.
type Result struct {
	SrcPort   uint16
	RespBytes int
}

// cushion is how far before an exchange's request its packets may start (the
// handshake); packets older than the newest request minus cushion are final and written.
const cushion = int64(2 * time.Second / time.Microsecond)

// Writer turns exchanges into Ethernet/IPv4/TCP packets in a pcap stream. Packets are
// kept in a time-ordered heap only until no later exchange can precede them, so memory
// stays bounded by the traffic of a few seconds. Not safe for concurrent use.
type Writer struct {
	o     Options
	bw    *bufio.Writer
	pw    *pcapgo.Writer
	rng   *rand.Rand
	pkts  pktHeap
	seq   uint64
	conns map[connKey][]*conn
	exp   expHeap
	ports map[netip.Addr]uint16
	last  int64

	sbuf gopacket.SerializeBuffer
	eth  layers.Ethernet
	ip   layers.IPv4
	tcp  layers.TCP

	req, resp, body []byte

	packets, bytes int64
	dateSec        int64
	date           string
}

type connKey struct {
	pool uint32
	src  netip.Addr
	dst  netip.Addr
	port uint16
}

type conn struct {
	key        connKey
	sport      uint16
	srcIP      net.IP
	dstIP      net.IP
	srcMAC     net.HardwareAddr
	dstMAC     net.HardwareAddr
	cseq, sseq uint32
	cid, sid   uint16
	ttl        uint8
	busyUntil  int64
	lastActive int64
	gen        uint32
	closed     bool
	rtt        int64
	mss        int
}

// NewWriter starts a pcap (Ethernet link type, microsecond timestamps) on w.
func NewWriter(w io.Writer, o Options) (*Writer, error) {
	o.defaults()
	bw := bufio.NewWriterSize(w, 1<<20)
	pw := pcapgo.NewWriter(bw)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return nil, fmt.Errorf("pcap header: %w", err)
	}
	return &Writer{
		o: o, bw: bw, pw: pw,
		rng:   rand.New(rand.NewPCG(o.Seed, 0x5eed0f9ac4e7)),
		conns: map[connKey][]*conn{},
		ports: map[netip.Addr]uint16{},
		sbuf:  gopacket.NewSerializeBuffer(),
	}, nil
}

// Packets and Bytes report what has been written so far (after Close: everything).
func (w *Writer) Packets() int64 { return w.packets }

// Bytes reports the captured bytes written so far, without pcap headers.
func (w *Writer) Bytes() int64 { return w.bytes }

var gatewayMAC = net.HardwareAddr{0x00, 0x1c, 0x73, 0x10, 0x00, 0x01}

// ErrOutOfOrder is returned when exchanges are not written in time order.
var ErrOutOfOrder = errors.New("exchange earlier than the previous one")

// Write puts one exchange on the wire.
func (w *Writer) Write(x *Exchange) (Result, error) {
	if x.TS < w.last {
		return Result{}, ErrOutOfOrder
	}
	w.last = x.TS
	if err := w.expire(x.TS - cushion); err != nil {
		return Result{}, err
	}
	c := w.connFor(x)
	res := Result{SrcPort: c.sport}
	t := x.TS
	w.buildRequest(x)
	w.buildResponse(x)
	res.RespBytes = len(w.body)

	// Request segments, with the server acknowledging every second one.
	segs := 0
	for off := 0; off < len(w.req); off += c.mss {
		end := min(off+c.mss, len(w.req))
		flags := flagACK
		if end == len(w.req) {
			flags |= flagPSH
		}
		w.emit(c, t, true, flags, w.req[off:end])
		t += 15
		segs++
		if segs%2 == 0 && end < len(w.req) {
			w.emit(c, t+15, false, flagACK, nil)
		}
	}
	reqEnd := t
	if x.LatencyUS > 2000 {
		w.emit(c, reqEnd+150, false, flagACK, nil)
	}
	// Response segments: about a gigabit's pace, a round trip every ten segments for
	// the congestion window; the client acknowledges every second segment one RTT later.
	t = reqEnd + x.LatencyUS
	nseg := (len(w.resp) + c.mss - 1) / c.mss
	swap := -1
	if nseg >= 3 && w.o.ReorderShare > 0 && w.rng.Float64() < w.o.ReorderShare {
		swap = w.rng.IntN(nseg - 1)
	}
	lastT := t
	i := 0
	// A chunked body's terminating "0\r\n\r\n" is written by the server on its own, so
	// it is never split from its last bytes into a tiny segment of its own.
	tail := len(w.resp)
	if x.Chunked && len(w.resp)%c.mss != 0 && len(w.resp)%c.mss < 5 && len(w.resp) > c.mss {
		tail = len(w.resp) - 5
	}
	for off := 0; off < len(w.resp); {
		end := min(off+c.mss, len(w.resp))
		if off < tail && end > tail {
			end = tail
		}
		flags := flagACK
		if end == len(w.resp) {
			flags |= flagPSH
		}
		st := t
		switch i {
		case swap:
			st = t + 25
		case swap + 1:
			st = t - 25
		}
		w.emitAt(c, st, false, flags, w.resp[off:end], uint32(off))
		if w.o.RetransmitShare > 0 && w.rng.Float64() < w.o.RetransmitShare {
			rt := st + 2*c.rtt + 300
			w.emitAt(c, rt, false, flags, w.resp[off:end], uint32(off))
			lastT = max(lastT, rt)
		}
		i++
		if i%2 == 0 || end == len(w.resp) {
			w.emitAck(c, t+c.rtt, uint32(end))
		}
		lastT = max(lastT, t+c.rtt)
		t += 12 + int64(end-off)/128
		if i%10 == 0 {
			t += c.rtt
		}
		off = end
	}
	c.sseq += uint32(len(w.resp))
	c.lastActive = lastT
	c.busyUntil = lastT
	if x.Close {
		w.closeConn(c, lastT+50)
	} else {
		c.gen++
		heap.Push(&w.exp, expiry{at: c.lastActive + int64(w.o.IdleTimeout/time.Microsecond), c: c, gen: c.gen})
	}
	return res, nil
}

// connFor returns an idle open connection of the client to the service, or opens one.
func (w *Writer) connFor(x *Exchange) *conn {
	key := connKey{pool: x.Pool, src: x.Src, dst: x.Dst, port: x.DstPort}
	idle := int64(w.o.IdleTimeout / time.Microsecond)
	list := w.conns[key]
	kept := list[:0]
	var found *conn
	for _, c := range list {
		if c.closed {
			continue
		}
		kept = append(kept, c)
		if found == nil && c.busyUntil <= x.TS && c.lastActive+idle > x.TS {
			found = c
		}
	}
	w.conns[key] = kept
	if found != nil {
		return found
	}
	c := &conn{key: key, rtt: max(x.RTTUS, 100), mss: x.MSS}
	if c.mss <= 0 || c.mss > 1460 {
		c.mss = 1460
	}
	c.sport = w.nextPort(x.Src)
	s4, d4 := x.Src.As4(), x.Dst.As4()
	c.srcIP, c.dstIP = net.IP(s4[:]), net.IP(d4[:])
	c.srcMAC = gatewayMAC
	c.dstMAC = net.HardwareAddr{0x02, 0x42, d4[0], d4[1], d4[2], d4[3]}
	c.cseq, c.sseq = w.rng.Uint32(), w.rng.Uint32()
	c.cid, c.sid = uint16(w.rng.Uint32()), uint16(w.rng.Uint32())
	// Initial TTL 64 (Linux, macOS, phones) or 128 (Windows), minus the hops on the way.
	c.ttl = uint8(64 - 3 - w.rng.IntN(12))
	if w.rng.IntN(3) == 0 {
		c.ttl = uint8(128 - 6 - w.rng.IntN(20))
	}
	w.conns[key] = append(w.conns[key], c)
	preOpen := x.TS-w.o.Start < int64(w.o.PreOpenWindow/time.Microsecond) && w.rng.Float64() < w.o.PreOpenShare
	if !preOpen {
		t0 := x.TS - c.rtt - 100
		w.emitSyn(c, t0, true)
		w.emitSyn(c, t0+40, false)
		w.emit(c, t0+c.rtt, true, flagACK, nil)
	}
	return c
}

func (w *Writer) nextPort(src netip.Addr) uint16 {
	p, ok := w.ports[src]
	if !ok {
		p = uint16(32768 + w.rng.IntN(60999-32768))
	}
	p++
	if p > 60999 || p < 32768 {
		p = 32768
	}
	w.ports[src] = p
	return p
}

// closeConn emits the server-initiated FIN exchange at t.
func (w *Writer) closeConn(c *conn, t int64) {
	if c.closed {
		return
	}
	c.closed = true
	// Forget the connection now, so memory follows the open connections, not all ever made.
	list := w.conns[c.key]
	for i, x := range list {
		if x == c {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(w.conns, c.key)
	} else {
		w.conns[c.key] = list
	}
	w.emit(c, t, false, flagFIN|flagACK, nil)
	c.sseq++
	w.emit(c, t+c.rtt, true, flagFIN|flagACK, nil)
	c.cseq++
	w.emit(c, t+c.rtt+30, false, flagACK, nil)
}

// expire closes connections idle since before t and writes every packet older than t.
func (w *Writer) expire(t int64) error {
	for w.exp.Len() > 0 && w.exp[0].at < t {
		e := heap.Pop(&w.exp).(expiry)
		if e.gen == e.c.gen && !e.c.closed {
			w.closeConn(e.c, e.at)
		}
	}
	for w.pkts.Len() > 0 && w.pkts[0].ts < t {
		if err := w.writeTop(); err != nil {
			return err
		}
	}
	return nil
}

func (w *Writer) writeTop() error {
	p := heap.Pop(&w.pkts).(packet)
	ci := gopacket.CaptureInfo{Timestamp: time.UnixMicro(p.ts).UTC(), CaptureLength: len(p.data), Length: len(p.data)}
	if err := w.pw.WritePacket(ci, p.data); err != nil {
		return fmt.Errorf("write packet: %w", err)
	}
	w.packets++
	w.bytes += int64(len(p.data))
	return nil
}

// Close writes every pending packet and flushes. Connections still open stay open, as
// in a capture that stops while traffic goes on.
func (w *Writer) Close() error {
	for w.pkts.Len() > 0 {
		if err := w.writeTop(); err != nil {
			return err
		}
	}
	return w.bw.Flush()
}

const (
	flagFIN = 1 << iota
	flagSYN
	flagPSH
	flagACK
)

func (w *Writer) emit(c *conn, ts int64, fromClient bool, flags int, payload []byte) {
	if fromClient {
		w.serialize(c, ts, true, flags, c.cseq, c.sseq, payload, nil)
		c.cseq += uint32(len(payload))
		return
	}
	w.serialize(c, ts, false, flags, c.sseq, c.cseq, payload, nil)
	// Server payload advances sseq in Write (responses use emitAt).
	c.sseq += uint32(len(payload))
}

// emitAt sends a server segment at sequence offset off from the response start, leaving
// the connection's next sequence number alone (reordered and repeated segments).
func (w *Writer) emitAt(c *conn, ts int64, fromClient bool, flags int, payload []byte, off uint32) {
	w.serialize(c, ts, fromClient, flags, c.sseq+off, c.cseq, payload, nil)
}

// emitAck sends the client's acknowledgement of the response up to offset off.
func (w *Writer) emitAck(c *conn, ts int64, off uint32) {
	w.serialize(c, ts, true, flagACK, c.cseq, c.sseq+off, nil, nil)
}

var synOpts = []layers.TCPOption{
	{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
	{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
	{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
	{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
	{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
	{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
}

func (w *Writer) emitSyn(c *conn, ts int64, fromClient bool) {
	opts := make([]layers.TCPOption, len(synOpts))
	copy(opts, synOpts)
	mss := uint16(c.mss)
	if !fromClient {
		mss = 1460
	}
	opts[0].OptionData = []byte{byte(mss >> 8), byte(mss)}
	if fromClient {
		w.serialize(c, ts, true, flagSYN, c.cseq, 0, nil, opts)
		c.cseq++
		return
	}
	w.serialize(c, ts, false, flagSYN|flagACK, c.sseq, c.cseq, nil, opts)
	c.sseq++
}

func (w *Writer) serialize(c *conn, ts int64, fromClient bool, flags int, seq, ack uint32, payload []byte, opts []layers.TCPOption) {
	w.eth = layers.Ethernet{EthernetType: layers.EthernetTypeIPv4}
	w.ip = layers.IPv4{Version: 4, IHL: 5, Protocol: layers.IPProtocolTCP, Flags: layers.IPv4DontFragment}
	w.tcp = layers.TCP{Seq: seq, Ack: ack, Options: opts}
	if fromClient {
		w.eth.SrcMAC, w.eth.DstMAC = c.srcMAC, c.dstMAC
		w.ip.SrcIP, w.ip.DstIP, w.ip.TTL, w.ip.Id = c.srcIP, c.dstIP, c.ttl, c.cid
		c.cid++
		w.tcp.SrcPort, w.tcp.DstPort = layers.TCPPort(c.sport), layers.TCPPort(c.key.port)
		w.tcp.Window = 502
	} else {
		w.eth.SrcMAC, w.eth.DstMAC = c.dstMAC, c.srcMAC
		w.ip.SrcIP, w.ip.DstIP, w.ip.TTL, w.ip.Id = c.dstIP, c.srcIP, 64, c.sid
		c.sid++
		w.tcp.SrcPort, w.tcp.DstPort = layers.TCPPort(c.key.port), layers.TCPPort(c.sport)
		w.tcp.Window = 501
	}
	if flags&flagSYN != 0 {
		w.tcp.Window = 64240
	}
	w.tcp.SYN = flags&flagSYN != 0
	w.tcp.ACK = flags&flagACK != 0
	w.tcp.PSH = flags&flagPSH != 0
	w.tcp.FIN = flags&flagFIN != 0
	_ = w.tcp.SetNetworkLayerForChecksum(&w.ip)
	// Serialisation of these fixed layers cannot fail; a failure would be a bug worth
	// surfacing, so the packet is still queued (empty) rather than silently dropped.
	_ = gopacket.SerializeLayers(w.sbuf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&w.eth, &w.ip, &w.tcp, gopacket.Payload(payload))
	data := append([]byte(nil), w.sbuf.Bytes()...)
	w.seq++
	heap.Push(&w.pkts, packet{ts: ts, seq: w.seq, data: data})
}

type packet struct {
	ts   int64
	seq  uint64
	data []byte
}

type pktHeap []packet

func (h pktHeap) Len() int { return len(h) }
func (h pktHeap) Less(i, j int) bool {
	if h[i].ts != h[j].ts {
		return h[i].ts < h[j].ts
	}
	return h[i].seq < h[j].seq
}
func (h pktHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pktHeap) Push(x any)   { *h = append(*h, x.(packet)) }
func (h *pktHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	*h = old[:len(old)-1]
	return p
}

type expiry struct {
	at  int64
	c   *conn
	gen uint32
}

type expHeap []expiry

func (h expHeap) Len() int           { return len(h) }
func (h expHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h expHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
