package template

import (
	"strings"
	"testing"
	"time"
)

// FuzzClassify: no panic, and a segment classifies the same way every time.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{"", "v1", "42", "ORD-12345", "report-2024.pdf", "alice@example.com",
		"123e4567-e89b-12d3-a456-426614174000", "xk29fjq8z3mv7p2n", "2024-01-31T00:00:00Z", "10.0.0.1",
		"a.b.c.d", "%40", "@.", "v1beta", "...", "-_-", "1.", ".json"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := Classify(s)
		if c2 := Classify(s); c2 != c {
			t.Fatalf("Classify(%q) unstable: %v then %v", s, c, c2)
		}
		if c.String() == "unknown" {
			t.Fatalf("Classify(%q) = class %d out of range", s, c)
		}
	})
}

// FuzzTemplate: no panic, the template has as many segments as the path, and a
// Templater with its result cache gives what one without gives on the same calls.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"/", "/v1/users/me", "/files/report-2024.pdf", "/orders/ORD-12345",
		"/users/alice@example.com/keys", "//", "/a//b/", "*", "/x/123.json", "/p/{param}"} {
		f.Add(s)
	}
	tp, err := New(Config{Threshold: 3, LearnDelay: 0})
	if err != nil {
		f.Fatal(err)
	}
	plain, err := New(Config{Threshold: 3, LearnDelay: 0})
	if err != nil {
		f.Fatal(err)
	}
	plain.noCache = true
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var n time.Duration
	f.Fuzz(func(t *testing.T, path string) {
		n++
		r := tp.Template("fuzz.example", "GET", path, base.Add(n))
		if want := plain.Template("fuzz.example", "GET", path, base.Add(n)); r != want {
			t.Fatalf("Template(%q) = %+v with the cache, %+v without", path, r, want)
		}
		if path == "" {
			path = "/"
		}
		if strings.HasPrefix(path, "/") && strings.Count(r.Template, "/") != strings.Count(path, "/") {
			t.Fatalf("Template(%q) = %q: segment count changed", path, r.Template)
		}
	})
}
