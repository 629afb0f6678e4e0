package httpwire

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var writeSeeds = flag.Bool("seeds", false, "rewrite testdata/fuzz/FuzzConn from the table tests")

// scriptSides joins a script's data per side: the fuzz inputs for one case.
func scriptSides(script []ev) (client, server []byte) {
	for _, e := range script {
		if e.data == "" {
			continue
		}
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
	dir := filepath.Join("testdata", "fuzz", "FuzzConn")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, tt := range connTests {
		client, server := scriptSides(tt.script)
		cuts := []byte{byte(i), 3, 250, 7, 1, 0, 42}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n[]byte(%q)\n[]byte(%q)\n", client, server, cuts)
		name := strings.NewReplacer(" ", "-", ",", "", "/", "-").Replace(tt.name)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// small limits reach every limit path with short inputs.
var fuzzSmall = &Config{MaxHeaderBytes: 200, MaxHeaders: 4, MaxStartLine: 64, MaxChunkLine: 16, MaxPending: 3, MaxPendingBytes: 300, BodyPrefix: 8}

// FuzzConn feeds a client and a server byte stream. Properties: no panic; the state a
// Conn holds stays within its limits after every call; the transactions are the same
// whether each side is fed whole or cut where cuts says; interleaving the sides and
// injecting gaps at random still neither panics nor grows past the limits.
func FuzzConn(f *testing.F) {
	for i, tt := range connTests {
		client, server := scriptSides(tt.script)
		f.Add(client, server, []byte{byte(i), 3, 250, 7, 1, 0, 42})
	}
	f.Fuzz(func(t *testing.T, client, server, cuts []byte) {
		for _, cfg := range []*Config{nil, fuzzSmall} {
			whole := fuzzRun(t, cfg, client, server, nil)
			if split := fuzzRun(t, cfg, client, server, cuts); split != whole {
				t.Fatalf("split feeds differ:\n%s\nwhole:\n%s", split, whole)
			}
			// Reusing transactions changes nothing emit sees, with or without gaps.
			reuse := &Config{ReuseTransactions: true}
			if cfg != nil {
				c := *cfg
				c.ReuseTransactions = true
				reuse = &c
			}
			if got := fuzzRun(t, reuse, client, server, cuts); got != whole {
				t.Fatalf("with reused transactions:\n%s\nwithout:\n%s", got, whole)
			}
			plain := fuzzInterleave(t, cfg, client, server, cuts)
			if got := fuzzInterleave(t, reuse, client, server, cuts); got != plain {
				t.Fatalf("interleaved with reused transactions:\n%s\nwithout:\n%s", got, plain)
			}
		}
	})
}

// pieces cuts b into pieces whose sizes come from cuts (cycled); nil cuts means whole.
func pieces(b, cuts []byte) [][]byte {
	if len(cuts) == 0 {
		return [][]byte{b}
	}
	var out [][]byte
	for i := 0; len(b) > 0; i++ {
		n := min(int(cuts[i%len(cuts)])+1, len(b))
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

func fuzzRun(t *testing.T, cfg *Config, client, server, cuts []byte) string {
	var b strings.Builder
	c := NewConn(cfg, func(tx *Transaction) { b.WriteString(full(tx)); b.WriteByte('\n') })
	for side, data := range [][]byte{client, server} {
		for _, p := range pieces(data, cuts) {
			c.Feed(side, p, t0)
			checkBounds(t, c)
		}
	}
	c.End(t0)
	return b.String()
}

func fuzzInterleave(t *testing.T, cfg *Config, client, server, cuts []byte) string {
	var b strings.Builder
	c := NewConn(cfg, func(tx *Transaction) {
		if tx.Req == nil {
			t.Fatal("transaction without request")
		}
		b.WriteString(full(tx))
		b.WriteByte('\n')
	})
	ps := [2][][]byte{pieces(client, cuts), pieces(server, cuts)}
	// TCP positions as a reassembler reports them, acknowledgments a little behind or
	// ahead at times, so that pairing by position and late requests are exercised.
	seq := [2]uint32{1, 0xfffffff0}
	for i := 0; len(ps[0])+len(ps[1]) > 0; i++ {
		k := byte(i)
		if len(cuts) > 0 {
			k = cuts[i%len(cuts)]
		}
		side := int(k & 1)
		if len(ps[side]) == 0 {
			side = 1 - side
		}
		switch {
		case k%11 == 5:
			c.Gap(side, int(k), t0)
			seq[side] += uint32(k)
		case k%13 == 7:
			c.Close(side, t0)
		}
		if k%3 != 0 {
			c.At(side, seq[side], seq[1-side]+uint32(k%7)-3, k%5 != 0)
		}
		seq[side] += uint32(len(ps[side][0]))
		c.Feed(side, ps[side][0], t0)
		ps[side] = ps[side][1:]
		checkBounds(t, c)
	}
	c.End(t0)
	return b.String()
}
