package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/store/chtest"
)

// benchPool makes n calls that look like production traffic: 2000 clients with one or two
// addresses, a few dozen endpoints on three hosts, a handful of user agents, numeric and
// UUID ids in paths, trace ids on half the calls, mostly 2xx. Callers set TS.
func benchPool(n int) []models.APICall {
	r := rand.New(rand.NewPCG(1, 2))
	hosts := []string{"api.example.com", "orders.internal", "payments.internal"}
	type ep struct{ method, tmpl, prefix string }
	var eps []ep
	for _, res := range []string{"users", "orders", "invoices", "products", "carts", "payments", "refunds", "reports", "sessions", "addresses", "reviews", "shipments"} {
		eps = append(eps,
			ep{"GET", "/api/v1/" + res + "/{id}", "/api/v1/" + res + "/"},
			ep{"GET", "/api/v1/" + res, "/api/v1/" + res},
			ep{"POST", "/api/v1/" + res, "/api/v1/" + res},
		)
	}
	uas := []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0 Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
		"okhttp/4.12.0", "python-httpx/0.27.0", "Go-http-client/1.1", "billing-agent/2.3", "curl/8.5.0",
	}
	statuses := []int{200, 200, 200, 200, 200, 200, 200, 201, 204, 304, 400, 401, 403, 404, 500, 503}
	out := make([]models.APICall, n)
	for i := range out {
		cl := r.IntN(2000)
		e := eps[r.IntN(len(eps))]
		path := e.prefix
		if e.tmpl != e.prefix {
			if r.IntN(4) == 0 {
				path += fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", r.Uint32(), r.IntN(1<<16), r.IntN(1<<12), r.IntN(1<<12), r.Uint64()&(1<<48-1))
			} else {
				path += fmt.Sprint(r.IntN(1_000_000))
			}
		}
		q := ""
		if e.method == "GET" && e.tmpl == e.prefix {
			q = fmt.Sprintf("page=%d&limit=50", r.IntN(20))
		}
		uri := path
		if q != "" {
			uri += "?" + q
		}
		c := models.APICall{
			SrcIP: fmt.Sprintf("10.%d.%d.%d", cl/5000, cl/250%20, cl%250+1+r.IntN(2)), SrcPort: uint16(32768 + r.IntN(28000)),
			DstIP: fmt.Sprintf("10.0.9.%d", 10+i%3), DstPort: 443, Method: e.method, Host: hosts[r.IntN(len(hosts))],
			URI: uri, Path: path, Query: q, Template: e.tmpl, Status: statuses[r.IntN(len(statuses))],
			RespBytes: int64(r.IntN(20000)), LatencyMS: float64(r.IntN(200000)) / 1000,
			UserAgent: uas[cl%len(uas)], ContentType: "application/json",
			ClientID: fmt.Sprintf("user-%d", cl), Principal: fmt.Sprintf("user-%d", cl), Auth: models.AuthJWT,
			CredFP: fmt.Sprintf("fp:jwt:%016x", uint64(cl)*0x9e3779b97f4a7c15),
		}
		if e.method == "POST" {
			c.ReqBytes = int64(100 + r.IntN(2000))
		}
		if cl%7 == 0 {
			c.Actor = "billing-agent"
			c.ClientID += "|billing-agent"
		}
		if r.IntN(2) == 0 {
			c.TraceID = fmt.Sprintf("%016x%016x", r.Uint64(), r.Uint64())
		}
		out[i] = c
	}
	return out
}

// BenchmarkCallColumns measures turning calls into insert columns (no server).
func BenchmarkCallColumns(b *testing.B) {
	pool := benchPool(10000)
	base := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	for i := range pool {
		pool[i].TS = base.Add(time.Duration(i) * 300 * time.Microsecond)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N / len(pool) {
		var cc callColumns
		cc.fill(pool)
	}
	b.ReportMetric(float64(len(pool)), "rows/op-batch")
}

// BenchmarkBatchWriterCalls writes b.N calls into api_calls through a BatchWriter, as the
// analyzer does, and reports sustained rows/s (Add of the first row to Close) and bytes on
// disk per call after merges. Run it with a fixed count, e.g.
//
//	go test ./pkg/store -run '^$' -bench BatchWriterCalls -benchtime 2000000x
func BenchmarkBatchWriterCalls(b *testing.B) {
	srv := chtest.Shared(b)
	st, err := OpenWith(context.Background(), srv.DSN(chtest.UniqueDB(b)), nil, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if err := st.ApplySchema(ctx); err != nil {
		b.Fatal(err)
	}
	pool := benchPool(100000)
	base := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	w := st.NewBatchWriter(BatchConfig{}) // the defaults, as the analyzer uses them
	const chunk = 1000
	buf := make([]models.APICall, chunk)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	clientCPU0, serverCPU0 := processCPU(os.Getpid()), processCPU(srv.PID())
	for i := 0; i < b.N; i += chunk {
		n := min(chunk, b.N-i)
		for j := range n {
			c := pool[(i+j)%len(pool)]
			// 5000 calls per second of capture time: a day partition every 432M calls.
			c.TS = base.Add(time.Duration(i+j) * 200 * time.Microsecond)
			buf[j] = c
		}
		if err := w.AddCalls(ctx, buf[:n]...); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(ctx); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	clientCPU, serverCPU := processCPU(os.Getpid())-clientCPU0, processCPU(srv.PID())-serverCPU0
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "rows/s")
	// CPU per row, client and server: on a shared machine wall-clock throughput says how
	// busy the neighbours were; CPU time says what a row costs.
	if clientCPU > 0 && serverCPU > 0 {
		b.ReportMetric(float64(clientCPU.Nanoseconds())/float64(b.N), "client_cpu_ns/row")
		b.ReportMetric(float64(serverCPU.Nanoseconds())/float64(b.N), "server_cpu_ns/row")
	}
	if b.N < 10000 {
		return
	}
	if err := st.Conn().Exec(ctx, "OPTIMIZE TABLE api_calls FINAL"); err != nil {
		b.Fatal(err)
	}
	var rows, disk, raw uint64
	if err := st.Conn().QueryRow(ctx, "SELECT sum(rows), sum(bytes_on_disk), sum(data_uncompressed_bytes) FROM system.parts WHERE database = ? AND table = 'api_calls' AND active", st.Database()).Scan(&rows, &disk, &raw); err != nil {
		b.Fatal(err)
	}
	if rows != uint64(b.N) {
		b.Fatalf("api_calls has %d rows; wrote %d", rows, b.N)
	}
	b.ReportMetric(float64(disk)/float64(rows), "disk_B/call")
	b.ReportMetric(float64(raw)/float64(rows), "raw_B/call")
}

// processCPU returns the user plus system CPU time of process pid from /proc (0 when it
// cannot be read, e.g. not on Linux).
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name (which may contain spaces) start at state (field 3);
	// utime and stime are fields 14 and 15, in clock ticks (USER_HZ, 100 on Linux).
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
