package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/alerting"
	"github.com/apiscope/apiscope/pkg/kafkabus"
	"github.com/apiscope/apiscope/pkg/kafkabus/kafkatest"
)

// runCLI runs one apiscope command line in process and returns its standard output.
func runCLI(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	rootCmd.SetOut(&out)
	defer rootCmd.SetOut(nil)
	defer prepareCLI(args...)()
	if err := rootCmd.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("apiscope %s: %v", strings.Join(args, " "), err)
	}
	return out.String()
}

// prepareCLI sets rootCmd's arguments to args (quiet logging) and returns the func that
// puts the flags back. Every test that executes rootCmd goes through it.
//
// Flags are package state: the command's flags start from their defaults (whatever
// earlier tests set) and are put back afterwards, so later tests do not inherit ours
// either (a stale --brokers would send the next sensor run to a stopped broker, a stale
// --clickhouse a replay to a stopped server).
func prepareCLI(args ...string) (restore func()) {
	rootCmd.SetArgs(append(args, "--log-level", "error"))
	c, _, err := rootCmd.Find(args)
	if err != nil {
		c = rootCmd
	}
	resetFlags(rootCmd.PersistentFlags())
	resetFlags(c.Flags())
	// cobra gives a subcommand the root's context only if it has none: forget the one
	// an earlier run left (perhaps cancelled). A test that needs its own sets it after.
	var inherit context.Context
	c.SetContext(inherit)
	return func() {
		resetFlags(c.Flags())
		resetFlags(rootCmd.PersistentFlags())
	}
}

func resetFlags(fs *pflag.FlagSet) {
	fs.VisitAll(func(f *pflag.Flag) {
		if !f.Changed {
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			_ = sv.Replace(nil)
		} else {
			_ = f.Value.Set(f.DefValue)
		}
		f.Changed = false
	})
}

// TestAlertsEndToEnd runs 'apiscope replay --brokers' over a simulated capture into an
// in-process broker (native records on apiscope.alerts, OCSF on another topic) and checks
// that 'apiscope alerts --from-beginning' reads back exactly the medium+ findings of the
// run, the latest record of each id, in every output format.
func TestAlertsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates and replays a capture")
	}
	t.Setenv("APISCOPE_FP_KEY", "alerts-test-key-0123456789")
	dir := t.TempDir()
	runCLI(t, "simulate", "--out", dir, "--scale", "small", "--seed", "7")
	addr := kafkatest.Start(t)
	ocsfTopic := kafkatest.UniqueTopic(t, addr, "alerts.ocsf", 3)
	findingsFile := filepath.Join(dir, "findings.jsonl")
	pcap := filepath.Join(dir, "traffic.pcap")
	runCLI(t, "replay", "--pcap", pcap, "--findings", findingsFile, "--brokers", addr)
	ocsfFindings := filepath.Join(dir, "findings-ocsf.jsonl")
	runCLI(t, "replay", "--pcap", pcap, "--findings", ocsfFindings, "--brokers", addr,
		"--alerts-topic", ocsfTopic, "--alert-format", alerting.FormatOCSF)
	a, _ := os.ReadFile(findingsFile)
	b, _ := os.ReadFile(ocsfFindings)
	if !bytes.Equal(a, b) {
		t.Fatal("the two replays of the capture gave different findings")
	}

	// The run's findings, medium and above: the latest record of each id.
	want := map[string]*models.Finding{}
	var low int
	fh, err := os.Open(findingsFile)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(fh)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var f models.Finding
		if err := models.UnmarshalFinding(sc.Bytes(), &f); err != nil {
			t.Fatal(err)
		}
		if models.SeverityRank(f.Severity) >= models.SeverityRank(models.SeverityMedium) {
			want[f.ID] = &f
		} else {
			low++
		}
	}
	fh.Close()
	if len(want) == 0 || low == 0 {
		t.Fatalf("the simulated run gave %d medium+ and %d lower findings; want some of each", len(want), low)
	}

	wantIDs := make([]string, 0, len(want))
	for id := range want {
		wantIDs = append(wantIDs, id)
	}
	sort.Strings(wantIDs)
	for _, topic := range []string{kafkabus.TopicAlerts, ocsfTopic} {
		out := runCLI(t, "alerts", "--brokers", addr, "--topic", topic, "--from-beginning", "--format", "json")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		var gotIDs []string
		var prev time.Time
		for _, l := range lines {
			var f models.Finding
			if err := models.UnmarshalFinding([]byte(l), &f); err != nil {
				t.Fatalf("%s: output line %q is not a finding: %v", topic, l, err)
			}
			gotIDs = append(gotIDs, f.ID)
			if f.TS.Before(prev) {
				t.Errorf("%s: alerts out of time order", topic)
			}
			prev = f.TS
			w, ok := want[f.ID]
			if !ok {
				t.Errorf("%s: alert %s (%s) is not a medium+ finding of the run", topic, f.ID, f.Severity)
				continue
			}
			if !sameJSON(t, w, &f) {
				t.Errorf("%s: alert %s differs from the finding:\n got %s\nwant %s", topic, f.ID, l, mustJSON(t, w))
			}
		}
		sort.Strings(gotIDs)
		if !reflect.DeepEqual(gotIDs, wantIDs) {
			t.Errorf("%s: read %d alerts; want exactly the %d medium+ findings", topic, len(gotIDs), len(wantIDs))
		}
	}

	ocsf := runCLI(t, "alerts", "--brokers", addr, "--from-beginning", "--format", "ocsf", "--min-severity", "high")
	high := 0
	for _, f := range want {
		if f.Severity != models.SeverityMedium {
			high++
		}
	}
	lines := strings.Split(strings.TrimSpace(ocsf), "\n")
	if high == 0 {
		lines = nil
	}
	if len(lines) != high {
		t.Errorf("--min-severity high --format ocsf printed %d alerts; want %d", len(lines), high)
	}
	for _, l := range lines {
		if !strings.Contains(l, `"class_uid":2004`) {
			t.Errorf("OCSF line without class_uid 2004: %s", l)
		}
	}
	text := runCLI(t, "alerts", "--brokers", addr, "--from-beginning", "--format", "text", "--color", "never", "--min-severity", "info")
	if n := len(strings.Split(strings.TrimSpace(text), "\n")); n != len(want) {
		t.Errorf("text output has %d lines; want %d", n, len(want))
	}
}

func mustJSON(t *testing.T, f *models.Finding) string {
	b, err := models.MarshalFinding(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sameJSON compares two findings as decoded JSON (evidence numbers round-trip as floats).
func sameJSON(t *testing.T, a, b *models.Finding) bool {
	var x, y any
	_ = json.Unmarshal([]byte(mustJSON(t, a)), &x)
	_ = json.Unmarshal([]byte(mustJSON(t, b)), &y)
	return reflect.DeepEqual(x, y)
}

// TestAlertSinkFlags builds the analyzer's webhook and syslog sinks from flags: both get
// medium+ alerts, and storm control folds a burst into one summary.
func TestAlertSinkFlags(t *testing.T) {
	var mu sync.Mutex
	var hooks []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts, _ := strconv.ParseInt(r.Header.Get(alerting.HeaderTimestamp), 10, 64)
		if !alerting.Verify("hook-secret", r.Header.Get(alerting.HeaderSignature), ts, body) {
			t.Errorf("webhook signature does not verify")
		}
		mu.Lock()
		hooks = append(hooks, string(body))
		mu.Unlock()
	}))
	defer srv.Close()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	syslogs := make(chan string, 100)
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			syslogs <- string(buf[:n])
		}
	}()
	t.Setenv("APISCOPE_WEBHOOK_SECRET", "hook-secret")
	var a alertSinkFlags
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	a.register(fs)
	if err := fs.Parse([]string{"--webhook-url", srv.URL, "--syslog-addr", pc.LocalAddr().String(), "--alert-storm-max", "2", "--alert-storm-window", "1m"}); err != nil {
		t.Fatal(err)
	}
	sink, err := a.build(alerting.Filter{MinSeverity: models.SeverityMedium}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 6; i++ { // 2 pass, 4 folded into one summary
		f := &models.Finding{ID: "burst-" + strconv.Itoa(i), TS: t0.Add(time.Duration(i) * time.Second), ClientID: "c1",
			Kind: models.KindRateSpike, Severity: models.SeverityHigh, Summary: "fast"}
		if err := sink.WriteFinding(context.Background(), f); err != nil {
			t.Fatal(err)
		}
	}
	low := &models.Finding{ID: "low", TS: t0, ClientID: "c2", Kind: models.KindScopeDrift, Severity: models.SeverityLow}
	_ = sink.WriteFinding(context.Background(), low)
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := append([]string(nil), hooks...)
	mu.Unlock()
	if len(got) != 3 || !strings.Contains(got[2], "4 more rate_spike alerts") {
		t.Errorf("webhook got %d alerts; want 2 and a summary of 4 folded: %q", len(got), got)
	}
	for i := 0; i < 3; i++ {
		select {
		case m := <-syslogs:
			if !strings.Contains(m, "CEF:0|apiscope|apiscope|") {
				t.Errorf("syslog message %q; want CEF", m)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("syslog received %d of 3 alerts", i)
		}
	}
	bad := alertSinkFlags{format: "xml"}
	if _, err := bad.build(alerting.Filter{}, nil, nil); err == nil {
		t.Error("build accepted --alert-format xml")
	}
}
