package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apiscope/apiscope/pkg/simulate"
	"github.com/apiscope/apiscope/pkg/store/chtest"
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
	run := func(args ...string) []byte { return runReplayCmd(t, args...) }
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

// runReplayCmd runs `apiscope replay --findings TMP args...` and returns the findings.
// Flags are reset before and after by runCLI.
func runReplayCmd(t *testing.T, args ...string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "findings.jsonl")
	runCLI(t, append([]string{"replay", "--findings", out}, args...)...)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReplayClickHouse: replay with --clickhouse stores every call, every finding (one
// row per id after merges) and a profile per client.
func TestReplayClickHouse(t *testing.T) {
	if testing.Short() {
		t.Skip("starts clickhouse-server")
	}
	srv := chtest.Start(t)
	t.Setenv("APISCOPE_FP_KEY", "replay-test-key-0123456789")
	dir := t.TempDir()
	if _, err := simulate.Generate(context.Background(), simulate.Options{Seed: 4, Scale: "small", OutDir: dir}); err != nil {
		t.Fatal(err)
	}
	db := chtest.UniqueDB(t)
	calls := filepath.Join(dir, "calls.jsonl")
	findings := runReplayCmd(t, "--pcap", filepath.Join(dir, "traffic.pcap"), "--calls", calls, "--clickhouse", srv.DSN(db))
	count := func(sql string) int {
		out, err := srv.QueryIn(db, sql)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		n, err := strconv.Atoi(strings.TrimSpace(out))
		if err != nil {
			t.Fatalf("%s: %q", sql, out)
		}
		return n
	}
	lines := func(b []byte) int { return bytes.Count(b, []byte("\n")) }
	callBytes, err := os.ReadFile(calls)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := count("SELECT count() FROM api_calls"), lines(callBytes); got != want {
		t.Errorf("api_calls rows = %d; want %d (calls written)", got, want)
	}
	ids := map[string]bool{}
	for _, l := range bytes.Split(bytes.TrimSpace(findings), []byte("\n")) {
		ids[string(l[7:39])] = true // {"id":"<32 hex>"
	}
	if got := count("SELECT uniqExact(id) FROM findings"); got != len(ids) {
		t.Errorf("distinct finding ids stored = %d; want %d", got, len(ids))
	}
	if got := count("SELECT uniqExact(client_id) FROM client_profiles"); got == 0 {
		t.Error("no client profiles stored")
	}
}

// TestReplayCallsEqualSensor: the same capture through 'apiscope sensor --out' and
// 'apiscope replay --calls', with the same identity and template flags, gives the same
// calls byte for byte.
func TestReplayCallsEqualSensor(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates and replays a capture")
	}
	t.Setenv("APISCOPE_FP_KEY", "replay-test-key-0123456789")
	dir := t.TempDir()
	if _, err := simulate.Generate(context.Background(), simulate.Options{Seed: 5, Scale: "small", OutDir: dir}); err != nil {
		t.Fatal(err)
	}
	pcap := filepath.Join(dir, "traffic.pcap")
	for _, extra := range [][]string{
		nil,
		{"--trusted-proxy", "10.0.0.0/8", "--api-key-header", "X-Custom-Key", "--template-threshold", "8"},
	} {
		sensorOut := filepath.Join(dir, "sensor.jsonl")
		replayOut := filepath.Join(dir, "replay.jsonl")
		runCLI(t, append([]string{"sensor", "--pcap", pcap, "--out", sensorOut, "--workers", "2", "--no-progress"}, extra...)...)
		runReplayCmd(t, append([]string{"--pcap", pcap, "--calls", replayOut, "--workers", "3"}, extra...)...)
		a, err := os.ReadFile(sensorOut)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(replayOut)
		if err != nil {
			t.Fatal(err)
		}
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("flags %v: sensor wrote %d bytes of calls, replay %d; want identical files", extra, len(a), len(b))
		}
	}
	tmpl := filepath.Join(dir, "templates.json")
	runReplayCmd(t, "--pcap", pcap, "--templates-file", tmpl)
	if st, err := os.Stat(tmpl); err != nil || st.Size() == 0 {
		t.Errorf("replay --templates-file did not save the learned templates: %v", err)
	}
}
