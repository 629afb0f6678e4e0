package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/apiscope/apiscope/pkg/simulate"
)

// TestReplayDeterministic: replaying the same capture twice gives byte-identical findings,
// and replaying the calls written by the first run (--from-calls) gives the same again.
func TestReplayDeterministic(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates and replays a capture")
	}
	t.Setenv("APISCOPE_FP_KEY", "replay-test-key-0123456789")
	dir := t.TempDir()
	if _, err := simulate.Generate(context.Background(), simulate.Options{Seed: 3, Scale: "small", OutDir: dir}); err != nil {
		t.Fatal(err)
	}
	pcap := filepath.Join(dir, "traffic.pcap")
	run := func(args ...string) []byte {
		t.Helper()
		out := filepath.Join(t.TempDir(), "findings.jsonl")
		replayFlags = struct {
			pcap, fromCalls, findings, calls, clickhouse string
			workers                                      int
			openapi                                      []string
			engine                                       engineFlags
		}{}
		rootCmd.SetArgs(append([]string{"replay", "--log-level", "error", "--findings", out}, args...))
		if err := rootCmd.ExecuteContext(context.Background()); err != nil {
			t.Fatalf("replay %v: %v", args, err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	calls := filepath.Join(dir, "calls.jsonl")
	first := run("--pcap", pcap, "--calls", calls)
	if len(first) == 0 {
		t.Fatal("no findings from a capture with attacks")
	}
	if again := run("--pcap", pcap, "--workers", "3"); !bytes.Equal(first, again) {
		t.Error("second replay of the capture differs")
	}
	if fromCalls := run("--from-calls", calls); !bytes.Equal(first, fromCalls) {
		t.Error("replay from the written calls differs")
	}
}
