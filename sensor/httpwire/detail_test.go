package httpwire

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/apiscope/apiscope/pkg/metrics"
)

func collect(cfg *Config) (*Conn, *[]*Transaction) {
	var out []*Transaction
	return NewConn(cfg, func(tx *Transaction) { out = append(out, tx) }), &out
}

func TestConnTimestamps(t *testing.T) {
	c, out := collect(nil)
	ts := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Millisecond) }
	c.Feed(1, []byte("GET /a HT"), ts(1))
	c.Feed(1, []byte("TP/1.1\r\n\r\nGET /b HTTP/1.1\r\n"), ts(2))
	c.Feed(1, []byte("\r\n"), ts(3))
	c.Feed(0, []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), ts(10))
	c.Feed(0, []byte("HTTP/1.1 2"), ts(20))
	c.Feed(0, []byte("04 No Content\r\n\r\n"), ts(21))
	c.End(ts(30))
	if len(*out) != 2 {
		t.Fatalf("got %d transactions; want 2", len(*out))
	}
	for i, want := range [][2]int{{1, 10}, {2, 20}} {
		tx := (*out)[i]
		if !tx.Req.TS.Equal(ts(want[0])) || !tx.Resp.TS.Equal(ts(want[1])) {
			t.Errorf("transaction %d: req ts %v resp ts %v; want %v %v", i, tx.Req.TS, tx.Resp.TS, ts(want[0]), ts(want[1]))
		}
		if tx.ClientSide != 1 {
			t.Errorf("transaction %d: client side %d; want 1", i, tx.ClientSide)
		}
	}
}

// A start line glued to garbage takes the time of the segment that carried its first byte.
func TestConnTimestampResync(t *testing.T) {
	c, out := collect(nil)
	c.Feed(0, []byte("\x00\x01garbage"), t0)
	c.Feed(0, []byte("GET /late HTTP/1.1\r\n\r\n"), t0.Add(time.Second))
	c.End(t0.Add(2 * time.Second))
	if len(*out) != 1 || !(*out)[0].Req.TS.Equal(t0.Add(time.Second)) {
		t.Fatalf("got %v; want one request at t0+1s", *out)
	}
}

func TestConnHeaders(t *testing.T) {
	c, out := collect(nil)
	c.Feed(0, []byte("GET /h HTTP/1.1\r\nHost: api.example\r\nX-Folded: one\r\n  two\r\n\tthree\r\nX-Empty:\r\n later\r\n"+
		"User-Agent:   curl/8  \r\nbroken line\r\nAccept: a\r\nAccept: b\r\n\r\n"), t0)
	c.Feed(1, []byte("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nContent-Length: 2\r\n\r\n{}"), t0)
	c.End(t0)
	if len(*out) != 1 {
		t.Fatalf("got %d transactions; want 1", len(*out))
	}
	h := (*out)[0].Req.Header
	for _, tc := range []struct{ name, want string }{
		{"host", "api.example"},
		{"X-FOLDED", "one two three"},
		{"x-empty", "later"},
		{"User-Agent", "curl/8"},
		{"Accept", "a"},
		{"missing", ""},
	} {
		if got := h.Get(tc.name); got != tc.want {
			t.Errorf("Header.Get(%q) = %q; want %q", tc.name, got, tc.want)
		}
	}
	if got := h.Values("accept"); len(got) != 2 || got[1] != "b" {
		t.Errorf("Header.Values(accept) = %q; want [a b]", got)
	}
	if h[0].Name != "Host" {
		t.Errorf("first field name %q; want Host as sent", h[0].Name)
	}
	if got := (*out)[0].Resp.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("response Content-Type %q", got)
	}
}

func TestConnBodyPrefix(t *testing.T) {
	c, out := collect(&Config{BodyPrefix: 4})
	c.Feed(0, []byte("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n"), t0)
	c.Feed(1, []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), t0)
	c.End(t0)
	tx := (*out)[0]
	if string(tx.Req.Body) != "abcd" || tx.Req.BodyBytes != 5 || string(tx.Resp.Body) != "ok" {
		t.Fatalf("bodies %q (%d) %q; want abcd (5) ok", tx.Req.Body, tx.Req.BodyBytes, tx.Resp.Body)
	}
	c, out = collect(nil)
	c.Feed(0, []byte("POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nab"), t0)
	c.End(t0)
	if (*out)[0].Req.Body != nil {
		t.Fatalf("body kept with BodyPrefix 0")
	}
}

// TestConnBounded feeds endless lines and bodies: what a Conn holds stays within limits.
func TestConnBounded(t *testing.T) {
	cfg := &Config{MaxHeaderBytes: 1024, MaxStartLine: 256, MaxChunkLine: 64, MaxPending: 5}
	chunk := bytes.Repeat([]byte("A"), 300)
	for _, prefix := range []string{
		"",                      // garbage without LF
		"GET / HTTP/1.1\r\nX: ", // one endless header line
		"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;", // endless chunk extension
	} {
		c, _ := collect(cfg)
		c.Feed(0, []byte(prefix), t0)
		for range 1000 {
			c.Feed(0, chunk, t0)
			checkBounds(t, c)
		}
		c.End(t0)
	}
	c, out := collect(cfg)
	for range 1000 {
		c.Feed(0, []byte("GET /p HTTP/1.1\r\nA: b\r\n\r\n"), t0)
		checkBounds(t, c)
	}
	c.End(t0)
	if len(*out) != 1000 {
		t.Fatalf("got %d transactions; want 1000", len(*out))
	}
}

func checkBounds(t *testing.T, c *Conn) {
	t.Helper()
	if p := len(c.q) - c.head; p > c.lim.maxPending {
		t.Fatalf("%d pending requests; limit %d", p, c.lim.maxPending)
	}
	if c.pendingBytes > max(c.lim.maxPendingBytes, c.lim.maxHeaderBytes) {
		t.Fatalf("pending requests hold %d header bytes; limit %d", c.pendingBytes, c.lim.maxPendingBytes)
	}
	if cap(c.q) > 4*c.lim.maxPending+64 {
		t.Fatalf("pending queue capacity %d", cap(c.q))
	}
	for i := range c.sides {
		s := &c.sides[i]
		if len(s.line) > max(c.lim.maxHeaderBytes, c.lim.maxStartLine, c.lim.maxChunkLine) {
			t.Fatalf("side %d holds a %d-byte partial line", i, len(s.line))
		}
		if s.sc != nil && len(s.sc.hdr) > c.lim.maxHeaderBytes {
			t.Fatalf("side %d holds %d header bytes; limit %d", i, len(s.sc.hdr), c.lim.maxHeaderBytes)
		}
	}
}

func counter(name string, labels ...string) uint64 {
	return metrics.Default.Counter(name, "", labels...).Load()
}

// TestConnCounters checks that each kind of damage is counted.
func TestConnCounters(t *testing.T) {
	type snap map[string]uint64
	names := []struct {
		key    string
		name   string
		labels []string
	}{
		{"requests", "apiscope_sensor_http_requests_total", nil},
		{"responses", "apiscope_sensor_http_responses_total", nil},
		{"interim", "apiscope_sensor_http_interim_responses_total", nil},
		{"transactions", "apiscope_sensor_http_transactions_total", nil},
		{"unmatched", "apiscope_sensor_http_unmatched_responses_total", nil},
		{"noresp", "apiscope_sensor_http_requests_without_response_total", nil},
		{"gaps", "apiscope_sensor_http_gaps_total", nil},
		{"gapbytes", "apiscope_sensor_http_gap_bytes_total", nil},
		{"resync", "apiscope_sensor_http_resync_skipped_bytes_total", nil},
		{"upgradedbytes", "apiscope_sensor_http_upgraded_bytes_total", nil},
		{"upgrade", "apiscope_sensor_http_upgrades_total", []string{"kind", "upgrade"}},
		{"connect", "apiscope_sensor_http_upgrades_total", []string{"kind", "connect"}},
		{"tunnelhttp", "apiscope_sensor_http_connect_tunnels_http_total", nil},
		{"badstart", "apiscope_sensor_http_parse_errors_total", []string{"reason", "bad_start_line"}},
		{"conflict", "apiscope_sensor_http_parse_errors_total", []string{"reason", "conflicting_content_length"}},
		{"badcl", "apiscope_sensor_http_parse_errors_total", []string{"reason", "bad_content_length"}},
		{"tecl", "apiscope_sensor_http_parse_errors_total", []string{"reason", "te_and_cl"}},
		{"chunk", "apiscope_sensor_http_parse_errors_total", []string{"reason", "bad_chunk_size"}},
		{"pending", "apiscope_sensor_http_parse_errors_total", []string{"reason", "too_many_pending"}},
		{"badheader", "apiscope_sensor_http_parse_errors_total", []string{"reason", "bad_header_line"}},
		{"trunc_bytes", "apiscope_sensor_http_truncated_total", []string{"limit", "header_bytes"}},
		{"trunc_count", "apiscope_sensor_http_truncated_total", []string{"limit", "header_count"}},
	}
	take := func() snap {
		m := snap{}
		for _, n := range names {
			m[n.key] = counter(n.name, n.labels...)
		}
		return m
	}
	for _, tc := range []struct {
		name   string
		cfg    *Config
		script []ev
		want   snap
	}{
		{"transaction", nil, []ev{req("GET / HTTP/1.1\r\n\r\n"), resp("HTTP/1.1 100 Continue\r\n\r\n" + okBody)},
			snap{"requests": 1, "responses": 1, "interim": 1, "transactions": 1}},
		{"unmatched and unanswered", nil, []ev{resp(okBody), req("GET / HTTP/1.1\r\n\r\n")},
			snap{"requests": 1, "responses": 1, "unmatched": 1, "transactions": 1, "noresp": 1}},
		{"garbage", nil, []ev{req("GET / HTTP/1.1\r\n\r\n12345\r\n")},
			snap{"requests": 1, "transactions": 1, "noresp": 1, "resync": 7, "badstart": 1}},
		{"capture start is quiet", nil, []ev{req("12345\r\nGET / HTTP/1.1\r\n\r\n")},
			snap{"requests": 1, "transactions": 1, "noresp": 1, "resync": 7}},
		{"gap", nil, []ev{req("GET / HTTP/1.1\r\n"), {side: 0, gap: 9}, req("xx\r\n")},
			snap{"requests": 1, "transactions": 1, "noresp": 1, "gaps": 1, "gapbytes": 9, "resync": 4}},
		{"upgrade", nil, []ev{req("GET / HTTP/1.1\r\n\r\n"), resp("HTTP/1.1 101 Switching\r\n\r\nabc"), req("xy")},
			snap{"requests": 1, "responses": 1, "transactions": 1, "upgrade": 1, "upgradedbytes": 5}},
		{"connect", nil, []ev{req("CONNECT h:443 HTTP/1.1\r\n\r\n"), resp("HTTP/1.1 200 OK\r\n\r\n")},
			snap{"requests": 1, "responses": 1, "transactions": 1, "connect": 1}},
		{"connect carrying http", nil, []ev{req("CONNECT h:80 HTTP/1.1\r\n\r\n"), resp("HTTP/1.1 200 OK\r\n\r\n"), req("GET / HTTP/1.1\r\n\r\n")},
			snap{"requests": 2, "responses": 1, "transactions": 2, "noresp": 1, "connect": 1, "tunnelhttp": 1}},
		{"framing errors", nil, []ev{req("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\nContent-Length: x\r\nTransfer-Encoding: chunked\r\nnocolon\r\n\r\nz\r\n")},
			snap{"requests": 1, "transactions": 1, "noresp": 1, "conflict": 1, "badcl": 1, "tecl": 1, "badheader": 1, "chunk": 1}},
		{"limits", &Config{MaxHeaders: 1, MaxHeaderBytes: 40, MaxPending: 1}, []ev{req("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\nGET / HTTP/1.1\r\nA: 123456789012345678901234567890\r\n\r\n")},
			snap{"requests": 2, "transactions": 2, "noresp": 2, "trunc_count": 1, "trunc_bytes": 1, "pending": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := take()
			play(tc.cfg, tc.script, -1, 0, 0)
			after := take()
			for _, n := range names {
				if d := after[n.key] - before[n.key]; d != tc.want[n.key] {
					t.Errorf("%s%s went up by %d; want %d", n.name, metrics.Labels(n.labels...), d, tc.want[n.key])
				}
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (&Config{}).Validate(); err != nil {
		t.Fatalf("zero Config: %v", err)
	}
	err := (&Config{MaxPending: -1}).Validate()
	if err == nil || !strings.Contains(err.Error(), "MaxPending") {
		t.Fatalf("Validate(MaxPending -1) = %v; want an error naming MaxPending", err)
	}
}

// Calls after End, bad sides and empty input are ignored.
func TestConnMisuse(t *testing.T) {
	c, out := collect(nil)
	c.Feed(2, []byte("GET / HTTP/1.1\r\n\r\n"), t0)
	c.Feed(-1, nil, t0)
	c.Gap(0, 0, t0)
	c.Gap(5, 10, t0)
	c.Close(3, t0)
	c.Feed(0, nil, t0)
	c.End(t0)
	c.End(t0)
	c.Feed(0, []byte("GET / HTTP/1.1\r\n\r\n"), t0)
	c.Gap(0, 1, t0)
	c.Close(0, t0)
	if len(*out) != 0 {
		t.Fatalf("got %d transactions; want 0", len(*out))
	}
	NewConn(nil, nil).Feed(0, []byte("GET / HTTP/1.1\r\n\r\n"+okBody), t0) // nil emit is allowed
}

// TestConnResyncLinear feeds lines built to make a naive resync scan quadratic: many
// offsets that start a method, and a line that only fails late. 16 MiB must take well
// under the time a quadratic scan would (minutes).
func TestConnResyncLinear(t *testing.T) {
	lines := []string{
		strings.Repeat("GET ", DefaultMaxStartLine/4-4) + "HTTP/1.1\n",
		strings.Repeat("G", DefaultMaxStartLine-10) + " HTTP/1.1\n",
		"\x00" + strings.Repeat("GET\x01", DefaultMaxStartLine/4-4) + " HTTP/1.1\n",
		strings.Repeat("HTTP/1.", DefaultMaxStartLine/7-1) + "\n",
	}
	start := time.Now()
	for _, l := range lines {
		c, _ := collect(nil)
		c.Feed(1, []byte("\x00junk\n"), t0) // resynchronising from here on
		b := []byte(l)
		for range 256 {
			c.Feed(1, b, t0)
		}
		c.End(t0)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("resynchronising over %d MiB took %v", 4*256*DefaultMaxStartLine>>20, d)
	}
}

// TestConnLogsOnce checks that a connection logs its first parse error, reason and side
// only, and stays quiet after.
func TestConnLogsOnce(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	c, _ := collect(&Config{Logger: zap.New(core)})
	c.Feed(0, []byte("GET / HTTP/1.1\r\nno colon\r\nalso none\r\n\r\n\x00junk\r\n"), t0)
	c.End(t0)
	if logs.Len() != 1 {
		t.Fatalf("%d log entries; want 1", logs.Len())
	}
	e := logs.All()[0]
	if e.Message != "http parse error" || e.ContextMap()["reason"] != "bad_header_line" {
		t.Fatalf("logged %q %v", e.Message, e.ContextMap())
	}
}
