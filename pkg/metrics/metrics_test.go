package metrics

import (
	"strings"
	"sync"
	"testing"
)

func TestCounterConcurrent(t *testing.T) {
	r := NewRegistry()
	c := r.Counter("apiscope_test_total", "test", "layer", "ipv4")
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 1000; j++ {
				c.Inc()
			}
		}()
	}
	wg.Wait()
	if got := r.Counter("apiscope_test_total", "test", "layer", "ipv4").Load(); got != 8000 {
		t.Fatalf("counter = %d; want 8000", got)
	}
}

func TestWritePrometheus(t *testing.T) {
	r := NewRegistry()
	r.Counter("apiscope_a_total", "a things", "reason", "x").Add(3)
	r.Gauge("apiscope_b", "b level").Set(1.5)
	r.GaugeFunc("apiscope_c", "c level", func() float64 { return 7 })
	var sb strings.Builder
	if err := r.WritePrometheus(&sb); err != nil {
		t.Fatal(err)
	}
	want := "# HELP apiscope_a_total a things\n# TYPE apiscope_a_total counter\napiscope_a_total{reason=\"x\"} 3\n" +
		"# HELP apiscope_b b level\n# TYPE apiscope_b gauge\napiscope_b 1.5\n" +
		"# HELP apiscope_c c level\n# TYPE apiscope_c gauge\napiscope_c 7\n"
	if sb.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", sb.String(), want)
	}
}
