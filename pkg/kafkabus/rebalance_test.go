package kafkabus_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/apiscope/apiscope/pkg/kafkabus"
	"github.com/apiscope/apiscope/pkg/kafkabus/kafkatest"
	"github.com/apiscope/apiscope/pkg/metrics"
)

// Group timings short enough for a rebalance to take about a second against kfake.
const (
	testHeartbeat = 200 * time.Millisecond
	testSession   = 4 * time.Second
	testRebalance = 4 * time.Second
	// eventWait bounds how long a test waits for a rebalance to be reported.
	eventWait = 15 * time.Second
)

// newEventConsumer returns a consumer with rebalance events and short group timings,
// closed at the end of the test.
func newEventConsumer(t *testing.T, addr, topic, group string, reg *metrics.Registry, revoke time.Duration) *kafkabus.Consumer {
	t.Helper()
	c, err := kafkabus.NewConsumer(kafkabus.ConsumerConfig{
		Config:            kafkabus.Config{Brokers: kafkabus.SplitBrokers(addr)},
		Group:             group,
		Topics:            []string{topic},
		HeartbeatInterval: testHeartbeat,
		SessionTimeout:    testSession,
		RebalanceTimeout:  testRebalance,
		RebalanceEvents:   true,
		RevokeTimeout:     revoke,
		Metrics:           reg,
	}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// publishN writes n records "seq-i" over 23 keys to topic and waits until they are
// written.
func publishN(t *testing.T, addr, topic string, n int) {
	t.Helper()
	p, err := kafkabus.NewPublisher(kafkabus.PublisherConfig{
		Config: kafkabus.Config{Brokers: kafkabus.SplitBrokers(addr)}, Topic: topic, Metrics: metrics.NewRegistry(),
	}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("NewPublisher: %v", err)
	}
	publish(t, p, 0, n, 23)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// expectEvent fetches the next message and fails unless it is a rebalance event.
func expectEvent(t *testing.T, c *kafkabus.Consumer, what string) *kafkabus.Rebalance {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventWait)
	defer cancel()
	m, err := c.Fetch(ctx)
	if err != nil {
		t.Fatalf("%s: Fetch = %v; want a rebalance event", what, err)
	}
	if m.Rebalance == nil {
		t.Fatalf("%s: Fetch returned record %d/%d; want a rebalance event", what, m.Partition, m.Offset)
	}
	return m.Rebalance
}

// fetchRecords fetches n records, failing on an event or a duplicate.
func fetchRecords(t *testing.T, c *kafkabus.Consumer, n int, what string) []kafkabus.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventWait)
	defer cancel()
	out := make([]kafkabus.Message, 0, n)
	seen := map[string]bool{}
	for len(out) < n {
		m, err := c.Fetch(ctx)
		if err != nil {
			t.Fatalf("%s: Fetch after %d of %d records = %v", what, len(out), n, err)
		}
		if m.Rebalance != nil {
			t.Fatalf("%s: rebalance event %+v after %d of %d records; want records only", what, *m.Rebalance, len(out), n)
		}
		id := fmt.Sprintf("%d/%d", m.Partition, m.Offset)
		if seen[id] {
			t.Fatalf("%s: record %s delivered twice", what, id)
		}
		seen[id] = true
		out = append(out, m)
	}
	return out
}

// expectQuiet fails if anything arrives within d.
func expectQuiet(t *testing.T, c *kafkabus.Consumer, d time.Duration, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	m, err := c.Fetch(ctx)
	if err == nil {
		t.Fatalf("%s: got %d/%d (rebalance %v); want nothing more", what, m.Partition, m.Offset, m.Rebalance)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%s: Fetch = %v; want a deadline", what, err)
	}
}

// byPartition groups records by partition, each in offset order.
func byPartition(ms []kafkabus.Message) map[int][]kafkabus.Message {
	out := map[int][]kafkabus.Message{}
	for _, m := range ms {
		out[m.Partition] = append(out[m.Partition], m)
	}
	for _, l := range out {
		sort.Slice(l, func(i, j int) bool { return l[i].Offset < l[j].Offset })
	}
	return out
}

// checkResumed asserts that got holds, for each partition in parts, exactly the records
// of all from offset from[p] on (from[p] missing: from the first).
func checkResumed(t *testing.T, what string, got []kafkabus.Message, all map[int][]kafkabus.Message, from map[int]int64, parts []int) {
	t.Helper()
	gp := byPartition(got)
	for p := range gp {
		if !slices.Contains(parts, p) {
			t.Errorf("%s: records of partition %d, which is not assigned (%v)", what, p, parts)
		}
	}
	for _, p := range parts {
		var want []int64
		for _, m := range all[p] {
			if m.Offset >= from[p] {
				want = append(want, m.Offset)
			}
		}
		var have []int64
		for _, m := range gp[p] {
			have = append(have, m.Offset)
		}
		if !slices.Equal(have, want) {
			t.Errorf("%s: partition %d offsets %v; want %v (from the committed offset %d)", what, p, have, want, from[p])
		}
	}
}

func counter(reg *metrics.Registry, name, group string) uint64 {
	return reg.Counter(name, "", "group", group).Load()
}

// TestConsumerAloneResumesAfterCommit: a lone member is told it owns every partition,
// gets every record once, and a new member of the group resumes after the committed
// offsets.
func TestConsumerAloneResumesAfterCommit(t *testing.T) {
	addr := kafkatest.Start(t)
	topic := kafkatest.UniqueTopic(t, addr, "alone", 3)
	const n = 90
	publishN(t, addr, topic, n)
	group := "alone-" + topic

	c1 := newEventConsumer(t, addr, topic, group, metrics.NewRegistry(), 0)
	if rb := expectEvent(t, c1, "first member"); !slices.Equal(rb.Assigned, []int{0, 1, 2}) || rb.Revoked != nil {
		t.Fatalf("first event %+v; want Assigned [0 1 2]", *rb)
	}
	recs := fetchRecords(t, c1, n, "first member")
	seqs := map[string]bool{}
	for _, m := range recs {
		seqs[string(m.Value)] = true
	}
	if len(seqs) != n {
		t.Fatalf("%d distinct records; want %d", len(seqs), n)
	}
	expectQuiet(t, c1, 700*time.Millisecond, "first member after every record")

	all := byPartition(recs)
	committed := map[int]int64{}
	var commit []kafkabus.Message
	for p, l := range all {
		m := l[len(l)/2]
		commit = append(commit, m)
		committed[p] = m.Offset + 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c1.Commit(ctx, commit...); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if err := c1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	c2 := newEventConsumer(t, addr, topic, group, metrics.NewRegistry(), 0)
	if rb := expectEvent(t, c2, "second member"); !slices.Equal(rb.Assigned, []int{0, 1, 2}) {
		t.Fatalf("second member's first event %+v; want Assigned [0 1 2]", *rb)
	}
	want := 0
	for p, l := range all {
		want += len(l) - int(committed[p]-l[0].Offset)
	}
	got := fetchRecords(t, c2, want, "second member")
	checkResumed(t, "second member", got, all, committed, []int{0, 1, 2})
	expectQuiet(t, c2, 700*time.Millisecond, "second member after the uncommitted records")
}

// TestRebalanceGroupOfTwo: a second member joins; the first is told its partitions are
// revoked, commits during the revocation, releases them, and both get disjoint shares
// that resume exactly at the committed offsets. When the second leaves, the first owns
// everything again and rereads what the second did not commit (Close commits nothing).
func TestRebalanceGroupOfTwo(t *testing.T) {
	addr := kafkatest.Start(t)
	topic := kafkatest.UniqueTopic(t, addr, "pair", 4)
	const n = 200
	publishN(t, addr, topic, n)
	group := "pair-" + topic
	reg1 := metrics.NewRegistry()
	every := []int{0, 1, 2, 3}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()

	c1 := newEventConsumer(t, addr, topic, group, reg1, 0)
	if rb := expectEvent(t, c1, "member 1 alone"); !slices.Equal(rb.Assigned, every) {
		t.Fatalf("member 1's first event %+v; want Assigned %v", *rb, every)
	}
	gen1 := fetchRecords(t, c1, n, "member 1 alone")
	all := byPartition(gen1)
	if len(all) != 4 {
		t.Fatalf("records in %d partitions; want 4", len(all))
	}
	// A quarter of each partition is committed before the rebalance, half by its end.
	var quarter, half []kafkabus.Message
	committed := map[int]int64{}
	for p, l := range all {
		quarter = append(quarter, l[len(l)/4])
		half = append(half, l[len(l)/2])
		committed[p] = l[len(l)/2].Offset + 1
	}
	if err := c1.Commit(ctx, quarter...); err != nil {
		t.Fatalf("Commit before the rebalance: %v", err)
	}

	c2 := newEventConsumer(t, addr, topic, group, metrics.NewRegistry(), 0)
	first2 := make(chan *kafkabus.Rebalance, 1)
	go func() {
		m, err := c2.Fetch(ctx)
		if err != nil || m.Rebalance == nil {
			t.Errorf("member 2's first Fetch = %+v, %v; want a rebalance event", m, err)
			first2 <- nil
			return
		}
		first2 <- m.Rebalance
	}()

	start := time.Now()
	rb := expectEvent(t, c1, "member 1 when member 2 joins")
	if !slices.Equal(rb.Revoked, every) || rb.Assigned != nil {
		t.Fatalf("member 1's event when member 2 joins %+v; want Revoked %v", *rb, every)
	}
	t.Logf("revocation reported %v after member 2 started", time.Since(start).Round(time.Millisecond))
	// Committing still works until Done.
	if err := c1.Commit(ctx, half...); err != nil {
		t.Fatalf("Commit during the revocation: %v", err)
	}
	if got := counter(reg1, "apiscope_kafka_commit_skipped_total", group); got != 0 {
		t.Fatalf("commit_skipped = %d after committing revoked partitions before Done; want 0", got)
	}
	rb.Done()
	rb.Done() // twice is safe

	rb1 := expectEvent(t, c1, "member 1 after Done")
	var rb2 *kafkabus.Rebalance
	select {
	case rb2 = <-first2:
	case <-ctx.Done():
	}
	if rb2 == nil {
		t.Fatal("member 2 got no assignment")
	}
	share1, share2 := rb1.Assigned, rb2.Assigned
	t.Logf("shares %v and %v, %v after member 2 started", share1, share2, time.Since(start).Round(time.Millisecond))
	if rb1.Revoked != nil || rb2.Revoked != nil || len(share1) == 0 || len(share2) == 0 {
		t.Fatalf("events %+v and %+v; want a non-empty Assigned each", *rb1, *rb2)
	}
	union := append(slices.Clone(share1), share2...)
	sort.Ints(union)
	if !slices.Equal(union, every) || !slices.IsSorted(share1) || !slices.IsSorted(share2) {
		t.Fatalf("shares %v and %v; want sorted, disjoint, covering %v", share1, share2, every)
	}
	rb1.Done() // a no-op on an assignment

	count := func(parts []int) int {
		k := 0
		for _, p := range parts {
			k += len(all[p]) - int(committed[p]-all[p][0].Offset)
		}
		return k
	}
	got2 := fetchRecords(t, c2, count(share2), "member 2")
	checkResumed(t, "member 2", got2, all, committed, share2)
	got1 := fetchRecords(t, c1, count(share1), "member 1 after the rebalance")
	checkResumed(t, "member 1 after the rebalance", got1, all, committed, share1)
	expectQuiet(t, c2, 500*time.Millisecond, "member 2 after its share")

	// Records of the old generation are not committed any more: one of a partition now
	// member 2's, and one of a partition member 1 owns again (fetched before the
	// rebalance, it could move the offset backwards).
	stale := []kafkabus.Message{all[share2[0]][len(all[share2[0]])-1], all[share1[0]][len(all[share1[0]])-1]}
	if err := c1.Commit(ctx, stale...); err != nil {
		t.Fatalf("Commit of records of the old generation = %v; want nil", err)
	}
	if got := counter(reg1, "apiscope_kafka_commit_skipped_total", group); got != 2 {
		t.Errorf("commit_skipped = %d; want 2", got)
	}

	// Member 2 leaves without committing.
	if err := c2.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	start = time.Now()
	rb = expectEvent(t, c1, "member 1 when member 2 leaves")
	if !slices.Equal(rb.Revoked, share1) {
		t.Fatalf("member 1's event when member 2 leaves %+v; want Revoked %v", *rb, share1)
	}
	rb.Done()
	if rb = expectEvent(t, c1, "member 1 alone again"); !slices.Equal(rb.Assigned, every) {
		t.Fatalf("member 1's event after member 2 left %+v; want Assigned %v", *rb, every)
	}
	t.Logf("member 1 owned everything again %v after member 2 closed", time.Since(start).Round(time.Millisecond))
	got := fetchRecords(t, c1, count(every), "member 1 alone again")
	checkResumed(t, "member 1 alone again", got, all, committed, every)
	if got := counter(reg1, "apiscope_kafka_rebalances_total", group); got != 3 {
		t.Errorf("rebalances = %d; want 3 generations", got)
	}
	if got := counter(reg1, "apiscope_kafka_revoke_timeouts_total", group); got != 0 {
		t.Errorf("revoke_timeouts = %d; want 0", got)
	}
}

// TestRevokeTimeout: a member that never calls Done holds the group back for
// RevokeTimeout only; the rebalance then completes with both members.
func TestRevokeTimeout(t *testing.T) {
	addr := kafkatest.Start(t)
	topic := kafkatest.UniqueTopic(t, addr, "revoke", 4)
	group := "revoke-" + topic
	reg1 := metrics.NewRegistry()
	const revoke = time.Second
	c1 := newEventConsumer(t, addr, topic, group, reg1, revoke)
	if rb := expectEvent(t, c1, "member 1 alone"); len(rb.Assigned) != 4 {
		t.Fatalf("member 1's first event %+v; want four partitions", *rb)
	}
	c2 := newEventConsumer(t, addr, topic, group, metrics.NewRegistry(), 0)
	first2 := make(chan *kafkabus.Rebalance, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), eventWait)
		defer cancel()
		m, err := c2.Fetch(ctx)
		if err != nil {
			t.Errorf("member 2's first Fetch: %v", err)
		}
		first2 <- m.Rebalance
	}()
	rb := expectEvent(t, c1, "member 1 when member 2 joins")
	if len(rb.Revoked) != 4 {
		t.Fatalf("member 1's event %+v; want four partitions revoked", *rb)
	}
	start := time.Now()
	// No Done.
	rb1 := expectEvent(t, c1, "member 1 after the revoke timeout")
	waited := time.Since(start)
	rb2 := <-first2
	if rb2 == nil || len(rb1.Assigned)+len(rb2.Assigned) != 4 || len(rb1.Assigned) == 0 {
		t.Fatalf("assignments after the timeout %+v and %+v; want the four partitions shared", *rb1, rb2)
	}
	t.Logf("assigned %v and %v %v after the revocation was returned", rb1.Assigned, rb2.Assigned, waited.Round(time.Millisecond))
	if waited < revoke/2 {
		t.Errorf("the group moved on %v after the revocation; want it to wait for Done up to %v", waited, revoke)
	}
	if got := counter(reg1, "apiscope_kafka_revoke_timeouts_total", group); got != 1 {
		t.Errorf("revoke_timeouts = %d; want 1", got)
	}
	rb.Done() // late: a no-op
}

func TestConsumerConfigRejected(t *testing.T) {
	base := kafkabus.ConsumerConfig{Config: kafkabus.Config{Brokers: []string{"127.0.0.1:9092"}}, Group: "g", Metrics: metrics.NewRegistry()}
	for _, tc := range []struct {
		name string
		mod  func(*kafkabus.ConsumerConfig)
		want string
	}{
		{"several topics", func(c *kafkabus.ConsumerConfig) { c.Topics = []string{"a", "b"} }, "one topic"},
		{"revoke timeout at the session timeout", func(c *kafkabus.ConsumerConfig) {
			c.SessionTimeout, c.RevokeTimeout = 10*time.Second, 10*time.Second
		}, "revoke timeout"},
		{"revoke timeout above the rebalance timeout", func(c *kafkabus.ConsumerConfig) {
			c.RebalanceTimeout, c.RevokeTimeout = 5*time.Second, 20*time.Second
		}, "revoke timeout"},
		{"negative revoke timeout", func(c *kafkabus.ConsumerConfig) { c.RevokeTimeout = -time.Second }, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.mod(&cfg)
			c, err := kafkabus.NewConsumer(cfg, nil)
			if err == nil {
				_ = c.Close()
				t.Fatalf("NewConsumer = nil error; want one mentioning %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewConsumer = %v; want it to mention %q", err, tc.want)
			}
		})
	}
	cfg := base
	cfg.RevokeTimeout = 5 * time.Second
	c, err := kafkabus.NewConsumer(cfg, nil)
	if err != nil {
		t.Fatalf("NewConsumer with a revoke timeout below the defaults: %v", err)
	}
	_ = c.Close()
	var zero kafkabus.Rebalance
	zero.Done() // a Rebalance the caller built: a no-op, not a panic
}

// TestRevokedRecordsNotReturned: records a member fetched from Kafka but had not yet
// returned when its partitions were revoked are dropped, not returned after the
// revocation; the partitions' next owners read them again from the committed offset.
func TestRevokedRecordsNotReturned(t *testing.T) {
	addr := kafkatest.Start(t)
	topic := kafkatest.UniqueTopic(t, addr, "discard", 2)
	const n = 3000
	publishN(t, addr, topic, n)
	group := "discard-" + topic
	reg1 := metrics.NewRegistry()
	c1 := newEventConsumer(t, addr, topic, group, reg1, 3*time.Second)
	if rb := expectEvent(t, c1, "member 1 alone"); len(rb.Assigned) != 2 {
		t.Fatalf("member 1's first event %+v; want two partitions", rb)
	}
	fetchRecords(t, c1, 10, "member 1 alone") // the readers have fetched more meanwhile

	c2 := newEventConsumer(t, addr, topic, group, metrics.NewRegistry(), 0)
	first2 := make(chan kafkabus.Message, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), eventWait)
		defer cancel()
		m, err := c2.Fetch(ctx)
		if err != nil {
			t.Errorf("member 2's first Fetch: %v", err)
		}
		first2 <- m
	}()
	time.Sleep(2 * time.Second) // member 2 joins, the coordinator ends generation 1
	rb := expectEvent(t, c1, "member 1 after member 2 joined")
	if len(rb.Revoked) != 2 {
		t.Fatalf("member 1's event %+v; want both partitions revoked", rb)
	}
	rb.Done()
	rb1 := expectEvent(t, c1, "member 1 after Done")
	if len(rb1.Assigned) != 1 {
		t.Fatalf("member 1's event after Done %+v; want one partition assigned", rb1)
	}
	m2 := <-first2
	if m2.Rebalance == nil || len(m2.Rebalance.Assigned) != 1 || m2.Rebalance.Assigned[0] == rb1.Assigned[0] {
		t.Fatalf("member 2's first message %+v; want the other partition assigned", m2)
	}
	// Nothing was committed: both read their partition from its first record.
	for i, c := range []*kafkabus.Consumer{c1, c2} {
		ctx, cancel := context.WithTimeout(context.Background(), eventWait)
		m, err := c.Fetch(ctx)
		cancel()
		if err != nil || m.Rebalance != nil || m.Offset != 0 {
			t.Errorf("member %d's first record after the rebalance %d/%d (rebalance %v), %v; want offset 0", i+1, m.Partition, m.Offset, m.Rebalance, err)
		}
	}
	// The records waiting for Fetch were queued before those of generation 2, so all
	// were dropped by now.
	if got := counter(reg1, "apiscope_kafka_revoked_discarded_total", group); got == 0 {
		t.Error("revoked_discarded = 0; want the records fetched before the revocation dropped")
	}
}
