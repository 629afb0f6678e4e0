package kafkabus_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apiscope/apiscope/pkg/kafkabus"
	"github.com/apiscope/apiscope/pkg/kafkabus/kafkatest"
	"github.com/apiscope/apiscope/pkg/metrics"
)

func TestReadTopic(t *testing.T) {
	addr := kafkatest.Start(t)
	topic := kafkatest.UniqueTopic(t, addr, "read", 3)
	cfg := kafkabus.Config{Brokers: kafkabus.SplitBrokers(addr)}
	p, err := kafkabus.NewPublisher(kafkabus.PublisherConfig{Config: cfg, Topic: topic, Metrics: metrics.NewRegistry()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	publish(t, p, 0, 30, 9)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	count := func(opts kafkabus.ReadOptions) int {
		n := 0
		if err := kafkabus.ReadTopic(ctx, cfg, topic, opts, func(kafkabus.Message) error { n++; return nil }); err != nil {
			t.Fatalf("ReadTopic(%+v): %v", opts, err)
		}
		return n
	}
	if n := count(kafkabus.ReadOptions{FromBeginning: true}); n != 30 {
		t.Errorf("from the beginning: %d records; want 30", n)
	}
	if n := count(kafkabus.ReadOptions{Tail: 2}); n != 6 {
		t.Errorf("tail 2 of 3 partitions: %d records; want 6", n)
	}
	if n := count(kafkabus.ReadOptions{}); n != 0 {
		t.Errorf("from the end without follow: %d records; want 0", n)
	}

	// Follow: records published after the start arrive; cancelling ends the read.
	fctx, fcancel := context.WithCancel(ctx)
	var got atomic.Int32
	done := make(chan error, 1)
	go func() {
		done <- kafkabus.ReadTopic(fctx, cfg, topic, kafkabus.ReadOptions{Follow: true}, func(kafkabus.Message) error {
			if got.Add(1) == 5 {
				fcancel()
			}
			return nil
		})
	}()
	time.Sleep(time.Second) // the readers seek to the end first
	publish(t, p, 30, 35, 9)
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || got.Load() < 5 {
			t.Errorf("follow: %d records, err %v; want 5 new records then cancellation", got.Load(), err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("follow received %d of 5 new records", got.Load())
	}
}
