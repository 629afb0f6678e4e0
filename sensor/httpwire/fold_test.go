package httpwire

import (
	"bytes"
	"strings"
	"testing"
)

// TestEqualFoldMatchesBytes holds equalFold's ASCII fast path to bytes.EqualFold.
func TestEqualFoldMatchesBytes(t *testing.T) {
	words := []string{"", "a", "A", "@", "`", "[", "{", "Host", "HOST", "host", "hosT", "h0st", "Content-Type",
		"content-type", "CONTENT_TYPE", "\u212a", "k", "K", "s\u017f", "ss", "SS", "x\xffy", "x\xfey", "é", "É",
		"Authorization", "authorizatioN", "\x00", " ", "~", "^", "Ab\u212a", "ABk", "abK"}
	for _, a := range words {
		for _, b := range words {
			want := len(a) == len(b) && bytes.EqualFold([]byte(a), []byte(b))
			if got := equalFold(a, b); got != want {
				t.Errorf("equalFold(%q, %q) = %v; want %v", a, b, got, want)
			}
		}
	}
	for x := 0; x < 256; x++ {
		for y := 0; y < 256; y++ {
			a, b := string([]byte{'h', byte(x)}), string([]byte{'H', byte(y)})
			if got, want := equalFold(a, b), bytes.EqualFold([]byte(a), []byte(b)); got != want {
				t.Fatalf("equalFold(%q, %q) = %v; want %v", a, b, got, want)
			}
		}
	}
}

// TestEqualFoldLowerMatchesBytes holds equalFoldLower to bytes.EqualFold.
func TestEqualFoldLowerMatchesBytes(t *testing.T) {
	for _, lower := range []string{"content-length", "transfer-encoding", "chunked"} {
		cands := []string{lower, strings.ToUpper(lower), "Content-Length", "Transfer-Encoding", "CHUNKED", "chunkeD",
			"chun\u212aed", "chunke", "tranſfer-encoding", "transfer-encodinG", "content_length", "content-lengtH",
			"chunked\x00", "chu\xffked", "Chunked "}
		for _, c := range cands {
			want := bytes.EqualFold([]byte(c), []byte(lower))
			if got := equalFoldLower([]byte(c), lower); got != want {
				t.Errorf("equalFoldLower(%q, %q) = %v; want %v", c, lower, got, want)
			}
		}
		for i := range lower {
			for x := 0; x < 256; x++ {
				b := []byte(lower)
				b[i] = byte(x)
				if got, want := equalFoldLower(b, lower), bytes.EqualFold(b, []byte(lower)); got != want {
					t.Fatalf("equalFoldLower(%q, %q) = %v; want %v", b, lower, got, want)
				}
			}
		}
	}
}

// TestHasCTLMatchesBytes holds hasCTL's word test to the byte loop: every byte value at
// every position of strings of every length up to 24, in otherwise plain targets.
func TestHasCTLMatchesBytes(t *testing.T) {
	for n := 1; n <= 24; n++ {
		for pos := 0; pos < n; pos++ {
			for v := 0; v < 256; v++ {
				b := []byte(strings.Repeat("/a~\x80", n)[:n])
				b[pos] = byte(v)
				if got, want := hasCTL(b), hasCTLBytes(b); got != want {
					t.Fatalf("hasCTL(%q) = %v; want %v", b, got, want)
				}
			}
		}
	}
}
