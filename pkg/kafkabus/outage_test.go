package kafkabus_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/apiscope/apiscope/pkg/kafkabus"
	"github.com/apiscope/apiscope/pkg/kafkabus/kafkatest"
	"github.com/apiscope/apiscope/pkg/metrics"
)

// TestBrokerOutage stops the broker mid-run and starts it again on the same address
// and data directory. The publisher keeps accepting without blocking, drops only the
// oldest records beyond its bound (counted), and delivers the rest by itself once the
// broker is back.
func TestBrokerOutage(t *testing.T) {
	b := kafkatest.StartBroker(t, kafkatest.Partitions(2))
	const (
		bound   = 3000
		before  = 2000 // published and flushed while the broker is up
		during  = 8000 // published while it is down
		keys    = 11
		maxWait = 500 * time.Millisecond // longest a live Publish may take: far below the outage
	)
	p, err := kafkabus.NewPublisher(kafkabus.PublisherConfig{
		Config:          kafkabus.Config{Brokers: []string{b.Addr}, DialTimeout: time.Second},
		Topic:           kafkabus.TopicCalls,
		QueueMessages:   bound,
		BatchMessages:   500,
		RetryBackoffMin: 50 * time.Millisecond,
		RetryBackoffMax: 400 * time.Millisecond,
		WriteTimeout:    2 * time.Second,
		Metrics:         metrics.NewRegistry(),
	}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("NewPublisher: %v", err)
	}
	defer p.Close()

	publish(t, p, 0, before, keys)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush with the broker up: %v", err)
	}

	b.Stop()
	var slowest time.Duration
	for i := before; i < before+during; i++ {
		start := time.Now()
		publish(t, p, i, i+1, keys)
		slowest = max(slowest, time.Since(start))
		if i%1000 == 0 {
			time.Sleep(300 * time.Millisecond) // spread the outage over ~2.5 s
		}
	}
	if slowest > maxWait {
		t.Errorf("slowest Publish during the outage took %v; want under %v (live mode never waits for Kafka)", slowest, maxWait)
	}
	mid := p.Stats()
	t.Logf("during outage: published %d, queued %d, dropped %v, errors %d, retries %d",
		mid.Published, mid.Queued, mid.Dropped, mid.Errors, mid.Retries)
	if mid.Queued > bound {
		t.Errorf("queued %d during the outage; want at most the bound %d", mid.Queued, bound)
	}
	if mid.Dropped[kafkabus.ReasonQueueFull] == 0 || mid.Errors == 0 {
		t.Errorf("dropped %v, errors %d during the outage; want queue_full drops and errors counted", mid.Dropped, mid.Errors)
	}

	b.Restart(t)
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush after the broker came back: %v (the publisher did not recover)", err)
	}
	st := p.Stats()
	t.Logf("after recovery: published %d, dropped %v, errors %d, retries %d", st.Published, st.Dropped, st.Errors, st.Retries)
	if st.Published+st.DroppedTotal() != before+during {
		t.Errorf("published %d + dropped %d != %d records handed over", st.Published, st.DroppedTotal(), before+during)
	}
	if st.Retries == 0 {
		t.Error("retries = 0; want the failed batch retried")
	}

	all, _ := consumeGroup(t, b.Addr, kafkabus.TopicCalls, 2, int(st.Published), 60*time.Second)
	seen := map[int]bool{}
	for _, r := range all {
		seen[r.seq] = true
	}
	if uint64(len(seen)) != st.Published {
		t.Errorf("consumed %d distinct records; want the %d published", len(seen), st.Published)
	}
	// Nothing beyond the bound is lost: everything before the outage and the newest
	// `bound` records published during it arrived.
	for i := 0; i < before; i++ {
		if !seen[i] {
			t.Fatalf("record %d, written before the outage, is missing", i)
		}
	}
	for i := before + during - bound; i < before+during; i++ {
		if !seen[i] {
			t.Fatalf("record %d, within the newest %d, is missing", i, bound)
		}
	}
	checkOrder(t, all)
}
