package h2wire_test

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/apiscope/apiscope/sensor/h2wire"
	"github.com/apiscope/apiscope/sensor/httpwire"
)

// frames writes HEADERS (+ optional DATA) frames of one direction with one HPACK encoder.
type frames struct {
	out  bytes.Buffer
	fr   *http2.Framer
	hbuf bytes.Buffer
	enc  *hpack.Encoder
}

func newFrames() *frames {
	f := &frames{}
	f.fr = http2.NewFramer(&f.out, nil)
	f.enc = hpack.NewEncoder(&f.hbuf)
	return f
}

func (f *frames) headers(id uint32, end bool, kv ...string) *frames {
	f.hbuf.Reset()
	for i := 0; i+1 < len(kv); i += 2 {
		f.enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	f.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: f.hbuf.Bytes(), EndStream: end, EndHeaders: true})
	return f
}

func (f *frames) data(id uint32, n int) *frames {
	f.fr.WriteData(id, true, make([]byte, n))
	return f
}

func (f *frames) take() []byte {
	b := bytes.Clone(f.out.Bytes())
	f.out.Reset()
	return b
}

func describe(tx *httpwire.Transaction) string {
	s := fmt.Sprintf("c%d %s %s %s host=%s ua=%s req=%d", tx.ClientSide, tx.Req.Method, tx.Req.URI, tx.Req.Version,
		tx.Req.Header.Get("Host"), tx.Req.Header.Get("User-Agent"), tx.Req.BodyBytes)
	if tx.Resp != nil {
		s += fmt.Sprintf(" -> %d %s resp=%d", tx.Resp.Status, tx.Resp.Version, tx.Resp.BodyBytes)
	}
	return s
}

// TestHandOffThroughHTTPWire drives httpwire.Conn, the parser the sensor makes for every
// connection: prior-knowledge and h2c connections come out as HTTP/2 transactions.
func TestHandOffThroughHTTPWire(t *testing.T) {
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type feed struct {
		side int
		b    []byte
	}
	priorCl, priorSv := newFrames(), newFrames()
	priorCl.out.WriteString(h2wire.Preface)
	priorCl.fr.WriteSettings()
	priorCl.headers(1, true, ":method", "GET", ":scheme", "http", ":path", "/v1/items?x=1", ":authority", "api.example", "user-agent", "curl/8")
	priorSv.fr.WriteSettings()
	priorSv.headers(1, false, ":status", "200").data(1, 5)

	upCl, upSv := newFrames(), newFrames()
	upgradeReq := "GET /robots.txt HTTP/1.1\r\nHost: nghttp2.org\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n"
	upSv.out.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
	upSv.fr.WriteSettings()
	upSv.headers(1, false, ":status", "200").data(1, 40)
	upCl.out.WriteString(h2wire.Preface)
	upCl.fr.WriteSettings()
	upCl.headers(3, true, ":method", "GET", ":scheme", "http", ":path", "/humans.txt", ":authority", "nghttp2.org")
	upSv2 := upSv.take()
	upSv.headers(3, false, ":status", "404").data(3, 9)

	tests := []struct {
		name  string
		feeds []feed
		want  []string
	}{
		{
			name:  "prior-knowledge",
			feeds: []feed{{0, priorCl.take()}, {1, priorSv.take()}},
			want:  []string{"c0 GET /v1/items?x=1 HTTP/2 host=api.example ua=curl/8 req=0 -> 200 HTTP/2 resp=5"},
		},
		{
			name:  "h2c-upgrade",
			feeds: []feed{{1, []byte(upgradeReq)}, {0, upSv2}, {1, upCl.take()}, {0, upSv.take()}},
			want: []string{
				"c1 GET /robots.txt HTTP/1.1 host=nghttp2.org ua= req=0 -> 101 HTTP/1.1 resp=0",
				"c1 GET /humans.txt HTTP/2 host=nghttp2.org ua= req=0 -> 404 HTTP/2 resp=9",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for split := 0; split <= 64; split++ {
				var got []string
				c := httpwire.NewConn(nil, func(tx *httpwire.Transaction) { got = append(got, describe(tx)) })
				for _, f := range tt.feeds {
					b := f.b
					for len(b) > 0 {
						n := len(b)
						if split > 0 {
							n = min(n, split)
						}
						c.Feed(f.side, b[:n], ts)
						b = b[n:]
					}
				}
				c.End(ts)
				if !slices.Equal(got, tt.want) {
					t.Fatalf("split %d:\n got  %q\n want %q", split, got, tt.want)
				}
			}
		})
	}
}
