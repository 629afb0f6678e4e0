package httpwire

import (
	"strings"
	"testing"
)

// TestConnReuseTransactions replays every case with Config.ReuseTransactions, whole and
// in small chunks: what emit sees, headers included, must be what it sees without reuse.
func TestConnReuseTransactions(t *testing.T) {
	for _, tt := range connTests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg Config
			if tt.cfg != nil {
				cfg = *tt.cfg
			}
			reuse := cfg
			reuse.ReuseTransactions = true
			for _, chunk := range []int{0, 1, 3, 64} {
				want := playFull(&cfg, tt.script, -1, 0, chunk)
				if got := playFull(&reuse, tt.script, -1, 0, chunk); got != want {
					t.Fatalf("chunks of %d with reuse:\n%s\nwithout:\n%s", chunk, got, want)
				}
			}
		})
	}
}

// TestConnReuseKeepAlive checks that a long keep-alive connection reuses one entry: the
// headers of each transaction are its own, and parsing allocates only the header strings.
func TestConnReuseKeepAlive(t *testing.T) {
	var got []string
	c := NewConn(&Config{ReuseTransactions: true}, func(tx *Transaction) {
		got = append(got, tx.Req.Header.Get("X-N")+"/"+tx.Resp.Header.Get("X-N")+"/"+tx.Req.URI)
	})
	for i, n := range []string{"1", "22", "333"} {
		extra := strings.Repeat("X-Pad: p\r\n", i) // header counts differ between messages
		c.Feed(0, []byte("GET /"+n+" HTTP/1.1\r\nHost: h\r\n"+extra+"X-N: q"+n+"\r\n\r\n"), t0)
		c.Feed(1, []byte("HTTP/1.1 200 OK\r\nX-N: r"+n+"\r\n"+extra+"Content-Length: 0\r\n\r\n"), t0)
	}
	c.Feed(0, []byte("GET /none HTTP/1.1\r\n\r\n"), t0)
	c.Feed(1, []byte("HTTP/1.1 204 No Content\r\n\r\n"), t0)
	c.End(t0)
	want := []string{"q1/r1//1", "q22/r22//22", "q333/r333//333", "///none"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("transactions %q; want %q", got, want)
	}
	if raceEnabled {
		return
	}
	allocs := testing.AllocsPerRun(100, func() {
		c := NewConn(&Config{ReuseTransactions: true}, func(*Transaction) {})
		for range 4 {
			c.Feed(0, benchReq, t0)
			c.Feed(1, benchResp, t0)
		}
		c.End(t0)
	})
	// The Conn, its first entry and header slices, then two header strings per exchange.
	if allocs > 4+2*4+2 {
		t.Errorf("%.0f allocations for 4 exchanges with reuse; want at most %d", allocs, 4+2*4+2)
	}
}

// TestConnReuseClearsRoom checks that a reused Header slice keeps no field of an earlier,
// longer header section past its own fields.
func TestConnReuseClearsRoom(t *testing.T) {
	var stale []string
	c := NewConn(&Config{ReuseTransactions: true}, func(tx *Transaction) {
		for _, h := range []Header{tx.Req.Header, tx.Resp.Header} {
			for _, f := range h[len(h):cap(h)] {
				if f != (Field{}) {
					stale = append(stale, f.Name)
				}
			}
		}
	})
	for _, n := range []int{3, 1, 2} {
		extra := strings.Repeat("X-Pad: p\r\n", n)
		c.Feed(0, []byte("GET / HTTP/1.1\r\nHost: h\r\n"+extra+"\r\n"), t0)
		c.Feed(1, []byte("HTTP/1.1 200 OK\r\n"+extra+"Content-Length: 0\r\n\r\n"), t0)
	}
	c.End(t0)
	if len(stale) > 0 {
		t.Fatalf("fields of earlier messages kept past the header: %q", stale)
	}
}
