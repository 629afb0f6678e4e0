package main

import (
	"context"
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
		"--compression", "zstd", "--acks", "1", "--workers", "1",
		"--out", "") // other tests leave --out set; empty means Kafka only

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
