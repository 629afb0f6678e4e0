package sensor

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/apiscope/apiscope/sensor/decode"
)

// BenchmarkWorkerKeepAlive measures one flow worker's hot path without I/O: reassembly,
// HTTP parsing and call building for a keep-alive call (request, response, ACK) on one
// of 64 connections. b.N counts packets.
func BenchmarkWorkerKeepAlive(b *testing.B) {
	w := newWorker(0, &Config{}, basicBuilder{}, zap.NewNop())
	const conns = 64
	type conn struct {
		c, s       netip.AddrPort
		cseq, sseq uint32
	}
	cs := make([]conn, conns)
	for i := range cs {
		cs[i] = conn{c: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, 0, byte(i)}), uint16(40000+i)),
			s: netip.MustParseAddrPort("10.9.0.1:8080"), cseq: 1000, sseq: 5000}
	}
	req := []byte("GET /api/v1/users/42/orders?page=3 HTTP/1.1\r\nHost: api.example\r\nUser-Agent: bench\r\nAccept: application/json\r\n\r\n")
	body := `{"id":42,"items":[1,2,3],"ok":true}`
	resp := []byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
	ts := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var seg decode.Segment
	send := func(c *conn, fromClient bool, payload []byte) {
		ts = ts.Add(time.Microsecond)
		seg = decode.Segment{TS: ts, Src: c.c.Addr(), Dst: c.s.Addr(), SrcPort: c.c.Port(), DstPort: c.s.Port(),
			Seq: c.cseq, Ack: c.sseq, Flags: decode.FlagACK, Payload: payload}
		if !fromClient {
			seg.Src, seg.Dst, seg.SrcPort, seg.DstPort, seg.Seq, seg.Ack = c.s.Addr(), c.c.Addr(), c.s.Port(), c.c.Port(), c.sseq, c.cseq
		}
		w.asm.Add(&seg)
		if fromClient {
			c.cseq += uint32(len(payload))
		} else {
			c.sseq += uint32(len(payload))
		}
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(req)+len(resp)) / 3)
	for i := 0; i < b.N; i++ {
		c := &cs[(i/3)%conns]
		switch i % 3 {
		case 0:
			send(c, true, req)
		case 1:
			send(c, false, resp)
		default:
			send(c, true, nil)
			w.out = w.out[:0]
		}
	}
}
