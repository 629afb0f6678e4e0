package pcapgen

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

const start = int64(1767571200) * 1_000_000 // 2026-01-05T00:00:00Z

func exchange(ts int64, uri string, size int, chunked, close bool) *Exchange {
	return &Exchange{
		TS: ts, Src: netip.MustParseAddr("172.16.0.2"), Dst: netip.MustParseAddr("10.0.0.1"), DstPort: 80, Pool: 1,
		Method: "GET", Host: "api.example", URI: []byte(uri), UserAgent: "test/1.0",
		AuthHeader: "Authorization", AuthValue: "Bearer x.y.z", Status: 200, RespSize: size, Chunked: chunked,
		LatencyUS: 5000, Close: close, RTTUS: 20000, MSS: 1448,
	}
}

type pkt struct {
	ts                 int64
	fromClient         bool
	syn, fin, ack, psh bool
	seq, ackN          uint32
	payload            []byte
	port               uint16
}

func readAll(t *testing.T, b []byte) []pkt {
	t.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var out []pkt
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		if p.ErrorLayer() != nil {
			t.Fatalf("packet %d does not decode: %v", len(out), p.ErrorLayer().Error())
		}
		tcp := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if err := verifyChecksum(ip, tcp); err != nil {
			t.Fatalf("packet %d: %v", len(out), err)
		}
		q := pkt{ts: ci.Timestamp.UnixMicro(), fromClient: tcp.DstPort == 80, syn: tcp.SYN, fin: tcp.FIN, ack: tcp.ACK, psh: tcp.PSH,
			seq: tcp.Seq, ackN: tcp.Ack, payload: tcp.Payload, port: uint16(tcp.SrcPort)}
		if q.fromClient {
			q.port = uint16(tcp.SrcPort)
		} else {
			q.port = uint16(tcp.DstPort)
		}
		out = append(out, q)
	}
	return out
}

func verifyChecksum(ip *layers.IPv4, tcp *layers.TCP) error {
	want := tcp.Checksum
	c := *tcp
	_ = c.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, &c, gopacket.Payload(tcp.Payload)); err != nil {
		return err
	}
	got := uint16(buf.Bytes()[16])<<8 | uint16(buf.Bytes()[17])
	if got != want {
		return errors.New("bad TCP checksum")
	}
	return nil
}

func TestWriterStreams(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Options{Seed: 1, Start: start, PreOpenShare: -1, RetransmitShare: -1, ReorderShare: -1})
	if err != nil {
		t.Fatal(err)
	}
	// Two calls on one keep-alive connection, then one after the idle timeout that closes
	// with Connection: close, with a chunked multi-segment body.
	t0 := start + 10*60*1_000_000
	r1, _ := w.Write(exchange(t0, "/a", 500, false, false))
	r2, _ := w.Write(exchange(t0+2_000_000, "/b?x=1", 5000, false, false))
	r3, _ := w.Write(exchange(t0+120_000_000, "/c", 20000, true, true))
	if _, err := w.Write(exchange(t0, "/late", 10, false, false)); !errors.Is(err, ErrOutOfOrder) {
		t.Errorf("out-of-order write: err = %v; want ErrOutOfOrder", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if r1.SrcPort != r2.SrcPort || r3.SrcPort == r1.SrcPort {
		t.Errorf("ports %d %d %d: want the first two calls on one connection and the third on a new one", r1.SrcPort, r2.SrcPort, r3.SrcPort)
	}
	pk := readAll(t, buf.Bytes())
	if int64(len(pk)) != w.Packets() {
		t.Errorf("read %d packets; writer says %d", len(pk), w.Packets())
	}
	var syns, fins int
	var prev int64
	streams := map[uint16]*bytes.Buffer{}
	for i, p := range pk {
		if p.ts < prev {
			t.Fatalf("packet %d goes back in time", i)
		}
		prev = p.ts
		if p.syn && p.fromClient {
			syns++
		}
		if p.fin {
			fins++
		}
		if len(p.payload) > 1448 {
			t.Errorf("packet %d carries %d bytes, more than the MSS", i, len(p.payload))
		}
		if streams[p.port] == nil {
			streams[p.port] = &bytes.Buffer{}
		}
		streams[p.port].Write(p.payload)
	}
	if syns != 2 || fins != 4 {
		t.Errorf("%d SYNs and %d FINs; want 2 connections, both closed (idle timeout, Connection: close)", syns, fins)
	}
	s1 := streams[r1.SrcPort].String()
	if strings.Count(s1, "GET /") != 2 || strings.Count(s1, "HTTP/1.1 200 OK") != 2 || !strings.Contains(s1, "Content-Length: ") {
		t.Errorf("keep-alive stream does not carry two exchanges:\n%.300s", s1)
	}
	s3 := streams[r3.SrcPort].String()
	if !strings.Contains(s3, "Transfer-Encoding: chunked") || !strings.HasSuffix(s3, "0\r\n\r\n") || !strings.Contains(s3, "Connection: close") {
		t.Errorf("chunked stream malformed:\n%.300s", s3)
	}
}

func TestWriterPreOpenAndLoss(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Options{Seed: 2, Start: start, PreOpenShare: 1, RetransmitShare: 1, ReorderShare: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(exchange(start+1_000_000, "/a", 6000, false, false)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	pk := readAll(t, buf.Bytes())
	seen := map[uint32]int{}
	var lastSeq uint32
	reordered := false
	for _, p := range pk {
		if p.syn {
			t.Fatal("a connection open before the capture must have no handshake")
		}
		if !p.fromClient && len(p.payload) > 0 {
			seen[p.seq]++
			if p.seq < lastSeq {
				reordered = true
			}
			lastSeq = p.seq
		}
	}
	for seq, n := range seen {
		if n != 2 {
			t.Errorf("segment %d seen %d times; every segment is retransmitted once with share 1", seq, n)
		}
	}
	if !reordered {
		t.Error("no reordered response segment with ReorderShare 1")
	}
}

func BenchmarkWrite(b *testing.B) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, Options{Seed: 1, Start: start})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if buf.Len() > 64<<20 {
			buf.Reset()
		}
		x := exchange(start+int64(i)*1000, "/v1/orders/12345?page=2", 1800, i%5 == 0, false)
		x.Pool = uint32(i % 500)
		if _, err := w.Write(x); err != nil {
			b.Fatal(err)
		}
	}
	_ = w.Close()
	b.SetBytes(w.Bytes() / int64(b.N))
}
