package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/apiscope/apiscope/models"
)

// readCalls reads every api_calls row back into APICall records, one per dedup key,
// in capture order.
func readCalls(t *testing.T, st *Store) []models.APICall {
	t.Helper()
	rows, err := st.Conn().Query(testCtx(t), `SELECT ts, ts_nsec, src_ip, src_port, dst_ip, dst_port, method, host, uri, path, query, template,
		status, req_bytes, resp_bytes, latency_ms, user_agent, content_type, client_id, principal, actor, auth, cred_fp, trace_id,
		partial, truncated, shadow, scope, iss, xff, dedup_key
		FROM api_calls ORDER BY ts, ts_nsec, dedup_key LIMIT 1 BY dedup_key`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []models.APICall
	for rows.Next() {
		var (
			c                          models.APICall
			ts                         time.Time
			nsec                       uint32
			status                     uint16
			partial, truncated, shadow uint8
			key                        uint64
		)
		if err := rows.Scan(&ts, &nsec, &c.SrcIP, &c.SrcPort, &c.DstIP, &c.DstPort, &c.Method, &c.Host, &c.URI, &c.Path, &c.Query, &c.Template,
			&status, &c.ReqBytes, &c.RespBytes, &c.LatencyMS, &c.UserAgent, &c.ContentType, &c.ClientID, &c.Principal, &c.Actor, &c.Auth, &c.CredFP, &c.TraceID,
			&partial, &truncated, &shadow, &c.Scope, &c.Issuer, &c.XFF, &key); err != nil {
			t.Fatal(err)
		}
		c.TS = time.Unix(ts.Unix(), int64(nsec)).UTC()
		c.Status = int(status)
		c.Partial, c.Truncated, c.Shadow = partial == 1, truncated == 1, shadow == 1
		if want := CallDedupKey(&c); key != want {
			t.Fatalf("row %d: dedup_key = %d; want %d", len(out), key, want)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func readFindings(t *testing.T, st *Store) []models.Finding {
	t.Helper()
	rows, err := st.Conn().Query(testCtx(t), `SELECT id, ts, ts_nsec, client_id, client_ip, principal, actor, kind, severity, severity_rank, score, summary, evidence, related_ips
		FROM findings FINAL ORDER BY ts, ts_nsec, id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []models.Finding
	for rows.Next() {
		var (
			f    models.Finding
			ts   time.Time
			nsec uint32
			rank uint8
			ev   string
		)
		if err := rows.Scan(&f.ID, &ts, &nsec, &f.ClientID, &f.ClientIP, &f.Principal, &f.Actor, &f.Kind, &f.Severity, &rank, &f.Score, &f.Summary, &ev, &f.RelatedIPs); err != nil {
			t.Fatal(err)
		}
		f.TS = time.Unix(ts.Unix(), int64(nsec)).UTC()
		if int(rank) != max(models.SeverityRank(f.Severity), 0) {
			t.Fatalf("finding %s: severity_rank %d for %q", f.ID, rank, f.Severity)
		}
		if err := json.Unmarshal([]byte(ev), &f.Evidence); err != nil {
			t.Fatalf("finding %s: evidence %q: %v", f.ID, ev, err)
		}
		if len(f.RelatedIPs) == 0 {
			f.RelatedIPs = nil
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// normFindings makes findings comparable with what comes back: UTC times and evidence
// through a JSON round trip (numbers become float64).
func normFindings(t *testing.T, fs []models.Finding) []models.Finding {
	t.Helper()
	out := make([]models.Finding, len(fs))
	for i, f := range fs {
		b, err := models.MarshalFinding(&f)
		if err != nil {
			t.Fatal(err)
		}
		if err := models.UnmarshalFinding(b, &out[i]); err != nil {
			t.Fatal(err)
		}
		out[i].TS = out[i].TS.UTC()
	}
	return out
}

func TestWriteCallsRoundTrip(t *testing.T) {
	st, _ := openTest(t)
	ctx := testCtx(t)
	if err := st.ApplySchema(ctx); err != nil {
		t.Fatal(err)
	}
	fx := newFixture(fixtureBase())
	// Every field set, at its extremes where it has them.
	full := models.APICall{
		TS: time.Date(2026, 3, 4, 5, 6, 7, 987654321, time.UTC), SrcIP: "2001:db8::1", SrcPort: 65535, DstIP: "192.0.2.1", DstPort: 1,
		Method: "PATCH", Host: "api.example.com:8443", URI: "/a/%E2%9C%93?x=1&y=\t", Path: "/a/%E2%9C%93", Query: "x=1&y=\t", Template: "/a/{id}",
		Status: 599, ReqBytes: 1 << 40, RespBytes: 0, LatencyMS: 12.345678, UserAgent: "ua \"quoted\" ✓", ContentType: "application/json; charset=utf-8",
		ClientID: "sub|act", Principal: "sub", Actor: "act", Auth: models.AuthJWT, CredFP: "fp:jwt:abcdef", TraceID: "0af7651916cd43dd8448eb211c80319c",
		Partial: true, Truncated: true, Shadow: true, Scope: "a b", Issuer: "https://idp", XFF: "198.51.100.1",
	}
	in := append([]models.APICall{full}, fx.calls...)
	if err := st.WriteCalls(ctx, in); err != nil {
		t.Fatal(err)
	}
	got := readCalls(t, st)
	if len(got) != len(in) {
		t.Fatalf("read %d calls; wrote %d", len(got), len(in))
	}
	want := make(map[uint64]models.APICall, len(in))
	for _, c := range in {
		c.TS = c.TS.UTC()
		want[CallDedupKey(&c)] = c
	}
	for _, g := range got {
		w, ok := want[CallDedupKey(&g)]
		if !ok {
			t.Fatalf("read a call that was not written: %+v", g)
		}
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("round trip changed a call:\n got %+v\nwant %+v", g, w)
		}
	}
}

func TestWriteFindingsRoundTripAndDedup(t *testing.T) {
	st, _ := openTest(t)
	ctx := testCtx(t)
	if err := st.ApplySchema(ctx); err != nil {
		t.Fatal(err)
	}
	fx := newFixture(fixtureBase())
	// Written twice, as after a re-delivery from Kafka.
	for range 2 {
		if err := st.WriteFindings(ctx, fx.findings); err != nil {
			t.Fatal(err)
		}
	}
	got := readFindings(t, st)
	want := normFindings(t, fx.findings)
	byID := map[string]models.Finding{}
	for _, f := range want {
		byID[f.ID] = f
	}
	if len(got) != len(want) {
		t.Fatalf("FINAL returned %d findings; want %d (each once)", len(got), len(want))
	}
	for _, g := range got {
		if w := byID[g.ID]; !reflect.DeepEqual(g, w) {
			t.Fatalf("round trip changed finding %s:\n got %+v\nwant %+v", g.ID, g, w)
		}
	}
	// After a merge the duplicates are gone without FINAL too.
	if err := st.Conn().Exec(ctx, "OPTIMIZE TABLE findings FINAL"); err != nil {
		t.Fatal(err)
	}
	var n uint64
	if err := st.Conn().QueryRow(ctx, "SELECT count() FROM findings").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if int(n) != len(want) {
		t.Fatalf("after OPTIMIZE count() = %d; want %d", n, len(want))
	}
}

func TestWriteProfilesRoundTripAndDedup(t *testing.T) {
	st, _ := openTest(t)
	ctx := testCtx(t)
	if err := st.ApplySchema(ctx); err != nil {
		t.Fatal(err)
	}
	fx := newFixture(fixtureBase())
	for range 2 {
		if err := st.WriteProfiles(ctx, fx.profiles); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := st.Conn().Query(ctx, "SELECT client_id, version, ts, ts_nsec, kind, calls, profile FROM client_profiles FINAL ORDER BY client_id, version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]ProfileRow{}
	for rows.Next() {
		var (
			p    ProfileRow
			ts   time.Time
			nsec uint32
		)
		if err := rows.Scan(&p.ClientID, &p.Version, &ts, &nsec, &p.Kind, &p.Calls, &p.JSON); err != nil {
			t.Fatal(err)
		}
		p.TS = time.Unix(ts.Unix(), int64(nsec)).UTC()
		k := fmt.Sprintf("%s/%d", p.ClientID, p.Version)
		if _, dup := got[k]; dup {
			t.Fatalf("FINAL returned %s twice", k)
		}
		got[k] = p
	}
	if len(got) != len(fx.profiles) {
		t.Fatalf("read %d profiles; want %d", len(got), len(fx.profiles))
	}
	for _, w := range fx.profiles {
		w.TS = w.TS.UTC()
		if g := got[fmt.Sprintf("%s/%d", w.ClientID, w.Version)]; !reflect.DeepEqual(g, w) {
			t.Fatalf("round trip changed a profile:\n got %+v\nwant %+v", g, w)
		}
	}
}

func TestCallDedupKey(t *testing.T) {
	base := models.APICall{TS: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), SrcIP: "10.0.0.1", SrcPort: 1234, DstIP: "10.0.0.2", DstPort: 80, Method: "GET", Host: "h", URI: "/x"}
	k := CallDedupKey(&base)
	same := base
	same.Status, same.RespBytes, same.ClientID = 500, 99, "other" // not identifying
	same.TS = base.TS.In(time.FixedZone("X", 3600))
	if CallDedupKey(&same) != k {
		t.Fatal("dedup key depends on non-identifying fields or the time zone")
	}
	for name, mut := range map[string]func(*models.APICall){
		"ts":       func(c *models.APICall) { c.TS = c.TS.Add(time.Nanosecond) },
		"src_ip":   func(c *models.APICall) { c.SrcIP = "10.0.0.3" },
		"src_port": func(c *models.APICall) { c.SrcPort++ },
		"dst_ip":   func(c *models.APICall) { c.DstIP = "10.0.0.4" },
		"dst_port": func(c *models.APICall) { c.DstPort++ },
		"method":   func(c *models.APICall) { c.Method = "POST" },
		"host":     func(c *models.APICall) { c.Host = "g" },
		"uri":      func(c *models.APICall) { c.URI = "/y" },
		"boundary": func(c *models.APICall) { c.Host, c.URI = "h/", "x" },
	} {
		c := base
		mut(&c)
		if CallDedupKey(&c) == k {
			t.Errorf("changing %s kept the dedup key", name)
		}
	}
}

func TestRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{"eof", fmt.Errorf("clickhouse: %w", io.EOF), true},
		{"flattened", errors.New("write tcp 127.0.0.1:1->127.0.0.1:2: write: broken pipe"), true},
		{"too many parts", &clickhouse.Exception{Code: 252}, true},
		{"unknown column", &clickhouse.Exception{Code: 16, Message: "No such column"}, false},
		{"syntax", &clickhouse.Exception{Code: 62}, false},
		{"canceled", fmt.Errorf("x: %w", errCanceledForTest), false},
		{"conversion", errors.New("clickhouse [AppendRow]: converting string to UInt8 is unsupported"), false},
	}
	for _, tt := range tests {
		if got := Retryable(tt.err); got != tt.want {
			t.Errorf("Retryable(%s: %v) = %v; want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

var errCanceledForTest = contextCanceled()

func TestWriteServerErrorNotRetried(t *testing.T) {
	st, _ := openTest(t)
	ctx := testCtx(t)
	// No schema: the insert fails with "table does not exist" at once, without retries.
	start := time.Now()
	err := st.WriteCalls(ctx, newFixture(fixtureBase()).calls[:3])
	if err == nil || !strings.Contains(err.Error(), "api_calls") {
		t.Fatalf("WriteCalls without schema = %v; want an error naming api_calls", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("WriteCalls took %v; a server error must not be retried", time.Since(start))
	}
}

func TestFindingUpdateKeepsLatest(t *testing.T) {
	st, _ := openTest(t)
	ctx := testCtx(t)
	if err := st.ApplySchema(ctx); err != nil {
		t.Fatal(err)
	}
	first := models.Finding{ID: "inc-1", TS: time.Date(2026, 1, 31, 23, 59, 59, 0, time.UTC), ClientID: "c", Kind: models.KindRateSpike, Severity: models.SeverityMedium, Score: 1}
	grown := first
	grown.TS = time.Date(2026, 2, 1, 0, 4, 0, 0, time.UTC) // the incident grew across a month boundary
	grown.Severity, grown.Score = models.SeverityHigh, 3
	// The grown state is stored, then the first state is re-delivered.
	for _, batch := range [][]models.Finding{{first, grown}, {first}} {
		if err := st.WriteFindings(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	got := readFindings(t, st)
	if len(got) != 1 || got[0].Severity != models.SeverityHigh || !got[0].TS.Equal(grown.TS) {
		t.Fatalf("FINAL = %+v; want only the grown state", got)
	}
	if err := st.Conn().Exec(ctx, "OPTIMIZE TABLE findings FINAL"); err != nil {
		t.Fatal(err)
	}
	if n := count(t, st, "SELECT count() FROM findings WHERE severity = 'high'"); n != 1 {
		t.Fatalf("after OPTIMIZE %d rows in the grown state; want 1", n)
	}
	if n := count(t, st, "SELECT count() FROM findings"); n != 1 {
		t.Fatalf("after OPTIMIZE count() = %d; want 1", n)
	}
}

func TestUnsetTimeIsClamped(t *testing.T) {
	st, _ := openTest(t)
	ctx := testCtx(t)
	if err := st.ApplySchema(ctx); err != nil {
		t.Fatal(err)
	}
	calls := []models.APICall{{ClientID: "zero"}, {ClientID: "far", TS: time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)}}
	if err := st.WriteCalls(ctx, calls); err != nil {
		t.Fatalf("WriteCalls with out-of-range times: %v", err)
	}
	if n := count(t, st, "SELECT count() FROM api_calls WHERE toUInt32(ts) IN (0, 4294967295)"); n != 2 {
		t.Fatalf("%d rows clamped to the DateTime range; want 2", n)
	}
}
