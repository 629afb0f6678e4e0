package decode

import (
	"encoding/binary"
	"errors"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Layer types of the Decoder's parser. They are not registered with gopacket: only this
// package's parser sees them, and numbers from 1900 up stay clear of gopacket's own.
const (
	ltRoot gopacket.LayerType = 1900 + iota
	ltEthernet
	ltVLAN
	ltMPLS
	ltSLL
	ltSLL2
	ltLoopback
	ltPPPoE
	ltPPP
	ltCHDLC
	ltNFLOG
	ltRadiotap
	ltDot11
	ltIPv4
	ltIPv6
	ltUDP
	ltTCP
	ltGRE
	ltERSPAN2
	ltERSPAN3
	ltVXLAN
	ltGeneve
	ltGTPU
	ltTeredo
	ltVXLANGPE
	ltAYIYA
	ltEnd

	// ltIPGuess is never decoded: the root layer resolves it from the IP version nibble.
	ltIPGuess gopacket.LayerType = 1999
)

const numLayers = int(ltEnd - ltRoot)

// layerNames label apiscope_sensor_decode_errors_total{layer=...}, indexed by type-ltRoot.
var layerNames = [numLayers]string{
	"link", "ethernet", "vlan", "mpls", "sll", "sll2", "loopback", "pppoe", "ppp", "chdlc",
	"nflog", "radiotap", "ieee80211", "ipv4", "ipv6", "udp", "tcp", "gre", "erspan2",
	"erspan3", "vxlan", "geneve", "gtpu", "teredo", "vxlan_gpe", "ayiya",
}

func layerName(t gopacket.LayerType) string {
	if t >= ltRoot && t < ltEnd {
		return layerNames[t-ltRoot]
	}
	return "link"
}

// maxLayers bounds how many headers one frame may stack (VLAN tags, tunnels). A crafted
// frame of thousands of VLAN tags costs a counted error, not a long walk.
const maxLayers = 48

// Static errors: the decode path does not allocate, not even for a bad frame.
var (
	errTruncated   = errors.New("header truncated")
	errTooDeep     = errors.New("too many stacked headers")
	errVersion     = errors.New("unsupported header version")
	errBadLength   = errors.New("bad length field")
	errBadHeader   = errors.New("bad header")
	errIPVersionV4 = errors.New("IPv4 header without version 4")
)

// base is embedded by every layer: the bytes it covers and the shared depth budget.
type base struct {
	layers.BaseLayer
	depth *int
}

// enter charges one layer to the frame's budget and checks the minimum header length.
func (b *base) enter(data []byte, min int, df gopacket.DecodeFeedback) error {
	*b.depth++
	if *b.depth > maxLayers {
		return errTooDeep
	}
	if len(data) < min {
		df.SetTruncated()
		return errTruncated
	}
	return nil
}

func (b *base) set(data []byte, hdr int) {
	b.Contents = data[:hdr]
	b.Payload = data[hdr:]
}

// etherNext maps an EtherType (also used by SLL, GRE, Geneve and Cisco HDLC) to a layer.
func etherNext(t uint16) gopacket.LayerType {
	switch t {
	case 0x0800:
		return ltIPv4
	case 0x86dd:
		return ltIPv6
	case 0x8100, 0x88a8, 0x9100, 0x9200:
		return ltVLAN
	case 0x8847, 0x8848:
		return ltMPLS
	case 0x8864:
		return ltPPPoE
	case 0x6558: // transparent Ethernet bridging
		return ltEthernet
	case 0x22eb:
		return ltERSPAN3
	case 0x880b:
		return ltPPP
	}
	return gopacket.LayerTypeZero
}

// ipNext maps an IP protocol number (IPv4 protocol, IPv6 next header) to a layer.
func ipNext(p uint8) gopacket.LayerType {
	switch p {
	case 6:
		return ltTCP
	case 17:
		return ltUDP
	case 47:
		return ltGRE
	case 4:
		return ltIPv4
	case 41:
		return ltIPv6
	case 137: // MPLS in IP
		return ltMPLS
	}
	return gopacket.LayerTypeZero
}

// ipByVersion picks IPv4 or IPv6 from the first nibble, for encapsulations that carry
// bare IP without saying which.
func ipByVersion(p []byte) gopacket.LayerType {
	if len(p) == 0 {
		return gopacket.LayerTypeZero
	}
	switch p[0] >> 4 {
	case 4:
		return ltIPv4
	case 6:
		return ltIPv6
	}
	return gopacket.LayerTypeZero
}

// rootLayer starts every frame: it consumes nothing and names the first real layer,
// chosen by the link type (or IPv4/IPv6 for a reassembled datagram).
type rootLayer struct {
	base
	next gopacket.LayerType
}

func (r *rootLayer) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	r.Contents, r.Payload = nil, data
	return nil
}
func (r *rootLayer) CanDecode() gopacket.LayerClass { return ltRoot }
func (r *rootLayer) NextLayerType() gopacket.LayerType {
	if r.next == ltIPGuess {
		return ipByVersion(r.Payload)
	}
	return r.next
}

// LinkTypeLinuxSLL2 is Linux cooked capture v2 (LINKTYPE_LINUX_SLL2, 276) as gopacket
// v1.1.19 reports it: its layers.LinkType is 8 bits wide, so pcapgo and libpcap hand out
// 276 as 20 (276 mod 256), a value no other link type uses.
const LinkTypeLinuxSLL2 = layers.LinkType(276 & 0xff)

// linkFirst maps a pcap link type to the first layer, and false when unsupported.
func linkFirst(lt layers.LinkType) (gopacket.LayerType, bool) {
	switch lt {
	case 1: // Ethernet
		return ltEthernet, true
	case 113: // Linux cooked (SLL)
		return ltSLL, true
	case LinkTypeLinuxSLL2:
		return ltSLL2, true
	case 101, 12, 14: // raw IP (LINKTYPE_RAW and the DLT_RAW values of BSDs)
		return ltIPGuess, true
	case 228:
		return ltIPv4, true
	case 229:
		return ltIPv6, true
	case 0, 108: // BSD loopback (NULL, host order) and OpenBSD LOOP (network order)
		return ltLoopback, true
	case 9, 50: // PPP, PPP in HDLC framing
		return ltPPP, true
	case 51: // PPPoE without Ethernet
		return ltPPPoE, true
	case 104: // Cisco HDLC
		return ltCHDLC, true
	case 105: // IEEE 802.11 without radio header
		return ltDot11, true
	case 127: // IEEE 802.11 with radiotap
		return ltRadiotap, true
	case 239: // Linux NFLOG
		return ltNFLOG, true
	}
	return 0, false
}

// ethernetLayer is an Ethernet II header (802.3 frames carry LLC, not IP, and stop here).
type ethernetLayer struct {
	base
	etype uint16
}

func (l *ethernetLayer) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if err := l.enter(data, 14, df); err != nil {
		return err
	}
	l.etype = binary.BigEndian.Uint16(data[12:14])
	l.set(data, 14)
	return nil
}
func (l *ethernetLayer) CanDecode() gopacket.LayerClass { return ltEthernet }
func (l *ethernetLayer) NextLayerType() gopacket.LayerType {
	if l.etype < 0x0600 {
		return gopacket.LayerTypeZero
	}
	return etherNext(l.etype)
}

// vlanLayer is one 802.1Q or 802.1ad (QinQ) tag.
type vlanLayer struct {
	base
	etype uint16
	id    uint16 // of the last tag decoded; the Decoder zeroes it per frame
}

func (l *vlanLayer) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if err := l.enter(data, 4, df); err != nil {
		return err
	}
	l.id = binary.BigEndian.Uint16(data[0:2]) & 0x0fff
	l.etype = binary.BigEndian.Uint16(data[2:4])
	l.set(data, 4)
	return nil
}
func (l *vlanLayer) CanDecode() gopacket.LayerClass    { return ltVLAN }
func (l *vlanLayer) NextLayerType() gopacket.LayerType { return etherNext(l.etype) }

// mplsLayer is a whole MPLS label stack. What follows the bottom label is not named on
// the wire; like Wireshark we look at the first nibble: 4 or 6 is IP, 0 is a pseudowire
// control word followed by Ethernet.
type mplsLayer struct {
	base
	next gopacket.LayerType
}

func (l *mplsLayer) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if err := l.enter(data, 4, df); err != nil {
		return err
	}
	n := 0
	for {
		if len(data) < n+4 {
			df.SetTruncated()
			return errTruncated
		}
		bottom := data[n+2]&1 == 1
		n += 4
		if bottom {
			break
		}
	}
	l.next = gopacket.LayerTypeZero
	if n < len(data) {
		switch data[n] >> 4 {
		case 4:
			l.next = ltIPv4
		case 6:
			l.next = ltIPv6
		case 0:
			if len(data) >= n+4+14 {
				n += 4
				l.next = ltEthernet
			}
		}
	}
	l.set(data, n)
	return nil
}
func (l *mplsLayer) CanDecode() gopacket.LayerClass    { return ltMPLS }
func (l *mplsLayer) NextLayerType() gopacket.LayerType { return l.next }

// sllLayer is the Linux cooked capture header, version 1 (16 bytes) or 2 (20 bytes).
type sllLayer struct {
	base
	v2     bool
	proto  uint16
	hatype uint16
}

func (l *sllLayer) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	n := 16
	if l.v2 {
		n = 20
	}
	if err := l.enter(data, n, df); err != nil {
		return err
	}
	if l.v2 {
		l.proto = binary.BigEndian.Uint16(data[0:2])
		l.hatype = binary.BigEndian.Uint16(data[8:10])
	} else {
		l.hatype = binary.BigEndian.Uint16(data[2:4])
		l.proto = binary.BigEndian.Uint16(data[14:16])
	}
	l.set(data, n)
	return nil
}
func (l *sllLayer) CanDecode() gopacket.LayerClass {
	if l.v2 {
		return ltSLL2
	}
	return ltSLL
}
func (l *sllLayer) NextLayerType() gopacket.LayerType {
	if l.hatype == 824 { // ARPHRD_NETLINK: the protocol field is a netlink family
		return gopacket.LayerTypeZero
	}
	return etherNext(l.proto)
}

// loopbackLayer is the BSD loopback (DLT_NULL) header: an address family in the byte
// order of the machine that captured, or in network order for DLT_LOOP.
type loopbackLayer struct {
	base
	family uint32
}

func (l *loopbackLayer) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if err := l.enter(data, 4, df); err != nil {
		return err
	}
	if data[0] == 0 && data[1] == 0 {
		l.family = binary.BigEndian.Uint32(data[:4])
	} else {
		l.family = binary.LittleEndian.Uint32(data[:4])
	}
	l.set(data, 4)
	return nil
}
func (l *loopbackLayer) CanDecode() gopacket.LayerClass { return ltLoopback }
func (l *loopbackLayer) NextLayerType() gopacket.LayerType {
	switch l.family {
	case 2:
		return ltIPv4
	case 10, 23, 24, 28, 30: // AF_INET6 on Linux, Windows, NetBSD/OpenBSD, FreeBSD, Darwin
		return ltIPv6
	}
	return gopacket.LayerTypeZero
}

// pppoeLayer is a PPPoE session header; discovery frames stop here.
type pppoeLayer struct {
	base
	code uint8
}

func (l *pppoeLayer) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if err := l.enter(data, 6, df); err != nil {
		return err
	}
	if data[0] != 0x11 {
		return errVersion
	}
	l.code = data[1]
	end := 6 + int(binary.BigEndian.Uint16(data[4:6]))
	if end > len(data) {
		df.SetTruncated()
		end = len(data)
	}
	l.Contents, l.Payload = data[:6], data[6:end]
	return nil
}
func (l *pppoeLayer) CanDecode() gopacket.LayerClass { return ltPPPoE }
func (l *pppoeLayer) NextLayerType() gopacket.LayerType {
	if l.code != 0 {
		return gopacket.LayerTypeZero
	}
	return ltPPP
}

// pppLayer is a PPP header, with or without the HDLC address and control bytes and with
// or without protocol field compression.
type pppLayer struct {
	base
	proto uint16
}

func (l *pppLayer) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if err := l.enter(data, 1, df); err != nil {
		return err
	}
	n := 0
	if len(data) >= 2 && data[0] == 0xff && data[1] == 0x03 {
		n = 2
	}
	switch {
	case len(data) > n && data[n]&1 == 1:
		l.proto = uint16(data[n])
		n++
	case len(data) >= n+2:
		l.proto = binary.BigEndian.Uint16(data[n : n+2])
		n += 2
	default:
		df.SetTruncated()
		return errTruncated
	}
	l.set(data, n)
	return nil
}
func (l *pppLayer) CanDecode() gopacket.LayerClass { return ltPPP }
func (l *pppLayer) NextLayerType() gopacket.LayerType {
	switch l.proto {
	case 0x0021:
		return ltIPv4
	case 0x0057:
		return ltIPv6
	case 0x0281:
		return ltMPLS
	}
	return gopacket.LayerTypeZero
}

// chdlcLayer is a Cisco HDLC header: address, control, EtherType.
type chdlcLayer struct {
	base
	proto uint16
}

func (l *chdlcLayer) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if err := l.enter(data, 4, df); err != nil {
		return err
	}
	l.proto = binary.BigEndian.Uint16(data[2:4])
	l.set(data, 4)
	return nil
}
func (l *chdlcLayer) CanDecode() gopacket.LayerClass    { return ltCHDLC }
func (l *chdlcLayer) NextLayerType() gopacket.LayerType { return etherNext(l.proto) }

// nflogLayer is a Linux NFLOG record: a 4-byte header, then TLVs (lengths in the
// capturing host's order, little-endian in practice) of which type 9 is the packet.
type nflogLayer struct {
	base
	family uint8
}

func (l *nflogLayer) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if err := l.enter(data, 4, df); err != nil {
		return err
	}
	l.family = data[0]
	for off := 4; off+4 <= len(data); {
		tlen := int(binary.LittleEndian.Uint16(data[off : off+2]))
		ttype := binary.LittleEndian.Uint16(data[off+2:off+4]) & 0x3fff // without the nested and byte-order flags
		if tlen < 4 {
			return errBadLength
		}
		if off+tlen > len(data) {
			df.SetTruncated()
			tlen = len(data) - off
		}
		if ttype == 9 {
			l.Contents, l.Payload = data[:off+4], data[off+4:off+tlen]
			return nil
		}
		off += (tlen + 3) &^ 3
	}
	l.Contents, l.Payload = data, nil
	return nil
}
func (l *nflogLayer) CanDecode() gopacket.LayerClass { return ltNFLOG }
func (l *nflogLayer) NextLayerType() gopacket.LayerType {
	if len(l.Payload) == 0 {
		return gopacket.LayerTypeZero
	}
	return ipByVersion(l.Payload)
}

// radiotapLayer skips a radiotap header (its length is in the header).
type radiotapLayer struct{ base }

func (l *radiotapLayer) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if err := l.enter(data, 8, df); err != nil {
		return err
	}
	if data[0] != 0 {
		return errVersion
	}
	n := int(binary.LittleEndian.Uint16(data[2:4]))
	if n < 8 {
		return errBadLength
	}
	if n > len(data) {
		df.SetTruncated()
		return errTruncated
	}
	l.set(data, n)
	return nil
}
func (l *radiotapLayer) CanDecode() gopacket.LayerClass    { return ltRadiotap }
func (l *radiotapLayer) NextLayerType() gopacket.LayerType { return ltDot11 }

// dot11Layer is an IEEE 802.11 data frame header plus its LLC/SNAP header. Management,
// control, null and protected (encrypted) frames carry nothing we can read and stop here.
type dot11Layer struct {
	base
	etype uint16
}

func (l *dot11Layer) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if err := l.enter(data, 24, df); err != nil {
		return err
	}
	l.etype = 0
	fc0, fc1 := data[0], data[1]
	ftype, subtype := (fc0>>2)&3, fc0>>4
	if fc0&3 != 0 {
		return errVersion
	}
	if ftype != 2 || subtype&0x4 != 0 || fc1&0x40 != 0 { // not data, null data, protected
		l.set(data, len(data))
		return nil
	}
	n := 24
	if fc1&3 == 3 { // to DS and from DS: a fourth address
		n += 6
	}
	if subtype&0x8 != 0 { // QoS data
		n += 2
		if fc1&0x80 != 0 { // +HTC
			n += 4
		}
	}
	if len(data) < n+8 {
		df.SetTruncated()
		return errTruncated
	}
	if data[n] == 0xaa && data[n+1] == 0xaa && data[n+2] == 0x03 {
		l.etype = binary.BigEndian.Uint16(data[n+6 : n+8])
	}
	l.set(data, n+8)
	return nil
}
func (l *dot11Layer) CanDecode() gopacket.LayerClass { return ltDot11 }
func (l *dot11Layer) NextLayerType() gopacket.LayerType {
	if l.etype == 0 {
		return gopacket.LayerTypeZero
	}
	return etherNext(l.etype)
}

// ipv4Layer is gopacket's IPv4 decoder with our protocol dispatch. A fragment stops the
// parser; the Decoder then reassembles it.
type ipv4Layer struct {
	layers.IPv4
	depth *int
	frag  bool
}

func (l *ipv4Layer) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	*l.depth++
	if *l.depth > maxLayers {
		return errTooDeep
	}
	if len(data) > 0 && data[0]>>4 != 4 {
		return errIPVersionV4
	}
	if err := l.IPv4.DecodeFromBytes(data, df); err != nil {
		return err
	}
	l.frag = l.Flags&layers.IPv4MoreFragments != 0 || l.FragOffset != 0
	return nil
}
func (l *ipv4Layer) CanDecode() gopacket.LayerClass { return ltIPv4 }
func (l *ipv4Layer) NextLayerType() gopacket.LayerType {
	if l.frag {
		return gopacket.LayerTypeZero
	}
	return ipNext(uint8(l.Protocol))
}

// ipv6Layer is an IPv6 header with its extension headers (hop-by-hop, routing,
// destination options, mobility, HIP, shim6, AH). A fragment header that is not atomic
// stops the parser with the fragment recorded.
type ipv6Layer struct {
	base
	src, dst []byte
	next     uint8
	frag     bool
	fragOff  int
	fragMore bool
	fragID   uint32
}

func (l *ipv6Layer) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if err := l.enter(data, 40, df); err != nil {
		return err
	}
	if data[0]>>4 != 6 {
		return errVersion
	}
	l.src, l.dst = data[8:24], data[24:40]
	l.frag = false
	plen := int(binary.BigEndian.Uint16(data[4:6]))
	nh := data[6]
	p := data[40:]
	switch {
	case plen == 0 && nh == 0: // jumbogram (or TSO): the rest of the frame
	case plen > len(p):
		df.SetTruncated()
	default:
		p = p[:plen]
	}
	ext := 0
loop:
	for {
		var n int
		switch nh {
		case 0, 43, 60, 135, 139, 140:
			if len(p) < 8 {
				df.SetTruncated()
				return errTruncated
			}
			n = (int(p[1]) + 1) * 8
		case 51: // AH
			if len(p) < 8 {
				df.SetTruncated()
				return errTruncated
			}
			n = (int(p[1]) + 2) * 4
		case 44: // fragment
			if len(p) < 8 {
				df.SetTruncated()
				return errTruncated
			}
			offFlags := binary.BigEndian.Uint16(p[2:4])
			off, more := int(offFlags>>3)*8, offFlags&1 == 1
			nh, p, ext = p[0], p[8:], ext+8
			if off == 0 && !more { // atomic fragment: a whole datagram
				continue
			}
			l.frag, l.fragOff, l.fragMore = true, off, more
			l.fragID = binary.BigEndian.Uint32(data[40+ext-4 : 40+ext])
			break loop
		default:
			break loop
		}
		if n > len(p) {
			df.SetTruncated()
			return errTruncated
		}
		nh, p, ext = p[0], p[n:], ext+n
	}
	l.next = nh
	l.Contents, l.Payload = data[:40+ext], p
	return nil
}
func (l *ipv6Layer) CanDecode() gopacket.LayerClass { return ltIPv6 }
func (l *ipv6Layer) NextLayerType() gopacket.LayerType {
	if l.frag {
		return gopacket.LayerTypeZero
	}
	return ipNext(l.next)
}

// udpLayer is a UDP header; tunnels are recognised by their well-known destination port
// (Teredo by either port, since its relays use 3544 as the source).
type udpLayer struct {
	base
	sport, dport uint16
}

func (l *udpLayer) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if err := l.enter(data, 8, df); err != nil {
		return err
	}
	l.sport = binary.BigEndian.Uint16(data[0:2])
	l.dport = binary.BigEndian.Uint16(data[2:4])
	n := int(binary.BigEndian.Uint16(data[4:6]))
	switch {
	case n == 0: // jumbogram: the rest
		n = len(data)
	case n < 8:
		return errBadLength
	case n > len(data):
		df.SetTruncated()
		n = len(data)
	}
	l.Contents, l.Payload = data[:8], data[8:n]
	return nil
}
func (l *udpLayer) CanDecode() gopacket.LayerClass { return ltUDP }
func (l *udpLayer) NextLayerType() gopacket.LayerType {
	switch l.dport {
	case 4789, 8472: // VXLAN (AWS traffic mirroring), Linux's old VXLAN port
		return ltVXLAN
	case 4790:
		return ltVXLANGPE
	case 6081:
		return ltGeneve
	case 2152:
		return ltGTPU
	case 4754: // GRE in UDP
		return ltGRE
	case 6635: // MPLS in UDP
		return ltMPLS
	}
	switch {
	case l.dport == 3544 || l.sport == 3544:
		return ltTeredo
	case l.dport == 5072 || l.sport == 5072:
		return ltAYIYA
	}
	return gopacket.LayerTypeZero
}

// tcpLayer reads what a Segment needs from a TCP header; options are skipped, not
// parsed, which keeps the hot path short.
type tcpLayer struct {
	base
	sport, dport uint16
	seq, ack     uint32
	flags        uint8
	window       uint16
}

func (l *tcpLayer) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if err := l.enter(data, 20, df); err != nil {
		return err
	}
	off := int(data[12]>>4) * 4
	if off < 20 {
		return errBadHeader
	}
	if off > len(data) {
		df.SetTruncated()
		return errTruncated
	}
	l.sport = binary.BigEndian.Uint16(data[0:2])
	l.dport = binary.BigEndian.Uint16(data[2:4])
	l.seq = binary.BigEndian.Uint32(data[4:8])
	l.ack = binary.BigEndian.Uint32(data[8:12])
	l.flags = data[13] & 0x3f
	l.window = binary.BigEndian.Uint16(data[14:16])
	l.set(data, off)
	return nil
}
func (l *tcpLayer) CanDecode() gopacket.LayerClass    { return ltTCP }
func (l *tcpLayer) NextLayerType() gopacket.LayerType { return gopacket.LayerTypeZero }

// greLayer is a GRE header (RFC 2784/2890, and version 1 as used by PPTP), including
// source routing entries. Protocol 0x88be is ERSPAN type II when a sequence number is
// present and type I (bare Ethernet) when not.
type greLayer struct {
	base
	proto uint16
	seq   bool
}

func (l *greLayer) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if err := l.enter(data, 4, df); err != nil {
		return err
	}
	f0, f1 := data[0], data[1]
	ver := f1 & 7
	if ver > 1 {
		return errVersion
	}
	l.proto = binary.BigEndian.Uint16(data[2:4])
	l.seq = f0&0x10 != 0
	n := 4
	if f0&0xc0 != 0 { // checksum or routing present: checksum + offset
		n += 4
	}
	if f0&0x20 != 0 { // key
		n += 4
	}
	if l.seq {
		n += 4
	}
	if ver == 1 && f1&0x80 != 0 { // acknowledgment (PPTP)
		n += 4
	}
	if f0&0x40 != 0 { // source route entries until a null entry
		for {
			if len(data) < n+4 {
				df.SetTruncated()
				return errTruncated
			}
			af, sreLen := binary.BigEndian.Uint16(data[n:n+2]), int(data[n+3])
			n += 4 + sreLen
			if af == 0 && sreLen == 0 {
				break
			}
		}
	}
	if n > len(data) {
		df.SetTruncated()
		return errTruncated
	}
	l.set(data, n)
	return nil
}
func (l *greLayer) CanDecode() gopacket.LayerClass { return ltGRE }
func (l *greLayer) NextLayerType() gopacket.LayerType {
	if l.proto == 0x88be {
		if l.seq {
			return ltERSPAN2
		}
		return ltEthernet
	}
	return etherNext(l.proto)
}

// erspanLayer is an ERSPAN type II (8 bytes) or type III (12 bytes, plus an 8-byte
// platform subheader when the O flag is set) header.
type erspanLayer struct {
	base
	v3   bool
	next gopacket.LayerType
}

func (l *erspanLayer) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if !l.v3 {
		if err := l.enter(data, 8, df); err != nil {
			return err
		}
		if data[0]>>4 != 1 {
			return errVersion
		}
		l.next = ltEthernet
		l.set(data, 8)
		return nil
	}
	if err := l.enter(data, 12, df); err != nil {
		return err
	}
	if data[0]>>4 != 2 {
		return errVersion
	}
	n := 12
	if data[11]&1 != 0 {
		n += 8
		if len(data) < n {
			df.SetTruncated()
			return errTruncated
		}
	}
	switch (data[10] >> 2) & 0x1f {
	case 0:
		l.next = ltEthernet
	case 2:
		l.next = ipByVersion(data[n:])
	default:
		l.next = gopacket.LayerTypeZero
	}
	l.set(data, n)
	return nil
}
func (l *erspanLayer) CanDecode() gopacket.LayerClass {
	if l.v3 {
		return ltERSPAN3
	}
	return ltERSPAN2
}
func (l *erspanLayer) NextLayerType() gopacket.LayerType { return l.next }

// vxlanLayer is a VXLAN header, or a VXLAN-GPE header (UDP 4790), which names its
// payload. Flags and reserved bits are not checked: mirroring appliances and the group
// policy extension set some of them.
type vxlanLayer struct {
	base
	gpe  bool
	next gopacket.LayerType
}

func (l *vxlanLayer) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if err := l.enter(data, 8, df); err != nil {
		return err
	}
	l.next = ltEthernet
	if l.gpe && data[0]&0x04 != 0 { // next protocol present
		switch data[3] {
		case 1:
			l.next = ltIPv4
		case 2:
			l.next = ltIPv6
		case 3:
			l.next = ltEthernet
		case 5:
			l.next = ltMPLS
		default:
			l.next = gopacket.LayerTypeZero
		}
	}
	l.set(data, 8)
	return nil
}
func (l *vxlanLayer) CanDecode() gopacket.LayerClass {
	if l.gpe {
		return ltVXLANGPE
	}
	return ltVXLAN
}
func (l *vxlanLayer) NextLayerType() gopacket.LayerType { return l.next }

// geneveLayer is a Geneve header and its options (skipped).
type geneveLayer struct {
	base
	proto uint16
}

func (l *geneveLayer) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if err := l.enter(data, 8, df); err != nil {
		return err
	}
	if data[0]>>6 != 0 {
		return errVersion
	}
	n := 8 + int(data[0]&0x3f)*4
	if n > len(data) {
		df.SetTruncated()
		return errTruncated
	}
	l.proto = binary.BigEndian.Uint16(data[2:4])
	l.set(data, n)
	return nil
}
func (l *geneveLayer) CanDecode() gopacket.LayerClass    { return ltGeneve }
func (l *geneveLayer) NextLayerType() gopacket.LayerType { return etherNext(l.proto) }

// gtpuLayer is a GTPv1-U header with its optional fields and extension headers; only
// G-PDU messages carry user packets.
type gtpuLayer struct {
	base
	gpdu bool
}

func (l *gtpuLayer) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if err := l.enter(data, 8, df); err != nil {
		return err
	}
	if data[0]>>5 != 1 || data[0]&0x10 == 0 {
		return errVersion
	}
	l.gpdu = data[1] == 0xff
	end := 8 + int(binary.BigEndian.Uint16(data[2:4]))
	if end > len(data) {
		df.SetTruncated()
		end = len(data)
	}
	n := 8
	if data[0]&0x07 != 0 { // sequence number, N-PDU number, next extension type
		if end < 12 {
			return errBadLength
		}
		next := data[11]
		n = 12
		for next != 0 {
			if n >= end {
				return errBadLength
			}
			elen := int(data[n]) * 4
			if elen == 0 || n+elen > end {
				return errBadLength
			}
			next = data[n+elen-1]
			n += elen
		}
	}
	l.Contents, l.Payload = data[:n], data[n:end]
	return nil
}
func (l *gtpuLayer) CanDecode() gopacket.LayerClass { return ltGTPU }
func (l *gtpuLayer) NextLayerType() gopacket.LayerType {
	if !l.gpdu {
		return gopacket.LayerTypeZero
	}
	return ipByVersion(l.Payload)
}

// teredoLayer skips Teredo's optional authentication and origin indication headers in
// front of an IPv6 packet. Anything else on port 3544 is not Teredo and stops here.
type teredoLayer struct {
	base
	ok bool
}

func (l *teredoLayer) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if err := l.enter(data, 1, df); err != nil {
		return err
	}
	n := 0
	if len(data) >= n+4 && data[n] == 0 && data[n+1] == 1 { // authentication
		n += 4 + int(data[n+2]) + int(data[n+3]) + 9
	}
	if len(data) >= n+8 && data[n] == 0 && data[n+1] == 0 { // origin indication
		n += 8
	}
	l.ok = len(data) >= n+40 && data[n]>>4 == 6
	if !l.ok {
		n = len(data)
	}
	l.set(data, n)
	return nil
}
func (l *teredoLayer) CanDecode() gopacket.LayerClass { return ltTeredo }
func (l *teredoLayer) NextLayerType() gopacket.LayerType {
	if !l.ok {
		return gopacket.LayerTypeZero
	}
	return ltIPv6
}

// ayiyaLayer is an AYIYA ("anything in anything", UDP 5072) header: identity and
// signature of announced sizes, then the packet named by the next-header field. Only
// forwarding messages (opcode 1) carry packets.
type ayiyaLayer struct {
	base
	next gopacket.LayerType
}

func (l *ayiyaLayer) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if err := l.enter(data, 8, df); err != nil {
		return err
	}
	n := 8 + 1<<(data[0]>>4) + int(data[1]>>4)*4 // identity of 2^IDLen bytes, signature of SigLen words
	l.next = gopacket.LayerTypeZero
	if data[2]&0x0f == 1 && n <= len(data) {
		l.next = ipNext(data[3])
	}
	if n > len(data) {
		n = len(data)
	}
	l.set(data, n)
	return nil
}
func (l *ayiyaLayer) CanDecode() gopacket.LayerClass    { return ltAYIYA }
func (l *ayiyaLayer) NextLayerType() gopacket.LayerType { return l.next }
