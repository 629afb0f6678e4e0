package analyzer

import (
	"fmt"

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
// count there.
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
