package analyzer

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apiscope/apiscope/models"
)

// TestBOLASlowEnumeration: the slow enumeration rule fires on clients touching, at a
// steady pace and far beyond what the endpoint's callers reach, objects no listing showed
// them, and stays quiet on clients whose many new objects each come from a listing page,
// or who re-read a few objects over and over. Forty people open their own orders in the
// background for four hours.
func TestBOLASlowEnumeration(t *testing.T) {
	const bg = 4 * time.Hour
	for _, tc := range []struct {
		name    string
		subject string
		build   func(w *world)
		want    bool
	}{
		{
			name: "existing user opening others' orders after listing its own", subject: "user045", want: true,
			build: func(w *world) {
				// A light user for two hours, then one order it was never shown every two
				// and a half minutes or so for an hour and a half.
				cl := human(45)
				lightUser(w, cl)
				for i := 0; i < 36; i++ {
					at := slowStart + time.Duration(i)*150*time.Second + time.Duration(w.rng.IntN(40))*time.Second
					w.call(cl, at, "GET", fmt.Sprintf("/api/orders/%024x", w.rng.Uint64()), "/api/orders/{id}", 200, 900)
				}
			},
		},
		{
			name: "new account fetching orders it never listed, one every four minutes", subject: "user046", want: true,
			build: func(w *world) {
				cl := human(46)
				for i := 0; i < 30; i++ {
					at := 100*time.Minute + time.Duration(i)*4*time.Minute + time.Duration(w.rng.IntN(60))*time.Second
					w.call(cl, at, "GET", fmt.Sprintf("/api/orders/%024x", w.rng.Uint64()), "/api/orders/{id}", 200, 900)
				}
			},
		},
		{
			name: "client paging through its own list", subject: "user047", want: false,
			build: func(w *world) {
				// A new page every ten minutes for two and a half hours, each of its ten
				// orders opened once: 150 orders new to it, each shown by a listing.
				cl := human(47)
				for p := 0; p < 15; p++ {
					at := 60*time.Minute + time.Duration(p)*10*time.Minute
					w.call(cl, at, "GET", fmt.Sprintf("/api/orders?page=%d", p+1), "/api/orders", 200, 2400)
					for i := 0; i < 10; i++ {
						w.call(cl, at+time.Duration(20+i*40)*time.Second, "GET", fmt.Sprintf("/api/orders/%d", 50000+(p*10+i)*37), "/api/orders/{id}", 200, 900)
					}
				}
			},
		},
		{
			name: "client re-reading a few orders", subject: "user048", want: false,
			build: func(w *world) {
				cl := human(48)
				for at := 30 * time.Minute; at < 210*time.Minute; at += 2 * time.Minute {
					w.call(cl, at, "GET", fmt.Sprintf("/api/orders/%d", cl.ids[w.rng.IntN(len(cl.ids))]), "/api/orders/{id}", 200, 900)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(11)
			w.background(40, bg)
			tc.build(w)
			got := alerts(run(t, Config{}, w.sorted()))
			var hit bool
			for _, f := range got[tc.subject] {
				// The slow rule itself, not another one.
				hit = hit || f.Kind == models.KindBOLAEnumeration && strings.Contains(f.Summary, "over the last hours")
			}
			if hit != tc.want {
				t.Errorf("bola finding for %s: %v; want %v; medium+ findings: %v", tc.subject, hit, tc.want, summarize(got))
			}
			for c, fs := range got {
				if c == tc.subject && tc.want {
					continue
				}
				for _, f := range fs {
					if f.Kind == models.KindBOLAEnumeration {
						t.Errorf("%s: %s", c, kinds([]models.Finding{f}))
					}
				}
			}
		})
	}
}
