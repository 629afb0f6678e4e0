package decode

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"go.uber.org/zap"
)

// Config bounds a Decoder. The zero value is a working configuration; zero or negative
// fields take the documented defaults.
type Config struct {
	// Log receives the first decode error of each layer at Warn and later ones at Debug.
	// Nil means no logging.
	Log *zap.Logger
	// MaxFragmentDatagrams bounds the IP datagrams being rebuilt from fragments at once,
	// each at most 64 KiB. Zero means DefaultMaxFragmentDatagrams; when full, the oldest
	// is dropped.
	MaxFragmentDatagrams int
	// MaxFragments bounds the fragments of one datagram. Zero means DefaultMaxFragments.
	MaxFragments int
	// FragmentTimeout drops a datagram whose fragments have not all arrived this long
	// (capture time) after its first. Zero means DefaultFragmentTimeout.
	FragmentTimeout time.Duration
}

// ErrUnsupportedLinkType is wrapped by Decode for a link type it does not know.
var ErrUnsupportedLinkType = errors.New("unsupported link type")

// ErrEmptyFrame is wrapped by Decode for a frame of zero bytes.
var ErrEmptyFrame = errors.New("empty frame")

// errNestedFragments stops a reassembled datagram that holds yet more fragments past
// maxReassemblyDepth (fragmented tunnel inside fragmented tunnel).
var errNestedFragments = errors.New("fragments nested too deep")

const maxReassemblyDepth = 3

// DecodeError says which layer of a frame could not be decoded.
type DecodeError struct {
	Layer string // as in apiscope_sensor_decode_errors_total{layer=...}
	Err   error
}

func (e *DecodeError) Error() string { return "decode " + e.Layer + ": " + e.Err.Error() }
func (e *DecodeError) Unwrap() error { return e.Err }

var (
	errUnsupportedLink = &DecodeError{Layer: "link", Err: ErrUnsupportedLinkType}
	errEmpty           = &DecodeError{Layer: "link", Err: ErrEmptyFrame}
)

// Decoder turns captured frames into their innermost TCP segment. It owns every layer
// it decodes into and reuses them frame after frame, so decoding an ordinary frame
// allocates nothing. Not safe for concurrent use: one Decoder per goroutine.
type Decoder struct {
	root     rootLayer
	eth      ethernetLayer
	vlan     vlanLayer
	mpls     mplsLayer
	sll      sllLayer
	sll2     sllLayer
	loop     loopbackLayer
	pppoe    pppoeLayer
	ppp      pppLayer
	chdlc    chdlcLayer
	nflog    nflogLayer
	radiotap radiotapLayer
	dot11    dot11Layer
	ip4      ipv4Layer
	ip6      ipv6Layer
	udp      udpLayer
	tcp      tcpLayer
	gre      greLayer
	erspan2  erspanLayer
	erspan3  erspanLayer
	vxlan    vxlanLayer
	geneve   geneveLayer
	gtpu     gtpuLayer
	teredo   teredoLayer
	vxgpe    vxlanLayer
	ayiya    ayiyaLayer

	byType  [numLayers]gopacket.DecodingLayer
	parser  *gopacket.DecodingLayerParser
	decoded []gopacket.LayerType
	depth   int // layers decoded in the current frame, shared with every layer

	frag  *reassembler
	reasm [maxReassemblyDepth][]byte // rebuilt datagrams, one buffer per nesting level

	seg    Segment
	log    *zap.Logger
	logged [numLayers]bool

	// Frames, bytes and segments decoded but not yet added to the process counters
	// (PublishCounts), which keeps three atomic adds off the per-frame path.
	nPackets, nBytes, nSegments uint64
}

// PublishCounts adds the frames, bytes and TCP segments decoded since the last call to
// the process counters. Decode does so every 256 frames; the owner calls it when it
// stops decoding, and may more often (a progress display). Other counters (errors,
// fragments) are added as they happen.
func (d *Decoder) PublishCounts() {
	mPackets.Add(d.nPackets)
	mBytes.Add(d.nBytes)
	mSegments.Add(d.nSegments)
	d.nPackets, d.nBytes, d.nSegments = 0, 0, 0
}

// NewDecoder returns a Decoder bounded by cfg.
func NewDecoder(cfg Config) *Decoder {
	d := &Decoder{log: cfg.Log}
	if d.log == nil {
		d.log = zap.NewNop()
	}
	maxDg, maxFrags, timeout := cfg.MaxFragmentDatagrams, cfg.MaxFragments, cfg.FragmentTimeout
	if maxDg <= 0 {
		maxDg = DefaultMaxFragmentDatagrams
	}
	if maxFrags <= 0 {
		maxFrags = DefaultMaxFragments
	}
	if timeout <= 0 {
		timeout = DefaultFragmentTimeout
	}
	d.frag = newReassembler(maxDg, maxFrags, timeout)
	d.sll2.v2 = true
	d.erspan3.v3 = true
	d.vxgpe.gpe = true
	all := []gopacket.DecodingLayer{
		&d.root, &d.eth, &d.vlan, &d.mpls, &d.sll, &d.sll2, &d.loop, &d.pppoe, &d.ppp,
		&d.chdlc, &d.nflog, &d.radiotap, &d.dot11, &d.ip4, &d.ip6, &d.udp, &d.tcp, &d.gre,
		&d.erspan2, &d.erspan3, &d.vxlan, &d.geneve, &d.gtpu, &d.teredo, &d.vxgpe, &d.ayiya,
	}
	bases := []*base{
		&d.root.base, &d.eth.base, &d.vlan.base, &d.mpls.base, &d.sll.base, &d.sll2.base,
		&d.loop.base, &d.pppoe.base, &d.ppp.base, &d.chdlc.base, &d.nflog.base,
		&d.radiotap.base, &d.dot11.base, &d.ip6.base, &d.udp.base, &d.tcp.base, &d.gre.base,
		&d.erspan2.base, &d.erspan3.base, &d.vxlan.base, &d.geneve.base, &d.gtpu.base,
		&d.teredo.base, &d.vxgpe.base, &d.ayiya.base,
	}
	for _, b := range bases {
		b.depth = &d.depth
	}
	d.ip4.depth = &d.depth
	// The sparse container indexes decoders by layer type: one slice load per layer.
	var dlc gopacket.DecodingLayerContainer = gopacket.DecodingLayerSparse(nil)
	for _, l := range all {
		dlc = dlc.Put(l)
		t := l.CanDecode().LayerTypes()[0]
		d.byType[t-ltRoot] = l
	}
	d.parser = gopacket.NewDecodingLayerParser(ltRoot)
	d.parser.SetDecodingLayerContainer(dlc)
	// A layer we do not decode (UDP payloads, ICMP, ARP) ends the frame without an
	// error value, which would allocate. Panics stay turned into errors (IgnorePanic
	// false): malformed input never crashes the sensor.
	d.parser.IgnoreUnsupported = true
	d.decoded = make([]gopacket.LayerType, 0, maxLayers+1)
	return d
}

// Decode returns the innermost TCP segment of a frame captured with link type lt. The
// Segment and its Payload are borrowed: valid until the next call to Decode.
//
// A nil Segment with a nil error means the frame carries no TCP segment (it is counted
// as non-TCP) or is an IP fragment held until its datagram is complete. A non-nil error
// is a *DecodeError naming the layer that failed; it has been counted and logged.
func (d *Decoder) Decode(data []byte, lt layers.LinkType, ci gopacket.CaptureInfo) (*Segment, error) {
	return d.DecodeFrame(data, lt, ci.Timestamp, ci.Length)
}

// DecodeFrame is Decode given only the two fields of the capture info it reads: the
// capture time ts and the frame's length on the wire (0 when unknown: len(data) is
// taken). It is the sensor's per-frame call, which passes those in registers where
// Decode's CaptureInfo is 72 bytes copied on the stack.
//
// It decodes the frame nearly every capture is made of itself, without the layer
// parser: Ethernet II, then IPv4 without options and not fragmented, then TCP, whole.
// Any other frame (a VLAN tag, a tunnel, IPv6, IP options, a fragment, a header cut
// short, a length field that does not add up) goes the general way, which gives the
// same Segment for the frames taken here.
func (d *Decoder) DecodeFrame(data []byte, lt layers.LinkType, ts time.Time, length int) (*Segment, error) {
	const eth, ip4 = 14, 20
	if lt != layers.LinkTypeEthernet || len(data) < eth+ip4+20 || data[12] != 0x08 || data[13] != 0x00 || data[eth] != 0x45 {
		return d.decodeFrame(data, lt, ts, length) // not Ethernet II carrying IPv4 with a 20-byte header
	}
	ip := data[eth:]
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if ip[9] != 6 || binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 || total < ip4+20 || total > len(ip) {
		return d.decodeFrame(data, lt, ts, length) // not TCP, a fragment, or a length the general path must judge
	}
	tcp := ip[ip4:total]
	off := int(tcp[12]>>4) * 4
	if off < 20 || off > len(tcp) {
		return d.decodeFrame(data, lt, ts, length)
	}
	wire := d.count(data, length)
	s := &d.seg
	s.Src = netip.AddrFrom4([4]byte(ip[12:16]))
	s.Dst = netip.AddrFrom4([4]byte(ip[16:20]))
	s.TS = ts
	s.SrcPort = binary.BigEndian.Uint16(tcp[0:2])
	s.DstPort = binary.BigEndian.Uint16(tcp[2:4])
	s.Seq = binary.BigEndian.Uint32(tcp[4:8])
	s.Ack = binary.BigEndian.Uint32(tcp[8:12])
	s.Window = binary.BigEndian.Uint16(tcp[14:16])
	s.Flags = tcp[13] & 0x3f
	s.Payload = tcp[off:]
	s.WireLen = wire
	s.Truncated = false
	s.VLAN = 0
	d.nSegments++
	return s, nil
}

// decodeFrame is DecodeFrame for every frame it does not take itself: the general way,
// through the layer parser.
func (d *Decoder) decodeFrame(data []byte, lt layers.LinkType, ts time.Time, length int) (*Segment, error) {
	wire := d.count(data, length)
	first, ok := linkFirst(lt)
	if !ok {
		return nil, d.fail(ltRoot, errUnsupportedLink, ts)
	}
	if len(data) == 0 {
		return nil, d.fail(ltRoot, errEmpty, ts)
	}
	d.root.next = first
	d.vlan.id = 0
	return d.run(data, ts, wire, 0)
}

// count counts a frame given to the decoder and returns its wire length: length, or
// len(data) when the capture did not say.
func (d *Decoder) count(data []byte, length int) int {
	wire := length
	if wire == 0 {
		wire = len(data)
	}
	d.nPackets++
	d.nBytes += uint64(wire)
	if d.nPackets == 256 {
		d.PublishCounts()
	}
	return wire
}

// run decodes one frame or rebuilt datagram, starting at d.root.next.
func (d *Decoder) run(data []byte, ts time.Time, wire, level int) (*Segment, error) {
	d.depth = 0
	if err := d.parser.DecodeLayers(data, &d.decoded); err != nil {
		failed := d.failedLayer()
		return nil, d.fail(failed, &DecodeError{Layer: layerName(failed), Err: err}, ts)
	}
	d.countTunnels()
	n := len(d.decoded)
	switch d.decoded[n-1] {
	case ltTCP:
		return d.segment(ts, wire), nil
	case ltIPv4:
		if d.ip4.frag {
			return d.fragment(ts, wire, level, false)
		}
	case ltIPv6:
		if d.ip6.frag {
			return d.fragment(ts, wire, level, true)
		}
	}
	mNonTCP.Inc()
	return nil, nil
}

// failedLayer is the layer the parser was decoding when it returned an error: the one
// after the last decoded.
func (d *Decoder) failedLayer() gopacket.LayerType {
	n := len(d.decoded)
	if n == 0 {
		return ltRoot
	}
	last := d.decoded[n-1]
	if last < ltRoot || last >= ltEnd {
		return ltRoot
	}
	return d.byType[last-ltRoot].NextLayerType()
}

// fail counts and logs a decode error: the first of each layer at Warn, later at Debug.
func (d *Decoder) fail(layer gopacket.LayerType, err *DecodeError, ts time.Time) error {
	i := 0
	if layer >= ltRoot && layer < ltEnd {
		i = int(layer - ltRoot)
	}
	mErrors[i].Inc()
	if !d.logged[i] {
		d.logged[i] = true
		d.log.Warn("frame not decoded (first of its kind; later ones are counted in apiscope_sensor_decode_errors_total)",
			zap.String("layer", err.Layer), zap.Error(err.Err), zap.Time("ts", ts))
	} else if ce := d.log.Check(zap.DebugLevel, "frame not decoded"); ce != nil {
		ce.Write(zap.String("layer", err.Layer), zap.Error(err.Err), zap.Time("ts", ts))
	}
	return err
}

// countTunnels counts the encapsulation headers of the decoded frame.
func (d *Decoder) countTunnels() {
	// root, link, IP, TCP: the common frame has no room for a tunnel.
	if n := len(d.decoded); n < 3 || n == 4 && d.decoded[3] == ltTCP {
		return
	}
	prevIP := false
	for _, t := range d.decoded {
		if t < ltRoot || t >= ltEnd {
			continue
		}
		if c := mTunnels[t-ltRoot]; c != nil {
			c.Inc()
		}
		isIP := t == ltIPv4 || t == ltIPv6
		if isIP && prevIP {
			mTunnelIPIP.Inc()
		}
		prevIP = isIP
	}
}

// segment fills d.seg from the innermost IP and TCP headers.
func (d *Decoder) segment(ts time.Time, wire int) *Segment {
	s := &d.seg
	if d.decoded[len(d.decoded)-2] == ltIPv4 {
		s.Src = netip.AddrFrom4([4]byte(d.ip4.SrcIP))
		s.Dst = netip.AddrFrom4([4]byte(d.ip4.DstIP))
	} else {
		s.Src = netip.AddrFrom16([16]byte(d.ip6.src))
		s.Dst = netip.AddrFrom16([16]byte(d.ip6.dst))
	}
	t := &d.tcp
	s.TS = ts
	s.SrcPort, s.DstPort = t.sport, t.dport
	s.Seq, s.Ack = t.seq, t.ack
	s.Window = t.window
	s.Flags = t.flags
	s.Payload = t.Payload
	s.WireLen = wire
	s.Truncated = d.parser.Truncated
	s.VLAN = d.vlan.id
	d.nSegments++
	if s.Truncated {
		mTruncated.Inc()
	}
	return s
}

// fragment files an IPv4 or IPv6 fragment and, when it completes its datagram, decodes
// the rebuilt datagram as if it had been captured whole.
func (d *Decoder) fragment(ts time.Time, wire, level int, v6 bool) (*Segment, error) {
	if d.parser.Truncated {
		// A fragment cut by the snaplen leaves a hole that never fills.
		mFragDropped[dropTruncated].Inc()
		return nil, nil
	}
	if level >= maxReassemblyDepth {
		return nil, d.fail(ltIPv4, &DecodeError{Layer: "ipv4", Err: errNestedFragments}, ts)
	}
	var (
		k       fragKey
		off     int
		more    bool
		payload []byte
		hdr     []byte
	)
	if v6 {
		ip := &d.ip6
		copy(k.src[:], ip.src)
		copy(k.dst[:], ip.dst)
		k.id, k.proto, k.v6 = ip.fragID, ip.next, true
		off, more, payload = ip.fragOff, ip.fragMore, ip.Payload
		hdr = ip.Contents[:40]
	} else {
		ip := &d.ip4
		copy(k.src[:], ip.SrcIP)
		copy(k.dst[:], ip.DstIP)
		k.id, k.proto = uint32(ip.Id), uint8(ip.Protocol)
		off, more, payload = int(ip.FragOffset)*8, ip.Flags&layers.IPv4MoreFragments != 0, ip.Payload
		hdr = ip.Contents
	}
	dg := d.frag.add(k, ts, off, more, payload, hdr)
	if dg == nil {
		return nil, nil
	}
	buf := append(d.reasm[level][:0], dg.hdr[:dg.hdrLen]...)
	buf = append(buf, dg.data[:dg.total]...)
	d.frag.release(dg)
	d.reasm[level] = buf
	if v6 {
		buf[6] = k.proto // the fragment header is gone: the payload follows directly
		binary.BigEndian.PutUint16(buf[4:6], uint16(len(buf)-40))
		d.root.next = ltIPv6
	} else {
		binary.BigEndian.PutUint16(buf[2:4], uint16(len(buf)))
		buf[6], buf[7] = 0, 0 // no more fragments, offset 0
		d.root.next = ltIPv4
	}
	mFragReassembled.Inc()
	return d.run(buf, ts, wire, level+1)
}

// PendingFragments returns how many IP datagrams are waiting for more fragments.
func (d *Decoder) PendingFragments() int { return d.frag.pending() }
