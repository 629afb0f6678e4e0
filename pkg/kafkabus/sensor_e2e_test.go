package kafkabus_test

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/corpus"
	"github.com/apiscope/apiscope/pkg/kafkabus"
	"github.com/apiscope/apiscope/pkg/kafkabus/kafkatest"
	"github.com/apiscope/apiscope/pkg/metrics"
	"github.com/apiscope/apiscope/sensor"
	"github.com/apiscope/apiscope/sensor/capture"
)

func corpusFile(t *testing.T, name string) string {
	t.Helper()
	return corpus.Path(t, name)
}

// recorder is a sensor sink that remembers every call's JSON in output order and passes
// the call on to the publisher. Close does not close the publisher: the test runs
// several captures into one publisher and closes it itself.
type recorder struct {
	mu    sync.Mutex
	calls [][]byte
	next  sensor.Sink
}

func (r *recorder) Write(c *models.APICall) error {
	b, err := models.MarshalAPICall(c)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.calls = append(r.calls, b)
	r.mu.Unlock()
	return r.next.Write(c)
}

func (r *recorder) Close() error { return nil }

// pacedSource slows a capture file down to live speed so the broker can be stopped in
// the middle of the run, and counts the frames read.
type pacedSource struct {
	capture.Source
	every int
	pause time.Duration
	n     atomic.Int64
}

func (p *pacedSource) ReadFrame(f *capture.Frame) error {
	if n := p.n.Add(1); p.every > 0 && n%int64(p.every) == 0 {
		time.Sleep(p.pause)
	}
	return p.Source.ReadFrame(f)
}

// groupReader reads one topic with a consumer group of two, remembering, per distinct
// value, where it was stored.
type groupReader struct {
	t      *testing.T
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	got    map[string]received
	per    [2]int
	dups   int
}

// startGroup starts the two members. They commit after every record.
func startGroup(t *testing.T, brokers, topic string) *groupReader {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	g := &groupReader{t: t, cancel: cancel, got: map[string]received{}}
	for i := 0; i < 2; i++ {
		c, err := kafkabus.NewConsumer(kafkabus.ConsumerConfig{
			Config: kafkabus.Config{Brokers: kafkabus.SplitBrokers(brokers)}, Group: "e2e-" + topic, Topics: []string{topic},
			HeartbeatInterval: 300 * time.Millisecond, SessionTimeout: 6 * time.Second, RebalanceTimeout: 5 * time.Second,
			Metrics: metrics.NewRegistry(),
		}, zaptest.NewLogger(t))
		if err != nil {
			t.Fatalf("NewConsumer: %v", err)
		}
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			defer c.Close()
			for {
				m, err := c.Fetch(ctx)
				if err != nil {
					return
				}
				g.mu.Lock()
				g.per[i]++
				if old, ok := g.got[string(m.Value)]; ok {
					g.dups++
					if old.partition != m.Partition || old.offset != m.Offset {
						t.Errorf("call stored twice, at %d/%d and %d/%d", old.partition, old.offset, m.Partition, m.Offset)
					}
				}
				g.got[string(m.Value)] = received{key: string(m.Key), partition: m.Partition, offset: m.Offset}
				g.mu.Unlock()
				_ = c.Commit(ctx, m)
			}
		}()
	}
	return g
}

// wait returns once want distinct records arrived (or the deadline passed) and stops
// the members.
func (g *groupReader) wait(want int) map[string]received {
	g.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		g.mu.Lock()
		n := len(g.got)
		g.mu.Unlock()
		if n >= want {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	g.cancel()
	g.wg.Wait()
	g.t.Logf("group of two: %v records per member, %d redelivered", g.per, g.dups)
	return g.got
}

// checkCalls asserts the consumed calls are exactly the expected ones and that each
// client's calls are stored in the order the sensor wrote them.
func checkCalls(t *testing.T, written [][]byte, lost map[string]bool, got map[string]received) {
	t.Helper()
	index := map[string]int{}
	for i, b := range written {
		index[string(b)] = i
	}
	want := 0
	for _, b := range written {
		if lost[string(b)] {
			continue
		}
		want++
		if _, ok := got[string(b)]; !ok {
			t.Errorf("call missing from Kafka: %s", b)
		}
	}
	if len(got) != want {
		t.Errorf("consumed %d distinct calls; want %d", len(got), want)
	}
	perKey := map[string][]received{}
	for v, r := range got {
		if _, ok := index[v]; !ok {
			t.Errorf("consumed a call the sensor never wrote: %s", v)
			continue
		}
		r.seq = index[v]
		perKey[r.key] = append(perKey[r.key], r)
	}
	for k, rs := range perKey {
		sort.Slice(rs, func(i, j int) bool { return rs[i].offset < rs[j].offset })
		for i := 1; i < len(rs); i++ {
			if rs[i].partition != rs[0].partition || rs[i].seq < rs[i-1].seq {
				t.Fatalf("client %s: calls out of capture order in Kafka (call %d stored after call %d)", k, rs[i].seq, rs[i-1].seq)
			}
		}
	}
}

// TestSensorToKafka runs real captures through the sensor into a broker and reads them
// back with a consumer group of two: every call arrives once, per client in order.
func TestSensorToKafka(t *testing.T) {
	files := []string{
		"zeek__http_1000-requests-one-dropped-response.pcap",
		"ndpi__1kxun.pcap",
		"suricata-verify__http-range-multiflows.pcap",
		"arkime__arkime_synthetic.pcap",
		"zeek__http_methods.pcap",
	}
	addr := kafkatest.Start(t)
	topic := kafkatest.UniqueTopic(t, addr, "e2e.calls", 4)
	p, err := kafkabus.NewPublisher(kafkabus.PublisherConfig{
		Config: kafkabus.Config{Brokers: kafkabus.SplitBrokers(addr)}, Topic: topic, Blocking: true, Metrics: metrics.NewRegistry(),
	}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("NewPublisher: %v", err)
	}
	rec := &recorder{next: p}
	// Both members join before the first call is published, so the partitions are
	// shared between them rather than all read by whichever joined first.
	g := startGroup(t, addr, topic)
	time.Sleep(3 * time.Second)
	for _, f := range files {
		src, err := capture.OpenFile(corpusFile(t, f))
		if err != nil {
			t.Fatalf("open %s: %v", f, err)
		}
		if _, err := sensor.Run(context.Background(), sensor.Config{Workers: 2}, src, rec); err != nil {
			t.Fatalf("sensor on %s: %v", f, err)
		}
		src.Close()
	}
	if err := p.Close(); err != nil {
		t.Fatalf("closing publisher: %v", err)
	}
	st := p.Stats()
	if st.Published != uint64(len(rec.calls)) || st.DroppedTotal() != 0 {
		t.Fatalf("sensor wrote %d calls; publisher published %d, dropped %v", len(rec.calls), st.Published, st.Dropped)
	}
	distinct := map[string]bool{}
	for _, b := range rec.calls {
		distinct[string(b)] = true
	}
	t.Logf("%d calls (%d distinct) from %d captures", len(rec.calls), len(distinct), len(files))
	if len(distinct) < 1000 {
		t.Fatalf("only %d distinct calls; the captures hold more than 1000", len(distinct))
	}
	got := g.wait(len(distinct))
	if g.per[0] == 0 || g.per[1] == 0 {
		t.Errorf("records per member %v; want both members of the group to read", g.per)
	}
	checkCalls(t, rec.calls, nil, got)
}

// TestSensorSurvivesBrokerOutage runs a capture at live pace, in live mode, and stops
// the broker for a few seconds in the middle. The sensor keeps running, the publisher
// counts what it buffered and dropped, and every call it did not count as dropped
// reaches Kafka once the broker is back.
func TestSensorSurvivesBrokerOutage(t *testing.T) {
	b := kafkatest.StartBroker(t, kafkatest.Partitions(4))
	const bound = 100
	reg := metrics.NewRegistry()
	p, err := kafkabus.NewPublisher(kafkabus.PublisherConfig{
		Config: kafkabus.Config{Brokers: []string{b.Addr}, DialTimeout: time.Second}, Topic: kafkabus.TopicCalls,
		QueueMessages: bound, RetryBackoffMin: 50 * time.Millisecond, RetryBackoffMax: 300 * time.Millisecond,
		WriteTimeout: 2 * time.Second, Metrics: reg,
	}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("NewPublisher: %v", err)
	}
	f, err := capture.OpenFile(corpusFile(t, "zeek__http_1000-requests-one-dropped-response.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src := &pacedSource{Source: f, every: 4, pause: 2 * time.Millisecond} // ~4100 frames in ~3 s
	rec := &recorder{next: p}

	var mid kafkabus.PublisherStats
	outage := make(chan struct{})
	go func() {
		defer close(outage)
		for src.n.Load() < 1200 {
			time.Sleep(5 * time.Millisecond)
		}
		b.Stop()
		time.Sleep(2 * time.Second)
		mid = p.Stats()
		b.Restart(t)
	}()
	st, err := sensor.Run(context.Background(), sensor.Config{Workers: 2, Live: true, FlushEvery: 20 * time.Millisecond}, src, rec)
	if err != nil {
		t.Fatalf("sensor.Run during the outage: %v", err)
	}
	<-outage
	t.Logf("during the outage: queued %d, dropped %v, errors %d, retries %d", mid.Queued, mid.Dropped, mid.Errors, mid.Retries)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("publisher did not recover after the broker came back: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("closing publisher: %v", err)
	}
	ps := p.Stats()
	t.Logf("sensor: %d calls; publisher: published %d, dropped %v, errors %d, retries %d", st.Calls, ps.Published, ps.Dropped, ps.Errors, ps.Retries)
	if st.Calls != uint64(len(rec.calls)) || st.Calls < 990 {
		t.Fatalf("sensor wrote %d calls (recorded %d); want about 1000: it must keep capturing through the outage", st.Calls, len(rec.calls))
	}
	if mid.Queued > bound || mid.Errors == 0 {
		t.Errorf("during the outage queued %d (bound %d), errors %d; want at most the bound queued and errors counted", mid.Queued, bound, mid.Errors)
	}
	if ps.Published+ps.DroppedTotal() != st.Calls {
		t.Errorf("published %d + dropped %d != %d calls written", ps.Published, ps.DroppedTotal(), st.Calls)
	}
	if ps.DroppedTotal() != ps.Dropped[kafkabus.ReasonQueueFull] {
		t.Errorf("dropped %v; want only queue_full drops", ps.Dropped)
	}
	if ps.Dropped[kafkabus.ReasonQueueFull] == 0 {
		t.Errorf("no queue_full drop: the outage was too short to fill a %d-call queue", bound)
	}

	got := startGroup(t, b.Addr, kafkabus.TopicCalls).wait(int(ps.Published))
	// Which calls were dropped is known from what arrived; assert there are exactly as
	// many as counted and that the rest arrived in order.
	lost := map[string]bool{}
	for _, c := range rec.calls {
		if _, ok := got[string(c)]; !ok {
			lost[string(c)] = true
		}
	}
	if uint64(len(lost)) != ps.DroppedTotal() {
		t.Errorf("%d calls missing from Kafka; the publisher counted %d dropped", len(lost), ps.DroppedTotal())
	}
	checkCalls(t, rec.calls, lost, got)
}
