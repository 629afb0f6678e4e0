package decode

import "github.com/apiscope/apiscope/pkg/metrics"

// Counters of the decode stage, resolved once at start so the per-frame path is a few
// atomic adds and never a lookup.
var (
	mPackets = metrics.Default.Counter("apiscope_sensor_decode_packets_total",
		"Frames given to the decoder.")
	mBytes = metrics.Default.Counter("apiscope_sensor_decode_bytes_total",
		"Wire bytes of the frames given to the decoder.")
	mSegments = metrics.Default.Counter("apiscope_sensor_decode_tcp_segments_total",
		"TCP segments decoded (innermost, after decapsulation and reassembly).")
	mNonTCP = metrics.Default.Counter("apiscope_sensor_decode_non_tcp_total",
		"Frames that carry no TCP segment (ARP, UDP, ICMP, encrypted 802.11, ...): counted, not errors.")
	mTruncated = metrics.Default.Counter("apiscope_sensor_decode_truncated_total",
		"TCP segments whose payload was cut short by the capture's snaplen.")
	mFragReassembled = metrics.Default.Counter("apiscope_sensor_decode_fragments_reassembled_total",
		"IP datagrams rebuilt from fragments.")

	mErrors      [numLayers]*metrics.Counter
	mFragDropped [numDropReasons]*metrics.Counter
	mTunnels     [numLayers]*metrics.Counter // only for encapsulation layers; nil otherwise
	mTunnelIPIP  = tunnelCounter("ipip")
)

// tunnelKinds names the encapsulations counted in apiscope_sensor_decode_tunnels_total.
var tunnelKinds = map[int]string{
	int(ltVLAN - ltRoot): "vlan", int(ltMPLS - ltRoot): "mpls", int(ltPPPoE - ltRoot): "pppoe",
	int(ltGRE - ltRoot): "gre", int(ltERSPAN2 - ltRoot): "erspan2", int(ltERSPAN3 - ltRoot): "erspan3",
	int(ltVXLAN - ltRoot): "vxlan", int(ltGeneve - ltRoot): "geneve", int(ltGTPU - ltRoot): "gtpu",
	int(ltTeredo - ltRoot): "teredo", int(ltVXLANGPE - ltRoot): "vxlan_gpe", int(ltAYIYA - ltRoot): "ayiya",
}

func tunnelCounter(kind string) *metrics.Counter {
	return metrics.Default.Counter("apiscope_sensor_decode_tunnels_total",
		"Encapsulation headers removed, by kind (one per header: a QinQ frame counts two vlan).",
		"kind", kind)
}

func init() {
	for i, name := range layerNames {
		mErrors[i] = metrics.Default.Counter("apiscope_sensor_decode_errors_total",
			"Frames that could not be decoded, by the layer that failed (link: unsupported link type or empty frame).",
			"layer", name)
	}
	for i, name := range dropReasonNames {
		mFragDropped[i] = metrics.Default.Counter("apiscope_sensor_decode_fragments_dropped_total",
			"IP fragments or partly rebuilt datagrams dropped, by reason.", "reason", name)
	}
	for i, kind := range tunnelKinds {
		mTunnels[i] = tunnelCounter(kind)
	}
}
