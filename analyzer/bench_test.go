package analyzer

import (
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/apiscope/apiscope/models"
)

// benchCalls builds a stream like a busy API: many clients in sessions over objects of
// their own, a few integrations, no attack.
func benchCalls(clients int, dur time.Duration) []models.APICall {
	w := newWorld(11)
	w.backgroundWith(clients, clients/100, dur)
	return w.sorted()
}

// BenchmarkEngine measures calls/s through the engine from decoded calls (no JSON, no
// sensor), one goroutine.
func BenchmarkEngine(b *testing.B) {
	calls := benchCalls(2000, 2*time.Hour)
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	var n int
	for n < b.N {
		e, _ := New(Config{}, OutputFunc(func(*models.Finding) error { return nil }))
		for i := range calls {
			if n >= b.N {
				break
			}
			_ = e.Process(&calls[i])
			n++
		}
		_ = e.Flush()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
	// On a shared machine wall time includes waiting for a core; CPU time does not.
	if cpu := (cpuTime() - cpu0).Seconds(); cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu, "calls/cpu-s")
	}
}

// cpuTime is the process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestProfileMemory measures the heap held per client profile (profiles, their map entry
// and the population state they add) for a typical client: a person with a few sessions
// a day over a handful of endpoints and objects. It logs the figure and fails past 4 KiB.
func TestProfileMemory(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("memory measurement (not under -short or -race)")
	}
	const clients = 3000
	calls := benchCalls(clients, 90*time.Minute)
	e, _ := New(Config{}, OutputFunc(func(*models.Finding) error { return nil }))
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	for i := range calls {
		_ = e.Process(&calls[i])
	}
	_ = e.Flush()
	// The calls slice is the input, not the engine's: the engine keeps only the strings
	// it retains (client ids, addresses, recent URIs).
	after := heap()
	runtime.KeepAlive(calls)
	per := float64(after-before) / float64(len(e.profiles))
	t.Logf("%d clients, %d calls: %.0f bytes per client (engine heap incl. population, detectors' state)", len(e.profiles), len(calls), per)
	if per > 4096 {
		t.Errorf("%.0f bytes per client profile, want at most 4096", per)
	}
	var eps, trans int
	for _, p := range e.profiles {
		eps += len(p.Endpoints)
		trans += len(p.Trans)
	}
	t.Logf("typical client: %.1f endpoints, %.1f transitions", float64(eps)/float64(len(e.profiles)), float64(trans)/float64(len(e.profiles)))
}
