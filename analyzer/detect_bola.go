package analyzer

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"strings"
	"time"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/metrics"
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
// count there. A slow enumerator, a few new ids an hour for an hour or two, is judged per
// endpoint by how many distinct objects it touched there, against how many the endpoint's
// other callers of its kind touch (see slowEnumeration).
type bolaDetector struct {
	st bolaState
}

// bolaState is the detector's own state: per client and object endpoint, what it touched
// there over hours; per endpoint, how far its callers reach.
type bolaState struct {
	// Pairs is keyed by pairKey(client, endpoint).
	Pairs map[uint64]*bolaPair
	// Spread is keyed by endpoint id.
	Spread map[uint32]*bolaSpread
}

// bolaPair is one client's use of one object endpoint, decayed over hours (bolaPairHalfLife).
type bolaPair struct {
	// New counts object ids new to the client, Unlisted those of them whose collection it
	// never listed, Calls every object call.
	New, Unlisted, Calls decayed
	// Peak is the largest New seen; Bucket+1 its half-octave bucket registered in the
	// endpoint's spread under Kind (0: not registered).
	Peak   float64
	Bucket uint8
	Kind   uint8
	// Slots counts the distinct bolaSlot-long slots with a new object (LastSlot the
	// latest): an enumeration's pace, steady rather than one burst.
	Slots    uint32
	LastSlot int64
	// SinceList counts the new objects since the client last called the listing of this
	// endpoint's collection (or since its first call): objects a listing cannot have shown
	// it, a client paging through its own list resetting it with every page.
	SinceList uint32
	// CallsSinceList counts the object calls over the same run.
	CallsSinceList uint32
	// Settled is Peak as it stood at the start of the previous hour, and HourPeak as it
	// stood at the start of this one: the client's own reach before what it does now.
	Settled, HourPeak float64
	Hour              int64
}

// bolaSpread is, for one endpoint, the distribution over its callers of their peak number
// of new objects there (half-octave buckets), by client kind and over everyone.
type bolaSpread struct {
	Kinds [nKinds][64]uint32
	All   [64]uint32
}

func newBolaDetector() *bolaDetector {
	return &bolaDetector{st: bolaState{Pairs: map[uint64]*bolaPair{}, Spread: map[uint32]*bolaSpread{}}}
}

func init() { Register("bola", true, func(*Config) Detector { return newBolaDetector() }) }

func (*bolaDetector) Name() string { return "bola" }

// SaveState encodes the detector's state for a checkpoint.
func (d *bolaDetector) SaveState() ([]byte, error) {
	var b bytes.Buffer
	err := gob.NewEncoder(&b).Encode(&d.st)
	return b.Bytes(), err
}

// LoadState replaces the detector's state with one written by SaveState.
func (d *bolaDetector) LoadState(b []byte) error {
	d.st = bolaState{}
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&d.st); err != nil {
		return err
	}
	if d.st.Pairs == nil {
		d.st.Pairs = map[uint64]*bolaPair{}
	}
	if d.st.Spread == nil {
		d.st.Spread = map[uint32]*bolaSpread{}
	}
	return nil
}

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
	// Slow enumeration, judged per client and endpoint on objects touched over hours
	// (see slowEnumeration).
	bolaPairHalfLife = 4 * 3600.0
	// bolaSlowMin is the least number of distinct new objects that can be an enumeration:
	// a handful never is.
	bolaSlowMin = 10
	// bolaSpreadQ is the quantile of the endpoint's callers' reach taken as its usual
	// spread, and bolaSpreadMin the callers needed to trust it.
	bolaSpreadQ   = 0.95
	bolaSpreadMin = 10
	// bolaSlowFactor is how far beyond that spread, and beyond its own earlier reach, a
	// client must reach.
	bolaSlowFactor = 3
	// bolaSlowNovelty is the least share of the client's calls on the endpoint since it
	// last listed the collection that hit an object new to it: a client re-reading its own
	// objects is no enumerator.
	bolaSlowNovelty = 0.75
	// bolaSlot and bolaSlowSlots: new objects in at least six distinct five-minute slots,
	// a steady pace over half an hour or more (a burst is the fast rules' business).
	bolaSlot      = int64(5 * time.Minute)
	bolaSlowSlots = 6
	// bolaMaxPairs bounds the (client, endpoint) pairs followed.
	bolaMaxPairs = 1 << 21
)

var bolaUntracked = metrics.Default.Counter("apiscope_analyzer_bola_untracked_total",
	"Object calls of (client, endpoint) pairs not followed by the slow enumeration rule because its table was full.")

func (d *bolaDetector) Inspect(x *Context) {
	o := x.Obs
	if x.Call.Method == "GET" && !strings.HasSuffix(o.Endpoint.Template, "}") {
		d.noteListing(x)
	}
	if !o.HasID {
		return
	}
	pair := d.observe(x)
	if !x.warm() {
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
	var slow slowFigures
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
	case o.NewID && pair != nil && d.slowEnumeration(x, pair, &slow):
		v, base, thr = slow.reach, slow.spread, slow.threshold
		reason = fmt.Sprintf("touched %.0f objects new to it over the last hours, %.1fx what %.0f%% of the endpoint's %d callers of its kind reach,", v, v/max(base, 1), 100*bolaSpreadQ, slow.peers)
		unit = "decayed distinct new object ids on the endpoint (four-hour half-life)"
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
	if slow.peers > 0 {
		ev["peers"] = slow.peers
		ev["unlisted_share"] = figure(slow.unlisted)
		ev["own_earlier_reach"] = figure(slow.own)
		ev["active_slots_5m"] = slow.slots
	}
	x.Emit(Signal{
		Kind: models.KindBOLAEnumeration, Score: score, Severity: sev,
		Summary: fmt.Sprintf("%s %s on %s (%.0f%% of object calls hit ids it never used before)",
			x.Profile.ClientID, reason, x.endpointName(o.EP), 100*novelty),
		Evidence: ev,
	})
}

// observe updates the client's record for this endpoint and the endpoint's spread. It
// returns nil when the table is full and the pair is new.
func (d *bolaDetector) observe(x *Context) *bolaPair {
	o := x.Obs
	ts := o.TS
	k := pairKey(x.Profile.ClientID, o.EP)
	pp := d.st.Pairs[k]
	if pp == nil {
		if len(d.st.Pairs) >= bolaMaxPairs {
			bolaUntracked.Inc()
			return nil
		}
		pp = &bolaPair{Kind: x.Profile.Kind}
		d.st.Pairs[k] = pp
	}
	if h := ts / int64(time.Hour); h != pp.Hour {
		pp.Settled, pp.HourPeak, pp.Hour = pp.HourPeak, pp.Peak, h
	}
	pp.Calls.add(ts, bolaPairHalfLife, 1)
	pp.CallsSinceList++
	if !o.NewID {
		return pp
	}
	pp.New.add(ts, bolaPairHalfLife, 1)
	pp.SinceList++
	if o.Unlisted {
		pp.Unlisted.add(ts, bolaPairHalfLife, 1)
	}
	if slot := ts / bolaSlot; pp.Slots == 0 || slot != pp.LastSlot {
		pp.Slots++
		pp.LastSlot = slot
	}
	if v := pp.New.V; v > pp.Peak {
		pp.Peak = v
	}
	d.register(o.EP, pp, x.Profile.Kind)
	return pp
}

// noteListing resets SinceList on the client's object endpoints whose collection this
// GET call lists (its last segment names it, as in endpointTable.listed).
func (d *bolaDetector) noteListing(x *Context) {
	e := x.Obs.Endpoint
	_, name := splitLast(e.Template)
	if name == "" {
		return
	}
	for _, es := range x.Profile.Endpoints {
		o := &x.pop.Endpoints.List[es.EP]
		if !o.HasID || o.Host != e.Host || collectionName(o.Template) != name {
			continue
		}
		if pp := d.st.Pairs[pairKey(x.Profile.ClientID, es.EP)]; pp != nil {
			pp.SinceList, pp.CallsSinceList = 0, 0
		}
	}
}

// register moves the pair's peak to its current bucket in the endpoint's spread.
func (d *bolaDetector) register(ep uint32, pp *bolaPair, kind uint8) {
	b := uint8(log2Bucket(pp.Peak) + 1)
	if b == pp.Bucket && kind == pp.Kind {
		return
	}
	sp := d.st.Spread[ep]
	if sp == nil {
		sp = &bolaSpread{}
		d.st.Spread[ep] = sp
	}
	if pp.Bucket != 0 {
		if h := &sp.Kinds[pp.Kind%nKinds][pp.Bucket-1]; *h > 0 {
			*h--
		}
		if h := &sp.All[pp.Bucket-1]; *h > 0 {
			*h--
		}
	}
	sp.Kinds[kind%nKinds][b-1]++
	sp.All[b-1]++
	pp.Bucket, pp.Kind = b, kind
}

// pairKey identifies a (client, endpoint) pair.
func pairKey(client string, ep uint32) uint64 {
	return mix64(fnvString(fnvOffset, client) ^ uint64(ep)*0x9e3779b97f4a7c15)
}

// slowFigures is what slowEnumeration measured, for the finding.
type slowFigures struct {
	reach, spread, own, threshold, unlisted float64
	peers                                   uint32
	slots                                   uint32
}

// slowEnumeration reports a slow enumerator on this endpoint: over the last hours the
// client touched far more distinct objects there than the endpoint's callers of its kind
// usually reach (the 95th percentile of their peaks; everyone's when its kind has too few
// callers there) and than it reached itself before the last hour or two, nearly every one
// of its calls there a new object, at a steady pace. Only objects touched since the client
// last listed the collection count: a listing may have shown it those before (a client
// paging through its own list starts again with every page), not the ones after. A
// catalogue browsed by everyone, a sync job's or an agent's endpoint where peers reach
// far, raise the bar by themselves: nothing is fitted to a particular API.
func (d *bolaDetector) slowEnumeration(x *Context, pp *bolaPair, f *slowFigures) bool {
	ts := x.Obs.TS
	if float64(pp.SinceList) < bolaSlowNovelty*float64(pp.CallsSinceList) || pp.Slots < bolaSlowSlots {
		return false
	}
	recent := pp.New.at(ts, bolaPairHalfLife)
	reach := min(recent, float64(pp.SinceList))
	if reach < bolaSlowMin {
		return false
	}
	sp := d.st.Spread[x.Obs.EP]
	if sp == nil {
		return false
	}
	hist := sp.Kinds[x.Profile.Kind%nKinds][:]
	peers := histCount(hist)
	if peers < bolaSpreadMin {
		hist = sp.All[:]
		peers = histCount(hist)
	}
	if peers < bolaSpreadMin {
		return false
	}
	spread := histQuantile(hist, bolaSpreadQ)
	unlisted := pp.Unlisted.at(ts, bolaPairHalfLife) / recent
	thr := max(bolaSlowMin, bolaSlowFactor*spread, bolaSlowFactor*pp.Settled)
	*f = slowFigures{reach: reach, spread: spread, own: pp.Settled, threshold: thr, unlisted: unlisted, peers: peers, slots: pp.Slots}
	return reach >= thr
}

// histCount is the number of entries of a histogram.
func histCount(h []uint32) uint32 {
	var n uint32
	for _, c := range h {
		n += c
	}
	return n
}
