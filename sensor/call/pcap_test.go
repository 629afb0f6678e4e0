package call

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"go.uber.org/zap"

	"github.com/apiscope/apiscope/sensor"
	"github.com/apiscope/apiscope/sensor/capture"
	"github.com/apiscope/apiscope/sensor/publish"
)

// pcapWriter crafts a capture of TCP connections carrying HTTP/1.1.
type pcapWriter struct {
	t   testing.TB
	f   *os.File
	w   *pcapgo.Writer
	buf gopacket.SerializeBuffer
}

func newPcap(t testing.TB, path string) *pcapWriter {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriterNanos(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	return &pcapWriter{t: t, f: f, w: w, buf: gopacket.NewSerializeBuffer()}
}

func (p *pcapWriter) close() {
	if err := p.f.Close(); err != nil {
		p.t.Fatal(err)
	}
}

type tcpConn struct {
	p            *pcapWriter
	cip, sip     net.IP
	cport, sport uint16
	cseq, sseq   uint32
}

func (p *pcapWriter) conn(clientIP string, cport uint16, serverIP string, sport uint16, ts time.Time) *tcpConn {
	c := &tcpConn{p: p, cip: net.ParseIP(clientIP).To4(), sip: net.ParseIP(serverIP).To4(), cport: cport, sport: sport, cseq: 1000, sseq: 9000}
	c.send(ts, true, "S", "")
	c.send(ts.Add(time.Millisecond), false, "SA", "")
	c.send(ts.Add(2*time.Millisecond), true, "A", "")
	return c
}

func (c *tcpConn) send(ts time.Time, fromClient bool, flags, data string) {
	p := c.p
	src, dst, sp, dp, seq, ack := c.cip, c.sip, c.cport, c.sport, c.cseq, c.sseq
	if !fromClient {
		src, dst, sp, dp, seq, ack = c.sip, c.cip, c.sport, c.cport, c.sseq, c.cseq
	}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), Seq: seq, Ack: ack, ACK: flags != "S",
		SYN: flags == "S" || flags == "SA", FIN: flags == "F", PSH: data != "", Window: 65535}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		p.t.Fatal(err)
	}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	if err := gopacket.SerializeLayers(p.buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(data)); err != nil {
		p.t.Fatal(err)
	}
	b := p.buf.Bytes()
	if err := p.w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(b), Length: len(b)}, b); err != nil {
		p.t.Fatal(err)
	}
	n := uint32(len(data))
	if tcp.SYN || tcp.FIN {
		n++
	}
	if fromClient {
		c.cseq += n
	} else {
		c.sseq += n
	}
}

// exchange sends one request with the given header lines and a JSON response.
func (c *tcpConn) exchange(ts time.Time, method, uri string, headers []string, status int) {
	req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: api.example.com\r\n", method, uri)
	for _, h := range headers {
		req += h + "\r\n"
	}
	req += "Content-Length: 0\r\n\r\n"
	c.send(ts, true, "A", req)
	body := `{"ok":true}`
	c.send(ts.Add(3*time.Millisecond), false, "A",
		fmt.Sprintf("HTTP/1.1 %d OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", status, len(body), body))
}

func (c *tcpConn) close(ts time.Time) {
	c.send(ts, true, "F", "")
	c.send(ts.Add(time.Millisecond), false, "F", "")
}

// runSensor runs the whole sensor over path with b as the call builder, its sink wrapped
// for learning as the sensor command does, and returns the JSON Lines it wrote.
func runSensor(t testing.TB, path string, b *Builder, workers int, log *zap.Logger) []byte {
	t.Helper()
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var out bytes.Buffer
	cfg := sensor.Config{Workers: workers, Builder: b, Logger: log}
	cfg.HTTP.Logger = log
	cfg.Decode.Log = log
	if _, err := sensor.Run(context.Background(), cfg, src, b.WrapSink(publish.NewJSONL(&out))); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
