package analyzer

import (
	"fmt"
	"math"
	"time"

	"github.com/apiscope/apiscope/models"
)

// bolaDetector flags object-id enumeration: a client touching many object ids it never
// touched before, far beyond its own rate of new objects, nearly every call a new id,
// often answered 403/404 or walking consecutive numbers. A new client that does little
// else than fetch objects it never listed (it did not learn their ids from the API), far
// more than its cohort does, is flagged too, however slowly it goes; agents are exempt from
// that rule, since they are handed object ids by the person or task they act for (a
// ticket, a conversation) rather than by listing them. Benign clients mostly revisit
// their own objects; heavy-but-normal ones (sync jobs) have a high own baseline. On an
// endpoint where everyone's ids are nearly always new (content hashes), novelty alone is no
// evidence: only a far larger burst, consecutive ids, refusals or never-listed objects
// count there. A slow enumerator, a few new ids a minute for an hour or two, is judged on
// a two-hour horizon against its own usual reach and its cohort's.
type bolaDetector struct{}

func init() { Register("bola", true, func(*Config) Detector { return bolaDetector{} }) }

func (bolaDetector) Name() string { return "bola" }

const (
	bolaFloorFast  = 15 // decayed new ids, two-minute half-life
	bolaFloorSlow  = 40 // decayed new ids, fifteen-minute half-life (low and slow)
	bolaFactor     = 4
	bolaDenied     = 8 // decayed 403/404 on object endpoints
	bolaSequential = 10
	bolaBlind      = 12  // decayed new ids never listed, thirty-minute half-life
	bolaBlindShare = 0.8 // share of the young client's calls that fetch such objects
	// An endpoint on which nearly every call by anyone is an id new to its caller (content
	// hashes, commit shas, search terms in the path) says nothing through novelty alone.
	bolaPopNovelty = 0.85
	bolaPopCalls   = 200
	// bolaPopNovelScale raises the novelty thresholds on such endpoints.
	bolaPopNovelScale = 3
	// Slow enumeration: object ids new to the client over hours (two-hour half-life),
	// most of its object calls, well above both its own and its cohort's usual and far
	// above what a caller of the endpoint touches on it over the whole capture. Only clients
	// seen for two hours or more are judged (younger ones have no own figure yet), and not
	// agents, which are handed ids by the person they act for.
	bolaFloorLong  = 20
	bolaLongFactor = 3
	// bolaLongEPFactor is how far above the endpoint's distinct ids per client.
	bolaLongEPFactor = 8
	bolaLongNovelty  = 0.6
	bolaLongQ        = 0.5
	bolaLongAge      = int64(2 * time.Hour)
)

func (bolaDetector) Inspect(x *Context) {
	o := x.Obs
	if !o.HasID || !x.warm() {
		return
	}
	newIDs := x.counter(cNewID)
	idCalls := max(x.counter(cIDCalls), 1)
	novelty := newIDs / idCalls
	denied := x.counter(cDenied)
	minNovelty := 0.6
	if !o.Mature {
		minNovelty = 0.8
	}
	var reason string
	unit := "decayed new object ids"
	var score, thr, base, v float64
	switch {
	case o.NewID && o.Sequential >= bolaSequential:
		reason = fmt.Sprintf("walked %d consecutive ids", o.Sequential)
		v, base, thr = float64(o.Sequential), 0, bolaSequential
	case o.Unlisted && !o.Mature && x.Profile.Kind != KindAgent && x.counter(cBlind) >= max(bolaBlind, bolaFactor*x.baseline(cBlind)) &&
		float64(x.Profile.UnlistedN+1) >= bolaBlindShare*float64(x.Profile.N+1):
		v, base = x.counter(cBlind), x.baseline(cBlind)
		thr = max(bolaBlind, bolaFactor*base)
		reason = fmt.Sprintf("fetched %.0f objects it never listed, each new to it,", v)
		unit = "decayed new object ids whose listing the client never called (30m half-life)"
	case o.NewID && denied >= bolaDenied && denied/idCalls >= 0.5 && newIDs >= bolaDenied:
		reason = fmt.Sprintf("was refused (403/404) on %.0f%% of its object calls", 100*denied/idCalls)
		v, base, thr = newIDs, x.baseline(cNewID), bolaDenied
	case o.NewID && x.longEnumeration():
		v, base, thr = x.counter(cNewIDLong), x.bolaLongBaseline(), x.bolaLongThreshold()
		reason = fmt.Sprintf("touched %.0f object ids new to it over the last hours, %.0fx what it and its cohort usually do,", v, v/max(base, 1))
		unit = "decayed new object ids (two-hour half-life)"
	default:
		if !o.NewID || novelty < minNovelty {
			return
		}
		// Where everyone's ids are nearly always new, only a much larger burst counts.
		scale := 1.0
		if e := o.Endpoint; e.Calls >= bolaPopCalls && float64(e.NewIDs) >= bolaPopNovelty*float64(e.Calls) {
			scale = bolaPopNovelScale
		}
		fast, slow := newIDs, x.counter(cNewIDSlow)
		bf, bs := x.baseline(cNewID), x.baseline(cNewIDSlow)
		tf, tsl := scale*max(bolaFloorFast, bolaFactor*bf), scale*max(bolaFloorSlow, bolaFactor*bs)
		switch {
		case fast >= tf:
			v, base, thr = fast, bf, tf
		case slow >= tsl:
			v, base, thr = slow, bs, tsl
		default:
			return
		}
		reason = fmt.Sprintf("touched new object ids at %.0fx its usual peak", v/max(base, 1))
	}
	score = v / thr
	sev := models.SeverityMedium
	if denied/idCalls >= 0.5 || score >= 3 {
		sev = models.SeverityHigh
	}
	ev := observedBaseline(v, base, thr, unit)
	ev["endpoint"] = x.endpointName(o.EP)
	ev["new_id_share"] = figure(novelty)
	ev["denied_share"] = figure(denied / idCalls)
	ev["last_object_id"] = o.IDValue
	ev["consecutive_ids"] = o.Sequential
	x.Emit(Signal{
		Kind: models.KindBOLAEnumeration, Score: score, Severity: sev,
		Summary: fmt.Sprintf("%s %s on %s (%.0f%% of object calls hit ids it never used before)",
			x.Profile.ClientID, reason, x.endpointName(o.EP), 100*novelty),
		Evidence: ev,
	})
}

// bolaLongBaseline is what the client and its cohort usually touch in new object ids over
// the long horizon: the larger of the client's own peak (learned from hourly snapshots, so
// the last hour or two never counts) and its cohort's median peak.
func (x *Context) bolaLongBaseline() float64 {
	p := x.Profile
	q := x.pop.Cohorts[p.Kind].peakQuantile(cNewIDLong, bolaLongQ, 5)
	if q == 0 {
		q = x.pop.All.peakQuantile(cNewIDLong, bolaLongQ, 5)
	}
	if q == 0 {
		return math.Inf(1)
	}
	return max(float64(p.Peaks[cNewIDLong]), q)
}

// bolaLongThreshold is the long-horizon threshold: well above the client's own and its
// cohort's usual, and far above the number of distinct ids a caller of its endpoints
// touches on them on average over the whole capture (a catalogue browsed by everyone
// differs from per-customer objects that each caller only has a few of).
func (x *Context) bolaLongThreshold() float64 {
	return max(bolaFloorLong, bolaLongFactor*x.bolaLongBaseline(), bolaLongEPFactor*x.idsPerCaller())
}

// idsPerCaller is, over the endpoints the client called, the largest number of distinct
// object ids a caller of the endpoint touches on it on average: the client's count spans
// all its endpoints, so the most id-hungry of them sets the bar.
func (x *Context) idsPerCaller() float64 {
	var m float64
	for _, es := range x.Profile.Endpoints {
		e := &x.pop.Endpoints.List[es.EP]
		if e.NewIDs > 0 && e.Clients > 0 {
			m = max(m, float64(e.NewIDs)/float64(e.Clients))
		}
	}
	return m
}

// longEnumeration reports a slow enumerator: many object ids new to the client over
// hours, making most of its object calls in that time.
func (x *Context) longEnumeration() bool {
	if x.Obs.TS-x.Profile.First < bolaLongAge || x.Profile.Kind == KindAgent {
		return false
	}
	v := x.counter(cNewIDLong)
	if v < bolaFloorLong || v < bolaLongNovelty*x.counter(cIDCallsLong) {
		return false
	}
	return v >= x.bolaLongThreshold()
}
