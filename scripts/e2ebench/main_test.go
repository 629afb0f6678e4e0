package main

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/apiscope/apiscope/models"
)

func TestPaceCopiesRecords(t *testing.T) {
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		var in bytes.Buffer
		hdr := make([]byte, 24)
		order.PutUint32(hdr, 0xa1b2c3d4)
		in.Write(hdr)
		for i := range 200 {
			rec := make([]byte, 16)
			payload := bytes.Repeat([]byte{byte(i)}, i%70)
			order.PutUint32(rec[8:], uint32(len(payload)))
			order.PutUint32(rec[12:], uint32(len(payload)))
			in.Write(rec)
			in.Write(payload)
		}
		want := bytes.Clone(in.Bytes())
		var out bytes.Buffer
		n, _, err := pace(&in, &out, 1e6)
		if err != nil || n != 200 {
			t.Fatalf("%v: pace = %d, %v; want 200 packets", order, n, err)
		}
		if !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("%v: output differs from input", order)
		}
	}
}

func TestPaceRejectsPcapng(t *testing.T) {
	in := bytes.NewReader(append([]byte{0x0a, 0x0d, 0x0d, 0x0a}, make([]byte, 20)...))
	if _, _, err := pace(in, &bytes.Buffer{}, 1); err == nil {
		t.Fatal("pcapng accepted")
	}
}

func TestMeasureMatchesAlertsToCalls(t *testing.T) {
	t0 := time.Date(2026, 1, 5, 3, 0, 0, 0, time.UTC)
	wall := time.Date(2026, 11, 22, 5, 0, 0, 0, time.UTC)
	cs := &callSet{sent: map[callKey]time.Time{}, byTS: map[int64]tsEntry{}}
	add := func(client string, ts time.Time, sent time.Time) {
		k := callKey{client: client, ts: ts.UnixNano()}
		cs.sent[k] = sent
		e := cs.byTS[k.ts]
		e.sent, e.calls = sent, e.calls+1
		cs.byTS[k.ts] = e
		cs.byTime = append(cs.byTime, timePair{wall: sent.UnixNano(), capture: k.ts})
		cs.last = sent
	}
	add("a", t0, wall)
	add("b", t0.Add(time.Second), wall.Add(10*time.Millisecond))
	add("c", t0.Add(time.Second), wall.Add(20*time.Millisecond)) // same capture time as b's call
	add("d", t0.Add(90*time.Second), wall.Add(30*time.Millisecond))
	alerts := []alert{
		{f: models.Finding{Kind: "k1", ClientID: "a", TS: t0}, time: wall.Add(500 * time.Millisecond)},
		{f: models.Finding{Kind: "k1", ClientID: "population:auth", TS: t0}, time: wall.Add(time.Second)},
		{f: models.Finding{Kind: "k2", ClientID: "population:auth", TS: t0.Add(time.Second)}, time: wall.Add(time.Second)},
		{f: models.Finding{Kind: "k2", ClientID: "x", TS: t0}, time: wall},
	}
	r := measure(cs, alerts)
	if r.all.alerts != 4 || len(r.all.samples) != 2 || r.all.byTSOnly != 1 || r.all.unmatched != 2 {
		t.Fatalf("all = %+v; want 4 alerts, 2 matched (1 by capture time), 2 unmatched", r.all)
	}
	got := []time.Duration{r.all.samples[0].latency, r.all.samples[1].latency}
	if got[0] != 500*time.Millisecond || got[1] != time.Second {
		t.Fatalf("latencies %v; want 500ms, 1s", got)
	}
	if !r.all.samples[0].afterEnd || r.all.samples[0].captureLag != 90*time.Second {
		t.Fatalf("sample %+v; want sent after the end, capture lag 90s", r.all.samples[0])
	}
}

func TestQuantile(t *testing.T) {
	d := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5}, {0.9, 9}, {0.99, 10}, {0, 1}, {1, 10}} {
		if got := quantile(d, tc.q); got != tc.want {
			t.Errorf("quantile(%v) = %v; want %v", tc.q, got, tc.want)
		}
	}
	if quantile(nil, 0.5) != 0 {
		t.Error("quantile of nothing is not 0")
	}
}
