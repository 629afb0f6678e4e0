package analyzer

import (
	"fmt"
	"time"

	"github.com/apiscope/apiscope/models"
)

// volumeDetector flags data leaving faster than the client's own rhythm (exfiltration,
// bulk scraping) and single responses far larger than the endpoint ever returns
// (oversized pages, `limit=100000`). An endpoint too rarely called for a reliable p95 is
// still judged by what it returned to several other clients (a firmware image, an export
// that is always large), not only by the population's sizes.
type volumeDetector struct{}

func init() { Register("volume", true, func(*Config) Detector { return volumeDetector{} }) }

func (volumeDetector) Name() string { return "volume" }

const (
	volumeFloorKiB  = 2048 // decayed KiB, two-minute half-life (about 1.5 MiB in a minute)
	volumeFactor    = 5
	outlierMinBytes = 32 << 10
	outlierFactor   = 8
	outlierMinCalls = 50
	// outlierPeers is the number of distinct clients whose responses make a rarely called
	// endpoint's median size a usable reference.
	outlierPeers = 3
	// volumePriorShare is the share of the volume floor the client must have pulled
	// before the current response for volume over time to be judged.
	volumePriorShare = 0.25
	// outlierRepeatNS is how close together oversized answers to one client must come to
	// count as one pull rather than separate downloads.
	outlierRepeatNS = int64(10 * time.Minute)
)

// largestRecentKiB is the largest response among this call and the client's last few,
// decayed like the volume counter: the share of the volume one download explains.
func largestRecentKiB(x *Context) float64 {
	big := float64(x.Call.RespBytes)
	for _, r := range x.Profile.Recent {
		if r.TS > 0 && r.Bytes > 0 {
			big = max(big, float64(r.Bytes)*decayFactor(x.Obs.TS-r.TS, halfLives[cKiB]))
		}
	}
	return big / 1024
}

// endpointSizeRef is the response size the endpoint is judged by: its p95 when it is
// called often enough, else the population's p99, or, when several clients have used it,
// its median if larger (an endpoint whose answers are always large).
func endpointSizeRef(x *Context) float64 {
	e := x.Obs.Endpoint
	if e.Calls >= outlierMinCalls {
		return e.sizeQuantile(0.95)
	}
	q := max(x.pop.sizeQuantile(0.99), float64(outlierMinBytes)/outlierFactor)
	if e.Clients >= outlierPeers {
		q = max(q, e.sizeQuantile(0.5))
	}
	return q
}

func (volumeDetector) Inspect(x *Context) {
	if !x.warm() {
		return
	}
	c := x.Call
	// One response far beyond what the endpoint returns to anyone (or, for an endpoint
	// too rarely called to know, beyond what any endpoint returns).
	if c.RespBytes >= outlierMinBytes {
		q := endpointSizeRef(x)
		// A second oversized answer of the same kind within minutes is a pattern (a
		// raised page limit walked through), not one large export.
		repeats := 0
		for _, r := range x.Profile.Recent {
			if q > 0 && r.TS > 0 && x.Obs.TS-r.TS <= outlierRepeatNS && r.Method == c.Method && float64(r.Bytes) >= outlierFactor*q {
				repeats++
			}
		}
		// A mature client is judged against its own large answers too; after a repeat its
		// p99 already holds the first oversized ones, so its p95 stands for its usual.
		p99 := x.Profile.sizeQuantile(0.99)
		own := p99
		if repeats > 0 {
			own = x.Profile.sizeQuantile(0.95)
		}
		if q > 0 && float64(c.RespBytes) >= outlierFactor*q && (!x.Obs.Mature || float64(c.RespBytes) >= outlierFactor*own) {
			ratio := float64(c.RespBytes) / q
			sev := models.SeverityLow
			if ratio >= 32 || repeats > 0 {
				sev = models.SeverityMedium
			}
			ev := observedBaseline(float64(c.RespBytes), q, outlierFactor*q, "response bytes (endpoint p95)")
			ev["endpoint"] = x.endpointName(x.Obs.EP)
			ev["client_p99_bytes"] = figure(p99)
			ev["query"] = c.Query
			ev["oversized_recent"] = repeats
			summary := fmt.Sprintf("%s received a %d-byte response from %s, %.0fx the endpoint's usual size (p95 %.0f bytes)",
				x.Profile.ClientID, c.RespBytes, x.endpointName(x.Obs.EP), ratio, q)
			if repeats > 0 {
				summary += fmt.Sprintf(", after %d more such answers in the last minutes", repeats)
			}
			x.Emit(Signal{
				Kind: models.KindDataVolume, Score: ratio / outlierFactor, Severity: sev,
				Summary: summary, Evidence: ev,
			})
			// No return: many oversized answers also add up to volume over time below.
		}
	}
	// Volume over time against the client's own peak. When the volume is next to nothing
	// but one response (this one or one of the last few), it is a single download (a
	// firmware image, an export), which the check above judges; a flow needs more calls.
	v := x.counter(cKiB)
	if v < volumeFloorKiB {
		return
	}
	base := x.baseline(cKiB)
	thr := max(volumeFloorKiB, volumeFactor*base)
	if v < thr || v-largestRecentKiB(x) < volumeFloorKiB*volumePriorShare {
		return
	}
	sev := models.SeverityMedium
	if v >= 3*thr {
		sev = models.SeverityHigh
	}
	ev := observedBaseline(v, base, thr, "decayed KiB (2m half-life)")
	ev["endpoint"] = x.endpointName(x.Obs.EP)
	x.Emit(Signal{
		Kind: models.KindDataVolume, Score: v / thr, Severity: sev, Hold: true,
		Summary: fmt.Sprintf("%s pulled %.0f KiB in the last minutes, %.0fx its usual peak of %.0f KiB",
			x.Profile.ClientID, v, v/max(base, 1), base),
		Evidence: ev,
	})
}
