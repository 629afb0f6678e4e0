package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/store/chtest"
)

// genCalls makes n distinct calls (distinct dedup keys) starting at seq.
func genCalls(seq, n int, base time.Time) []models.APICall {
	out := make([]models.APICall, n)
	for i := range out {
		k := seq + i
		out[i] = models.APICall{
			TS: base.Add(time.Duration(k) * time.Millisecond), SrcIP: fmt.Sprintf("10.1.%d.%d", k/250%250, k%250), SrcPort: uint16(1024 + k%60000),
			DstIP: "10.0.9.10", DstPort: 443, Method: "GET", Host: "api.example.com",
			URI: fmt.Sprintf("/api/v1/users/%d?expand=orders", k%5000), Path: fmt.Sprintf("/api/v1/users/%d", k%5000), Query: "expand=orders",
			Template: "/api/v1/users/{id}", Status: 200, RespBytes: int64(300 + k%900), LatencyMS: 12.5,
			UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/131.0", ContentType: "application/json",
			ClientID: fmt.Sprintf("user-%d", k%500), Principal: fmt.Sprintf("user-%d", k%500), Auth: models.AuthJWT,
			CredFP: fmt.Sprintf("fp:jwt:%04x", k%500), TraceID: fmt.Sprintf("%032x", k),
		}
	}
	return out
}

func count(t *testing.T, st *Store, q string) uint64 {
	t.Helper()
	var n uint64
	if err := st.Conn().QueryRow(testCtx(t), q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestBatchWriterSizeTimeFlush(t *testing.T) {
	st, _ := openTest(t)
	ctx := testCtx(t)
	if err := st.ApplySchema(ctx); err != nil {
		t.Fatal(err)
	}
	w := st.NewBatchWriter(BatchConfig{MaxRows: 100, MaxDelay: 100 * time.Millisecond})
	base := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 25; i++ {
		if err := w.AddCalls(ctx, genCalls(i*10, 10, base)...); err != nil {
			t.Fatal(err)
		}
	}
	fx := newFixture(base)
	if err := w.AddFindings(ctx, fx.findings...); err != nil {
		t.Fatal(err)
	}
	if err := w.AddProfiles(ctx, fx.profiles...); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, st, "SELECT count() FROM api_calls"); n != 250 {
		t.Fatalf("after Flush api_calls has %d rows; want 250", n)
	}
	if n := count(t, st, "SELECT count() FROM findings"); int(n) != len(fx.findings) {
		t.Fatalf("after Flush findings has %d rows; want %d", n, len(fx.findings))
	}
	if n := count(t, st, "SELECT count() FROM client_profiles"); int(n) != len(fx.profiles) {
		t.Fatalf("after Flush client_profiles has %d rows; want %d", n, len(fx.profiles))
	}
	if w.Pending() != 0 {
		t.Fatalf("Pending() after Flush = %d; want 0", w.Pending())
	}
	// A few rows, no Flush: MaxDelay writes them.
	if err := w.AddCalls(ctx, genCalls(1000, 3, base)...); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for count(t, st, "SELECT count() FROM api_calls") != 253 {
		if time.Now().After(deadline) {
			t.Fatal("rows below MaxRows were not written after MaxDelay")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Flush with nothing buffered returns at once.
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.AddCalls(ctx, genCalls(2000, 1, base)...); !errors.Is(err, ErrClosed) {
		t.Fatalf("AddCalls after Close = %v; want ErrClosed", err)
	}
}

func TestBatchWriterPermanentError(t *testing.T) {
	st, _ := openTest(t) // no schema: every insert fails with "table does not exist"
	ctx := testCtx(t)
	w := st.NewBatchWriter(BatchConfig{MaxRows: 10})
	if err := w.AddCalls(ctx, genCalls(0, 5, time.Unix(0, 0))...); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err == nil {
		t.Fatal("Flush succeeded without a table; want the insert error")
	}
	if err := w.AddCalls(ctx, genCalls(5, 1, time.Unix(0, 0))...); err == nil {
		t.Fatal("AddCalls after a failed insert succeeded; want the sticky error")
	}
	if err := w.Close(ctx); err == nil {
		t.Fatal("Close after a failed insert returned nil; want the error")
	}
}

// TestBatchWriterClickHouseOutage stops ClickHouse while rows are being written and
// restarts it on the same ports and data: the writer blocks its caller (memory stays
// bounded), retries, and in the end every row is stored once.
func TestBatchWriterClickHouseOutage(t *testing.T) {
	for _, mode := range []string{"sigterm", "sigkill"} {
		t.Run(mode, func(t *testing.T) { testOutage(t, mode) })
	}
}

func testOutage(t *testing.T, mode string) {
	if testing.Short() {
		t.Skip("starts and stops a ClickHouse server")
	}
	srv := chtest.Start(t)
	st := openDSN(t, srv.DSN("outage"), Options{RetryInitial: 20 * time.Millisecond, RetryMax: 300 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := st.ApplySchema(ctx); err != nil {
		t.Fatal(err)
	}
	const (
		total    = 60000
		chunk    = 500
		maxRows  = 2000
		maxHeld  = 4000
		stopAt   = 20000 // rows added before the server goes away
		downtime = 1500 * time.Millisecond
	)
	w := st.NewBatchWriter(BatchConfig{MaxRows: maxRows, MaxDelay: 50 * time.Millisecond, MaxPending: maxHeld})
	base := time.Date(2026, 2, 3, 4, 0, 0, 0, time.UTC)
	retries0, connErrs0, rows0, blocked0 := callsMetrics.retries.Load(), callsMetrics.errConn.Load(), callsMetrics.rows.Load(), blockedAdds.Load()
	fx := newFixture(base)

	var (
		outageOnce sync.Once
		outageDone = make(chan error, 1)
		maxPending int
		blocked    bool
	)
	for seq := 0; seq < total; seq += chunk {
		if seq >= stopAt {
			outageOnce.Do(func() {
				// Stop mid-stream: inserts are in flight or about to be.
				stopStart := time.Now()
				defer func() { t.Logf("server stopped (%s) in %v", mode, time.Since(stopStart)) }()
				if mode == "sigkill" {
					if err := srv.Kill(); err != nil {
						t.Fatal(err)
					}
				} else if err := srv.Stop(); err != nil {
					t.Fatal(err)
				}
				go func() {
					time.Sleep(downtime)
					outageDone <- srv.Restart()
				}()
			})
		}
		start := time.Now()
		if err := w.AddCalls(ctx, genCalls(seq, chunk, base)...); err != nil {
			t.Fatal(err)
		}
		if time.Since(start) > downtime/2 {
			blocked = true
		}
		if seq%5000 == 0 { // re-delivered findings, as after a consumer restart
			if err := w.AddFindings(ctx, fx.findings...); err != nil {
				t.Fatal(err)
			}
		}
		maxPending = max(maxPending, w.Pending())
		if seq%10000 == 5000 {
			// An offset commit point: Flush must wait through the outage.
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := <-outageDone; err != nil {
		t.Fatalf("restart: %v", err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if !blocked {
		t.Error("AddCalls never blocked during the outage; want backpressure")
	}
	// The outage shows in the metrics: retries, connection errors, blocked adds, and
	// every row counted as written.
	if d := callsMetrics.retries.Load() - retries0; d == 0 {
		t.Error("apiscope_store_retries_total{table=api_calls} did not move during the outage")
	}
	if d := callsMetrics.errConn.Load() - connErrs0; d == 0 {
		t.Error("apiscope_store_write_errors_total{reason=connection} did not move during the outage")
	}
	if d := blockedAdds.Load() - blocked0; d == 0 {
		t.Error("apiscope_store_add_blocked_total did not move during the outage")
	}
	if d := callsMetrics.rows.Load() - rows0; d < total {
		t.Errorf("apiscope_store_rows_written_total grew by %d; want at least %d", d, total)
	}
	if maxPending > maxHeld {
		t.Errorf("writer held %d rows; bound is %d", maxPending, maxHeld)
	}
	rows := count(t, st, "SELECT count() FROM api_calls")
	uniq := count(t, st, "SELECT uniqExact(dedup_key) FROM api_calls")
	if uniq != total {
		t.Fatalf("api_calls has %d distinct calls; want %d (rows %d)", uniq, total, rows)
	}
	if mode == "sigterm" && rows != total {
		t.Fatalf("api_calls has %d rows for %d calls after a clean stop; want no duplicate", rows, total)
	}
	if rows != total {
		// An insert the server committed just before it was killed, whose reply never
		// came, is sent again: dedup_key makes the count exact.
		t.Logf("%d rows for %d calls after a kill; uniqExact(dedup_key) counts them exactly", rows, total)
	}
	if n := count(t, st, "SELECT count() FROM findings FINAL"); int(n) != len(fx.findings) {
		t.Fatalf("findings FINAL = %d; want %d", n, len(fx.findings))
	}
}
