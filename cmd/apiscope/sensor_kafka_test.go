package main

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/kafkabus"
	"github.com/apiscope/apiscope/pkg/kafkabus/kafkatest"
)

// TestSensorPublishesToKafka runs 'apiscope sensor --pcap F --brokers ADDR' and reads the
// calls back from the topic.
func TestSensorPublishesToKafka(t *testing.T) {
	dir := t.TempDir()
	pcap := dir + "/x.pcap"
	writeExchangePcap(t, pcap, 25)
	addr := kafkatest.Start(t)
	topic := "sensor.kafka.test"
	runCLI(t, "sensor", "--pcap", pcap, "--brokers", addr, "--topic", topic, "--partitions", "2",
		"--compression", "zstd", "--acks", "1", "--workers", "1")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var calls []models.APICall
	err := kafkabus.ReadTopic(ctx, kafkabus.Config{Brokers: kafkabus.SplitBrokers(addr)}, topic,
		kafkabus.ReadOptions{FromBeginning: true}, func(m kafkabus.Message) error {
			var c models.APICall
			if err := models.UnmarshalAPICall(m.Value, &c); err != nil {
				t.Errorf("record is not an APICall: %v", err)
			}
			if string(m.Key) != c.ClientID || c.ClientID == "" {
				t.Errorf("record key %q; want the call's client_id %q", m.Key, c.ClientID)
			}
			calls = append(calls, c)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 25 {
		t.Fatalf("read %d calls from %s; want 25", len(calls), topic)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i].TS.Before(calls[i-1].TS) {
			t.Fatalf("calls of one client out of capture order at %d", i)
		}
	}
}

func TestSensorKafkaFlagErrors(t *testing.T) {
	for _, k := range []kafkaFlags{
		{brokers: "nohostport", topic: "t", queueSize: 1, queueBytes: 1},
		{brokers: "h:1", topic: "t", acks: "2", queueSize: 1, queueBytes: 1},
		{brokers: "h:1", topic: "t", compression: "brotli", queueSize: 1, queueBytes: 1},
		{brokers: "h:1", topic: "t", queueSize: 0, queueBytes: 1},
		{brokers: "h:1", topic: "", queueSize: 1, queueBytes: 1},
		{brokers: "h:1", topic: "t", queueSize: 1, queueBytes: 1, saslMechanism: "GSSAPI", saslUser: "u"},
	} {
		if _, err := k.config(); err == nil {
			t.Errorf("config(%+v) = nil error; want one", k)
		}
	}
}

// TestInterruptedPcapRunWithKafkaDown: reading a file waits for Kafka; when Kafka is down
// and the run is interrupted, the waiting write returns after the grace period instead
// of hanging the sensor.
func TestInterruptedPcapRunWithKafkaDown(t *testing.T) {
	old := interruptGrace
	interruptGrace = 100 * time.Millisecond
	defer func() { interruptGrace = old }()
	k := &kafkaFlags{brokers: "127.0.0.1:1", topic: "t", acks: "all", compression: "lz4", queueSize: 1, queueBytes: 1 << 20}
	ctx, cancel := context.WithCancel(context.Background())
	p, err := kafkaSinkFromFlags(ctx, k, true, log)
	if err != nil {
		t.Fatal(err)
	}
	call := &models.APICall{ClientID: "c", TS: time.Unix(0, 0)}
	var written atomic.Int32
	done := make(chan error, 1)
	go func() { // one call in flight, one queued, then a write waits for Kafka
		for {
			if err := p.Write(call); err != nil {
				done <- err
				return
			}
			written.Add(1)
		}
	}()
	time.Sleep(300 * time.Millisecond)
	// The queue holds one call and the batch in flight a few more; then writes wait.
	if n := written.Load(); n > 4 {
		t.Fatalf("%d writes returned with Kafka down and a queue of one; want writes to wait", n)
	}
	select {
	case err := <-done:
		t.Fatalf("Write returned %v with Kafka down; want it to wait", err)
	default:
	}
	cancel()
	select {
	case err := <-done:
		if err != kafkabus.ErrClosed {
			t.Errorf("Write after the interrupt = %v; want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Write still waiting 5 s after the interrupt")
	}
	_ = p.Close()
}
