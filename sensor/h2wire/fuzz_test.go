package h2wire

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

var writeSeeds = flag.Bool("seeds", false, "rewrite testdata/fuzz/FuzzH2Conn from the table tests")

// sides joins a script's bytes per side: the fuzz inputs for one case (gaps left out).
func sides(script []ev) (client, server []byte) {
	for _, e := range script {
		if e.side == 0 {
			client = append(client, e.data...)
		} else {
			server = append(server, e.data...)
		}
	}
	return client, server
}

// TestWriteFuzzSeeds turns every table case into a checked-in seed (go test -run
// TestWriteFuzzSeeds -seeds).
func TestWriteFuzzSeeds(t *testing.T) {
	if !*writeSeeds {
		t.Skip("run with -seeds to rewrite the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzH2Conn")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range connTests {
		if tt.start.Client != 0 || tt.name == "large-data-frame" {
			continue // seeds feed side 0 as the client; a 1 MiB seed slows every run
		}
		client, server := sides(buildScript(&tt))
		mode := byte(0)
		if tt.start.Upgrade {
			mode = 1
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n[]byte(%s)\nbyte(%s)\n",
			strconv.Quote(string(client)), strconv.Quote(string(server)), strconv.QuoteRune(rune(mode)))
		if err := os.WriteFile(filepath.Join(dir, tt.name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzH2Conn checks, for any bytes on the two sides: no panic; every exchange has a
// request whose fields respect the limits; each stream is emitted at most once; and the
// same exchanges come out whether each side arrives whole or in pieces (mode picks the
// piece size, the h2c upgrade start, and a gap).
func FuzzH2Conn(f *testing.F) {
	f.Add([]byte(Preface), []byte{}, byte(0))
	f.Fuzz(func(t *testing.T, client, server []byte, mode byte) {
		cfg := &Config{MaxHeaders: 8, MaxHeaderListSize: 512, MaxStreams: 4, MaxStringLength: 1024}
		start := Start{Upgrade: mode&1 != 0}
		run := func(piece int) []string {
			var got []string
			c := NewConn(cfg, start, func(x *Exchange) {
				if x.Req == nil {
					t.Fatal("exchange without a request")
				}
				if len(x.Req.Header) > cfg.MaxHeaders+1 { // the synthesized host may pass the cap
					t.Fatalf("%d header fields kept, limit %d", len(x.Req.Header), cfg.MaxHeaders)
				}
				got = append(got, describe(x))
			})
			for _, side := range []struct {
				id int
				b  []byte
			}{{0, client}, {1, server}} {
				for b := side.b; len(b) > 0; {
					n := min(len(b), piece)
					c.Feed(side.id, b[:n], t0)
					b = b[n:]
				}
				if mode&2 != 0 {
					c.Gap(side.id, int(mode>>2)+1, t0)
				}
			}
			c.End(t0.Add(time.Second))
			return got
		}
		whole := run(len(client) + len(server) + 1)
		split := run(int(mode>>4) + 1)
		if !slices.Equal(whole, split) {
			t.Fatalf("whole and split differ:\n%q\n%q", whole, split)
		}
		ids := map[string]bool{}
		for _, g := range whole {
			id := string(bytes.Fields([]byte(g))[1])
			if ids[id] {
				t.Fatalf("stream %s emitted twice: %q", id, whole)
			}
			ids[id] = true
		}
	})
}
