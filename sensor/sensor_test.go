package sensor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/sensor"
	"github.com/apiscope/apiscope/sensor/capture"
	"github.com/apiscope/apiscope/sensor/publish"
)

// pcapWriter builds a capture of crafted TCP connections.
type pcapWriter struct {
	t    testing.TB
	w    *pcapgo.Writer
	buf  gopacket.SerializeBuffer
	snap int // frames are cut to this length when positive, as a capture's snap length does
}

func newPcap(t testing.TB, path string) (*pcapWriter, func()) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriterNanos(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	return &pcapWriter{t: t, w: w, buf: gopacket.NewSerializeBuffer()}, func() { f.Close() }
}

// tcpConn is one crafted connection; it keeps both sides' sequence numbers.
type tcpConn struct {
	p            *pcapWriter
	cip, sip     net.IP
	cport, sport uint16
	cseq, sseq   uint32
}

func (p *pcapWriter) conn(client string, cport uint16, server string, sport uint16) *tcpConn {
	return &tcpConn{p: p, cip: net.ParseIP(client).To4(), sip: net.ParseIP(server).To4(), cport: cport, sport: sport, cseq: 1000, sseq: 9000}
}

func (c *tcpConn) send(ts time.Time, fromClient bool, flags string, data string) {
	p := c.p
	src, dst, sp, dp, seq, ack := c.cip, c.sip, c.cport, c.sport, c.cseq, c.sseq
	if !fromClient {
		src, dst, sp, dp, seq, ack = c.sip, c.cip, c.sport, c.cport, c.sseq, c.cseq
	}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), Seq: seq, Ack: ack, ACK: flags != "S",
		SYN: flags == "S" || flags == "SA", FIN: flags == "F", RST: flags == "R", PSH: data != "", Window: 65535}
	_ = tcp.SetNetworkLayerForChecksum(ip)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	if err := gopacket.SerializeLayers(p.buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(data)); err != nil {
		p.t.Fatal(err)
	}
	b := p.buf.Bytes()
	wire := len(b)
	if p.snap > 0 && len(b) > p.snap {
		b = b[:p.snap]
	}
	if err := p.w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(b), Length: wire}, b); err != nil {
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

func (c *tcpConn) handshake(ts time.Time) {
	c.send(ts, true, "S", "")
	c.send(ts.Add(time.Millisecond), false, "SA", "")
	c.send(ts.Add(2*time.Millisecond), true, "A", "")
}

func request(method, uri, body string) string {
	return fmt.Sprintf("%s %s HTTP/1.1\r\nHost: api.example\r\nContent-Length: %d\r\n\r\n%s", method, uri, len(body), body)
}

func response(status int, body string) string {
	return fmt.Sprintf("HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", status, len(body), body)
}

// writeMixedCapture writes many interleaved keep-alive connections, some left without a
// response so that idle timeouts and the final flush produce calls too.
func writeMixedCapture(t testing.TB, path string, conns, perConn int) {
	p, done := newPcap(t, path)
	defer done()
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	cs := make([]*tcpConn, conns)
	for i := range cs {
		cs[i] = p.conn(fmt.Sprintf("10.1.%d.%d", i/200, i%200+1), uint16(20000+i), fmt.Sprintf("10.9.0.%d", i%3+1), 8080)
		cs[i].handshake(t0.Add(time.Duration(i) * time.Millisecond))
	}
	ts := t0.Add(time.Second)
	for r := 0; r < perConn; r++ {
		for i, c := range cs {
			ts = ts.Add(137 * time.Microsecond)
			c.send(ts, true, "A", request("GET", fmt.Sprintf("/users/%d/orders/%d", i, r), ""))
			if (i+r)%17 == 0 {
				continue // no response: emitted at the idle timeout or the end
			}
			c.send(ts.Add(50*time.Microsecond), false, "A", response(200+(i%3)*100, `{"ok":true}`))
		}
		if r == perConn/2 {
			ts = ts.Add(3 * time.Minute) // past the idle timeout: every connection ends
		}
	}
	for i, c := range cs {
		if i%2 == 0 {
			c.send(ts.Add(time.Millisecond), true, "F", "")
			c.send(ts.Add(2*time.Millisecond), false, "F", "")
		}
	}
}

func runJSONL(t testing.TB, path string, cfg sensor.Config) ([]byte, sensor.Stats) {
	t.Helper()
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var out bytes.Buffer
	st, err := sensor.Run(context.Background(), cfg, src, publish.NewJSONL(&out))
	if err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), st
}

// writeAnsweredCapture writes interleaved keep-alive connections whose every request is
// answered, with frames cut to snap bytes (0: whole).
func writeAnsweredCapture(t testing.TB, path string, conns, perConn, snap int) {
	p, done := newPcap(t, path)
	defer done()
	p.snap = snap
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	cs := make([]*tcpConn, conns)
	for i := range cs {
		cs[i] = p.conn(fmt.Sprintf("10.2.0.%d", i+1), uint16(30000+i), "10.9.0.1", 8080)
		cs[i].handshake(t0.Add(time.Duration(i) * time.Millisecond))
	}
	ts := t0.Add(time.Second)
	for r := 0; r < perConn; r++ {
		for i, c := range cs {
			ts = ts.Add(137 * time.Microsecond)
			c.send(ts, true, "A", request("POST", fmt.Sprintf("/users/%d/orders/%d", i, r), `{"qty":1}`))
			c.send(ts.Add(50*time.Microsecond), false, "A", response(200+(i+r)%3*100, `{"ok":true}`))
		}
	}
	for _, c := range cs {
		c.send(ts.Add(time.Millisecond), true, "F", "")
		c.send(ts.Add(2*time.Millisecond), false, "F", "")
	}
}

// A short snap length cuts every segment (here 80 bytes: the request line up to its
// version, the status line and a few header bytes): every call is still found, with its
// target and status, marked partial.
func TestShortSnapLength(t *testing.T) {
	dir := t.TempDir()
	whole, cut := filepath.Join(dir, "whole.pcap"), filepath.Join(dir, "cut.pcap")
	writeAnsweredCapture(t, whole, 40, 6, 0)
	writeAnsweredCapture(t, cut, 40, 6, 80)
	cfg := sensor.Config{Workers: 2}
	summary := func(out []byte) (map[string]int, int) {
		calls := map[string]int{}
		partial := 0
		for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
			var c models.APICall
			if err := json.Unmarshal(line, &c); err != nil {
				t.Fatal(err)
			}
			calls[fmt.Sprintf("%s:%d %s %s %d", c.SrcIP, c.SrcPort, c.Method, c.URI, c.Status)]++
			if c.Partial {
				partial++
			}
		}
		return calls, partial
	}
	wout, _ := runJSONL(t, whole, cfg)
	cout, _ := runJSONL(t, cut, cfg)
	want, _ := summary(wout)
	got, partial := summary(cout)
	if len(want) != 240 {
		t.Fatalf("the whole capture gave %d distinct calls; want 240", len(want))
	}
	if !maps.Equal(got, want) {
		t.Errorf("with an 80-byte snap length the calls differ from the whole capture's")
		for k, n := range want {
			if got[k] != n {
				t.Logf("%s: %d, want %d", k, got[k], n)
			}
		}
		for k, n := range got {
			if want[k] != n {
				t.Logf("extra %s: %d", k, n)
			}
		}
	}
	if n := bytes.Count(cout, []byte("\n")); partial != n {
		t.Errorf("%d of %d calls marked partial; want all", partial, n)
	}
}

// Taps that merge the two directions of a link can stamp, and so order, an answer a
// little before its request. The response's acknowledgment number shows the server had
// the request: each call still gets its own status.
func TestAnswersCapturedBeforeTheirRequests(t *testing.T) {
	path := filepath.Join(t.TempDir(), "skew.pcap")
	p, done := newPcap(t, path)
	c := p.conn("10.3.0.1", 40000, "10.9.0.1", 8080)
	ts := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	c.handshake(ts)
	for r := 0; r < 20; r++ {
		ts = ts.Add(10 * time.Millisecond)
		req := request("GET", fmt.Sprintf("/items/%d", r), "")
		reqSeq, respSeq := c.cseq, c.sseq
		c.cseq += uint32(len(req)) // the response acknowledges the request it answers
		c.send(ts, false, "A", response(200+r%4*100, `{}`))
		next := c.sseq
		c.cseq, c.sseq = reqSeq, respSeq // the request, sent before, written after
		c.send(ts.Add(100*time.Microsecond), true, "A", req)
		c.sseq = next
	}
	c.send(ts.Add(time.Millisecond), true, "F", "")
	c.send(ts.Add(2*time.Millisecond), false, "F", "")
	done()
	out, _ := runJSONL(t, path, sensor.Config{Workers: 1})
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	if len(lines) != 20 {
		t.Fatalf("%d calls; want 20", len(lines))
	}
	for r, line := range lines {
		var call models.APICall
		if err := json.Unmarshal(line, &call); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("/items/%d %d", r, 200+r%4*100); fmt.Sprintf("%s %d", call.URI, call.Status) != want {
			t.Errorf("call %d: %s %d; want %s", r, call.URI, call.Status, want)
		}
	}
}

func TestOutputIdenticalForAnyWorkerCount(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mixed.pcap")
	writeMixedCapture(t, path, 300, 6)
	one, st := runJSONL(t, path, sensor.Config{Workers: 1})
	if st.Calls != 300*6 {
		t.Fatalf("calls = %d; want %d", st.Calls, 300*6)
	}
	for _, w := range []int{2, 3, 8} {
		got, _ := runJSONL(t, path, sensor.Config{Workers: w, BatchSize: 7, QueueLen: 2})
		if !bytes.Equal(one, got) {
			t.Errorf("output with %d workers differs from 1 worker (%d vs %d bytes)", w, len(got), len(one))
		}
	}
}

func TestCorpusOutputIdenticalForAnyWorkerCount(t *testing.T) {
	dir := corpusDir(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.pcap*"))
	if len(files) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("corpus not found at %s", dir)
		}
		t.Skipf("corpus not found at %s; skipping", dir)
	}
	b := productionBuilder(t)
	for _, f := range files {
		one, _ := runJSONL(t, f, sensor.Config{Workers: 1, Builder: b})
		two, _ := runJSONL(t, f, sensor.Config{Workers: 2, BatchSize: 5, Builder: b})
		if !bytes.Equal(one, two) {
			t.Errorf("%s: output with 2 workers differs from 1 worker", filepath.Base(f))
		}
	}
}

func TestCallsAreOrderedAndComplete(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mixed.pcap")
	writeMixedCapture(t, path, 40, 4)
	out, st := runJSONL(t, path, sensor.Config{Workers: 2})
	lines := bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n"))
	if len(lines) != 160 {
		t.Fatalf("got %d calls; want 160", len(lines))
	}
	noResp := 0
	for _, l := range lines {
		var c models.APICall
		if err := models.UnmarshalAPICall(l, &c); err != nil {
			t.Fatal(err)
		}
		if c.Status == 0 {
			noResp++
			continue
		}
		if c.Template != "/users/{id}/orders/{id}" || c.Host != "api.example" || c.RespBytes != 11 || c.DstPort != 8080 {
			t.Fatalf("call %s: wrong fields", l)
		}
	}
	if uint64(noResp) != st.CallsNoResponse || noResp == 0 {
		t.Errorf("calls without response: %d in output, %d in stats", noResp, st.CallsNoResponse)
	}
}

// failingSink fails on its first write.
type failingSink struct{ closed bool }

func (s *failingSink) Write(*models.APICall) error { return fmt.Errorf("broker down") }
func (s *failingSink) Close() error                { s.closed = true; return nil }

func TestSinkErrorStopsRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mixed.pcap")
	writeMixedCapture(t, path, 10, 2)
	// One worker runs everything on one goroutine, more run the pipeline: both stop.
	for _, workers := range []int{1, 2} {
		src, err := capture.OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		s := &failingSink{}
		if _, err := sensor.Run(context.Background(), sensor.Config{Workers: workers}, src, s); err == nil {
			t.Errorf("Run with %d workers and a failing sink returned nil", workers)
		}
		if !s.closed {
			t.Errorf("Run with %d workers: the sink was not closed", workers)
		}
	}
}

func TestCancelledRunStillFlushes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mixed.pcap")
	writeMixedCapture(t, path, 10, 2)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, workers := range []int{1, 2} {
		src, err := capture.OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		var c collect
		if _, err := sensor.Run(ctx, sensor.Config{Workers: workers}, src, &c); err != nil {
			t.Fatalf("cancelled Run with %d workers: %v", workers, err)
		}
	}
}

func TestBadConfig(t *testing.T) {
	var c collect
	if _, err := sensor.Run(context.Background(), sensor.Config{Workers: -1}, nil, &c); err == nil {
		t.Error("Run with Workers -1 succeeded")
	}
}

func BenchmarkPipeline(b *testing.B) {
	// APISCOPE_BENCH_PCAP points the benchmark at a larger capture (scripts/bench.sh).
	path := os.Getenv("APISCOPE_BENCH_PCAP")
	if path == "" {
		path = filepath.Join(b.TempDir(), "bench.pcap")
		writeMixedCapture(b, path, 200, 20)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var pkts uint64
	for i := 0; i < b.N; i++ {
		src, err := capture.OpenFile(path)
		if err != nil {
			b.Fatal(err)
		}
		var c countSink
		st, err := sensor.Run(context.Background(), sensor.Config{Workers: 1}, src, &c)
		if err != nil {
			b.Fatal(err)
		}
		pkts += st.Packets
		src.Close()
	}
	b.ReportMetric(float64(pkts)/b.Elapsed().Seconds(), "packets/s")
}

type countSink struct{ n int }

func (s *countSink) Write(*models.APICall) error { s.n++; return nil }
func (s *countSink) Close() error                { return nil }
