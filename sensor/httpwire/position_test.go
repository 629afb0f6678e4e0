package httpwire

import (
	"strings"
	"testing"
)

// posEv is a script event with TCP positions: data fed at seq, from a segment that
// acknowledged ack.
type posEv struct {
	side     int
	data     string
	seq, ack uint32
}

func playPositions(script []posEv) []string {
	var out []string
	c := NewConn(nil, func(tx *Transaction) { out = append(out, describe(tx)) })
	for _, e := range script {
		c.At(e.side, e.seq, e.ack, true)
		c.Feed(e.side, []byte(e.data), t0)
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
