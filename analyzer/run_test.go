package analyzer

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/kafkabus"
	"github.com/apiscope/apiscope/pkg/kafkabus/kafkatest"
)

type kafkaSource struct{ c *kafkabus.Consumer }

func (s kafkaSource) Fetch(ctx context.Context) (Record, error) {
	m, err := s.c.Fetch(ctx)
	if err != nil {
		return Record{}, err
	}
	return Record{Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Ack: m}, nil
}

func (s kafkaSource) Commit(ctx context.Context, recs []Record) error {
	msgs := make([]kafkabus.Message, len(recs))
	for i, r := range recs {
		msgs[i] = r.Ack.(kafkabus.Message)
	}
	return s.c.Commit(ctx, msgs...)
}

// TestRunKafka consumes a world's calls (and two undecodable records) from a broker in two
// runs of the consumer loop, stopped in the middle; the findings of both runs, plus the
// flush of the final checkpoint, equal one replay of the same calls. Undecodable records
// reach the dead-letter handler and are committed.
func TestRunKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	brokers := kafkatest.Start(t, kafkatest.Partitions(3), kafkatest.Topics(kafkabus.TopicCalls))
	calls := attackWorld()
	want := encode(t, run(t, Config{}, calls))

	kcfg := kafkabus.Config{Brokers: kafkabus.SplitBrokers(brokers)}
	pub, err := kafkabus.NewPublisher(kafkabus.PublisherConfig{Config: kcfg, Topic: kafkabus.TopicCalls, Blocking: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range calls {
		if i == 100 {
			_ = pub.Publish([]byte("x"), []byte("not json"))
		}
		if i == 5000 {
			_ = pub.Publish([]byte("y"), []byte(`{"schema":"something else"}`))
		}
		if err := pub.PublishCall(&calls[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	_ = pub.Close()

	dir := t.TempDir()
	var got []models.Finding
	out := OutputFunc(func(f *models.Finding) error { got = append(got, *f); return nil })
	var dead int
	consume := func(stopAfter uint64) *Engine {
		e, err := New(Config{}, out)
		if err != nil {
			t.Fatal(err)
		}
		cons, err := kafkabus.NewConsumer(kafkabus.ConsumerConfig{Config: kcfg, Group: "analyzer-test"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cons.Close()
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		done := make(chan error, 1)
		go func() {
			done <- Run(rctx, e, kafkaSource{cons}, RunConfig{StateDir: dir, CommitRecords: 1000, IdleCommit: 500 * time.Millisecond, StartupWait: 300 * time.Millisecond,
				DeadLetter: func(context.Context, Record, error) error { dead++; return nil }})
		}()
		// Stop after stopAfter records, or once the stream has been quiet for 3 s.
		deadline := time.Now().Add(2 * time.Minute)
		last, quiet := uint64(0), time.Now()
		for time.Now().Before(deadline) {
			st := e.statsAtomic()
			if st >= stopAfter || st > 0 && time.Since(quiet) > 3*time.Second {
				break
			}
			if st != last {
				last, quiet = st, time.Now()
			}
			time.Sleep(50 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("run: %v", err)
		}
		t.Logf("consumer run: %+v, buffered %d", e.Stats(), len(e.buf))
		return e
	}
	consume(uint64(len(calls) / 2))
	consume(^uint64(0))
	// The whole stream is consumed: restore the last checkpoint and end the stream.
	e, _ := New(Config{}, out)
	if ok, err := e.ReadCheckpoint(dir); !ok || err != nil {
		t.Fatalf("read checkpoint: %v %v", ok, err)
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	if dead < 2 {
		t.Errorf("dead letters: %d, want 2", dead)
	}
	// Findings are at-least-once across the restart: keep the first line per (id,
	// severity), as a consumer keyed on the id does.
	seen := map[string]bool{}
	var uniq []models.Finding
	for _, f := range got {
		k := f.ID + f.Severity
		if !seen[k] {
			seen[k] = true
			uniq = append(uniq, f)
		}
	}
	if g := encode(t, uniq); !bytes.Equal(g, want) {
		t.Fatalf("findings through Kafka differ from a replay: %d vs %d bytes", len(g), len(want))
	}
}
