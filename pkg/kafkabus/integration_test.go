package kafkabus_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/kafkabus"
	"github.com/apiscope/apiscope/pkg/kafkabus/kafkatest"
	"github.com/apiscope/apiscope/pkg/metrics"
)

// received is one consumed record reduced to what the assertions need.
type received struct {
	key       string
	seq       int
	partition int
	offset    int64
}

// consumeGroup runs members consumers of one new group on topic until want distinct
// sequence numbers arrived or the deadline passes. It commits after every record, as
// the analyzer does once a record's rows are written.
func consumeGroup(t *testing.T, brokers, topic string, members, want int, deadline time.Duration) (all []received, perMember []int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	group := fmt.Sprintf("test-%s-%d", t.Name(), time.Now().UnixNano())
	var (
		mu   sync.Mutex
		seen = map[int]bool{}
		wg   sync.WaitGroup
	)
	perMember = make([]int, members)
	for i := 0; i < members; i++ {
		c, err := kafkabus.NewConsumer(kafkabus.ConsumerConfig{
			Config:            kafkabus.Config{Brokers: kafkabus.SplitBrokers(brokers)},
			Group:             group,
			Topics:            []string{topic},
			HeartbeatInterval: 300 * time.Millisecond,
			SessionTimeout:    6 * time.Second,
			RebalanceTimeout:  5 * time.Second,
			Metrics:           metrics.NewRegistry(),
		}, zaptest.NewLogger(t))
		if err != nil {
			t.Fatalf("NewConsumer: %v", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			for {
				m, err := c.Fetch(ctx)
				if err != nil {
					return
				}
				seq, _ := strconv.Atoi(strings.TrimPrefix(string(m.Value), "seq-"))
				mu.Lock()
				all = append(all, received{key: string(m.Key), seq: seq, partition: m.Partition, offset: m.Offset})
				perMember[i]++
				seen[seq] = true
				done := len(seen) >= want
				mu.Unlock()
				if err := c.Commit(ctx, m); err != nil && ctx.Err() == nil {
					t.Logf("commit: %v (a rebalance moved the partition; the record is redelivered)", err)
				}
				if done {
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	return all, perMember
}

// checkOrder asserts each key stayed in one partition and its records' offsets grow with
// their sequence numbers (publish order), after removing duplicates.
func checkOrder(t *testing.T, all []received) {
	t.Helper()
	type first struct {
		partition int
		offset    int64
	}
	bySeq := map[int]received{}
	for _, r := range all {
		if old, ok := bySeq[r.seq]; ok && (old.partition != r.partition || old.offset != r.offset) {
			t.Errorf("seq %d delivered from %d/%d and %d/%d; want one record", r.seq, old.partition, old.offset, r.partition, r.offset)
		}
		bySeq[r.seq] = r
	}
	perKey := map[string][]received{}
	for _, r := range bySeq {
		perKey[r.key] = append(perKey[r.key], r)
	}
	for k, rs := range perKey {
		sort.Slice(rs, func(i, j int) bool { return rs[i].seq < rs[j].seq })
		for i := 1; i < len(rs); i++ {
			if rs[i].partition != rs[0].partition {
				t.Fatalf("key %s in partitions %d and %d; want one", k, rs[0].partition, rs[i].partition)
			}
			if rs[i].offset <= rs[i-1].offset {
				t.Fatalf("key %s: seq %d at offset %d after seq %d at offset %d; per-key order lost",
					k, rs[i].seq, rs[i].offset, rs[i-1].seq, rs[i-1].offset)
			}
		}
	}
}

func publish(t *testing.T, p *kafkabus.Publisher, from, to, keys int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := p.Publish([]byte(fmt.Sprintf("client-%d", i%keys)), []byte(fmt.Sprintf("seq-%d", i))); err != nil {
			t.Fatalf("Publish(%d) = %v", i, err)
		}
	}
}

func TestRoundTripGroupOfTwo(t *testing.T) {
	addr := kafkatest.Start(t)
	topic := kafkatest.UniqueTopic(t, addr, "roundtrip", 4)
	reg := metrics.NewRegistry()
	p, err := kafkabus.NewPublisher(kafkabus.PublisherConfig{
		Config: kafkabus.Config{Brokers: kafkabus.SplitBrokers(addr)}, Topic: topic, Metrics: reg,
	}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("NewPublisher: %v", err)
	}
	const n, keys = 20000, 37
	publish(t, p, 0, n, keys)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	st := p.Stats()
	if st.Published != n || st.DroppedTotal() != 0 {
		t.Fatalf("published %d, dropped %v; want %d published, none dropped", st.Published, st.Dropped, n)
	}

	all, perMember := consumeGroup(t, addr, topic, 2, n, 60*time.Second)
	t.Logf("records per member %v, %d deliveries for %d records", perMember, len(all), n)
	seen := map[int]bool{}
	for _, r := range all {
		seen[r.seq] = true
	}
	if len(seen) != n {
		t.Fatalf("received %d distinct records; want %d", len(seen), n)
	}
	checkOrder(t, all)
}

func TestPublishCallRecord(t *testing.T) {
	addr := kafkatest.Start(t)
	topic := kafkatest.UniqueTopic(t, addr, "calls", 2)
	p, err := kafkabus.NewPublisher(kafkabus.PublisherConfig{
		Config: kafkabus.Config{Brokers: kafkabus.SplitBrokers(addr)}, Topic: topic, Metrics: metrics.NewRegistry(),
	}, nil)
	if err != nil {
		t.Fatalf("NewPublisher: %v", err)
	}
	call := &models.APICall{TS: time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC), ClientID: "jwt:alice",
		Method: "GET", Host: "api.example.com", URI: "/users/7", Path: "/users/7", Template: "/users/{id}", Status: 200}
	if err := p.Write(call); err != nil {
		t.Fatalf("Write: %v", err)
	}
	call.ClientID = "changed after Write" // Write must not retain the call
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.Write(call); !errors.Is(err, kafkabus.ErrClosed) {
		t.Errorf("Write after Close = %v; want ErrClosed", err)
	}

	c, err := kafkabus.NewConsumer(kafkabus.ConsumerConfig{
		Config: kafkabus.Config{Brokers: kafkabus.SplitBrokers(addr)}, Group: "g-" + topic, Topics: []string{topic},
		Metrics: metrics.NewRegistry(),
	}, nil)
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := c.Fetch(ctx)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	var got models.APICall
	if err := models.UnmarshalAPICall(m.Value, &got); err != nil {
		t.Fatalf("decoding record: %v", err)
	}
	if string(m.Key) != "jwt:alice" || got.ClientID != "jwt:alice" || !got.TS.Equal(call.TS) || got.Template != "/users/{id}" {
		t.Errorf("record key %q, call %+v; want key jwt:alice and the call as written", m.Key, got)
	}
	lag, err := c.Lag(ctx)
	if err != nil || lag != 1 {
		t.Errorf("Lag before commit = %d, %v; want 1", lag, err)
	}
	if err := c.Commit(ctx, m); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	lag, err = c.Lag(ctx)
	if err != nil || lag != 0 {
		t.Errorf("Lag after commit = %d, %v; want 0", lag, err)
	}
}

func TestPublishTooLarge(t *testing.T) {
	addr := kafkatest.Start(t)
	p, err := kafkabus.NewPublisher(kafkabus.PublisherConfig{
		Config: kafkabus.Config{Brokers: kafkabus.SplitBrokers(addr)}, BatchBytes: 1024, Metrics: metrics.NewRegistry(),
	}, nil)
	if err != nil {
		t.Fatalf("NewPublisher: %v", err)
	}
	defer p.Close()
	if err := p.Publish([]byte("k"), make([]byte, 2000)); !errors.Is(err, kafkabus.ErrTooLarge) {
		t.Errorf("Publish(2000 bytes, BatchBytes 1024) = %v; want ErrTooLarge", err)
	}
	if got := p.Stats().Dropped[kafkabus.ReasonTooLarge]; got != 1 {
		t.Errorf("dropped{too_large} = %d; want 1", got)
	}
}

func TestShutdownCountsWhatItAbandons(t *testing.T) {
	b := kafkatest.StartBroker(t)
	b.Stop() // nothing can be written
	p, err := kafkabus.NewPublisher(kafkabus.PublisherConfig{
		Config: kafkabus.Config{Brokers: []string{b.Addr}}, Metrics: metrics.NewRegistry(),
		RetryBackoffMin: 20 * time.Millisecond, WriteTimeout: time.Second,
	}, nil)
	if err != nil {
		t.Fatalf("NewPublisher: %v", err)
	}
	publish(t, p, 0, 100, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := p.Shutdown(ctx); err == nil {
		t.Error("Shutdown with the broker down = nil; want an error saying records were abandoned")
	}
	st := p.Stats()
	if st.Dropped[kafkabus.ReasonShutdown] != 100 || st.Published != 0 || st.Queued != 0 {
		t.Errorf("after Shutdown: published %d, dropped %v, queued %d; want 100 dropped for shutdown", st.Published, st.Dropped, st.Queued)
	}
}

func TestEnsureTopicsIdempotent(t *testing.T) {
	addr := kafkatest.Start(t)
	cfg := kafkabus.Config{Brokers: kafkabus.SplitBrokers(addr)}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	topics := []string{"ensure.a", "ensure.b"}
	for i := 0; i < 2; i++ {
		if err := kafkabus.EnsureTopics(ctx, cfg, topics, 3, 1); err != nil {
			t.Fatalf("EnsureTopics (round %d) = %v; want nil (already exists is success)", i+1, err)
		}
	}
}

func TestConsumerErrors(t *testing.T) {
	if _, err := kafkabus.NewConsumer(kafkabus.ConsumerConfig{Config: kafkabus.Config{Brokers: []string{"127.0.0.1:9092"}}}, nil); !errors.Is(err, kafkabus.ErrNoGroup) {
		t.Errorf("NewConsumer without a group = %v; want ErrNoGroup", err)
	}
	if _, err := kafkabus.NewConsumer(kafkabus.ConsumerConfig{Group: "g"}, nil); !errors.Is(err, kafkabus.ErrNoBrokers) {
		t.Errorf("NewConsumer without brokers = %v; want ErrNoBrokers", err)
	}
	addr := kafkatest.Start(t)
	c, err := kafkabus.NewConsumer(kafkabus.ConsumerConfig{Config: kafkabus.Config{Brokers: kafkabus.SplitBrokers(addr)},
		Group: "closed", Metrics: metrics.NewRegistry()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Fetch(ctx); !errors.Is(err, kafkabus.ErrClosed) {
		t.Errorf("Fetch after Close = %v; want ErrClosed", err)
	}
}
