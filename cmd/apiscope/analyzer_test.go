package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/kafkabus/kafkatest"
	"github.com/apiscope/apiscope/pkg/simulate"
	"github.com/apiscope/apiscope/pkg/store"
	"github.com/apiscope/apiscope/pkg/store/chtest"
)

// TestAnalyzerRetention: --retention-days drops old api_calls partitions at start and
// again at every interval, and keeps recent ones.
func TestAnalyzerRetention(t *testing.T) {
	srv := chtest.Start(t)
	db := chtest.UniqueDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := store.Open(ctx, srv.DSN(db), log)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.ApplySchema(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	write := func(ages ...int) {
		var calls []models.APICall
		for _, d := range ages {
			calls = append(calls, models.APICall{TS: now.AddDate(0, 0, -d), SrcIP: "10.0.0.1", Method: "GET", Host: "h", URI: "/", ClientID: "c"})
		}
		if err := st.WriteCalls(ctx, calls); err != nil {
			t.Fatal(err)
		}
	}
	days := func() string {
		out, err := srv.QueryIn(db, "SELECT groupArray(d) FROM (SELECT DISTINCT dateDiff('day', toDate(ts), today()) AS d FROM api_calls ORDER BY d)")
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for days() != want {
			if time.Now().After(deadline) {
				t.Fatalf("api_calls holds days %s; want %s", days(), want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	write(0, 1, 40, 41)
	stop := startRetention(ctx, st, 30, 200*time.Millisecond, log)
	defer stop()
	waitFor("[0,1]") // at start
	write(50)
	waitFor("[0,1]") // at the next interval
	stop()
}

// freeAddr returns a loopback address with a port free at the time of the call.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startCLI runs one apiscope command line in the background until ctx ends; the returned
// func waits for it and returns its error.
func startCLI(t *testing.T, ctx context.Context, args ...string) (wait func() error) {
	restore := prepareCLI(args...)
	if c, _, err := rootCmd.Find(args); err == nil {
		c.SetContext(ctx)
	}
	done := make(chan error, 1)
	go func() { done <- rootCmd.ExecuteContext(ctx) }()
	return func() error {
		err := <-done
		restore()
		return err
	}
}

// httpGet returns the status and body of GET url ("" and 0 when it cannot connect).
func httpGet(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAnalyzerMetrics runs 'apiscope analyzer' against a broker holding a simulated
// capture's calls and a ClickHouse server, and scrapes --metrics-addr: consumer lag,
// findings by kind and severity, profiles held and the store's write latency and errors
// are exported, and /readyz answers ready once consumer and ClickHouse are connected.
func TestAnalyzerMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker and clickhouse-server")
	}
	t.Setenv("APISCOPE_FP_KEY", "metrics-test-key-0123456789")
	srv := chtest.Start(t)
	addr := kafkatest.Start(t)
	dir := t.TempDir()
	if _, err := simulate.Generate(context.Background(), simulate.Options{Seed: 6, Scale: "small", OutDir: dir}); err != nil {
		t.Fatal(err)
	}
	runCLI(t, "sensor", "--pcap", filepath.Join(dir, "traffic.pcap"), "--brokers", addr, "--no-progress")

	old := lagInterval
	lagInterval = 200 * time.Millisecond
	defer func() { lagInterval = old }()
	maddr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wait := startCLI(t, ctx, "analyzer", "--brokers", addr, "--group", "metrics-test", "--clickhouse", srv.DSN(chtest.UniqueDB(t)),
		"--state-dir", filepath.Join(dir, "state"), "--metrics-addr", maddr, "--idle-flush", "1s")
	want := []string{
		"apiscope_analyzer_consumer_lag ",
		"apiscope_analyzer_findings_total{kind=",
		"apiscope_analyzer_profiles ",
		`apiscope_store_write_latency_seconds{table="api_calls"} `,
		`apiscope_store_write_errors_total{table="api_calls",reason="connection"} `,
		`apiscope_store_rows_written_total{table="api_calls"} `,
	}
	deadline := time.Now().Add(90 * time.Second)
	var body string
	var ready int
	for {
		ready, _ = httpGet("http://" + maddr + "/readyz")
		var code int
		code, body = httpGet("http://" + maddr + "/metrics")
		missing := ""
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing = w
				break
			}
		}
		lag := metricValue(body, "apiscope_analyzer_consumer_lag ")
		if code == http.StatusOK && ready == http.StatusOK && missing == "" && lag == "0" &&
			metricValue(body, "apiscope_analyzer_profiles ") != "0" && metricValue(body, `apiscope_store_write_latency_seconds{table="api_calls"} `) != "0" {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			_ = wait()
			t.Fatalf("after 90 s: /readyz %d, /metrics %d, missing %q, lag %s:\n%s", ready, code, missing, lag, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	if err := wait(); err != nil {
		t.Fatalf("analyzer: %v", err)
	}
}

// metricValue returns the value of the first series whose line starts with prefix.
func metricValue(body, prefix string) string {
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, prefix) {
			return strings.TrimSpace(l[len(prefix):])
		}
	}
	return ""
}

// TestAnalyzerNotReadyWithoutClickHouse: while ClickHouse cannot be reached, /readyz
// answers 503 and names it.
func TestAnalyzerNotReadyWithoutClickHouse(t *testing.T) {
	addr := kafkatest.Start(t)
	maddr := freeAddr(t)
	dead := freeAddr(t) // nothing listens there
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wait := startCLI(t, ctx, "analyzer", "--brokers", addr, "--clickhouse", "clickhouse://"+dead+"/x?dial_timeout=200ms",
		"--metrics-addr", maddr)
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, body := httpGet("http://" + maddr + "/readyz")
		if code == http.StatusServiceUnavailable && strings.Contains(body, "clickhouse") && strings.Contains(body, "kafka") {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			_ = wait()
			t.Fatalf("/readyz = %d %q; want 503 naming clickhouse and kafka", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	_ = wait() // it fails: ClickHouse was never reached
}
