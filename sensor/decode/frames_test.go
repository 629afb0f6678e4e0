package decode

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Frame builders shared by the tests, the fuzz seeds and the benchmarks.

const httpReq = "GET /api/v1/users/42 HTTP/1.1\r\nHost: api.example\r\n\r\n"

var (
	innerSrc4 = net.IP{10, 1, 2, 3}
	innerDst4 = net.IP{10, 9, 8, 7}
	outerSrc4 = net.IP{192, 0, 2, 1}
	outerDst4 = net.IP{192, 0, 2, 2}
	innerSrc6 = net.ParseIP("2001:db8::1")
	innerDst6 = net.ParseIP("2001:db8::2")
	macA      = net.HardwareAddr{0, 1, 2, 3, 4, 5}
	macB      = net.HardwareAddr{0, 6, 7, 8, 9, 10}
	testTS    = time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
)

// hdr is a header written as bytes, for what gopacket v1.1.19 cannot serialize. fn gets
// the length of everything after it (for length fields).
type hdr func(payloadLen int) []byte

func (h hdr) SerializeTo(b gopacket.SerializeBuffer, _ gopacket.SerializeOptions) error {
	p := h(len(b.Bytes()))
	buf, err := b.PrependBytes(len(p))
	if err != nil {
		return err
	}
	copy(buf, p)
	return nil
}
func (h hdr) LayerType() gopacket.LayerType { return gopacket.LayerTypePayload }

// fixed is a header of constant bytes.
func fixed(b ...byte) hdr { return func(int) []byte { return b } }

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	// Point every TCP and UDP layer at the IP layer before it, for their checksums.
	var ip gopacket.NetworkLayer
	for _, l := range ls {
		switch v := l.(type) {
		case *layers.IPv4:
			ip = v
		case *layers.IPv6:
			ip = v
		case *layers.TCP:
			if ip != nil {
				v.SetNetworkLayerForChecksum(ip)
			}
		case *layers.UDP:
			if ip != nil {
				v.SetNetworkLayerForChecksum(ip)
			}
		}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("SerializeLayers: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func eth(t layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: t}
}

func ip4(src, dst net.IP, p layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 0x1234, SrcIP: src, DstIP: dst, Protocol: p}
}

func ip6(src, dst net.IP, nh layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, SrcIP: src, DstIP: dst, NextHeader: nh}
}

func udp(dport uint16) *layers.UDP {
	return &layers.UDP{SrcPort: 51000, DstPort: layers.UDPPort(dport)}
}

// tcpOver returns the TCP segment (with a request as payload) over an IP layer.
func tcpOver(ip gopacket.NetworkLayer) []gopacket.SerializableLayer {
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 1000, Ack: 2000, PSH: true, ACK: true, Window: 512,
		Options: []layers.TCPOption{{OptionType: 1}, {OptionType: 1}, {OptionType: 8, OptionLength: 10, OptionData: make([]byte, 8)}}}
	tcp.SetNetworkLayerForChecksum(ip)
	return []gopacket.SerializableLayer{ip.(gopacket.SerializableLayer), tcp, gopacket.Payload(httpReq)}
}

// inner4 is the innermost IPv4/TCP packet every tunnel case carries.
func inner4() []gopacket.SerializableLayer {
	return tcpOver(ip4(innerSrc4, innerDst4, layers.IPProtocolTCP))
}
func inner6() []gopacket.SerializableLayer {
	return tcpOver(ip6(innerSrc6, innerDst6, layers.IPProtocolTCP))
}

func join(parts ...any) []gopacket.SerializableLayer {
	var out []gopacket.SerializableLayer
	for _, p := range parts {
		switch v := p.(type) {
		case gopacket.SerializableLayer:
			out = append(out, v)
		case []gopacket.SerializableLayer:
			out = append(out, v...)
		}
	}
	return out
}

// ethIPv4TCP is an ordinary frame: Ethernet, IPv4, TCP with a request.
func ethIPv4TCP(t testing.TB) []byte {
	return serialize(t, join(eth(layers.EthernetTypeIPv4), inner4())...)
}

// vxlanFrame is the same packet as AWS VPC Traffic Mirroring delivers it.
func vxlanFrame(t testing.TB) []byte {
	return serialize(t, join(eth(layers.EthernetTypeIPv4), ip4(outerSrc4, outerDst4, layers.IPProtocolUDP), udp(4789),
		&layers.VXLAN{ValidIDFlag: true, VNI: 123}, eth(layers.EthernetTypeIPv4), inner4())...)
}

func sllHeader(proto uint16) hdr {
	b := make([]byte, 16)
	binary.BigEndian.PutUint16(b[2:4], 1) // ARPHRD_ETHER
	binary.BigEndian.PutUint16(b[4:6], 6)
	copy(b[6:], macA)
	binary.BigEndian.PutUint16(b[14:16], proto)
	return fixed(b...)
}

func sll2Header(proto uint16) hdr {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b[0:2], proto)
	binary.BigEndian.PutUint32(b[4:8], 2)
	binary.BigEndian.PutUint16(b[8:10], 1)
	b[11] = 6
	copy(b[12:], macA)
	return fixed(b...)
}

// erspan2Header is an ERSPAN type II header (version 1, session 7).
func erspan2Header() hdr { return fixed(0x10, 0x01, 0x00, 0x07, 0, 0, 0, 0) }

// erspan3Header is an ERSPAN type III header (version 2); with o, an 8-byte platform
// subheader follows. ft is the frame type: 0 Ethernet, 2 IP.
func erspan3Header(o bool, ft byte) hdr {
	b := []byte{0x20, 0x01, 0x00, 0x07, 1, 2, 3, 4, 0, 0, ft << 2, 0}
	if o {
		b[11] |= 1
		b = append(b, make([]byte, 8)...)
	}
	return fixed(b...)
}

// geneveHeader has one 8-byte option.
func geneveHeader(proto uint16) hdr {
	b := []byte{0x02, 0x00, 0, 0, 0, 0, 42, 0, 0x01, 0x02, 0x80, 0x01, 0xde, 0xad, 0xbe, 0xef}
	binary.BigEndian.PutUint16(b[2:4], proto)
	return fixed(b...)
}

// gtpuHeader is a G-PDU with a sequence number and one extension header (PDU session).
func gtpuHeader() hdr {
	return func(n int) []byte {
		b := []byte{0x34, 0xff, 0, 0, 0, 0, 0, 9, 0, 1, 0, 0x85, 1, 0x10, 0x01, 0}
		binary.BigEndian.PutUint16(b[2:4], uint16(n+8))
		return b
	}
}

// nflogHeader is an NFLOG record: a prefix TLV, then the payload TLV.
func nflogHeader(family byte) hdr {
	return func(n int) []byte {
		b := []byte{family, 0, 0, 5, 8, 0, 10, 0, 'a', 'b', 'c', 0}
		tl := make([]byte, 4)
		binary.LittleEndian.PutUint16(tl[0:2], uint16(n+4))
		binary.LittleEndian.PutUint16(tl[2:4], 9)
		return append(b, tl...)
	}
}

// dot11Header is a QoS data frame from an AP (from DS) with its LLC/SNAP header.
func dot11Header(protected bool) hdr {
	b := make([]byte, 26)
	b[0] = 0x88 // type data, subtype QoS data
	b[1] = 0x02 // from DS
	if protected {
		b[1] |= 0x40
	}
	copy(b[4:], macB)
	copy(b[10:], macA)
	copy(b[16:], macA)
	return fixed(append(b, 0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00)...)
}

// radiotapHeader has a TSFT and a flags field.
func radiotapHeader() hdr {
	return fixed(0, 0, 18, 0, 0x03, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0x00, 0)
}

// ipv6Ext is an 8-byte IPv6 extension header (hop-by-hop, routing or destination).
func ipv6Ext(next layers.IPProtocol) hdr { return fixed(byte(next), 0, 1, 4, 0, 0, 0, 0) }
