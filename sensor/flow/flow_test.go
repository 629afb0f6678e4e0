package flow

import (
	"net/netip"
	"testing"
	"time"

	"github.com/apiscope/apiscope/sensor/decode"
)

func TestHashIsSymmetric(t *testing.T) {
	tests := []struct{ a, b string }{
		{"10.0.0.1:1234", "10.0.0.2:80"},
		{"[2001:db8::1]:5555", "[2001:db8::2]:443"},
		{"10.0.0.1:80", "10.0.0.1:81"},
	}
	for _, tt := range tests {
		a, b := netip.MustParseAddrPort(tt.a), netip.MustParseAddrPort(tt.b)
		h1 := Hash(a.Addr(), a.Port(), b.Addr(), b.Port())
		h2 := Hash(b.Addr(), b.Port(), a.Addr(), a.Port())
		if h1 != h2 {
			t.Errorf("Hash(%v, %v) = %x but reversed = %x", a, b, h1, h2)
		}
	}
	// Swapping only the ports must not collide with the original connection.
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	if Hash(a, 1, b, 2) == Hash(a, 2, b, 1) {
		t.Error("Hash ignores which address a port belongs to")
	}
}

func TestShardSpreadsEvenly(t *testing.T) {
	const n, conns = 4, 40000
	counts := make([]int, n)
	srv := netip.MustParseAddr("10.0.0.2")
	for i := 0; i < conns; i++ {
		c := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		counts[Shard(Hash(c, uint16(30000+i%1000), srv, 443), n)]++
	}
	for i, c := range counts {
		if c < conns/n*9/10 || c > conns/n*11/10 {
			t.Errorf("worker %d got %d of %d connections; want about %d", i, c, conns, conns/n)
		}
	}
}

func seg(srcPort uint16, payload string, ts time.Time) *decode.Segment {
	return &decode.Segment{TS: ts, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"),
		SrcPort: srcPort, DstPort: 80, Payload: []byte(payload)}
}

func TestBlockingSharderDeliversEverythingInOrder(t *testing.T) {
	s := New(Config{Workers: 2, QueueLen: 1, BatchSize: 3, Block: true})
	type got struct {
		event   uint64
		payload string
	}
	results := make([][]got, 2)
	horizons := make([]uint64, 2)
	done := make(chan int)
	for w := 0; w < 2; w++ {
		go func(w int) {
			var sg decode.Segment
			for b := range s.Queue(w) {
				for i := range b.Items {
					if b.Items[i].Kind == KindSegment {
						b.Segment(i, &sg)
						results[w] = append(results[w], got{b.Items[i].Event, string(sg.Payload)})
					}
				}
				if b.Horizon < horizons[w] {
					t.Errorf("worker %d horizon went back from %d to %d", w, horizons[w], b.Horizon)
				}
				horizons[w] = b.Horizon
				s.Release(b)
			}
			done <- w
		}(w)
	}
	buf := []byte("p0")
	const n = 1000
	for i := 0; i < n; i++ {
		sg := seg(uint16(1000+i%7), "", time.Unix(int64(i), 0))
		buf = append(buf[:0], byte('a'+i%26))
		sg.Payload = buf // borrowed: overwritten by the next iteration
		s.Add(sg)
	}
	s.Tick(time.Unix(n, 0))
	s.Close()
	<-done
	<-done
	total := 0
	for w := range results {
		last := uint64(0)
		for _, g := range results[w] {
			if g.event <= last {
				t.Fatalf("worker %d: event %d after %d", w, g.event, last)
			}
			last = g.event
			if want := string(rune('a' + (g.event-1)%26)); g.payload != want {
				t.Fatalf("event %d payload %q; want %q (payload not copied?)", g.event, g.payload, want)
			}
		}
		total += len(results[w])
		if horizons[w] != n+1 {
			t.Errorf("worker %d final horizon %d; want %d", w, horizons[w], n+1)
		}
	}
	if total != n {
		t.Errorf("delivered %d segments; want %d", total, n)
	}
}

func TestLiveSharderDropsWhenFull(t *testing.T) {
	s := New(Config{Workers: 1, QueueLen: 1, BatchSize: 2})
	before := mDroppedQueueFull.Load()
	for i := 0; i < 10; i++ { // nobody reads: one batch fits, the rest is dropped
		s.Add(seg(1, "x", time.Unix(0, 0)))
	}
	if d := mDroppedQueueFull.Load() - before; d != 8 {
		t.Errorf("dropped %d segments; want 8", d)
	}
}

func BenchmarkSharderAdd(b *testing.B) {
	s := New(Config{Workers: 2, Block: true})
	done := make(chan struct{})
	for w := 0; w < 2; w++ {
		go func(w int) {
			for bt := range s.Queue(w) {
				s.Release(bt)
			}
			done <- struct{}{}
		}(w)
	}
	sg := seg(1, string(make([]byte, 100)), time.Unix(0, 0))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		sg.SrcPort = uint16(i)
		s.Add(sg)
	}
	s.Close()
	<-done
	<-done
}
