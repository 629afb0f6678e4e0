package analyzer

import (
	"sync"

	"github.com/apiscope/apiscope/pkg/metrics"
)

// engineMetrics are the analyzer's counters, resolved once.
type engineMetrics struct {
	calls, late, duplicates, invalid, suppressed *metrics.Counter
	decodeErrors, deadLetters, checkpoints       *metrics.Counter
	idleFlushes                                  *metrics.Counter
	profiles                                     *metrics.Gauge
	mu                                           sync.Mutex
	findings                                     map[[2]string]*metrics.Counter
}

var (
	metricsOnce sync.Once
	sharedM     *engineMetrics
)

func metricsFor() *engineMetrics {
	metricsOnce.Do(func() {
		r := metrics.Default
		sharedM = &engineMetrics{
			calls:        r.Counter("apiscope_analyzer_calls_total", "Calls processed by the analyzer."),
			late:         r.Counter("apiscope_analyzer_late_calls_total", "Calls that arrived after the reorder watermark and were processed out of order."),
			duplicates:   r.Counter("apiscope_analyzer_duplicate_calls_total", "Re-delivered calls dropped as duplicates."),
			invalid:      r.Counter("apiscope_analyzer_invalid_calls_total", "Calls without timestamp or identity, skipped."),
			suppressed:   r.Counter("apiscope_analyzer_suppressed_findings_total", "Held findings dropped because the population showed the same change."),
			decodeErrors: r.Counter("apiscope_analyzer_decode_errors_total", "Records that could not be decoded as calls."),
			deadLetters:  r.Counter("apiscope_analyzer_dead_letters_total", "Records set aside on the dead-letter topic."),
			checkpoints:  r.Counter("apiscope_analyzer_checkpoints_total", "Checkpoints written."),
			idleFlushes:  r.Counter("apiscope_analyzer_idle_flushes_total", "Reorder buffer and held findings flushed because no call arrived for --idle-flush."),
			profiles:     r.Gauge("apiscope_analyzer_profiles", "Client profiles held in memory (of the engine last grown, when a process runs several)."),
			findings:     map[[2]string]*metrics.Counter{},
		}
	})
	return sharedM
}

// finding returns the counter of findings of one kind and severity.
func (m *engineMetrics) finding(kind, sev string) *metrics.Counter {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{kind, sev}
	c := m.findings[k]
	if c == nil {
		c = metrics.Default.Counter("apiscope_analyzer_findings_total", "Findings written, by kind and severity.", "kind", kind, "severity", sev)
		m.findings[k] = c
	}
	return c
}
