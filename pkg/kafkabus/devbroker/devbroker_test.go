package devbroker

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/apiscope/apiscope/pkg/kafkabus"
)

// TestAnyClientCanUseIt produces and consumes with plain kafka-go (no kafkabus code),
// as kcat or any other client would, then restarts the broker on its data directory and
// finds the record again.
func TestAnyClientCanUseIt(t *testing.T) {
	dir := t.TempDir()
	b, err := Start(Config{Listen: "127.0.0.1:0", DataDir: dir, Partitions: 3}, nil)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	addr := b.Addr
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	conn, err := kafka.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	parts, err := conn.ReadPartitions()
	conn.Close()
	if err != nil {
		t.Fatalf("ReadPartitions: %v", err)
	}
	count := map[string]int{}
	for _, p := range parts {
		count[p.Topic]++
	}
	for _, topic := range kafkabus.AllTopics {
		if count[topic] != 3 {
			t.Errorf("topic %s has %d partitions; want 3", topic, count[topic])
		}
	}

	// RequireAll: kafka-go defaults to no acknowledgement, and the broker stops right after.
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: kafkabus.TopicCalls, BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll}
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte("k"), Value: []byte("hello")}); err != nil {
		t.Fatalf("WriteMessages: %v", err)
	}
	w.Close()
	b.Close()

	b, err = Start(Config{Listen: addr, DataDir: dir, Partitions: 3}, nil)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer b.Close()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, GroupID: "devbroker-test",
		Topic: kafkabus.TopicCalls, MaxWait: 500 * time.Millisecond})
	defer r.Close()
	m, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("ReadMessage after restart: %v", err)
	}
	if string(m.Key) != "k" || string(m.Value) != "hello" {
		t.Errorf("read %q=%q; want k=hello", m.Key, m.Value)
	}
}

func TestStartRejectsBadAddresses(t *testing.T) {
	for _, cfg := range []Config{{Listen: "nonsense"}, {Listen: "127.0.0.1:99999"}, {Listen: "127.0.0.1:0", Advertise: "x"}} {
		if b, err := Start(cfg, nil); err == nil {
			b.Close()
			t.Errorf("Start(%+v) = nil error; want one", cfg)
		}
	}
}

func TestAdvertiseWildcard(t *testing.T) {
	b, err := Start(Config{Listen: "0.0.0.0:0"}, nil)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer b.Close()
	if b.Addr[:10] != "127.0.0.1:" {
		t.Errorf("advertised %s for a wildcard listener; want 127.0.0.1:port", b.Addr)
	}
}
