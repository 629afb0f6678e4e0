package analyzer

import (
	"testing"
	"time"

	"github.com/apiscope/apiscope/models"
)

// FuzzDecodeCall: any bytes either decode to a call the engine accepts or are refused;
// nothing panics, and a decoded call goes through the engine.
func FuzzDecodeCall(f *testing.F) {
	f.Add([]byte(`{"ts":"2026-01-05T00:00:00.646448Z","src_ip":"10.0.0.1","method":"GET","uri":"/a/1","path":"/a/1","template":"/a/{id}","status":200,"client_id":"c1"}`))
	f.Add([]byte(`{"ts":"2026-01-05T00:00:00Z","method":"POST","client_id":"x","uri":"/login?u=' or 1=1--","status":401}`))
	f.Add([]byte(`not json`))
	f.Add([]byte(`{"schema":"other"}`))
	f.Add([]byte(`{"ts":"0001-01-01T00:00:00Z","method":"GET"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var c models.APICall
		if err := DecodeCall(b, &c); err != nil {
			return
		}
		e, err := New(Config{Lateness: time.Second}, OutputFunc(func(*models.Finding) error { return nil }))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Process(&c); err != nil {
			t.Fatal(err)
		}
		if err := e.Flush(); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzMatchInjection: the payload matcher never panics on any request target.
func FuzzMatchInjection(f *testing.F) {
	for _, s := range []string{"/a?q=%27%20OR%201%3D1--", "/x/../../etc/passwd", "/s?q=<script>alert(1)</script>", "/%", "/%%32%65", "/ok"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { _ = matchInjection(s) })
}
