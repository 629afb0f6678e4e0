package store

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/store/chtest"
)

// buildApiscope builds the apiscope binary into a temporary directory.
func buildApiscope(t *testing.T) string {
	t.Helper()
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	bin := filepath.Join(t.TempDir(), "apiscope")
	cmd := exec.Command(goBin, "build", "-o", bin, "github.com/apiscope/apiscope/cmd/apiscope")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/apiscope: %v\n%s", err, out)
	}
	return bin
}

func runApiscope(t *testing.T, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, append(args, "--log-level", "warn")...)
	// A fixed fingerprint key: nothing written under $HOME, same cred_fp every run.
	cmd.Env = append(os.Environ(), "APISCOPE_FP_KEY=0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("apiscope %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	t.Logf("apiscope %s\n%s", args[0], strings.TrimSpace(out.String()))
}

func readJSONL[T any](t *testing.T, path string, decode func([]byte, *T) error) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var v T
		if err := decode(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s line %d: %v", path, len(out)+1, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestReplayIntoClickHouse replays a simulated capture with --clickhouse and checks that
// ClickHouse holds exactly what the replay wrote to its files: every call once, every
// finding in its latest state, and that every cookbook query runs on that data.
func TestReplayIntoClickHouse(t *testing.T) {
	if testing.Short() {
		t.Skip("builds apiscope and replays a simulated capture")
	}
	srv := chtest.Shared(t)
	bin := buildApiscope(t)
	dir := t.TempDir()
	runApiscope(t, bin, "simulate", "--out", dir, "--scale", "small", "--seed", "7")
	db := chtest.UniqueDB(t)
	args := []string{"replay", "--pcap", filepath.Join(dir, "traffic.pcap"),
		"--findings", filepath.Join(dir, "findings.jsonl"), "--calls", filepath.Join(dir, "calls.jsonl"),
		"--clickhouse", srv.DSN(db)}
	specs, _ := filepath.Glob(filepath.Join(dir, "openapi", "*.json"))
	for _, s := range specs {
		args = append(args, "--openapi", s)
	}
	runApiscope(t, bin, args...)

	st := openDSN(t, srv.DSN(db), Options{})
	calls := readJSONL(t, filepath.Join(dir, "calls.jsonl"), models.UnmarshalAPICall)
	if len(calls) == 0 {
		t.Fatal("the replay wrote no calls")
	}
	// api_calls: one row per call in --calls, the same calls.
	if n := count(t, st, "SELECT count() FROM api_calls"); int(n) != len(calls) {
		t.Fatalf("api_calls has %d rows; --calls has %d calls", n, len(calls))
	}
	want := map[uint64]models.APICall{}
	for _, c := range calls {
		c.TS = c.TS.UTC()
		want[CallDedupKey(&c)] = c
	}
	got := readCalls(t, st)
	if len(got) != len(want) {
		t.Fatalf("api_calls has %d distinct calls; --calls has %d", len(got), len(want))
	}
	for _, g := range got {
		if w, ok := want[CallDedupKey(&g)]; !ok || !reflect.DeepEqual(g, w) {
			t.Fatalf("api_calls row differs from --calls:\n got %+v\nwant %+v", g, w)
		}
	}

	// findings FINAL: the latest state of every finding in --findings.
	lines := readJSONL(t, filepath.Join(dir, "findings.jsonl"), models.UnmarshalFinding)
	latest := map[string]models.Finding{}
	for _, f := range lines {
		if prev, ok := latest[f.ID]; !ok || !f.TS.Before(prev.TS) {
			latest[f.ID] = f
		}
	}
	var wantF []models.Finding
	for _, f := range latest {
		wantF = append(wantF, f)
	}
	wantF = normFindings(t, wantF)
	gotF := readFindings(t, st)
	key := func(fs []models.Finding) { sort.Slice(fs, func(i, j int) bool { return fs[i].ID < fs[j].ID }) }
	key(wantF)
	key(gotF)
	if len(gotF) != len(wantF) {
		t.Fatalf("findings FINAL has %d findings; --findings has %d distinct ids (%d lines)", len(gotF), len(wantF), len(lines))
	}
	for i := range gotF {
		if !reflect.DeepEqual(gotF[i], wantF[i]) {
			t.Fatalf("finding %s differs:\n got %+v\nwant %+v", gotF[i].ID, gotF[i], wantF[i])
		}
	}
	t.Logf("replay stored %d calls, %d findings (%d lines), %d profile rows", len(calls), len(gotF), len(lines),
		count(t, st, "SELECT count() FROM client_profiles FINAL"))

	// The cookbook runs on this data: every query succeeds with its documented columns.
	_, queries := loadSQLDoc(t)
	withRows := 0
	for i, q := range queries {
		names, rows, err := runDocQuery(srv, db, q)
		if err != nil {
			t.Errorf("query %d (%s) on the replayed capture: %v", i+1, q.title, err)
			continue
		}
		if w := sampleColumns(q.sample); fmt.Sprint(names) != fmt.Sprint(w) {
			t.Errorf("query %d (%s) returns columns %v; its sample shows %v", i+1, q.title, names, w)
		}
		if rows > 0 {
			withRows++
		} else {
			t.Logf("query %d (%s): no rows on the simulated capture", i+1, q.title)
		}
	}
	// Windows relative to now() find nothing in a capture from another day; the rest
	// must find rows.
	t.Logf("%d of %d cookbook queries return rows on the simulated capture (captured %s)", withRows, len(queries), calls[0].TS.Format(time.DateOnly))
}

// TestReplayClickHouseOutage runs `apiscope replay --clickhouse` as a process, feeding it
// calls on stdin, and stops ClickHouse while it runs: the replay blocks instead of failing
// or dropping, resumes when the server is back on the same ports and data, and in the end
// api_calls holds every call exactly once and findings every finding of the file.
func TestReplayClickHouseOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds apiscope and stops a ClickHouse server")
	}
	srv := chtest.Start(t)
	bin := buildApiscope(t)
	dir := t.TempDir()
	// The calls of a simulated capture (attacks included, so there are findings to
	// store), then bulk traffic after it, enough to pass the writer's bound.
	runApiscope(t, bin, "simulate", "--out", dir, "--scale", "small", "--seed", "11")
	runApiscope(t, bin, "replay", "--pcap", filepath.Join(dir, "traffic.pcap"), "--findings", filepath.Join(dir, "sim-findings.jsonl"), "--calls", filepath.Join(dir, "sim-calls.jsonl"))
	calls := readJSONL(t, filepath.Join(dir, "sim-calls.jsonl"), models.UnmarshalAPICall)
	last := calls[len(calls)-1].TS
	// More than the replay's writer holds by default (2 x 100000 rows) after the stop.
	pool := benchPool(20000)
	for i := range 260000 {
		c := pool[i%len(pool)]
		c.TS = last.Add(time.Minute + time.Duration(i)*time.Millisecond)
		calls = append(calls, c)
	}
	before := 20000
	after := len(calls) - before
	findingsPath := filepath.Join(dir, "findings.jsonl")
	cmd := exec.Command(bin, "replay", "--from-calls", "-", "--findings", findingsPath, "--clickhouse", srv.DSN("outage"), "--log-level", "warn")
	cmd.Env = append(os.Environ(), "APISCOPE_FP_KEY=0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-done
		}
	})
	w := bufio.NewWriter(stdin)
	feed := func(cs []models.APICall) error {
		var line []byte
		for i := range cs {
			line, err = models.AppendAPICallJSON(line[:0], &cs[i])
			if err != nil {
				return err
			}
			if _, err := w.Write(line); err != nil {
				return err
			}
		}
		return w.Flush()
	}
	if err := feed(calls[:before]); err != nil {
		t.Fatal(err)
	}
	// Wait until the first rows are stored, then take the server away.
	probe := func() (uint64, error) {
		out, err := srv.QueryErr("SELECT count() FROM outage.api_calls")
		if err != nil {
			return 0, err
		}
		var n uint64
		_, err = fmt.Sscan(out, &n)
		return n, err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if n, err := probe(); err == nil && n > 0 {
			t.Logf("%d rows stored; stopping ClickHouse", n)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rows reached ClickHouse; replay stderr:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	// Feed the rest while the server is down: more than the writer may hold, so the
	// replay must stop reading (the pipe fills) rather than buffer without bound.
	fed := make(chan error, 1)
	go func() {
		err := feed(calls[before:])
		if cerr := stdin.Close(); err == nil {
			err = cerr
		}
		fed <- err
	}()
	select {
	case err := <-fed:
		t.Fatalf("all calls were accepted while ClickHouse was down (err %v); want backpressure", err)
	case err := <-done:
		t.Fatalf("replay exited while ClickHouse was down: %v\n%s", err, stderr.String())
	case <-time.After(2 * time.Second):
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := <-fed; err != nil {
		t.Fatalf("feeding calls: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("replay failed: %v\n%s", err, stderr.String())
		}
	case <-time.After(3 * time.Minute):
		t.Fatalf("replay did not finish after ClickHouse came back\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "retrying") {
		t.Errorf("replay never logged a retry; was the server really down?\n%s", stderr.String())
	}
	st := openDSN(t, srv.DSN("outage"), Options{})
	total := uint64(before + after)
	if n := count(t, st, "SELECT count() FROM api_calls"); n != total {
		t.Fatalf("api_calls has %d rows; fed %d calls", n, total)
	}
	if n := count(t, st, "SELECT uniqExact(dedup_key) FROM api_calls"); n != total {
		t.Fatalf("api_calls has %d distinct calls; fed %d", n, total)
	}
	lines := readJSONL(t, findingsPath, models.UnmarshalFinding)
	ids := map[string]bool{}
	for _, f := range lines {
		ids[f.ID] = true
	}
	if n := count(t, st, "SELECT count() FROM findings FINAL"); int(n) != len(ids) {
		t.Fatalf("findings FINAL has %d rows; the findings file has %d distinct ids", n, len(ids))
	}
	t.Logf("after the outage: %d calls, %d findings stored once each", total, len(ids))
}

// TestSchemaCommands runs `apiscope schema apply` and `apiscope schema retention` as a
// user does.
func TestSchemaCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds apiscope")
	}
	srv := chtest.Shared(t)
	bin := buildApiscope(t)
	db := chtest.UniqueDB(t)
	run := func(args ...string) (string, error) {
		out, err := exec.Command(bin, append(args, "--log-level", "error")...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	for range 2 {
		out, err := run("schema", "apply", "--clickhouse", srv.DSN(db))
		if want := fmt.Sprintf("database %s: schema version %d", db, LatestVersion()); err != nil || out != want {
			t.Fatalf("schema apply = %q, %v; want %q", out, err, want)
		}
	}
	st := openDSN(t, srv.DSN(db), Options{})
	old := time.Now().UTC().AddDate(0, 0, -10)
	if err := st.WriteCalls(testCtx(t), []models.APICall{{TS: old, ClientID: "c"}, {TS: time.Now().UTC(), ClientID: "c"}}); err != nil {
		t.Fatal(err)
	}
	out, err := run("schema", "retention", "--clickhouse", srv.DSN(db), "--days", "3")
	if want := fmt.Sprintf("database %s: dropped 1 partitions: api_calls/%s", db, old.Format(time.DateOnly)); err != nil || out != want {
		t.Fatalf("schema retention = %q, %v; want %q", out, err, want)
	}
	for _, bad := range [][]string{
		{"schema", "apply"},
		{"schema", "retention", "--clickhouse", srv.DSN(db)},
		{"schema", "apply", "--clickhouse", "http://127.0.0.1:1/x"},
	} {
		out, err := run(bad...)
		if err == nil || !strings.HasPrefix(out, "apiscope: ") || strings.Count(out, "\n") != 0 {
			t.Errorf("apiscope %s = %q, %v; want a one-line error and a non-zero exit", strings.Join(bad, " "), out, err)
		}
	}
}
