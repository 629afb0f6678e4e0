package kafkabus_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/apiscope/apiscope/pkg/kafkabus"
	"github.com/apiscope/apiscope/pkg/kafkabus/kafkatest"
	"github.com/apiscope/apiscope/pkg/metrics"
)

// TestConsumerSurvivesBrokerRestart stops the broker under a running member. Fetch
// reports no error: the member sees its partitions revoked, retries the group with
// backoff, is assigned them again once the broker is back, and goes on from the
// committed offsets.
func TestConsumerSurvivesBrokerRestart(t *testing.T) {
	b := kafkatest.StartBroker(t, kafkatest.Partitions(2), kafkatest.Topics(kafkabus.TopicCalls))
	topic := kafkabus.TopicCalls
	publishN(t, b.Addr, topic, 50)
	reg := metrics.NewRegistry()
	group := "outage"
	c := newEventConsumer(t, b.Addr, topic, group, reg, 0)
	if rb := expectEvent(t, c, "before the outage"); !slices.Equal(rb.Assigned, []int{0, 1}) {
		t.Fatalf("first event %+v; want Assigned [0 1]", rb)
	}
	first := fetchRecords(t, c, 50, "before the outage")
	var last []kafkabus.Message
	for _, l := range byPartition(first) {
		last = append(last, l[len(l)-1])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	if err := c.Commit(ctx, last...); err != nil {
		t.Fatalf("Commit: %v", err)
	}

	b.Stop()
	start := time.Now()
	rb := expectEvent(t, c, "broker down")
	if !slices.Equal(rb.Revoked, []int{0, 1}) {
		t.Fatalf("event with the broker down %+v; want Revoked [0 1]", rb)
	}
	rb.Done()
	time.Sleep(time.Second)
	b.Restart(t)
	m, err := c.Fetch(ctx)
	if err != nil {
		t.Fatalf("Fetch across the outage = %v; want the partitions assigned again", err)
	}
	if m.Rebalance == nil || !slices.Equal(m.Rebalance.Assigned, []int{0, 1}) {
		t.Fatalf("first message after the outage %+v; want Assigned [0 1]", m)
	}
	t.Logf("assigned again %v after the broker stopped", time.Since(start).Round(time.Millisecond))
	if got := counter(reg, "apiscope_kafka_consume_errors_total", group); got == 0 {
		t.Error("consume_errors = 0; want the failed attempts counted")
	}

	// Only records published after the outage arrive: the first 50 were committed.
	p, err := kafkabus.NewPublisher(kafkabus.PublisherConfig{
		Config: kafkabus.Config{Brokers: []string{b.Addr}}, Topic: topic, Metrics: metrics.NewRegistry(),
	}, nil)
	if err != nil {
		t.Fatalf("NewPublisher: %v", err)
	}
	publish(t, p, 50, 80, 23)
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, m := range fetchRecords(t, c, 30, "after the outage") {
		var seq int
		if _, err := fmt.Sscanf(string(m.Value), "seq-%d", &seq); err != nil || seq < 50 {
			t.Fatalf("record %q after the outage; want only those published after it (seq >= 50)", m.Value)
		}
	}
	expectQuiet(t, c, 700*time.Millisecond, "after the outage")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Fetch(ctx); !errors.Is(err, kafkabus.ErrClosed) {
		t.Errorf("Fetch after Close = %v; want ErrClosed", err)
	}
}
