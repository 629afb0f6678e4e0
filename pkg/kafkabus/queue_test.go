package kafkabus

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func val(i int) entry { return entry{key: []byte("k"), value: []byte(fmt.Sprintf("%04d", i))} }

func TestQueueDropsOldestWhenFull(t *testing.T) {
	tests := []struct {
		name        string
		maxMsgs     int
		maxBytes    int64
		push        int
		wantDropped int
		wantFirst   string
	}{
		{"under the bound", 10, 1 << 20, 5, 0, "0000"},
		{"count bound", 3, 1 << 20, 5, 2, "0002"},
		{"byte bound", 100, 15, 5, 2, "0002"}, // each entry is 5 bytes
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newQueue(tt.maxMsgs, tt.maxBytes)
			dropped := 0
			for i := 0; i < tt.push; i++ {
				d, _, err := q.push(val(i), false)
				if err != nil {
					t.Fatalf("push(%d) = %v; want nil", i, err)
				}
				dropped += d
			}
			if dropped != tt.wantDropped {
				t.Errorf("dropped %d; want %d", dropped, tt.wantDropped)
			}
			got := q.pop(nil, 100, 1<<20)
			if len(got) != tt.push-tt.wantDropped {
				t.Fatalf("pop returned %d entries; want %d", len(got), tt.push-tt.wantDropped)
			}
			if string(got[0].value) != tt.wantFirst {
				t.Errorf("first entry %q; want %q (the oldest are dropped)", got[0].value, tt.wantFirst)
			}
			for i := 1; i < len(got); i++ {
				if string(got[i].value) <= string(got[i-1].value) {
					t.Errorf("entries out of order: %q after %q", got[i].value, got[i-1].value)
				}
			}
		})
	}
}

func TestQueuePopLimits(t *testing.T) {
	q := newQueue(100, 1<<20)
	for i := 0; i < 10; i++ {
		q.push(val(i), false)
	}
	if got := q.pop(nil, 4, 1<<20); len(got) != 4 {
		t.Errorf("pop(maxMsgs=4) returned %d entries; want 4", len(got))
	}
	q.done()
	// batchSize of one entry is 5+recordOverhead bytes: room for two.
	if got := q.pop(nil, 100, 2*(5+recordOverhead)); len(got) != 2 {
		t.Errorf("pop(maxBytes=2 entries) returned %d entries; want 2", len(got))
	}
	q.done()
	if got := q.pop(nil, 100, 1); len(got) != 1 {
		t.Errorf("pop(maxBytes=1) returned %d entries; want 1 (always at least one)", len(got))
	}
	q.done()
	if n, _, _ := q.depth(); n != 3 {
		t.Errorf("depth %d; want 3", n)
	}
}

func TestQueueBlockingWaitsForRoom(t *testing.T) {
	q := newQueue(2, 1<<20)
	q.push(val(0), true)
	q.push(val(1), true)
	pushed := make(chan error, 1)
	go func() {
		_, _, err := q.push(val(2), true)
		pushed <- err
	}()
	select {
	case err := <-pushed:
		t.Fatalf("blocking push into a full queue returned %v; want it to wait", err)
	case <-time.After(50 * time.Millisecond):
	}
	if got := q.pop(nil, 1, 1<<20); len(got) != 1 {
		t.Fatalf("pop returned %d entries; want 1", len(got))
	}
	select {
	case err := <-pushed:
		if err != nil {
			t.Fatalf("push after pop = %v; want nil", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("blocking push still waiting after room was made")
	}
}

func TestQueueCloseWakesAndRefuses(t *testing.T) {
	q := newQueue(1, 1<<20)
	q.push(val(0), true)
	pushed := make(chan error, 1)
	go func() {
		_, _, err := q.push(val(1), true)
		pushed <- err
	}()
	time.Sleep(20 * time.Millisecond)
	q.close()
	if err := <-pushed; !errors.Is(err, ErrClosed) {
		t.Errorf("blocked push after close = %v; want ErrClosed", err)
	}
	if got := q.pop(nil, 10, 1<<20); len(got) != 1 {
		t.Errorf("pop after close returned %d entries; want the 1 queued", len(got))
	}
	q.done()
	if got := q.pop(nil, 10, 1<<20); len(got) != 0 {
		t.Errorf("pop on closed empty queue returned %d entries; want 0", len(got))
	}
}

func BenchmarkQueuePushPop(b *testing.B) {
	q := newQueue(1<<16, 1<<30)
	e := val(1)
	var batch []entry
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		q.push(e, false)
		if i%1000 == 999 {
			batch = q.pop(batch, 1000, 1<<30)
			q.done()
		}
	}
}
