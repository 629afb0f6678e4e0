package h2wire

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// t0 is the capture time of the first event of every script; event i happens i ms later.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// ev is one step of a script: bytes sent by side, or (gap > 0) bytes of side lost.
type ev struct {
	side int
	data []byte
	gap  int
}

// wire builds the bytes of one direction with x/net/http2's Framer and one HPACK encoder,
// so the dynamic table carries over between header blocks as on a real connection.
type wire struct {
	side int
	out  bytes.Buffer
	fr   *http2.Framer
	hbuf bytes.Buffer
	enc  *hpack.Encoder
}

func newWire(side int) *wire {
	w := &wire{side: side}
	w.fr = http2.NewFramer(&w.out, nil)
	w.fr.AllowIllegalWrites = true // padding, odd sequences and oversized frames on purpose
	w.enc = hpack.NewEncoder(&w.hbuf)
	return w
}

// block HPACK-encodes fields given as "name", "value" pairs.
func (w *wire) block(kv ...string) []byte {
	w.hbuf.Reset()
	for i := 0; i+1 < len(kv); i += 2 {
		w.enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	return bytes.Clone(w.hbuf.Bytes())
}

// take returns the bytes written so far as one event and empties the buffer.
func (w *wire) take() ev {
	e := ev{side: w.side, data: bytes.Clone(w.out.Bytes())}
	w.out.Reset()
	return e
}

func (w *wire) preface() *wire { w.out.WriteString(Preface); return w }

func (w *wire) settings() *wire { w.fr.WriteSettings(); return w }

func (w *wire) headers(id uint32, end bool, kv ...string) *wire {
	w.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: w.block(kv...), EndStream: end, EndHeaders: true})
	return w
}

func (w *wire) data(id uint32, end bool, n int) *wire {
	w.fr.WriteData(id, end, bytes.Repeat([]byte("x"), n))
	return w
}

func (w *wire) padded(id uint32, end bool, n int, pad uint8) *wire {
	w.fr.WriteDataPadded(id, end, bytes.Repeat([]byte("y"), n), make([]byte, pad))
	return w
}

func req(method, path, authority string, kv ...string) []string {
	return append([]string{":method", method, ":scheme", "http", ":path", path, ":authority", authority}, kv...)
}

func resp(status int, kv ...string) []string {
	return append([]string{":status", fmt.Sprint(status)}, kv...)
}

// run feeds a script to a new Conn and describes the exchanges it emits, one per line.
// split > 0 cuts every event into pieces of at most split bytes.
func run(cfg *Config, start Start, script []ev, split int) []string {
	var got []string
	c := NewConn(cfg, start, func(x *Exchange) { got = append(got, describe(x)) })
	for i, e := range script {
		ts := t0.Add(time.Duration(i) * time.Millisecond)
		if e.gap > 0 {
			c.Gap(e.side, e.gap, ts)
			continue
		}
		b := e.data
		for len(b) > 0 {
			n := len(b)
			if split > 0 && n > split {
				n = split
			}
			c.Feed(e.side, b[:n], ts)
			b = b[n:]
		}
	}
	c.End(t0.Add(time.Hour))
	return got
}

// describe writes what a test checks of an exchange on one line.
func describe(x *Exchange) string {
	var sb strings.Builder
	q := x.Req
	fmt.Fprintf(&sb, "c%d #%d %s %s", x.ClientSide, q.StreamID, q.Method, q.Path)
	for _, f := range q.Header {
		if f.Name == "host" || f.Name == "cookie" || strings.HasPrefix(f.Name, "x-") {
			fmt.Fprintf(&sb, " %s=%s", f.Name, f.Value)
		}
	}
	fmt.Fprintf(&sb, " req=%d@%d", q.BodyBytes, q.TS.Sub(t0).Milliseconds())
	if q.Body != nil {
		fmt.Fprintf(&sb, " body=%s", q.Body)
	}
	if q.Partial {
		sb.WriteString(" partial")
	}
	if q.Truncated {
		sb.WriteString(" truncated")
	}
	if r := x.Resp; r != nil {
		fmt.Fprintf(&sb, " -> %d resp=%d@%d", r.Status, r.BodyBytes, r.TS.Sub(t0).Milliseconds())
		if r.Partial {
			sb.WriteString(" partial")
		}
		if r.Truncated {
			sb.WriteString(" truncated")
		}
	} else {
		sb.WriteString(" -> none")
	}
	return sb.String()
}
