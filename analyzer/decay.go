package analyzer

import "math"

// Counter indexes of a profile's decayed counters. Each counter is an exponentially
// decayed sum in capture time: a burst of n events well inside the half-life reads about
// n; a steady rate r reads r*halfLife/ln 2. Comparing a counter with its own decayed peak
// gives "more than this client ever does" without keeping windows of events.
const (
	cCalls     = iota // every call
	cCallsSlow        // every call, long half-life (low-and-slow volume)
	cErr              // 5xx, 429 and calls without a response
	cAuthFail         // 401, and 400/403 on authentication endpoints
	cNewID            // calls touching an object id new for the client
	cNewIDSlow        // the same, long half-life
	cIDCalls          // calls that name an object id (in the path or the query)
	cDenied           // 403/404 on endpoints with an object id
	cKiB              // response KiB
	c404New           // 404 on endpoints new for the client
	cNewEP            // endpoints new for a mature client (not population-wide adoptions)
	cRare             // rare transitions
	cTrans            // transitions scored
	cBurst            // every call, ten-second half-life (machine-speed bursts)
	cBlind            // new object ids on endpoints whose listing the client never called
	nCounters
)

// halfLives are the counters' half-lives in seconds of capture time.
var halfLives = [nCounters]float64{
	cCalls: 60, cCallsSlow: 600, cErr: 60, cAuthFail: 120, cNewID: 120, cNewIDSlow: 900,
	cIDCalls: 120, cDenied: 120, cKiB: 120, c404New: 120, cNewEP: 1800, cRare: 300, cTrans: 300,
	cBurst: 10, cBlind: 1800,
}

// counterNames name the counters in evidence.
var counterNames = [nCounters]string{
	"calls", "calls_slow", "errors", "auth_failures", "new_object_ids", "new_object_ids_slow",
	"object_id_calls", "denied_object_calls", "response_kib", "not_found_new_paths",
	"new_endpoints", "rare_transitions", "transitions", "burst_calls", "unlisted_new_object_ids",
}

// peakHalfLife is the half-life of a counter's remembered peak: a client's busiest moment
// counts for about half a day.
const peakHalfLife = 12 * 3600.0

// decayFactor is 2^(-dt/halfLife) for dt in nanoseconds.
func decayFactor(dtNS int64, halfLifeS float64) float64 {
	if dtNS <= 0 {
		return 1
	}
	return math.Exp2(-float64(dtNS) / 1e9 / halfLifeS)
}

// decayed is one exponentially decayed value with its own clock, for state outside the
// profiles (population, cohorts, detectors).
type decayed struct {
	V float64
	T int64 // capture time (unix ns) V refers to
}

// at returns the value decayed to ts.
func (d decayed) at(ts int64, halfLifeS float64) float64 {
	return d.V * decayFactor(ts-d.T, halfLifeS)
}

// add decays to ts and adds x.
func (d *decayed) add(ts int64, halfLifeS, x float64) {
	if ts > d.T {
		d.V *= decayFactor(ts-d.T, halfLifeS)
		d.T = ts
	}
	d.V += x
}

// log2Bucket maps v >= 0 to a half-octave bucket in [0, 63].
func log2Bucket(v float64) int {
	if v < 1 {
		return 0
	}
	b := int(2*math.Log2(v)) + 1
	if b > 63 {
		b = 63
	}
	return b
}

// histQuantile returns the q-quantile (0..1) of a half-octave histogram, as the upper
// bound of the bucket it falls in; 0 for an empty histogram.
func histQuantile[T uint16 | uint32](hist []T, q float64) float64 {
	var n uint64
	for _, c := range hist {
		n += uint64(c)
	}
	if n == 0 {
		return 0
	}
	target := uint64(q*float64(n)) + 1
	var acc uint64
	for b, c := range hist {
		acc += uint64(c)
		if acc >= target {
			return bucketValue(b + 1)
		}
	}
	return bucketValue(len(hist))
}

// bucketValue is the lower bound of a log2Bucket.
func bucketValue(b int) float64 {
	if b <= 0 {
		return 0
	}
	return math.Exp2(float64(b-1) / 2)
}
