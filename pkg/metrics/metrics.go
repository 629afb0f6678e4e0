// Package metrics keeps the process's counters and gauges in one place so they can be
// printed at the end of a run and exported in the Prometheus text format.
//
// Counters are resolved once (at startup, by name and labels) and then incremented with
// a single atomic add, so hot paths never look anything up.
package metrics

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Counter is a monotonically increasing value. Safe for concurrent use.
//
// Each counter fills a cache line of its own: counters are allocated one after another,
// and without the padding, counters that different goroutines update (one stage's next
// to another's) would share a line that the cores then take from each other on every add.
type Counter struct {
	v atomic.Uint64
	_ [cacheLine - 8]byte
}

// cacheLine is the size of a CPU cache line on the platforms the sensor runs on.
const cacheLine = 64

// Inc adds one.
func (c *Counter) Inc() { c.v.Add(1) }

// Add adds n.
func (c *Counter) Add(n uint64) { c.v.Add(n) }

// Load returns the current value.
func (c *Counter) Load() uint64 { return c.v.Load() }

// Gauge is a value that goes up and down. Safe for concurrent use. It is padded to a
// cache line as Counter is.
type Gauge struct {
	v atomic.Uint64
	_ [cacheLine - 8]byte
}

// Set stores f.
func (g *Gauge) Set(f float64) { g.v.Store(math.Float64bits(f)) }

// Add adds d (may be negative).
func (g *Gauge) Add(d float64) {
	for {
		old := g.v.Load()
		if g.v.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}

// Load returns the current value.
func (g *Gauge) Load() float64 { return math.Float64frombits(g.v.Load()) }

type series struct {
	name   string // full metric name, e.g. apiscope_sensor_packets_total
	labels string // rendered label set, e.g. {layer="ipv4"}, or ""
	help   string
	kind   string // counter or gauge
	c      *Counter
	g      *Gauge
	fn     func() float64
}

// Registry holds named series. The zero value is not usable; use NewRegistry or Default.
type Registry struct {
	mu     sync.Mutex
	series map[string]*series // key: name+labels
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{series: map[string]*series{}} }

// Default is the process-wide registry the metrics endpoint serves.
var Default = NewRegistry()

// Labels renders label pairs ("k1", "v1", "k2", "v2") in the given order.
func Labels(kv ...string) string {
	if len(kv) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", kv[i], kv[i+1])
	}
	b.WriteByte('}')
	return b.String()
}

// Counter returns the counter for name and labels (from Labels), creating it on first use.
func (r *Registry) Counter(name, help string, labelPairs ...string) *Counter {
	s := r.get(name, Labels(labelPairs...), help, "counter")
	if s.c == nil {
		s.c = &Counter{}
	}
	return s.c
}

// Gauge returns the gauge for name and labels, creating it on first use.
func (r *Registry) Gauge(name, help string, labelPairs ...string) *Gauge {
	s := r.get(name, Labels(labelPairs...), help, "gauge")
	if s.g == nil {
		s.g = &Gauge{}
	}
	return s.g
}

// GaugeFunc registers a gauge whose value is read from fn at export time.
func (r *Registry) GaugeFunc(name, help string, fn func() float64, labelPairs ...string) {
	s := r.get(name, Labels(labelPairs...), help, "gauge")
	s.fn = fn
}

func (r *Registry) get(name, labels, help, kind string) *series {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := name + labels
	s, ok := r.series[k]
	if !ok {
		s = &series{name: name, labels: labels, help: help, kind: kind}
		r.series[k] = s
	}
	return s
}

func (s *series) value() float64 {
	switch {
	case s.fn != nil:
		return s.fn()
	case s.c != nil:
		return float64(s.c.Load())
	case s.g != nil:
		return s.g.Load()
	}
	return 0
}

// Sample is one series' value at a point in time.
type Sample struct {
	Name   string
	Labels string
	Value  float64
}

// Snapshot returns every series sorted by name and labels.
func (r *Registry) Snapshot() []Sample {
	r.mu.Lock()
	all := make([]*series, 0, len(r.series))
	for _, s := range r.series {
		all = append(all, s)
	}
	r.mu.Unlock()
	sort.Slice(all, func(i, j int) bool {
		if all[i].name != all[j].name {
			return all[i].name < all[j].name
		}
		return all[i].labels < all[j].labels
	})
	out := make([]Sample, len(all))
	for i, s := range all {
		out[i] = Sample{Name: s.name, Labels: s.labels, Value: s.value()}
	}
	return out
}

// WritePrometheus writes every series in the Prometheus text exposition format.
func (r *Registry) WritePrometheus(w io.Writer) error {
	r.mu.Lock()
	all := make([]*series, 0, len(r.series))
	for _, s := range r.series {
		all = append(all, s)
	}
	r.mu.Unlock()
	sort.Slice(all, func(i, j int) bool {
		if all[i].name != all[j].name {
			return all[i].name < all[j].name
		}
		return all[i].labels < all[j].labels
	})
	last := ""
	for _, s := range all {
		if s.name != last {
			if _, err := fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", s.name, s.help, s.name, s.kind); err != nil {
				return err
			}
			last = s.name
		}
		if _, err := fmt.Fprintf(w, "%s%s %v\n", s.name, s.labels, s.value()); err != nil {
			return err
		}
	}
	return nil
}
