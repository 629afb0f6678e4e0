package h2wire

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// connTest is one scripted connection: the client is side 0 unless start says otherwise.
type connTest struct {
	name  string
	cfg   *Config
	start Start
	// script builds the events with fresh encoders (cl for the client, sv for the server).
	script func(cl, sv *wire) []ev
	want   []string
}

var connTests = []connTest{
	{
		name: "get-with-response-body",
		script: func(cl, sv *wire) []ev {
			return []ev{
				cl.preface().settings().headers(1, true, req("GET", "/users/7", "api.example")...).take(),
				sv.settings().headers(1, false, resp(200, "content-type", "application/json")...).data(1, true, 17).take(),
			}
		},
		want: []string{"c0 #1 GET /users/7 host=api.example req=0@0 -> 200 resp=17@1"},
	},
	{
		name: "post-body-in-padded-data-frames",
		script: func(cl, sv *wire) []ev {
			return []ev{
				cl.preface().headers(1, false, req("POST", "/orders", "api.example")...).take(),
				cl.padded(1, false, 100, 20).take(),
				cl.padded(1, true, 50, 255).take(),
				sv.headers(1, false, resp(201)...).padded(1, false, 10, 3).padded(1, true, 0, 7).take(),
			}
		},
		want: []string{"c0 #1 POST /orders host=api.example req=150@0 -> 201 resp=10@3"},
	},
	{
		name: "headers-with-continuation-padding-and-priority",
		script: func(cl, sv *wire) []ev {
			blk := cl.block(req("GET", "/long", "api.example", "x-a", strings.Repeat("a", 300), "x-b", "b")...)
			cl.preface()
			cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk[:10], EndStream: true, PadLength: 9,
				Priority: http2.PriorityParam{StreamDep: 0, Weight: 15}})
			cl.fr.WriteContinuation(1, false, blk[10:200])
			cl.fr.WriteContinuation(1, true, blk[200:])
			return []ev{cl.take(), sv.headers(1, true, resp(204)...).take()}
		},
		want: []string{"c0 #1 GET /long x-a=" + strings.Repeat("a", 300) + " x-b=b host=api.example req=0@0 -> 204 resp=0@1"},
	},
	{
		name: "response-trailers",
		script: func(cl, sv *wire) []ev {
			return []ev{
				cl.preface().headers(1, true, req("GET", "/stream", "h")...).take(),
				sv.headers(1, false, resp(200)...).data(1, false, 5).take(),
				sv.headers(1, true, "grpc-status", "0").take(),
			}
		},
		want: []string{"c0 #1 GET /stream host=h req=0@0 -> 200 resp=5@1"},
	},
	{
		name: "request-trailers",
		script: func(cl, sv *wire) []ev {
			return []ev{
				cl.preface().headers(1, false, req("POST", "/up", "h")...).data(1, false, 8).headers(1, true, "x-checksum", "1").take(),
				sv.headers(1, true, resp(200)...).take(),
			}
		},
		want: []string{"c0 #1 POST /up host=h req=8@0 -> 200 resp=0@1"},
	},
	{
		name: "interleaved-streams-answered-out-of-order",
		script: func(cl, sv *wire) []ev {
			return []ev{
				cl.preface().headers(1, true, req("GET", "/a", "h")...).headers(3, true, req("GET", "/b", "h")...).take(),
				cl.headers(5, false, req("PUT", "/c", "h")...).take(),
				sv.headers(3, false, resp(200)...).headers(1, false, resp(404)...).data(3, false, 4).take(),
				cl.data(5, true, 6).take(),
				sv.data(1, true, 2).headers(5, true, resp(204)...).data(3, true, 1).take(),
			}
		},
		want: []string{
			"c0 #1 GET /a host=h req=0@0 -> 404 resp=2@2",
			"c0 #5 PUT /c host=h req=6@1 -> 204 resp=0@4",
			"c0 #3 GET /b host=h req=0@0 -> 200 resp=5@2",
		},
	},
	{
		name: "interim-100-then-final",
		script: func(cl, sv *wire) []ev {
			return []ev{
				cl.preface().headers(1, false, req("POST", "/big", "h", "expect", "100-continue")...).take(),
				sv.headers(1, false, resp(100)...).take(),
				cl.data(1, true, 3).take(),
				sv.headers(1, true, resp(413)...).take(),
			}
		},
		want: []string{"c0 #1 POST /big host=h req=3@0 -> 413 resp=0@3"},
	},
	{
		name: "server-reset-without-response",
		script: func(cl, sv *wire) []ev {
			cl.preface().headers(1, false, req("POST", "/x", "h")...)
			sv.fr.WriteRSTStream(1, http2.ErrCodeRefusedStream)
			return []ev{cl.take(), sv.take()}
		},
		want: []string{"c0 #1 POST /x host=h req=0@0 partial -> none"},
	},
	{
		name: "client-reset-then-response-in-flight",
		script: func(cl, sv *wire) []ev {
			cl.preface().headers(1, true, req("GET", "/slow", "h")...)
			e1 := cl.take()
			cl.fr.WriteRSTStream(1, http2.ErrCodeCancel)
			return []ev{e1, cl.take(), sv.headers(1, false, resp(200)...).data(1, true, 9).take()}
		},
		want: []string{"c0 #1 GET /slow host=h req=0@0 -> 200 resp=9@2"},
	},
	{
		name: "server-reset-after-complete-response",
		script: func(cl, sv *wire) []ev {
			cl.preface().headers(1, false, req("POST", "/early", "h")...).data(1, false, 4)
			sv.headers(1, true, resp(400)...)
			sv.fr.WriteRSTStream(1, http2.ErrCodeNo)
			return []ev{cl.take(), sv.take()}
		},
		want: []string{"c0 #1 POST /early host=h req=4@0 -> 400 resp=0@1"},
	},
	{
		name: "goaway-ends-unprocessed-streams",
		script: func(cl, sv *wire) []ev {
			cl.preface().headers(1, true, req("GET", "/1", "h")...).headers(3, true, req("GET", "/3", "h")...)
			sv.fr.WriteGoAway(1, http2.ErrCodeNo, []byte("bye"))
			return []ev{cl.take(), sv.take(), sv.headers(1, true, resp(200)...).take()}
		},
		want: []string{"c0 #3 GET /3 host=h req=0@0 -> none", "c0 #1 GET /1 host=h req=0@0 -> 200 resp=0@2"},
	},
	{
		name: "push-promise-skipped-pushed-response-unmatched",
		script: func(cl, sv *wire) []ev {
			cl.preface().headers(1, true, req("GET", "/page", "h")...)
			sv.fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, EndHeaders: true, PadLength: 4,
				BlockFragment: sv.block(req("GET", "/style.css", "h")...)})
			sv.headers(2, false, resp(200)...).data(2, true, 30).headers(1, false, resp(200, "x-after", "push")...).data(1, true, 12)
			return []ev{cl.take(), sv.take()}
		},
		want: []string{"c0 #1 GET /page host=h req=0@0 -> 200 resp=12@1"},
	},
	{
		name:  "client-is-side-1-and-preface-line-already-read",
		start: Start{Client: 1, PrefaceSeen: 16},
		script: func(cl, sv *wire) []ev {
			cl.side, sv.side = 1, 0
			cl.out.WriteString(Preface[16:])
			cl.headers(1, true, req("DELETE", "/items/9", "h")...)
			return []ev{cl.take(), sv.headers(1, true, resp(204)...).take()}
		},
		want: []string{"c1 #1 DELETE /items/9 host=h req=0@0 -> 204 resp=0@1"},
	},
	{
		name:  "h2c-upgrade-stream-1-counted-not-emitted",
		start: Start{Upgrade: true},
		script: func(cl, sv *wire) []ev {
			return []ev{
				sv.settings().headers(1, false, resp(200)...).data(1, true, 40).take(),
				cl.preface().settings().headers(3, true, req("GET", "/humans.txt", "nghttp2.org")...).take(),
				sv.headers(3, false, resp(404)...).data(3, true, 9).take(),
			}
		},
		want: []string{"c0 #3 GET /humans.txt host=nghttp2.org req=0@1 -> 404 resp=9@2"},
	},
	{
		name: "cookie-crumbs-joined-userinfo-dropped-host-kept",
		script: func(cl, sv *wire) []ev {
			return []ev{
				cl.preface().headers(1, true, req("GET", "/", "user:secret@api.example", "cookie", "a=1", "x-k", "v", "cookie", "b=2")...).
					headers(3, true, req("GET", "/h", "authority.example", "host", "host.example")...).take(),
				sv.headers(1, true, resp(200)...).headers(3, true, resp(200)...).take(),
			}
		},
		want: []string{
			"c0 #1 GET / cookie=a=1; b=2 x-k=v host=api.example req=0@0 -> 200 resp=0@1",
			"c0 #3 GET /h host=host.example req=0@0 -> 200 resp=0@1",
		},
	},
	{
		name: "header-count-limit-truncates",
		cfg:  &Config{MaxHeaders: 2},
		script: func(cl, sv *wire) []ev {
			return []ev{
				cl.preface().headers(1, true, req("GET", "/", "h", "x-1", "1", "x-2", "2", "x-3", "3")...).take(),
				sv.headers(1, true, resp(200)...).take(),
			}
		},
		want: []string{"c0 #1 GET / x-1=1 x-2=2 host=h req=0@0 truncated -> 200 resp=0@1"},
	},
	{
		name: "header-list-size-limit-keeps-pseudo-fields",
		cfg:  &Config{MaxHeaderListSize: 100},
		script: func(cl, sv *wire) []ev {
			return []ev{
				cl.preface().headers(1, true, req("GET", "/p", "h", "x-big", strings.Repeat("z", 200))...).take(),
				sv.headers(1, true, resp(200)...).take(),
			}
		},
		want: []string{"c0 #1 GET /p host=h req=0@0 truncated -> 200 resp=0@1"},
	},
	{
		name: "gap-inside-data-keeps-parsing",
		script: func(cl, sv *wire) []ev {
			cl.preface().headers(1, true, req("GET", "/dl", "h")...).headers(3, true, req("GET", "/next", "h")...)
			sv.headers(1, false, resp(200)...)
			e := sv.take()
			sv.data(1, true, 1000)
			d := sv.take()
			hdrAndSome := ev{side: 1, data: d.data[:100]}
			rest := ev{side: 1, data: d.data[600:]}
			return []ev{cl.take(), e, hdrAndSome, {side: 1, gap: 500}, rest, sv.headers(3, true, resp(200)...).take()}
		},
		want: []string{"c0 #1 GET /dl host=h req=0@0 -> 200 resp=1000@1 partial", "c0 #3 GET /next host=h req=0@0 -> 200 resp=0@5"},
	},
	{
		name: "gap-outside-data-stops-and-emits-open-streams",
		script: func(cl, sv *wire) []ev {
			return []ev{
				cl.preface().headers(1, true, req("GET", "/done", "h")...).headers(3, true, req("GET", "/open", "h")...).take(),
				sv.headers(1, true, resp(200)...).headers(3, false, resp(500)...).take(),
				{side: 1, gap: 50},
				sv.headers(5, true, resp(200)...).take(),
			}
		},
		want: []string{"c0 #1 GET /done host=h req=0@0 -> 200 resp=0@1", "c0 #3 GET /open host=h req=0@0 partial -> 500 resp=0@1 partial"},
	},
	{
		name: "end-with-open-stream",
		script: func(cl, sv *wire) []ev {
			return []ev{cl.preface().headers(1, false, req("POST", "/half", "h")...).data(1, false, 3).take()}
		},
		want: []string{"c0 #1 POST /half host=h req=3@0 partial -> none"},
	},
	{
		name: "stream-limit-evicts-oldest",
		cfg:  &Config{MaxStreams: 2},
		script: func(cl, sv *wire) []ev {
			return []ev{
				cl.preface().headers(1, true, req("GET", "/1", "h")...).headers(3, true, req("GET", "/3", "h")...).
					headers(5, true, req("GET", "/5", "h")...).take(),
				sv.headers(5, true, resp(200)...).headers(1, true, resp(200)...).take(),
			}
		},
		want: []string{"c0 #1 GET /1 host=h req=0@0 -> none", "c0 #5 GET /5 host=h req=0@0 -> 200 resp=0@1", "c0 #3 GET /3 host=h req=0@0 -> none"},
	},
	{
		name: "pending-header-bytes-evict-oldest",
		cfg:  &Config{MaxPendingBytes: 620},
		script: func(cl, sv *wire) []ev {
			return []ev{
				cl.preface().headers(1, true, req("GET", "/1", "h", "x-v", strings.Repeat("1", 300))...).
					headers(3, true, req("GET", "/3", "h", "x-w", strings.Repeat("3", 300))...).
					headers(5, true, req("GET", "/5", "h")...).take(),
				sv.headers(3, true, resp(200)...).headers(5, true, resp(200)...).take(),
			}
		},
		want: []string{
			"c0 #1 GET /1 x-v=" + strings.Repeat("1", 300) + " host=h req=0@0 -> none",
			"c0 #3 GET /3 x-w=" + strings.Repeat("3", 300) + " host=h req=0@0 -> 200 resp=0@1",
			"c0 #5 GET /5 host=h req=0@0 -> 200 resp=0@1",
		},
	},
	{
		name: "long-path-cut-to-the-limit",
		cfg:  &Config{MaxHeaderListSize: 2000}, // :method and :scheme (7 bytes) come first
		script: func(cl, sv *wire) []ev {
			return []ev{
				cl.preface().headers(1, true, req("GET", "/"+strings.Repeat("p", 5000), "h")...).take(),
				sv.headers(1, true, resp(200)...).take(),
			}
		},
		want: []string{"c0 #1 GET /" + strings.Repeat("p", 1992) + " host=h req=0@0 truncated -> 200 resp=0@1"},
	},
	{
		name: "bad-preface-counted-frames-still-read",
		script: func(cl, sv *wire) []ev {
			cl.out.WriteString("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")
			return []ev{
				{side: 0, data: cl.out.Bytes()[:22]},
				cl.take(), // the two bytes after "XX" look like a frame header start: they are not
			}
		},
		want: nil,
	},
	{
		name: "hpack-garbage-stops-the-connection",
		script: func(cl, sv *wire) []ev {
			cl.preface().headers(1, true, req("GET", "/ok", "h")...)
			cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: []byte{0xbf, 0xff, 0xff, 0xff, 0xff}, EndHeaders: true, EndStream: true})
			return []ev{cl.take(), sv.headers(1, true, resp(200)...).take()}
		},
		want: []string{"c0 #1 GET /ok host=h req=0@0 partial -> none"},
	},
	{
		name: "headers-interrupted-before-continuation-stops",
		script: func(cl, sv *wire) []ev {
			blk := newWire(0).block(req("GET", "/cut", "h")...) // its own encoder: cl's table stays in step
			cl.preface().headers(1, true, req("GET", "/first", "h")...)
			cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: blk[:3], EndStream: true})
			cl.data(1, true, 1)
			return []ev{cl.take()}
		},
		want: []string{"c0 #1 GET /first host=h req=0@0 partial -> none"},
	},
	{
		name: "body-prefix-kept",
		cfg:  &Config{BodyPrefix: 4},
		script: func(cl, sv *wire) []ev {
			return []ev{
				cl.preface().headers(1, false, req("POST", "/", "h")...).padded(1, false, 2, 5).data(1, true, 9).take(),
				sv.headers(1, true, resp(200)...).take(),
			}
		},
		want: []string{"c0 #1 POST / host=h req=11@0 body=yyxx -> 200 resp=0@1"},
	},
	{
		name: "large-data-frame",
		script: func(cl, sv *wire) []ev {
			return []ev{
				cl.preface().headers(1, true, req("GET", "/", "target.com")...).take(),
				sv.headers(1, false, resp(200)...).data(1, true, 1<<20).take(),
			}
		},
		want: []string{"c0 #1 GET / host=target.com req=0@0 -> 200 resp=1048576@1"},
	},
	{
		name: "unknown-and-control-frames-skipped",
		script: func(cl, sv *wire) []ev {
			cl.preface().settings()
			cl.fr.WriteWindowUpdate(0, 1<<20)
			cl.fr.WritePing(false, [8]byte{1})
			cl.fr.WriteRawFrame(0xfa, 0, 0, []byte("extension"))
			cl.fr.WritePriority(1, http2.PriorityParam{Weight: 3})
			cl.headers(1, true, req("GET", "/", "h")...)
			sv.fr.WriteSettingsAck()
			sv.fr.WriteRawFrame(0xfb, 0xff, 1, nil)
			sv.headers(1, true, resp(200)...)
			return []ev{cl.take(), sv.take()}
		},
		want: []string{"c0 #1 GET / host=h req=0@0 -> 200 resp=0@1"},
	},
}

func buildScript(tt *connTest) []ev {
	cl, sv := newWire(0), newWire(1)
	if tt.start.Client == 1 {
		cl.side, sv.side = 1, 0
	}
	return tt.script(cl, sv)
}

func TestConn(t *testing.T) {
	for _, tt := range connTests {
		t.Run(tt.name, func(t *testing.T) {
			script := buildScript(&tt)
			got := run(tt.cfg, tt.start, script, 0)
			if !slices.Equal(got, tt.want) {
				t.Errorf("exchanges:\n got  %q\n want %q", got, tt.want)
			}
		})
	}
}

// TestConnSplit feeds every script cut at every byte offset (and byte by byte): a push
// parser must emit the same exchanges whatever the segmentation.
func TestConnSplit(t *testing.T) {
	for _, tt := range connTests {
		t.Run(tt.name, func(t *testing.T) {
			script := buildScript(&tt)
			longest := 0
			for _, e := range script {
				longest = max(longest, len(e.data))
			}
			longest = min(longest, 400) // beyond, every cut is the same as some shorter one
			if raceEnabled {
				longest = min(longest, 40)
			}
			for split := 1; split <= longest; split++ {
				if got := run(tt.cfg, tt.start, script, split); !slices.Equal(got, tt.want) {
					t.Fatalf("split %d:\n got  %q\n want %q", split, got, tt.want)
				}
			}
		})
	}
}

// TestConnPartialCut cuts every script after each byte: whatever arrived, End emits
// what is open and nothing panics; requests are never emitted twice.
func TestConnPartialCut(t *testing.T) {
	for _, tt := range connTests {
		script := buildScript(&tt)
		var all []byte
		for _, e := range script {
			all = append(all, e.data...)
		}
		step := 1
		if raceEnabled {
			step = 17
		}
		for cut := 0; cut < len(all) && cut < 2000; cut += step {
			var cutScript []ev
			left := cut
			for _, e := range script {
				if e.gap > 0 {
					cutScript = append(cutScript, e)
					continue
				}
				n := min(left, len(e.data))
				cutScript = append(cutScript, ev{side: e.side, data: e.data[:n]})
				left -= n
			}
			got := run(tt.cfg, tt.start, cutScript, 0)
			seen := map[string]bool{}
			for _, g := range got {
				id := strings.Fields(g)[1]
				if seen[id] {
					t.Fatalf("%s cut %d: stream %s emitted twice: %q", tt.name, cut, id, got)
				}
				seen[id] = true
			}
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{}, ""},
		{Config{MaxStreams: -1}, "MaxStreams must not be negative"},
		{Config{MaxDynamicTable: 2 << 30}, "MaxDynamicTable must not exceed"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v; want %q", tt.cfg, err, tt.want)
		}
	}
}

// TestCountersMove checks that the counters the package documents are the ones it moves.
func TestCountersMove(t *testing.T) {
	before := [...]uint64{mFrames[frameRSTStream].Load(), mResets.Load(), mUpgradeResponses.Load(), mParseErrors[reasonGap].Load()}
	for _, name := range []string{"server-reset-without-response", "h2c-upgrade-stream-1-counted-not-emitted", "gap-outside-data-stops-and-emits-open-streams"} {
		i := slices.IndexFunc(connTests, func(c connTest) bool { return c.name == name })
		tt := connTests[i]
		run(tt.cfg, tt.start, buildScript(&tt), 0)
	}
	after := [...]uint64{mFrames[frameRSTStream].Load(), mResets.Load(), mUpgradeResponses.Load(), mParseErrors[reasonGap].Load()}
	for i := range before {
		if after[i] <= before[i] {
			t.Errorf("counter %d did not move: %d -> %d", i, before[i], after[i])
		}
	}
}

// TestFeedDoesNotRetain overwrites every fed buffer after Feed returns.
func TestFeedDoesNotRetain(t *testing.T) {
	tt := connTests[0]
	script := buildScript(&tt)
	var got []string
	c := NewConn(nil, Start{}, func(x *Exchange) { got = append(got, describe(x)) })
	for i, e := range script {
		for j := range e.data {
			b := []byte{e.data[j]}
			c.Feed(e.side, b, t0.Add(time.Duration(i)*time.Millisecond))
			b[0] = 0xff
		}
	}
	c.End(t0)
	if !slices.Equal(got, tt.want) || bytes.Contains([]byte(strings.Join(got, "")), []byte{0xff}) {
		t.Errorf("got %q; want %q", got, tt.want)
	}
}
