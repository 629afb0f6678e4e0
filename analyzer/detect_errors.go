package analyzer

import (
	"fmt"

	"github.com/apiscope/apiscope/models"
)

// errorDetector flags error bursts and retry storms: a client drawing server errors, 429s
// or unanswered calls far above its own norm, most of its calls failing. When a sizeable
// share of all clients see errors at once it is an outage, not a client's doing, and
// nothing is raised.
type errorDetector struct{}

func init() { Register("errors", true, func(*Config) Detector { return errorDetector{} }) }

func (errorDetector) Name() string { return "errors" }

const (
	errorFloor  = 20 // decayed errors, one-minute half-life
	errorFactor = 4
	errorShare  = 0.5
)

func (errorDetector) Inspect(x *Context) {
	c := x.Call
	if !x.warm() || x.inOutage() || !(c.Status >= 500 || c.Status == 429 || c.Status == 0) {
		return
	}
	v := x.counter(cErr)
	calls := max(x.counter(cCalls), 1)
	base := x.baseline(cErr)
	thr := max(errorFloor, errorFactor*base)
	if v < thr || v/calls < errorShare {
		return
	}
	sev := models.SeverityMedium
	if v >= 3*thr {
		sev = models.SeverityHigh
	}
	ev := observedBaseline(v, base, thr, "decayed errors (1m half-life)")
	ev["error_share"] = figure(v / calls)
	ev["endpoint"] = x.endpointName(x.Obs.EP)
	ev["status"] = c.Status
	x.Emit(Signal{
		Kind: models.KindErrorBurst, Score: v / thr, Severity: sev, Hold: true,
		Summary: fmt.Sprintf("%s drew %.0f errors in the last minute (%.0f%% of its calls, usual peak %.0f), last %d on %s: an error burst or retry storm",
			x.Profile.ClientID, v, 100*v/calls, base, c.Status, x.endpointName(x.Obs.EP)),
		Evidence: ev,
	})
}
