package decode

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

func ci(data []byte) gopacket.CaptureInfo {
	return gopacket.CaptureInfo{Timestamp: testTS, CaptureLength: len(data), Length: len(data)}
}

// wantInner checks that seg is the request segment every builder puts innermost.
func wantInner(t *testing.T, seg *Segment, v6 bool) {
	t.Helper()
	src, dst := netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("10.9.8.7")
	if v6 {
		src, dst = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	}
	if seg.Src != src || seg.Dst != dst {
		t.Errorf("addresses = %v -> %v; want %v -> %v", seg.Src, seg.Dst, src, dst)
	}
	if seg.SrcPort != 40000 || seg.DstPort != 80 || seg.Seq != 1000 || seg.Ack != 2000 || seg.Window != 512 {
		t.Errorf("ports %d->%d seq %d ack %d win %d; want 40000->80 seq 1000 ack 2000 win 512",
			seg.SrcPort, seg.DstPort, seg.Seq, seg.Ack, seg.Window)
	}
	if seg.Flags != FlagPSH|FlagACK || !seg.Has(FlagACK) || seg.Has(FlagSYN) {
		t.Errorf("flags = %#x; want PSH|ACK", seg.Flags)
	}
	if string(seg.Payload) != httpReq {
		t.Errorf("payload = %q; want %q", seg.Payload, httpReq)
	}
	if !seg.TS.Equal(testTS) {
		t.Errorf("TS = %v; want %v", seg.TS, testTS)
	}
	if seg.Truncated {
		t.Errorf("Truncated set on a whole frame")
	}
}

type frameCase struct {
	name string
	lt   layers.LinkType
	ls   []gopacket.SerializableLayer
	v6   bool // innermost packet is IPv6
}

func frameCases() []frameCase {
	e4 := func() *layers.Ethernet { return eth(layers.EthernetTypeIPv4) }
	o4 := func(p layers.IPProtocol) *layers.IPv4 { return ip4(outerSrc4, outerDst4, p) }
	greL := func(p layers.EthernetType) *layers.GRE { return &layers.GRE{Protocol: p} }
	return []frameCase{
		{"ethernet ipv4", layers.LinkTypeEthernet, join(e4(), inner4()), false},
		{"ethernet ipv6", layers.LinkTypeEthernet, join(eth(layers.EthernetTypeIPv6), inner6()), true},
		{"ipv6 extension headers", layers.LinkTypeEthernet, join(eth(layers.EthernetTypeIPv6),
			ip6(innerSrc6, innerDst6, layers.IPProtocolIPv6HopByHop), ipv6Ext(layers.IPProtocolIPv6Destination),
			ipv6Ext(layers.IPProtocolIPv6Routing), ipv6Ext(layers.IPProtocolTCP), inner6()[1:]), true},
		{"ipv6 atomic fragment", layers.LinkTypeEthernet, join(eth(layers.EthernetTypeIPv6),
			ip6(innerSrc6, innerDst6, layers.IPProtocolIPv6Fragment), fixed(6, 0, 0, 0, 0, 0, 0, 9), inner6()[1:]), true},
		{"802.1Q", layers.LinkTypeEthernet, join(eth(layers.EthernetTypeDot1Q),
			&layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeIPv4}, inner4()), false},
		{"QinQ 0x88a8", layers.LinkTypeEthernet, join(eth(0x88a8), &layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeIPv4}, inner4()), false},
		{"QinQ 0x9100", layers.LinkTypeEthernet, join(eth(0x9100), &layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeIPv6}, inner6()), true},
		{"MPLS two labels", layers.LinkTypeEthernet, join(eth(layers.EthernetTypeMPLSUnicast),
			&layers.MPLS{Label: 100, TTL: 64}, &layers.MPLS{Label: 200, StackBottom: true, TTL: 64}, inner4()), false},
		{"MPLS pseudowire", layers.LinkTypeEthernet, join(eth(layers.EthernetTypeMPLSUnicast),
			&layers.MPLS{Label: 100, StackBottom: true, TTL: 64}, fixed(0, 0, 0, 0), e4(), inner4()), false},
		{"VLAN then MPLS", layers.LinkTypeEthernet, join(eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{Type: layers.EthernetTypeMPLSUnicast},
			&layers.MPLS{Label: 1, StackBottom: true, TTL: 1}, inner6()), true},
		{"PPPoE session", layers.LinkTypeEthernet, join(eth(layers.EthernetTypePPPoESession),
			&layers.PPPoE{Version: 1, Type: 1, Code: layers.PPPoECodeSession, SessionId: 7}, &layers.PPP{PPPType: layers.PPPTypeIPv4}, inner4()), false},
		{"PPPoE session ipv6", layers.LinkTypeEthernet, join(eth(layers.EthernetTypePPPoESession),
			&layers.PPPoE{Version: 1, Type: 1, Code: layers.PPPoECodeSession, SessionId: 7}, &layers.PPP{PPPType: layers.PPPTypeIPv6}, inner6()), true},
		{"Linux SLL", layers.LinkTypeLinuxSLL, join(sllHeader(0x0800), inner4()), false},
		{"Linux SLL2", LinkTypeLinuxSLL2, join(sll2Header(0x86dd), inner6()), true},
		{"SLL then VLAN", layers.LinkTypeLinuxSLL, join(sllHeader(0x8100), &layers.Dot1Q{Type: layers.EthernetTypeIPv4}, inner4()), false},
		{"raw 101 ipv4", layers.LinkTypeRaw, inner4(), false},
		{"raw 101 ipv6", layers.LinkTypeRaw, inner6(), true},
		{"raw 12", layers.LinkType(12), inner4(), false},
		{"raw 14", layers.LinkType(14), inner6(), true},
		{"raw 228 ipv4", layers.LinkTypeIPv4, inner4(), false},
		{"raw 229 ipv6", layers.LinkTypeIPv6, inner6(), true},
		{"loopback little-endian", layers.LinkTypeNull, join(&layers.Loopback{Family: layers.ProtocolFamilyIPv4}, inner4()), false},
		{"loopback ipv6 darwin", layers.LinkTypeNull, join(fixed(30, 0, 0, 0), inner6()), true},
		{"loop big-endian", layers.LinkTypeLoop, join(fixed(0, 0, 0, 2), inner4()), false},
		{"PPP link", layers.LinkTypePPP, join(fixed(0xff, 0x03, 0x00, 0x21), inner4()), false},
		{"PPP compressed protocol", layers.LinkTypePPP, join(fixed(0x57), inner6()), true},
		{"PPPoE link 51", layers.LinkType(51), join(&layers.PPPoE{Version: 1, Type: 1, Code: layers.PPPoECodeSession}, &layers.PPP{PPPType: layers.PPPTypeIPv4}, inner4()), false},
		{"Cisco HDLC", layers.LinkType(104), join(fixed(0x0f, 0x00, 0x08, 0x00), inner4()), false},
		{"802.11", layers.LinkTypeIEEE802_11, join(dot11Header(false), inner4()), false},
		{"802.11 radiotap", layers.LinkTypeIEEE80211Radio, join(radiotapHeader(), dot11Header(false), inner4()), false},
		{"NFLOG", layers.LinkType(239), join(nflogHeader(2), inner4()), false},
		{"IPv4 in IPv4", layers.LinkTypeEthernet, join(e4(), o4(layers.IPProtocolIPv4), inner4()), false},
		{"6in4", layers.LinkTypeEthernet, join(e4(), o4(layers.IPProtocolIPv6), inner6()), true},
		{"IPv4 in IPv6", layers.LinkTypeEthernet, join(eth(layers.EthernetTypeIPv6), ip6(innerDst6, innerSrc6, layers.IPProtocolIPv4), inner4()), false},
		{"GRE ipv4", layers.LinkTypeEthernet, join(e4(), o4(layers.IPProtocolGRE), greL(layers.EthernetTypeIPv4), inner4()), false},
		{"GRE key seq checksum", layers.LinkTypeEthernet, join(e4(), o4(layers.IPProtocolGRE),
			&layers.GRE{ChecksumPresent: true, KeyPresent: true, SeqPresent: true, Key: 9, Seq: 3, Protocol: layers.EthernetTypeIPv6}, inner6()), true},
		{"GRE transparent Ethernet bridging", layers.LinkTypeEthernet, join(e4(), o4(layers.IPProtocolGRE),
			greL(layers.EthernetTypeTransparentEthernetBridging), e4(), inner4()), false},
		{"GRE routing", layers.LinkTypeEthernet, join(e4(), o4(layers.IPProtocolGRE),
			fixed(0x40, 0, 0x08, 0x00, 0, 0, 0, 0, 0x08, 0x00, 0, 4, 1, 2, 3, 4, 0, 0, 0, 0), inner4()), false},
		{"ERSPAN type I", layers.LinkTypeEthernet, join(e4(), o4(layers.IPProtocolGRE), greL(0x88be), e4(), inner4()), false},
		{"ERSPAN type II", layers.LinkTypeEthernet, join(e4(), o4(layers.IPProtocolGRE),
			&layers.GRE{SeqPresent: true, Seq: 1, Protocol: 0x88be}, erspan2Header(), e4(), inner4()), false},
		{"ERSPAN type III", layers.LinkTypeEthernet, join(e4(), o4(layers.IPProtocolGRE),
			&layers.GRE{SeqPresent: true, Seq: 1, Protocol: 0x22eb}, erspan3Header(false, 0), e4(), inner4()), false},
		{"ERSPAN type III platform subheader", layers.LinkTypeEthernet, join(e4(), o4(layers.IPProtocolGRE),
			&layers.GRE{SeqPresent: true, Seq: 1, Protocol: 0x22eb}, erspan3Header(true, 0), e4(), inner4()), false},
		{"ERSPAN type III frame type IP", layers.LinkTypeEthernet, join(e4(), o4(layers.IPProtocolGRE),
			&layers.GRE{SeqPresent: true, Seq: 1, Protocol: 0x22eb}, erspan3Header(false, 2), inner6()), true},
		{"VXLAN", layers.LinkTypeEthernet, join(e4(), o4(layers.IPProtocolUDP), udp(4789),
			&layers.VXLAN{ValidIDFlag: true, VNI: 123}, e4(), inner4()), false},
		{"VXLAN group policy flags", layers.LinkTypeEthernet, join(e4(), o4(layers.IPProtocolUDP), udp(4789),
			fixed(0xff, 0x01, 0x00, 0x01, 0, 0, 123, 0), e4(), inner4()), false},
		{"VXLAN over IPv6", layers.LinkTypeEthernet, join(eth(layers.EthernetTypeIPv6), ip6(innerDst6, innerSrc6, layers.IPProtocolUDP), udp(4789),
			&layers.VXLAN{ValidIDFlag: true, VNI: 123}, e4(), inner4()), false},
		{"VXLAN-GPE ipv4", layers.LinkTypeEthernet, join(e4(), o4(layers.IPProtocolUDP), udp(4790),
			fixed(0x0c, 0, 0, 1, 0, 0, 1, 0), inner4()), false},
		{"Geneve Ethernet", layers.LinkTypeEthernet, join(e4(), o4(layers.IPProtocolUDP), udp(6081), geneveHeader(0x6558), e4(), inner4()), false},
		{"Geneve IPv6", layers.LinkTypeEthernet, join(e4(), o4(layers.IPProtocolUDP), udp(6081), geneveHeader(0x86dd), inner6()), true},
		{"GTP-U", layers.LinkTypeEthernet, join(e4(), o4(layers.IPProtocolUDP), udp(2152), gtpuHeader(), inner4()), false},
		{"GRE in UDP", layers.LinkTypeEthernet, join(e4(), o4(layers.IPProtocolUDP), udp(4754), greL(layers.EthernetTypeIPv4), inner4()), false},
		{"Teredo origin indication", layers.LinkTypeEthernet, join(e4(), o4(layers.IPProtocolUDP), udp(3544),
			fixed(0, 0, 1, 2, 3, 4, 5, 6), inner6()), true},
		{"AYIYA", layers.LinkTypeEthernet, join(e4(), o4(layers.IPProtocolUDP), udp(5072),
			fixed(append([]byte{0x41, 0x52, 0x11, 0x29, 0, 0, 0, 0}, make([]byte, 36)...)...), inner6()), true},
		{"nested VLAN GRE ERSPAN II VXLAN QinQ", layers.LinkTypeEthernet, join(
			eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 5, Type: layers.EthernetTypeIPv4}, o4(layers.IPProtocolGRE),
			&layers.GRE{SeqPresent: true, Protocol: 0x88be}, erspan2Header(), e4(), o4(layers.IPProtocolUDP), udp(4789),
			&layers.VXLAN{ValidIDFlag: true, VNI: 9}, eth(0x88a8), &layers.Dot1Q{Type: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{Type: layers.EthernetTypeIPv4}, inner4()), false},
		{"Geneve in VXLAN in GRE", layers.LinkTypeEthernet, join(e4(), o4(layers.IPProtocolGRE), greL(layers.EthernetTypeIPv4),
			o4(layers.IPProtocolUDP), udp(4789), &layers.VXLAN{ValidIDFlag: true}, e4(), o4(layers.IPProtocolUDP), udp(6081),
			geneveHeader(0x0800), inner4()), false},
	}
}

func TestDecodeEncapsulations(t *testing.T) {
	for _, tc := range frameCases() {
		t.Run(tc.name, func(t *testing.T) {
			data := serialize(t, tc.ls...)
			d := NewDecoder(Config{})
			seg, err := d.Decode(data, tc.lt, ci(data))
			if err != nil {
				t.Fatalf("Decode: %v (layers %v)", err, d.decoded)
			}
			if seg == nil {
				t.Fatalf("Decode returned no segment (layers decoded %v)", d.decoded)
			}
			wantInner(t, seg, tc.v6)
			if seg.WireLen != len(data) {
				t.Errorf("WireLen = %d; want %d", seg.WireLen, len(data))
			}
		})
	}
}

// TestDecodeEveryPrefix cuts every case at every length: the decoder must never panic
// and must either decode, return nothing, or name a layer.
func TestDecodeEveryPrefix(t *testing.T) {
	d := NewDecoder(Config{})
	d.parser.IgnorePanic = true // let a panic fail the test instead of becoming an error
	for _, tc := range frameCases() {
		data := serialize(t, tc.ls...)
		for n := 0; n < len(data); n++ {
			seg, err := d.Decode(data[:n], tc.lt, ci(data[:n]))
			if err != nil {
				var de *DecodeError
				if !errors.As(err, &de) || de.Layer == "" {
					t.Fatalf("%s cut at %d: error %v is not a *DecodeError with a layer", tc.name, n, err)
				}
			}
			if seg != nil && len(seg.Payload) > len(httpReq) {
				t.Fatalf("%s cut at %d: payload longer than sent", tc.name, n)
			}
		}
	}
}

func TestDecodeNonTCPAndErrors(t *testing.T) {
	arp := serialize(t, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, SourceHwAddress: macA, SourceProtAddress: outerSrc4, DstHwAddress: macB, DstProtAddress: outerDst4})
	dns := serialize(t, eth(layers.EthernetTypeIPv4), ip4(outerSrc4, outerDst4, layers.IPProtocolUDP), udp(53), gopacket.Payload("query"))
	icmp := serialize(t, eth(layers.EthernetTypeIPv4), ip4(outerSrc4, outerDst4, layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}, gopacket.Payload("ping"))
	protected := serialize(t, join(dot11Header(true), inner4())...)
	gtpEcho := serialize(t, eth(layers.EthernetTypeIPv4), ip4(outerSrc4, outerDst4, layers.IPProtocolUDP), udp(2152),
		fixed(0x30, 0x01, 0, 0, 0, 0, 0, 0))
	good := ethIPv4TCP(t)
	badIHL := append([]byte(nil), good...)
	badIHL[14] = 0x42 // version 4, IHL 2
	badTCPOff := append([]byte(nil), good...)
	badTCPOff[14+20+12] = 0x20 // data offset 2
	badVersion := append([]byte(nil), good...)
	badVersion[14] = 0x75
	tests := []struct {
		name      string
		data      []byte
		lt        layers.LinkType
		wantLayer string // "" means no error and no segment
	}{
		{"ARP", arp, layers.LinkTypeEthernet, ""},
		{"UDP DNS", dns, layers.LinkTypeEthernet, ""},
		{"ICMP", icmp, layers.LinkTypeEthernet, ""},
		{"802.11 protected", protected, layers.LinkTypeIEEE802_11, ""},
		{"GTP echo", gtpEcho, layers.LinkTypeEthernet, ""},
		{"802.3 LLC", append(append([]byte(nil), good[:12]...), 0x00, 0x26, 0xaa, 0xaa, 0x03), layers.LinkTypeEthernet, ""},
		{"unsupported link type", good, layers.LinkType(147), "link"},
		{"empty frame", nil, layers.LinkTypeEthernet, "link"},
		{"short Ethernet", good[:10], layers.LinkTypeEthernet, "ethernet"},
		{"bad IPv4 header length", badIHL, layers.LinkTypeEthernet, "ipv4"},
		{"IPv4 with another version", badVersion, layers.LinkTypeEthernet, "ipv4"},
		{"bad TCP data offset", badTCPOff, layers.LinkTypeEthernet, "tcp"},
		{"TCP header cut", good[:14+20+10], layers.LinkTypeEthernet, "tcp"},
		{"VLAN tag cut", append(append([]byte(nil), good[:12]...), 0x81, 0x00, 0x00), layers.LinkTypeEthernet, "vlan"},
		{"SLL2 cut", make([]byte, 12), LinkTypeLinuxSLL2, "sll2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder(Config{})
			layer := tc.wantLayer
			if layer == "" {
				layer = "link"
			}
			before := mErrors[indexOf(layer)].Load()
			nonTCP := mNonTCP.Load()
			seg, err := d.Decode(tc.data, tc.lt, ci(tc.data))
			if seg != nil {
				t.Fatalf("Decode returned a segment; want none")
			}
			if tc.wantLayer == "" {
				if err != nil {
					t.Fatalf("Decode error %v; want none (not TCP)", err)
				}
				if mNonTCP.Load() == nonTCP {
					t.Errorf("non-TCP counter did not move")
				}
				return
			}
			var de *DecodeError
			if !errors.As(err, &de) || de.Layer != tc.wantLayer {
				t.Fatalf("Decode error %v; want a *DecodeError for layer %q", err, tc.wantLayer)
			}
			if mErrors[indexOf(layer)].Load() != before+1 {
				t.Errorf("errors{layer=%q} did not move by one", layer)
			}
		})
	}
}

func indexOf(layer string) int {
	for i, n := range layerNames {
		if n == layer {
			return i
		}
	}
	panic("no layer " + layer)
}

func TestDecodeSnaplenTruncated(t *testing.T) {
	data := ethIPv4TCP(t)
	cut := data[:len(data)-10]
	d := NewDecoder(Config{})
	seg, err := d.Decode(cut, layers.LinkTypeEthernet, gopacket.CaptureInfo{Timestamp: testTS, CaptureLength: len(cut), Length: len(data)})
	if err != nil || seg == nil {
		t.Fatalf("Decode = %v, %v; want a segment", seg, err)
	}
	if !seg.Truncated || len(seg.Payload) != len(httpReq)-10 || seg.WireLen != len(data) {
		t.Errorf("Truncated=%v payload %d WireLen %d; want true, %d, %d", seg.Truncated, len(seg.Payload), seg.WireLen, len(httpReq)-10, len(data))
	}
}

func TestDecodeEthernetPadding(t *testing.T) {
	// A minimum-size frame is padded after the IP packet; the padding is not payload.
	data := serialize(t, eth(layers.EthernetTypeIPv4), tcpOver(ip4(innerSrc4, innerDst4, layers.IPProtocolTCP))[0],
		&layers.TCP{SrcPort: 1, DstPort: 2, ACK: true})
	data = append(data, 0, 0, 0, 0, 0, 0)
	seg, err := NewDecoder(Config{}).Decode(data, layers.LinkTypeEthernet, ci(data))
	if err != nil || seg == nil || len(seg.Payload) != 0 {
		t.Fatalf("Decode = %+v, %v; want an empty segment", seg, err)
	}
}

func TestDecodeTooManyTags(t *testing.T) {
	ls := []gopacket.SerializableLayer{eth(layers.EthernetTypeDot1Q)}
	for i := 0; i < 100; i++ {
		ls = append(ls, &layers.Dot1Q{Type: layers.EthernetTypeDot1Q})
	}
	data := serialize(t, ls...)
	_, err := NewDecoder(Config{}).Decode(data, layers.LinkTypeEthernet, ci(data))
	if !errors.Is(err, errTooDeep) {
		t.Fatalf("Decode error = %v; want %v", err, errTooDeep)
	}
}

func TestDecodeVLANID(t *testing.T) {
	tests := []struct {
		name string
		ls   []gopacket.SerializableLayer
		want uint16
	}{
		{"802.1Q", join(eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 42, Type: layers.EthernetTypeIPv4}, inner4()), 42},
		{"QinQ", join(eth(0x88a8), &layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 20, Priority: 5, Type: layers.EthernetTypeIPv4}, inner4()), 20},
		{"untagged after tagged", join(eth(layers.EthernetTypeIPv4), inner4()), 0},
	}
	d := NewDecoder(Config{})
	for _, tc := range tests {
		data := serialize(t, tc.ls...)
		seg, err := d.Decode(data, layers.LinkTypeEthernet, ci(data))
		if err != nil || seg == nil {
			t.Fatalf("%s: Decode = %v, %v", tc.name, seg, err)
		}
		if seg.VLAN != tc.want {
			t.Errorf("%s: VLAN = %d; want %d", tc.name, seg.VLAN, tc.want)
		}
	}
}
