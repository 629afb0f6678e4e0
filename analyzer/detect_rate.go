package analyzer

import (
	"fmt"

	"github.com/apiscope/apiscope/models"
)

// rateDetector flags a client calling far faster than it ever does (scraping, machine-
// speed flow abuse), on a ten-second, a one-minute and a ten-minute horizon. Its baseline is the
// client's own decayed peak, its cohort's while it is young. Outages are left to the
// population: clients retrying against 5xx are not spiking.
type rateDetector struct{}

func init() { Register("rate", true, func(*Config) Detector { return rateDetector{} }) }

func (rateDetector) Name() string { return "rate" }

// Floors: below these, no rate is remarkable whatever the client's history.
const (
	rateFloorFast  = 60  // decayed calls, one-minute half-life (about 40 calls in a minute)
	rateFloorSlow  = 300 // decayed calls, ten-minute half-life (about 0.35 calls/s sustained)
	rateFloorBurst = 25  // decayed calls, ten-second half-life (about 20 calls in ten seconds)
	rateFactor     = 4
)

func (rateDetector) Inspect(x *Context) {
	if !x.warm() || x.inOutage() {
		return
	}
	for _, h := range [...]struct {
		i     int
		floor float64
		span  string
	}{{cBurst, rateFloorBurst, "10s"}, {cCalls, rateFloorFast, "1m"}, {cCallsSlow, rateFloorSlow, "10m"}} {
		v := x.counter(h.i)
		base := x.baseline(h.i)
		thr := max(h.floor, rateFactor*base)
		if v < thr {
			continue
		}
		sev := models.SeverityMedium
		if v >= 3*thr {
			sev = models.SeverityHigh
		}
		ev := observedBaseline(v, base, thr, "decayed calls ("+h.span+" half-life)")
		ev["endpoint"] = x.endpointName(x.Obs.EP)
		ev["window"] = h.span
		x.Emit(Signal{
			Kind: models.KindRateSpike, Score: v / thr, Severity: sev, Hold: true,
			Summary: fmt.Sprintf("%s called the API %.0fx faster than its usual peak over %s (%.0f vs %.0f decayed calls), last on %s",
				x.Profile.ClientID, v/max(base, 1), h.span, v, base, x.endpointName(x.Obs.EP)),
			Evidence: ev,
		})
		return
	}
}
