package httpwire

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// randomHeaderLine returns one header line (with its line end) drawn from what the
// whole-section path must either read exactly as the line-by-line path does or leave to
// it: ordinary fields, odd spacing, framing fields good and bad, folded and malformed
// lines, bare LF endings.
func randomHeaderLine(r *rand.Rand) string {
	eol := "\r\n"
	if r.IntN(8) == 0 {
		eol = "\n"
	}
	switch r.IntN(22) {
	case 0:
		return "Content-Length: " + fmt.Sprint(r.IntN(4)) + eol
	case 1:
		return "content-LENGTH:x" + eol
	case 2:
		return "Transfer-Encoding: " + []string{"chunked", "gzip, chunked", "gzip", "CHUNKED "}[r.IntN(4)] + eol
	case 3:
		return " folded continuation" + eol
	case 4:
		return "\tx" + eol
	case 5:
		return "no colon here" + eol
	case 6:
		return ": empty name" + eol
	case 7:
		return "Name \t: \tspaced value \t" + eol
	case 8:
		return "Empty:" + eol
	case 9:
		return "Content-Length: 1, 1" + eol
	case 10:
		return "X-Long: " + strings.Repeat("v", r.IntN(120)) + eol
	case 14:
		return "Host: example.com:8080" + eol // a colon in the value
	case 15:
		// Names of every length around a word, some with spaces before the colon.
		return strings.Repeat("N", r.IntN(20)+1) + strings.Repeat(" ", r.IntN(2)) + ":" + strings.Repeat(" ", r.IntN(3)) + "v" + eol
	case 16:
		return "Name-Without-Colon-Past-A-Word" + eol
	case 17:
		return "X: a\r" + eol // a CR inside the line
	case 18:
		return "\r" + eol // a bare CR line: not the empty line
	case 19:
		cl := []string{"", " 12 ", "0012", "1234567890123456789", "123456789012345678", "1,2", "2, 2", ",3", "-1", "+1", "1 2"}
		return []string{"Content-Length", "content-length", "CONTENT-LENGTH"}[r.IntN(3)] + ":" + cl[r.IntN(len(cl))] + eol
	case 20:
		return []string{"Transfer-Encoding", "transfer-encoding", "Transfer-Encodinx", "Content-Lengthy"}[r.IntN(4)] + ": chunked" + eol
	default:
		return fmt.Sprintf("X-H%d: value-%d", r.IntN(5), r.IntN(100)) + eol
	}
}

// randomMessage returns a request (client true) or a response with random header lines
// and a body of a few bytes that the framing may or may not account for.
func randomMessage(r *rand.Rand, client bool) string {
	var b strings.Builder
	if client {
		b.WriteString([]string{"GET /a?b=1 HTTP/1.1", "POST /p HTTP/1.1", "HEAD / HTTP/1.0", "GET /x y HTTP/1.1"}[r.IntN(4)])
	} else {
		b.WriteString([]string{"HTTP/1.1 200 OK", "HTTP/1.1 204 No Content", "HTTP/1.1 100 Continue", "HTTP/1.0 404"}[r.IntN(4)])
	}
	b.WriteString("\r\n")
	lines := r.IntN(7)
	if r.IntN(16) == 0 {
		lines = 10 + r.IntN(60) // past the fields kept in Conn.spanBuf, and past 64
	}
	for n := lines; n > 0; n-- {
		b.WriteString(randomHeaderLine(r))
	}
	b.WriteString("\r\n")
	b.WriteString([]string{"", "ab", "1\r\nx\r\n0\r\n\r\n", "abc"}[r.IntN(4)])
	return b.String()
}

// counts reads the counters the parser moves as it reads a header section.
func counts() string {
	var b strings.Builder
	for i := range mParseErrors {
		fmt.Fprintf(&b, "%s=%d ", reasonNames[i], mParseErrors[i].Load())
	}
	for i := range mTruncated {
		fmt.Fprintf(&b, "%s=%d ", limitNames[i], mTruncated[i].Load())
	}
	fmt.Fprintf(&b, "requests=%d responses=%d interim=%d", mRequests.Load(), mResponses.Load(), mInterim.Load())
	return b.String()
}

// TestWholeHeadersAsLineByLine feeds random conversations whole, where header sections
// that lie whole in one Feed take the whole-section path, and one byte per Feed, where
// none can: transactions and counters must be the same. Small limits make the section
// limits fall inside and outside the sections.
func TestWholeHeadersAsLineByLine(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	small := &Config{MaxHeaderBytes: 160, MaxHeaders: 4, MaxPendingBytes: 200}
	large := &Config{MaxHeaders: 1000}
	for n := range 4500 {
		var client, server strings.Builder
		for k := r.IntN(4) + 1; k > 0; k-- {
			client.WriteString(randomMessage(r, true))
			server.WriteString(randomMessage(r, false))
		}
		cfg := []*Config{nil, small, large}[n%3]
		c0 := counts()
		whole := fuzzRun(t, cfg, []byte(client.String()), []byte(server.String()), nil)
		c1 := counts()
		split := fuzzRun(t, cfg, []byte(client.String()), []byte(server.String()), []byte{0})
		c2 := counts()
		if whole != split {
			t.Fatalf("case %d: whole feeds\n%s\none byte a feed\n%s\nclient %q\nserver %q", n, whole, split, client.String(), server.String())
		}
		if d1, d2 := countDelta(c0, c1), countDelta(c1, c2); d1 != d2 {
			t.Fatalf("case %d: counters moved by\n%s\nwhole, and by\n%s\none byte a feed\nclient %q\nserver %q", n, d1, d2, client.String(), server.String())
		}
	}
}

// countDelta is b minus a for two counts() strings.
func countDelta(a, b string) string {
	fa, fb := strings.Fields(a), strings.Fields(b)
	var out strings.Builder
	for i := range fa {
		var name string
		var x, y uint64
		k := strings.IndexByte(fa[i], '=')
		name = fa[i][:k]
		fmt.Sscan(fa[i][k+1:], &x)
		fmt.Sscan(fb[i][k+1:], &y)
		fmt.Fprintf(&out, "%s=%d ", name, y-x)
	}
	return out.String()
}

// TestWholeHeadersTaken checks that an ordinary request takes the whole-section path
// (its strings are one copy of the section, no scratch taken) and gives what the
// line-by-line path gives.
func TestWholeHeadersTaken(t *testing.T) {
	var got []string
	c := NewConn(nil, func(tx *Transaction) { got = append(got, full(tx)) })
	head := "POST /v1/x HTTP/1.1\r\nHost: h\r\nAuthorization:  Bearer t \r\nContent-Length: 2\r\n\r\n"
	c.Feed(0, []byte(head), t0)
	if s := &c.sides[0]; s.state != stateBody || s.sc != nil {
		t.Fatalf("request head not read whole: state %d, scratch taken %v", s.state, s.sc != nil)
	}
	c.Feed(0, []byte("hi"), t0)
	respText := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	c.Feed(1, []byte(respText), t0)
	c.End(t0)
	want := fuzzRun(t, nil, []byte(head+"hi"), []byte(respText), []byte{0})
	if strings.Join(got, "\n")+"\n" != want {
		t.Fatalf("whole\n%s\nline by line\n%s", strings.Join(got, "\n"), want)
	}
	if !strings.Contains(want, "Value:Bearer t}") {
		t.Fatalf("value not trimmed: %s", want)
	}
}

// TestIndexColon holds the word-at-a-time colon search to bytes.IndexByte on strings of
// every length up to three words, with colons, LFs and bytes that differ from a colon in
// one bit anywhere.
func TestIndexColon(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte{':', 'a', ' ', '\n', 0, 0x3a | 0x80, 0x3b, 0x3a ^ 1, 0xff, 0x39}
	for range 200000 {
		b := make([]byte, r.IntN(25))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
			if r.IntN(3) > 0 {
				b[i] = 'a' + byte(r.IntN(26))
			}
		}
		if got, want := indexColon(b), bytes.IndexByte(b, ':'); got != want {
			t.Fatalf("indexColon(%q) = %d; want %d", b, got, want)
		}
	}
}
