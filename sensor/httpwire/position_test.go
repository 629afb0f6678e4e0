package httpwire

import (
	"strings"
	"testing"
	"time"
)

// posEv is a script event with TCP positions: data fed at seq, from a segment that
// acknowledged ack.
type posEv struct {
	side     int
	data     string
	seq, ack uint32
}

func playPositions(script []posEv) []string {
	steps := make([]posStep, len(script))
	for i, e := range script {
		steps[i] = posStep{side: e.side, data: e.data, seq: e.seq, ack: e.ack}
	}
	return playSteps(steps)
}

// posStep is a posEv that may also be a gap (gap > 0) and be captured at t0+at.
type posStep struct {
	side     int
	data     string
	seq, ack uint32
	gap      int
	at       time.Duration
}

func playSteps(script []posStep) []string {
	var out []string
	c := NewConn(nil, func(tx *Transaction) { out = append(out, describe(tx)) })
	for _, e := range script {
		if e.gap > 0 {
			c.Gap(e.side, e.gap, t0)
			continue
		}
		c.At(e.side, e.seq, e.ack, true)
		c.Feed(e.side, []byte(e.data), t0.Add(e.at))
	}
	c.End(t0)
	return out
}

func TestConnPairsByPositionAfterLostResponses(t *testing.T) {
	get := func(p string) string { return "GET " + p + " HTTP/1.1\r\nHost: h\r\n\r\n" }
	const ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" // 40 bytes
	tests := []struct {
		name   string
		script []posEv
		want   []string
	}{
		{
			// The responses to /a and /b were never captured: /c was sent having
			// received 80 bytes more than /a, and the response at 1080 answers it.
			name: "whole responses lost",
			script: []posEv{
				{0, get("/a"), 1, 1000}, {0, get("/b"), 30, 1040}, {0, get("/c"), 59, 1080},
				{1, ok, 1080, 88},
			},
			want: []string{
				`c0 GET "/a" HTTP/1.1 req=0 partial -> none`,
				`c0 GET "/b" HTTP/1.1 req=0 partial -> none`,
				`c0 GET "/c" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=2`,
			},
		},
		{
			// Pipelined: all sent before any answer, with the same acknowledgment.
			name: "pipelined requests stay in order",
			script: []posEv{
				{0, get("/a") + get("/b") + get("/c"), 1, 1000},
				{1, ok + ok, 1000, 88}, {1, ok, 1080, 88},
			},
			want: []string{
				`c0 GET "/a" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=2`,
				`c0 GET "/b" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=2`,
				`c0 GET "/c" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=2`,
			},
		},
		{
			// /b was sent while the response to /a was arriving (acknowledging part of
			// it): the response at 1000 is still /a's.
			name: "request sent during a response",
			script: []posEv{
				{0, get("/a"), 1, 1000}, {1, ok[:20], 1000, 30}, {0, get("/b"), 30, 1020},
				{1, ok[20:], 1020, 59}, {1, ok, 1040, 59},
			},
			want: []string{
				`c0 GET "/a" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=2`,
				`c0 GET "/b" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=2`,
			},
		},
		{
			// Sequence numbers that wrap around.
			name: "wrapped sequence numbers",
			script: []posEv{
				{0, get("/a"), 1, 0xffffffe0}, {0, get("/b"), 30, 0x20},
				{1, ok, 0x20, 59},
			},
			want: []string{
				`c0 GET "/a" HTTP/1.1 req=0 partial -> none`,
				`c0 GET "/b" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=2`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := playPositions(tt.script)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("transactions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestConnPairsLateRequests covers responses that reach the parser before their request:
// the request was held back behind lost client bytes, or cut and ended with the connection.
func TestConnPairsLateRequests(t *testing.T) {
	get := func(p string) string { return "GET " + p + " HTTP/1.1\r\nHost: h\r\n\r\n" } // 29 bytes for "/a"
	const ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"                         // 40 bytes
	tests := []struct {
		name   string
		script []posStep
		want   []string
	}{
		{
			name:   "response first, its request after",
			script: []posStep{{side: 1, data: ok, seq: 1000, ack: 30}, {side: 0, data: get("/a"), seq: 1, ack: 1000}},
			want:   []string{`c0 GET "/a" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=2`},
		},
		{
			// The server's segment had acknowledged none of the request: not its answer.
			name:   "response sent before the request",
			script: []posStep{{side: 1, data: ok, seq: 1000, ack: 1}, {side: 0, data: get("/a"), seq: 1, ack: 1000}},
			want:   []string{`c0 GET "/a" HTTP/1.1 req=0 -> none`},
		},
		{
			name: "body still arriving when the request comes",
			script: []posStep{
				{side: 1, data: ok[:39], seq: 1000, ack: 30}, {side: 0, data: get("/a"), seq: 1, ack: 1000},
				{side: 1, data: ok[39:], seq: 1039, ack: 30},
			},
			want: []string{`c0 GET "/a" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=2`},
		},
		{
			// A request line cut by the snap length, whose connection then ends.
			name:   "cut request line ended with the connection",
			script: []posStep{{side: 0, data: "GET /a.gif HTT", seq: 1, ack: 1000}, {side: 1, data: ok, seq: 1000, ack: 497}},
			want:   []string{`c0 GET "/a.gif"  req=0 partial -> 200 HTTP/1.1 resp=2`},
		},
		{
			// A whole exchange lost on both sides, then a request held back behind the
			// lost client bytes reaches the parser after its response.
			name: "after a lost exchange",
			script: []posStep{
				{side: 0, data: get("/a"), seq: 1, ack: 1000}, {side: 1, data: ok, seq: 1000, ack: 30},
				{side: 1, gap: 40}, {side: 1, data: ok, seq: 1080, ack: 88},
				{side: 0, gap: 29}, {side: 0, data: get("/c"), seq: 59, ack: 1080},
			},
			want: []string{
				`c0 GET "/a" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=2`,
				`c0 GET "/c" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=2`,
			},
		},
		{
			// Taps that merge the two directions can stamp an answer before its request.
			name: "response stamped before its request",
			script: []posStep{
				{side: 1, data: ok, seq: 1000, ack: 30, at: time.Millisecond},
				{side: 0, data: get("/a"), seq: 1, ack: 1000, at: 2 * time.Millisecond},
			},
			want: []string{`c0 GET "/a" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=2`},
		},
		{
			// Pipelined /b and /c, /b lost on the wire; /b's answer reaches the parser
			// before the gap: it is the lost request's, and /c waits for its own.
			name: "answer of a lost pipelined request",
			script: []posStep{
				{side: 0, data: get("/a"), seq: 1, ack: 1000}, {side: 1, data: ok, seq: 1000, ack: 30},
				{side: 1, data: strings.Replace(ok, "200 OK", "404 No", 1), seq: 1040, ack: 88},
				{side: 0, gap: 29}, {side: 0, data: get("/c"), seq: 59, ack: 1040},
				{side: 1, data: ok, seq: 1080, ack: 88},
			},
			want: []string{
				`c0 GET "/a" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=2`,
				`c0 GET "/c" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=2`,
			},
		},
		{
			// Two responses before the request: in order, the first answered a request
			// the capture lost (counted unmatched), and only the second can be /a's.
			name: "two responses without a request",
			script: []posStep{
				{side: 1, data: ok + strings.Replace(ok, "200 OK", "404 Not Found", 1), seq: 1000, ack: 30},
				{side: 0, data: get("/a"), seq: 1, ack: 1000},
			},
			want: []string{`c0 GET "/a" HTTP/1.1 req=0 -> 404 HTTP/1.1 resp=2`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if out := playSteps(tc.script); strings.Join(out, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(out, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

// A request line over MaxStartLine is read in pieces; its TCP position is still its own,
// so pairing by position treats it like any other request.
func TestOverLongRequestLineKeepsItsPosition(t *testing.T) {
	const ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" // 40 bytes
	long := "GET /" + strings.Repeat("l", 100) + " HTTP/1.1\r\n\r\n"
	var out []string
	c := NewConn(&Config{MaxStartLine: 64}, func(tx *Transaction) { out = append(out, describe(tx)) })
	// /x's response was never captured: /long was sent having received it (ack 1040),
	// and the response at 1040 is /long's.
	c.At(0, 1, 1000, true)
	c.Feed(0, []byte("GET /x HTTP/1.1\r\n\r\n"), t0)
	c.At(0, 20, 1040, true)
	c.Feed(0, []byte(long), t0)
	c.At(1, 1040, 20+uint32(len(long)), true)
	c.Feed(1, []byte(ok), t0)
	c.End(t0)
	want := []string{
		`c0 GET "/x" HTTP/1.1 req=0 partial -> none`,
		`c0 GET "/` + strings.Repeat("l", 59) + `"  req=0 truncated -> 200 HTTP/1.1 resp=2`,
	}
	if strings.Join(out, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n  %s\nwant\n  %s", strings.Join(out, "\n  "), strings.Join(want, "\n  "))
	}
}
