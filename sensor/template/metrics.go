package template

import "github.com/apiscope/apiscope/pkg/metrics"

const (
	capHost = iota
	capKey
	numCaps
)

type tmplMetrics struct {
	learned *metrics.Counter
	late    *metrics.Counter
	shadow  *metrics.Counter
	capped  [numCaps]*metrics.Counter
}

func newMetrics(reg *metrics.Registry) *tmplMetrics {
	if reg == nil {
		reg = metrics.Default
	}
	return &tmplMetrics{
		learned: reg.Counter("apiscope_template_learned_total", "Path positions learned to be {param}."),
		late: reg.Counter("apiscope_template_late_total",
			"Calls templated more than the learning delay (capture time) after a later call: their learning may depend on worker scheduling."),
		shadow: reg.Counter("apiscope_template_shadow_total", "Calls to a host with an OpenAPI document whose path or method is not in it."),
		capped: [numCaps]*metrics.Counter{
			reg.Counter("apiscope_template_capped_total", "Learning skipped because a memory cap was reached.", "what", "host"),
			reg.Counter("apiscope_template_capped_total", "Learning skipped because a memory cap was reached.", "what", "position"),
		},
	}
}
