package sensor

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"go.uber.org/zap"

	"github.com/apiscope/apiscope/sensor/capture"
	"github.com/apiscope/apiscope/sensor/decode"
)

// timedSource hands out one Ethernet/IPv4/TCP frame at each of its times.
type timedSource struct {
	frame []byte
	times []time.Time
}

func (s *timedSource) ReadFrame(f *capture.Frame) error {
	if len(s.times) == 0 {
		return io.EOF
	}
	f.Data, f.Timestamp, f.Length, f.LinkType = s.frame, s.times[0], len(s.frame), layers.LinkTypeEthernet
	s.times = s.times[1:]
	return nil
}

func (s *timedSource) Close() error { return nil }

// eventLog records what a dispatcher routes, in order.
type eventLog []string

func (l *eventLog) Add(seg *decode.Segment) uint64 {
	*l = append(*l, "add "+seg.TS.String())
	return uint64(len(*l))
}

func (l *eventLog) Tick(ts time.Time) uint64 {
	*l = append(*l, "tick "+ts.String())
	return uint64(len(*l))
}

// tcpFrame is an Ethernet II frame carrying IPv4 and an empty TCP ACK.
func tcpFrame() []byte {
	b := make([]byte, 14+20+20)
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, 6
	binary.BigEndian.PutUint16(ip[2:], 40)
	copy(ip[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	tcp := ip[20:]
	binary.BigEndian.PutUint16(tcp[0:], 40000)
	binary.BigEndian.PutUint16(tcp[2:], 80)
	tcp[12], tcp[13] = 0x50, 0x10
	return b
}

// referenceEvents is what the dispatcher routes for frames at times, by the clock rules
// written with time.Time's After and Before: the clock moves only forward, the first
// move sets the first tick time, and a time at or past it ticks and sets the next.
func referenceEvents(times []time.Time, iv time.Duration) (eventLog, time.Time) {
	var log eventLog
	var clock, next time.Time
	for _, ts := range times {
		if ts.After(clock) {
			clock = ts
			if next.IsZero() {
				next = ts.Truncate(iv).Add(iv)
			} else if !ts.Before(next) {
				log = append(log, "tick "+ts.String())
				next = ts.Truncate(iv).Add(iv)
			}
		}
		log = append(log, "add "+ts.String())
	}
	return log, clock
}

// randomTimes are capture times that repeat, go backwards, and cross and land on tick
// boundaries, in the UTC of files and the local time of live captures.
func randomTimes(rng *rand.Rand, n int) []time.Time {
	times := make([]time.Time, n)
	sec, ns := int64(1_700_000_000+rng.Intn(1000)), int64(rng.Intn(1e9))
	for i := range times {
		switch r := rng.Intn(10); {
		case r == 0: // backwards
			ns -= int64(rng.Intn(2e9))
		case r == 1: // the same time again
		case r == 2: // on a second
			sec, ns = sec+int64(rng.Intn(3)), 0
		case r == 3: // one nanosecond on
			ns++
		default:
			ns += int64(rng.Intn(4e8))
		}
		t := time.Unix(sec, ns)
		sec, ns = t.Unix(), int64(t.Nanosecond())
		if rng.Intn(2) == 0 {
			t = t.UTC()
		}
		times[i] = t
	}
	return times
}

// The dispatcher's clock, compared by seconds and nanoseconds, moves and ticks as
// time.Time's After and Before say, through run and through advance called alone.
func TestDispatcherClockMatchesTimeComparisons(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	frame := tcpFrame()
	for round := 0; round < 300; round++ {
		times := randomTimes(rng, 1+rng.Intn(60))
		iv := []time.Duration{time.Second, 250 * time.Millisecond, 1500 * time.Millisecond, time.Nanosecond}[rng.Intn(4)]
		want, wantClock := referenceEvents(times, iv)

		// run over a file.
		var got eventLog
		var st Stats
		cfg := &Config{TickInterval: iv}
		d := dispatcher{cfg: cfg, route: &got, src: &timedSource{frame: frame, times: times},
			dec: decode.NewDecoder(cfg.Decode), log: zap.NewNop(), st: &st}
		d.run(context.Background(), nil)
		if fmt.Sprint(got) != fmt.Sprint(want) || d.clock != wantClock {
			t.Fatalf("round %d, interval %v, times %v:\nrun:  %v (clock %v)\nwant: %v (clock %v)", round, iv, times, got, d.clock, want, wantClock)
		}

		// advance called alone, as the live path calls it.
		got = nil
		d = dispatcher{cfg: cfg, route: &got}
		d.setClock(d.clock)
		d.setNextTick(d.nextTick)
		for _, ts := range times {
			d.advance(ts)
			got = append(got, "add "+ts.String())
		}
		if fmt.Sprint(got) != fmt.Sprint(want) || d.clock != wantClock {
			t.Fatalf("round %d, interval %v, times %v:\nadvance: %v (clock %v)\nwant:    %v (clock %v)", round, iv, times, got, d.clock, want, wantClock)
		}
	}
}
