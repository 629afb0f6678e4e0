package main

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/apiscope/apiscope/pkg/kafkabus"
)

// TestBrokerCommand runs 'apiscope broker', produces and consumes through it with plain
// kafka-go over TCP, and stops it by cancelling its context (what SIGINT does).
func TestBrokerCommand(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	args := []string{"broker", "--listen", addr, "--data-dir", t.TempDir(), "--partitions", "2"}
	defer prepareCLI(args...)()
	c, _, _ := rootCmd.Find(args)
	// cobra hands the root's context to a subcommand only if it has none yet: a second
	// run in one process (go test -count 2) would see the first run's cancelled one.
	c.SetContext(ctx)
	done := make(chan error, 1)
	go func() { done <- rootCmd.ExecuteContext(ctx) }()

	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: kafkabus.TopicCalls, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	var werr error
	for wctx.Err() == nil { // the broker may still be starting
		if werr = w.WriteMessages(wctx, kafka.Message{Key: []byte("k"), Value: []byte("v")}); werr == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("broker command ended early: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	w.Close()
	if werr != nil {
		t.Fatalf("producing to 'apiscope broker': %v", werr)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: kafkabus.TopicCalls, GroupID: "broker-cmd", MaxWait: 500 * time.Millisecond})
	m, err := r.ReadMessage(wctx)
	r.Close()
	if err != nil || string(m.Value) != "v" {
		t.Fatalf("consuming from 'apiscope broker': %q, %v", m.Value, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("broker command returned %v after cancellation; want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("broker command still running 10 s after cancellation")
	}
}
