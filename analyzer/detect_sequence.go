package analyzer

import (
	"fmt"
	"math"

	"github.com/apiscope/apiscope/models"
)

// sequenceDetector flags call paths the client and its cohort rarely or never take: steps
// skipped, reordered or looped in a business flow. Each transition's probability comes from
// the client's own transition counts backed off to its cohort's and the population's
// (see population.probability); a run of rare transitions in a few minutes, making up a
// large share of the client's recent transitions, raises a signal.
type sequenceDetector struct{}

func init() { Register("sequence", true, func(*Config) Detector { return sequenceDetector{} }) }

func (sequenceDetector) Name() string { return "sequence" }

const (
	seqRare       = 4 // decayed rare transitions, five-minute half-life
	seqShare      = 0.25
	seqRareYoung  = 6
	seqShareYoung = 0.4
	// seqCohortRoutine is the cohort probability at which a transition is routine, once
	// the cohort has left the source endpoint seqCohortMin times.
	seqCohortRoutine = 0.01
	seqCohortMin     = 200
)

func (sequenceDetector) Inspect(x *Context) {
	o := x.Obs
	if !o.Rare || !x.warm() || o.Outage {
		return
	}
	rare, trans := x.counter(cRare), max(x.counter(cTrans), 1)
	minRare, minShare := float64(seqRare), seqShare
	if !o.Mature {
		minRare, minShare = seqRareYoung, seqShareYoung
	}
	if rare < minRare || rare/trans < minShare {
		return
	}
	// A step the client's cohort takes routinely is rare only for this client (a busy
	// device that has not yet reached a step of its own workflow taken once in fifty):
	// what its peers do is not an abused flow.
	if co := x.pop.Cohorts[x.Profile.Kind]; co.From[o.From] >= seqCohortMin &&
		float64(co.Trans[transKey(o.From, o.EP)]) >= seqCohortRoutine*float64(co.From[o.From]) {
		return
	}
	surprise := -math.Log2(max(o.P, 1e-9))
	sev := models.SeverityMedium
	if rare >= 3*minRare {
		sev = models.SeverityHigh
	}
	from := x.endpointName(o.From)
	x.Emit(Signal{
		Kind: models.KindSequenceAnomaly, Score: rare / minRare, Severity: sev, Hold: true,
		Summary: fmt.Sprintf("%s took an unusual path: %s after %s (probability %.4f for this client and its cohort), %.0f rare steps in the last minutes",
			x.Profile.ClientID, x.endpointName(o.EP), from, o.P, rare),
		Evidence: map[string]any{
			"transition":  map[string]any{"from": from, "to": x.endpointName(o.EP), "probability": figure(o.P), "surprisal_bits": figure(surprise)},
			"baseline":    map[string]any{"mean_surprisal_bits": figure(float64(x.Profile.Surprise))},
			"observed":    map[string]any{"rare_transitions": figure(rare), "rare_share": figure(rare / trans)},
			"rare_cutoff": rareTransition,
		},
	})
}
