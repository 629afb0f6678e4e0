// Package decode is the sensor's second stage: it takes a captured frame and its link
// type and returns the innermost TCP segment, after every link header, VLAN tag, MPLS
// label, tunnel and IP fragment has been removed, as if the inner packet had been
// captured directly.
//
// # What it decodes
//
// Link types: Ethernet, Linux cooked capture v1 and v2 (SLL, SLL2: what "-i any"
// gives), raw IPv4/IPv6 (101, 12, 14, 228, 229), BSD loopback (NULL, LOOP), PPP, PPPoE,
// Cisco HDLC, IEEE 802.11 with or without radiotap, Linux NFLOG.
//
// Inside: 802.1Q and QinQ tags (0x8100, 0x88a8, 0x9100, 0x9200), MPLS label stacks,
// PPPoE sessions, IPv4 (options, fragments) and IPv6 (extension headers, fragments),
// IP-in-IP and 6in4, GRE (keys, sequence numbers, routing, transparent Ethernet
// bridging, PPTP), ERSPAN types I, II and III, VXLAN and VXLAN-GPE (UDP 4789, 4790, 8472:
// AWS VPC Traffic Mirroring), Geneve (UDP 6081: GCP Packet Mirroring), GTP-U (UDP 2152),
// GRE and MPLS in UDP (4754, 6635) and Teredo. Tunnels nest to any depth up to 48
// headers.
//
// # How
//
// A Decoder owns one instance of every layer and runs gopacket's DecodingLayerParser
// over them, so an ordinary frame is decoded in place without allocating. The layers'
// dispatch (which EtherType, protocol or UDP port leads where) is this package's own, so
// tunnels are recognised the same way everywhere. Fragments are rebuilt in bounded
// memory with timeouts in capture time, then the datagram is decoded from its IP header
// on as if it had arrived whole.
//
// Frames without TCP are counted, not errors. A malformed frame never panics the
// caller: it returns a *DecodeError naming the layer, counted in
// apiscope_sensor_decode_errors_total{layer=...} (see metrics.go for every counter).
//
//	dec := decode.NewDecoder(decode.Config{Log: log})
//	seg, err := dec.Decode(data, linkType, ci) // or DecodeFrame(data, linkType, ts, wireLen)
//	switch {
//	case err != nil: // counted and logged; go on with the next frame
//	case seg == nil: // not TCP, or a fragment waiting for the rest
//	default:         // seg.Payload is valid until the next Decode
//	}
package decode
