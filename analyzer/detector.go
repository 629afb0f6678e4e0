package analyzer

import (
	"math"

	"github.com/apiscope/apiscope/models"
)

// Detector turns one observed call into zero or more signals. It reads the client's
// profile as it was before this call (counters already include it) and must not modify
// the profile.
type Detector interface {
	// Name is the detector's name, as given to Config.Detectors.
	Name() string
	// Inspect looks at one call and emits signals through x.Emit.
	Inspect(x *Context)
}

// Stateful is implemented by detectors that keep state of their own (outside the
// profiles), so checkpoints carry it. The encoding is the detector's business.
type Stateful interface {
	SaveState() ([]byte, error)
	LoadState(b []byte) error
}

// Factory builds a detector for a configuration.
type Factory func(cfg *Config) Detector

type registration struct {
	factory Factory
	// byDefault is set for detectors that run when Config.Detectors is empty.
	byDefault bool
}

var registry = map[string]registration{}

// Register adds a detector under name. Detectors call it from init; byDefault says whether
// it runs when no detector list is configured. A second registration of a name panics:
// that is a programming error caught by any test.
func Register(name string, byDefault bool, f Factory) {
	if _, dup := registry[name]; dup {
		panic("analyzer: detector registered twice: " + name)
	}
	registry[name] = registration{factory: f, byDefault: byDefault}
}

// Observation is what the engine derived from one call before detectors run.
type Observation struct {
	TS int64
	// EP is the endpoint id; Endpoint its population record.
	EP       uint32
	Endpoint *endpoint
	// NewEndpoint: the client never called this endpoint before.
	NewEndpoint bool
	// PopNew: the endpoint was first seen after the population warm-up (it is not part of
	// the inventory learned at the start). PopAdopted: such an endpoint that several
	// clients already use (a deploy, not an attack).
	PopNew, PopAdopted bool
	// Familiar: the endpoint is known to the population, or sits under a parent whose
	// last segment is evidently a parameter (many distinct literal children).
	Familiar bool
	// Share is the fraction of the client's role group (when it has one big enough to
	// trust; RoleMembers its size) or else of its kind that used the endpoint; AllShare the
	// fraction of all clients.
	Share, AllShare float64
	RoleMembers     uint32
	// HasID: the call names an object (path or query); NewID: the client never touched it
	// before.
	HasID, NewID bool
	IDValue      string
	// idKey is the object's hash keyed by its endpoint, as profiles remember it.
	idKey uint64
	// From is the previous endpoint (0: session start); P the transition probability.
	From uint32
	P    float64
	// Rare marks a transition with P below the rarity threshold that does not involve an
	// endpoint the population is just adopting.
	Rare bool
	// Mature: the client is past its warm-up. PopWarm: the population is.
	Mature, PopWarm bool
	// Outage: a population-wide error episode covers this call.
	Outage bool
	// AuthFail: the call is an authentication failure.
	AuthFail bool
	// Sequential: object ids on this endpoint have been consecutive numbers this many calls.
	Sequential int
	// Unlisted: a new object id on an endpoint whose collection the client never listed
	// (it did not learn the id from the API), and whose objects are not shared.
	Unlisted bool
}

// Context is what a detector gets for one call.
type Context struct {
	Call    *models.APICall
	Profile *Profile
	Obs     *Observation
	Cfg     *Config
	pop     *population
	emit    func(Signal)
}

// Emit raises a signal.
func (x *Context) Emit(s Signal) { x.emit(s) }

// Signal is a detector's raw finding before incident merging.
type Signal struct {
	Kind string
	// Score is the deviation score, comparable within a kind; 1 is the threshold.
	Score float64
	// Severity is the detector's severity for this signal alone; persistence can raise it.
	Severity string
	Summary  string
	Evidence map[string]any
	// RelatedIPs lists sources for findings about many sources.
	RelatedIPs []string
	// Subject overrides the client the signal is about (population-wide findings use a
	// synthetic subject such as "population:auth").
	Subject string
	// Hold marks signals a population-wide change could explain: they wait Config.Hold
	// and are dropped if enough other clients raise the same kind meanwhile.
	Hold bool
	// AdoptionEP, when set, drops a held signal if several clients have used this
	// endpoint by the end of the hold (an endpoint the population is adopting).
	AdoptionEP uint32
}

// baseline returns the effective baseline of counter i for a client: its own decayed
// peak, backed off to its cohort while it is young.
func (x *Context) baseline(i int) float64 {
	p := x.Profile
	own := float64(p.Peaks[i])
	co := x.pop.Cohorts[p.Kind]
	if !x.Obs.Mature {
		// A young client is judged by its cohort's busy members (then the population's)
		// and its own peaks of earlier minutes (a job's first run). With neither, not at
		// all.
		q := co.peakQuantile(i, 0.9, 5)
		if q == 0 {
			q = x.pop.All.peakQuantile(i, 0.9, 5)
		}
		if q == 0 && own == 0 {
			return math.Inf(1)
		}
		return max(q, own)
	}
	// Confidence in the client's own peak grows with the time it has been observed: a
	// job seen running once may run bigger next time. The peak is inflated by up to 2x for
	// a client just mature, fading with a two-hour time constant.
	age := float64(x.Obs.TS-p.First) / 1e9
	own *= 1 + math.Exp(-age/7200)
	return max(own, 0.5*co.peakQuantile(i, 0.5, 5))
}

// counter returns the client's decayed counter i including this call.
func (x *Context) counter(i int) float64 { return float64(x.Profile.Counters[i]) }

// endpointName renders an endpoint as "METHOD /template".
func (x *Context) endpointName(ep uint32) string {
	e := &x.pop.Endpoints.List[ep]
	if e.Method == "" {
		return e.Template
	}
	return e.Method + " " + e.Template
}

// inOutage reports whether a population-wide error episode covers the call.
func (x *Context) inOutage() bool { return x.Obs.Outage }

// buildDetectors instantiates the configured detectors in name order.
func buildDetectors(cfg *Config) []Detector {
	var names []string
	if len(cfg.Detectors) > 0 {
		names = append(names, cfg.Detectors...)
	} else {
		for _, n := range Detectors() {
			if registry[n].byDefault {
				names = append(names, n)
			}
		}
	}
	seen := map[string]bool{}
	var out []Detector
	for _, n := range sortedUnique(names) {
		if seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, registry[n].factory(cfg))
	}
	return out
}

// figure rounds a figure for evidence.
func figure(v float64) float64 { return round3(v) }

// observedBaseline is the evidence shape every rate-like detector uses.
func observedBaseline(observed, baseline, threshold float64, unit string) map[string]any {
	b := baseline
	if math.IsInf(b, 0) {
		b = 0
	}
	return map[string]any{"observed": figure(observed), "baseline": figure(b), "threshold": figure(threshold), "unit": unit}
}

// warm reports whether per-client judgement may run: the population is past its warm-up.
func (x *Context) warm() bool { return x.Obs.PopWarm }
