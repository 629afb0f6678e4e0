package h2wire

import (
	"testing"
	"time"
)

// benchConn is 100 request/response exchanges on one connection, as TCP would carry them
// (1448-byte segments), with realistic API headers so HPACK's dynamic table is used.
func benchConn() (client, server []byte) {
	cl, sv := newWire(0), newWire(1)
	cl.preface().settings()
	sv.settings()
	for i := uint32(0); i < 100; i++ {
		id := 2*i + 1
		cl.headers(id, false, req("POST", "/api/v1/orders", "api.example",
			"user-agent", "client/1.2", "authorization", "Bearer abc.def.ghi", "content-type", "application/json")...).data(id, true, 180)
		sv.headers(id, false, resp(201, "content-type", "application/json", "date", "Sun, 22 Nov 2026 05:00:00 GMT")...).data(id, true, 420)
	}
	return cl.take().data, sv.take().data
}

func BenchmarkConn(b *testing.B) {
	client, server := benchConn()
	ts := time.Unix(0, 0)
	b.SetBytes(int64(len(client) + len(server)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		c := NewConn(nil, Start{}, func(*Exchange) { n++ })
		for off := 0; off < max(len(client), len(server)); off += 1448 {
			if off < len(client) {
				c.Feed(0, client[off:min(off+1448, len(client))], ts)
			}
			if off < len(server) {
				c.Feed(1, server[off:min(off+1448, len(server))], ts)
			}
		}
		c.End(ts)
	}
	if n == 0 {
		b.Fatal("no exchanges")
	}
}

// TestConnAllocs pins the allocations per exchange: the stream and one field slice per
// header block, plus a share of the connection's own (decoders, stream list).
func TestConnAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations are not representative under -race")
	}
	client, server := benchConn()
	ts := time.Unix(0, 0)
	allocs := testing.AllocsPerRun(20, func() {
		c := NewConn(nil, Start{}, func(*Exchange) {})
		c.Feed(0, client, ts)
		c.Feed(1, server, ts)
		c.End(ts)
	})
	if perExchange := allocs / 100; perExchange > 4 {
		t.Errorf("%.1f allocations per exchange; want at most 4", perExchange)
	}
}
