package httpwire

import (
	"testing"
)

// A small JSON API exchange, as the sensor sees most of the time.
var (
	benchReq = []byte("POST /api/v1/users/12345/orders?expand=items HTTP/1.1\r\n" +
		"Host: api.example.com\r\nUser-Agent: okhttp/4.12.0\r\nAccept: application/json\r\n" +
		"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2ln\r\n" +
		"Content-Type: application/json\r\nContent-Length: 27\r\n\r\n" +
		`{"sku":"A-1","quantity":2}` + "\n")
	benchResp = []byte("HTTP/1.1 201 Created\r\nDate: Sun, 22 Nov 2026 04:00:00 GMT\r\n" +
		"Content-Type: application/json; charset=utf-8\r\nContent-Length: 49\r\n" +
		"X-Request-Id: 5f0c6a4e-8f2b-4a59-9c1e-3d2f1b0a9e77\r\n\r\n" +
		`{"id":987654,"status":"created","items":[1,2,3]}` + "\n")
)

// BenchmarkConnKeepAlive parses request/response pairs on one keep-alive connection, each
// message in one segment.
func BenchmarkConnKeepAlive(b *testing.B) {
	n := 0
	c := NewConn(nil, func(*Transaction) { n++ })
	b.SetBytes(int64(len(benchReq) + len(benchResp)))
	b.ReportAllocs()
	for b.Loop() {
		c.Feed(0, benchReq, t0)
		c.Feed(1, benchResp, t0)
	}
	c.End(t0)
	if n == 0 {
		b.Fatal("no transactions")
	}
}

// BenchmarkConnKeepAliveReuse parses exchanges as the sensor feeds them: reused
// transactions, TCP positions given before each segment, a GET without a body and a
// response whose Content-Length body lies in the same segment as its headers.
func BenchmarkConnKeepAliveReuse(b *testing.B) {
	req := []byte("GET /api/v1/users/7/orders?page=0 HTTP/1.1\r\nHost: api.example.com\r\n" +
		"User-Agent: bench/1.0\r\nAuthorization: Bearer t7\r\nAccept: application/json\r\n" +
		"Content-Type: application/json\r\nContent-Length: 0\r\n\r\n")
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 64\r\n" +
		"X-Request-ID: r7-0\r\n\r\n" + `{"id":7,"name":"item-7","price":0.00,"tags":["a","b"],"ok":true}`)
	n := 0
	c := NewConn(&Config{ReuseTransactions: true}, func(*Transaction) { n++ })
	var cs, ss uint32
	b.SetBytes(int64(len(req) + len(resp)))
	b.ReportAllocs()
	for b.Loop() {
		c.At(0, cs, ss, true)
		c.Feed(0, req, t0)
		cs += uint32(len(req))
		c.At(1, ss, cs, true)
		c.Feed(1, resp, t0)
		ss += uint32(len(resp))
	}
	c.End(t0)
	if n == 0 {
		b.Fatal("no transactions")
	}
}

// BenchmarkConnKeepAliveSegmented cuts every message into 64-byte segments, so lines span
// Feed calls.
func BenchmarkConnKeepAliveSegmented(b *testing.B) {
	c := NewConn(nil, func(*Transaction) {})
	b.SetBytes(int64(len(benchReq) + len(benchResp)))
	b.ReportAllocs()
	for b.Loop() {
		for side, m := range [][]byte{benchReq, benchResp} {
			for p := m; len(p) > 0; {
				k := min(64, len(p))
				c.Feed(side, p[:k], t0)
				p = p[k:]
			}
		}
	}
	c.End(t0)
}

// TestConnAllocs pins the allocations of one transaction: the entry (transaction, request
// and response in one), one string and one Header per message.
func TestConnAllocs(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	c := NewConn(nil, func(*Transaction) {})
	c.Feed(0, benchReq, t0)
	c.Feed(1, benchResp, t0)
	got := testing.AllocsPerRun(200, func() {
		c.Feed(0, benchReq, t0)
		c.Feed(1, benchResp, t0)
	})
	if got > 5 {
		t.Fatalf("%v allocations per transaction; want at most 5", got)
	}
}
