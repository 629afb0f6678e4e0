package analyzer

import (
	"testing"
	"time"
)

// TestBackgroundQuiet: benign traffic alone raises no medium+ finding.
func TestBackgroundQuiet(t *testing.T) {
	w := newWorld(1)
	w.background(40, 60*time.Minute)
	fs := run(t, Config{}, w.sorted())
	if a := alerts(fs); len(a) > 0 {
		for c, f := range a {
			t.Errorf("benign client %s alerted:\n  %s", c, kinds(f))
		}
	}
	t.Logf("%d findings below medium", len(fs))
}
