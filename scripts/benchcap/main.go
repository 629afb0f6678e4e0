// Command benchcap writes a synthetic capture of keep-alive HTTP/1.1 API traffic for
// benchmarking the sensor: conns client connections to a few servers, each making calls
// requests with small JSON bodies, all connections opened before the first request and
// closed after the last, so conns connections are open at once.
//
//	go run ./scripts/benchcap -conns 1000 -calls 340 -out /tmp/bench.pcap
//
// Each call is three frames (request, response, client ACK), so the capture holds about
// conns × (3 × calls + 6) frames. Timestamps advance 10 µs per frame.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

type conn struct {
	cip, sip     net.IP
	cport, sport uint16
	cseq, sseq   uint32
}

type writer struct {
	w    *pcapgo.Writer
	buf  gopacket.SerializeBuffer
	ts   time.Time
	n    int
	eth  layers.Ethernet
	ip   layers.IPv4
	tcp  layers.TCP
	opts gopacket.SerializeOptions
}

func (w *writer) frame(c *conn, fromClient bool, syn, fin bool, payload []byte) error {
	w.ip.SrcIP, w.ip.DstIP = c.cip, c.sip
	w.tcp.SrcPort, w.tcp.DstPort = layers.TCPPort(c.cport), layers.TCPPort(c.sport)
	w.tcp.Seq, w.tcp.Ack = c.cseq, c.sseq
	if !fromClient {
		w.ip.SrcIP, w.ip.DstIP = c.sip, c.cip
		w.tcp.SrcPort, w.tcp.DstPort = layers.TCPPort(c.sport), layers.TCPPort(c.cport)
		w.tcp.Seq, w.tcp.Ack = c.sseq, c.cseq
	}
	w.tcp.SYN, w.tcp.FIN, w.tcp.PSH = syn, fin, len(payload) > 0
	w.tcp.ACK = !(syn && fromClient)
	if err := gopacket.SerializeLayers(w.buf, w.opts, &w.eth, &w.ip, &w.tcp, gopacket.Payload(payload)); err != nil {
		return err
	}
	b := w.buf.Bytes()
	w.ts = w.ts.Add(10 * time.Microsecond)
	w.n++
	n := uint32(len(payload))
	if syn || fin {
		n++
	}
	if fromClient {
		c.cseq += n
	} else {
		c.sseq += n
	}
	return w.w.WritePacket(gopacket.CaptureInfo{Timestamp: w.ts, CaptureLength: len(b), Length: len(b)}, b)
}

func main() {
	conns := flag.Int("conns", 1000, "client connections, all open at once")
	calls := flag.Int("calls", 340, "calls per connection")
	out := flag.String("out", "", "capture file to write (required)")
	flag.Parse()
	if *out == "" || *conns <= 0 || *conns > 1<<22 || *calls <= 0 {
		fmt.Fprintln(os.Stderr, "benchcap: need -out FILE, 0 < -conns <= 4194304 and -calls > 0")
		os.Exit(2)
	}
	if err := run(*out, *conns, *calls); err != nil {
		fmt.Fprintln(os.Stderr, "benchcap:", err)
		os.Exit(1)
	}
}

func run(path string, nconns, ncalls int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	pw := pcapgo.NewWriterNanos(bw)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return err
	}
	w := &writer{w: pw, buf: gopacket.NewSerializeBuffer(), ts: time.Date(2024, 6, 1, 9, 0, 0, 0, time.UTC),
		opts: gopacket.SerializeOptions{FixLengths: true}}
	w.eth = layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	w.ip = layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP}
	w.tcp = layers.TCP{Window: 65535, DataOffset: 5}

	cs := make([]conn, nconns)
	for i := range cs {
		c := &cs[i]
		c.cip = net.IPv4(10, byte(1+i>>16), byte(i>>8), byte(i)).To4()
		c.sip = net.IPv4(10, 200, 0, byte(1+i%4)).To4()
		c.cport, c.sport = uint16(1024+i%60000), 8080
		c.cseq, c.sseq = uint32(i)*7919, uint32(i)*104729
		if err := w.frame(c, true, true, false, nil); err != nil {
			return err
		}
		if err := w.frame(c, false, true, false, nil); err != nil {
			return err
		}
		if err := w.frame(c, true, false, false, nil); err != nil {
			return err
		}
	}
	var req, resp []byte
	for r := 0; r < ncalls; r++ {
		for i := range cs {
			c := &cs[i]
			body := fmt.Sprintf(`{"id":%d,"name":"item-%d","price":%d.%02d,"tags":["a","b"],"ok":true}`, r, i, r%1000, i%100)
			var method, uri, reqBody string
			switch r % 4 {
			case 0:
				method, uri = "GET", fmt.Sprintf("/api/v1/users/%d/orders?page=%d", i, r)
			case 1:
				method, uri, reqBody = "POST", "/api/v1/orders", `{"sku":"A-1","qty":2}`
			case 2:
				method, uri = "GET", fmt.Sprintf("/api/v1/products/%d", r*31+i)
			default:
				method, uri, reqBody = "PUT", fmt.Sprintf("/api/v1/users/%d/cart", i), `{"items":[1,2,3]}`
			}
			req = fmt.Appendf(req[:0], "%s %s HTTP/1.1\r\nHost: api.bench.example\r\nUser-Agent: bench/1.0\r\nAuthorization: Bearer t%d\r\nAccept: application/json\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
				method, uri, i, len(reqBody), reqBody)
			resp = fmt.Appendf(resp[:0], "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nX-Request-ID: r%d-%d\r\n\r\n%s",
				len(body), i, r, body)
			if err := w.frame(c, true, false, false, req); err != nil {
				return err
			}
			if err := w.frame(c, false, false, false, resp); err != nil {
				return err
			}
			if err := w.frame(c, true, false, false, nil); err != nil {
				return err
			}
		}
	}
	for i := range cs {
		c := &cs[i]
		if err := w.frame(c, true, false, true, nil); err != nil {
			return err
		}
		if err := w.frame(c, false, false, true, nil); err != nil {
			return err
		}
		if err := w.frame(c, true, false, false, nil); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "benchcap: wrote %s: %d frames, %d calls, %d connections\n", path, w.n, nconns*ncalls, nconns)
	return nil
}
