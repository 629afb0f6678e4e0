package decode

import (
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apiscope/apiscope/pkg/corpus"
	"github.com/apiscope/apiscope/pkg/metrics"
	"github.com/apiscope/apiscope/sensor/capture"
)

// corpusPath returns the path of a corpus capture, or the corpus directory for name ""
// (see pkg/corpus: skipped when absent, failed under CI).
func corpusPath(t testing.TB, name string) string {
	t.Helper()
	return corpus.Path(t, name)
}

// fileStats is what decoding a whole capture gave.
type fileStats struct {
	frames, segments, nonTCP, errs int
	ports                          map[uint16]int // segments by port (either end)
	payloadBytes                   int
	errLayers                      map[string]int
}

func decodeFile(t testing.TB, path string) fileStats {
	t.Helper()
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatalf("OpenFile(%s): %v", path, err)
	}
	defer src.Close()
	d := NewDecoder(Config{})
	st := fileStats{ports: map[uint16]int{}, errLayers: map[string]int{}}
	for {
		data, ci, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next after %d frames: %v", st.frames, err)
		}
		st.frames++
		seg, err := d.Decode(data, src.LinkTypeOf(ci), ci)
		switch {
		case err != nil:
			st.errs++
			var de *DecodeError
			if errors.As(err, &de) {
				st.errLayers[de.Layer]++
			}
		case seg == nil:
			st.nonTCP++
		default:
			st.segments++
			st.ports[seg.SrcPort]++
			if seg.DstPort != seg.SrcPort {
				st.ports[seg.DstPort]++
			}
			st.payloadBytes += len(seg.Payload)
		}
	}
	return st
}

// flowKey is one direction of a connection.
type flowKey struct {
	src, dst         netip.Addr
	srcPort, dstPort uint16
}

// requestFlows decodes a capture and returns, per direction, the payload bytes seen
// (the first MiB, in capture order).
func requestFlows(t *testing.T, path string) (map[flowKey]string, fileStats) {
	t.Helper()
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatalf("OpenFile: %v", err)
	}
	defer src.Close()
	d := NewDecoder(Config{})
	flows := map[flowKey]string{}
	st := fileStats{ports: map[uint16]int{}, errLayers: map[string]int{}}
	for {
		data, ci, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next after %d frames: %v", st.frames, err)
		}
		st.frames++
		seg, err := d.Decode(data, src.LinkTypeOf(ci), ci)
		if err != nil {
			st.errs++
			var de *DecodeError
			if errors.As(err, &de) {
				st.errLayers[de.Layer]++
			}
			continue
		}
		if seg == nil {
			continue
		}
		st.segments++
		k := flowKey{seg.Src, seg.Dst, seg.SrcPort, seg.DstPort}
		if len(flows[k]) < 1<<20 {
			flows[k] += string(seg.Payload)
		}
	}
	return flows, st
}

// TestCorpusRequestsReachTCP checks, for every capture, that each HTTP/1.x request
// tshark found (expected/<file>.tsv) arrives at the TCP layer: a segment on its
// connection, direction client to server, carries its method. This is what link types,
// VLANs, MPLS, PPPoE, tunnels (GRE, ERSPAN, VXLAN, Geneve, GTP-U, Teredo, AYIYA, 6in4)
// and fragments must get right; everything above (TCP reassembly, HTTP) is checked in
// the packages that do it.
func TestCorpusRequestsReachTCP(t *testing.T) {
	dir := corpusPath(t, "")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	total, found := 0, 0
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".pcap") && !strings.HasSuffix(name, ".pcapng") {
			continue
		}
		exp, err := os.ReadFile(filepath.Join(dir, "expected", name+".tsv"))
		if err != nil {
			continue
		}
		flows, st := requestFlows(t, filepath.Join(dir, name))
		if st.errs != 0 {
			t.Errorf("%s: %d decode errors %v", name, st.errs, st.errLayers)
		}
		for i, line := range strings.Split(strings.TrimSpace(string(exp)), "\n") {
			f := strings.Split(line, "\t")
			if i == 0 || len(f) < 9 || !strings.Contains(f[8], "HTTP/1") && !strings.Contains(f[8], "HTTP/0") {
				continue
			}
			sp, _ := strconv.Atoi(f[1])
			dp, _ := strconv.Atoi(f[3])
			src, err1 := netip.ParseAddr(f[0])
			dst, err2 := netip.ParseAddr(f[2])
			if err1 != nil || err2 != nil {
				t.Errorf("%s: bad address in %q", name, line)
				continue
			}
			total++
			if strings.Contains(flows[flowKey{src, dst, uint16(sp), uint16(dp)}], f[4]) {
				found++
			} else {
				t.Errorf("%s: request %s %s from %s:%d to %s:%d (frame %s) never reached TCP", name, f[4], f[6], f[0], sp, f[2], dp, f[9])
			}
		}
	}
	t.Logf("%d of %d HTTP/1.x requests of the corpus reached the TCP layer", found, total)
}

// TestCorpusEncapsulations checks that captures of each link type and encapsulation
// decode without error, yield the expected server port, and move the tunnel counter.
func TestCorpusEncapsulations(t *testing.T) {
	tests := []struct {
		file   string
		port   uint16
		tunnel string // a kind that must be counted; "" for none
	}{
		{"arkime__gre-erspan-vxlan.pcap", 80, "vxlan_gpe"},
		{"arkime__gre-erspan-vxlan.pcap", 80, "erspan2"},
		{"arkime__arkime_synthetic.pcap", 5985, "geneve"},
		{"arkime__arkime_synthetic.pcap", 80, "gtpu"},
		{"arkime__arkime_synthetic.pcap", 80, "pppoe"},
		{"arkime__arkime_synthetic.pcap", 80, "mpls"},
		{"suricata-verify__decode-sll2-01.pcap", 80, ""},
		{"suricata-verify__bug-4810_pppoe-session-http.pcap", 80, "pppoe"},
		{"suricata-verify__decode-chdlc-01_hdlc-http_1tx.pcap", 80, ""},
		{"suricata-verify__vxlan-non-zero-reserved-fields.pcap", 80, "vxlan"},
		{"zeek__http-vlan-0.pcap", 80, "vlan"},
		{"zeek__http-qinq-0.pcap", 80, "vlan"},
		{"zeek__vlan-qinqinq.pcap", 80, "vlan"},
		{"zeek__mpls-in-vlan.pcap", 80, "mpls"},
		{"zeek__mixed-vlan-mpls.pcap", 80, "mpls"},
		{"zeek__erspan.pcap", 80, "gre"},
		{"zeek__tunnels_vxlan-encapsulated-http.pcap", 80, "vxlan"},
		{"zeek__tunnels_geneve-many-options.pcap", 80, "geneve"},
		{"zeek__tunnels_gre-over-udp-4754.pcap", 80, "gre"},
		{"zeek__tunnels_gtp_gtp2_different_udp_port.pcap", 80, "gtpu"},
		{"zeek__tunnels_Teredo.pcap", 80, "teredo"},
		{"zeek__tunnels_ayiya3.pcap", 80, "ayiya"},
		{"ndpi__6in4tunnel.pcap", 80, ""},
		{"arkime__80211http.pcap", 80, ""},
		{"gopacket__test_loopback.pcap", 8080, ""},
		{"zeek__nflog-http.pcap", 80, ""},
		{"arkime__v6-http.pcap", 80, ""},
		{"ndpi__http-proxy.pcapng", 8080, ""},
	}
	for _, tc := range tests {
		t.Run(tc.file+"/"+tc.tunnel, func(t *testing.T) {
			var before uint64
			var c *metrics.Counter
			if tc.tunnel != "" {
				c = tunnelCounter(tc.tunnel)
				before = c.Load()
			}
			st := decodeFile(t, corpusPath(t, tc.file))
			if st.errs != 0 {
				t.Errorf("%d decode errors: %v", st.errs, st.errLayers)
			}
			if st.ports[tc.port] == 0 {
				t.Errorf("no TCP segment on port %d (ports seen: %v)", tc.port, st.ports)
			}
			if c != nil && c.Load() == before {
				t.Errorf("tunnels_total{kind=%q} did not move", tc.tunnel)
			}
		})
	}
}

func TestCorpusAllFiles(t *testing.T) {
	if !testing.Verbose() {
		t.Skip("a per-file summary for -v runs")
	}
	dir := corpusPath(t, "")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		n := e.Name()
		if !strings.HasSuffix(n, ".pcap") && !strings.HasSuffix(n, ".pcapng") {
			continue
		}
		st := decodeFile(t, filepath.Join(dir, n))
		t.Logf("%-70s frames=%5d tcp=%5d nontcp=%4d errs=%d %v", n, st.frames, st.segments, st.nonTCP, st.errs, st.errLayers)
	}
}
