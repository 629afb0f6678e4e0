package analyzer

import (
	"sort"
	"time"

	"github.com/apiscope/apiscope/models"
)

// incident is an open run of findings for one subject (client) and kind.
type incident struct {
	ID          string
	Start, Last int64
	Count       uint32
	// Minutes counts the distinct capture-time minutes with a signal: persistence.
	Minutes, LastMin int64
	MaxScore         float64
	// Emitted is the severity rank last written (-1: nothing written yet).
	Emitted int
}

// pendingFinding is a held signal waiting for the population to show itself.
type pendingFinding struct {
	Release int64
	Key     string
	Kind    string
	Base    int // severity rank of the signal alone
	Score   float64
	EP      uint32 // see Signal.AdoptionEP
	F       models.Finding
}

// kindWindow counts distinct subjects raising one kind in five-minute windows.
type kindWindow struct {
	Win           int64
	Cur, Prev     uint32
	SuppressUntil int64
}

const raiserWindowNS = int64(5 * time.Minute)

// incidents merges signals into incidents, holds and suppresses population-wide ones, and
// writes findings. Owned by the engine's goroutine.
type incidents struct {
	Open       map[string]*incident
	Pending    []pendingFinding
	Raisers    map[string]int64
	Kinds      map[string]*kindWindow
	NextSweep  int64
	Suppressed uint64
}

func newIncidents() *incidents {
	return &incidents{Open: map[string]*incident{}, Raisers: map[string]int64{}, Kinds: map[string]*kindWindow{}}
}

// noteRaiser counts subject as raising kind at ts.
func (m *incidents) noteRaiser(subject, kind string, ts int64) {
	kw := m.Kinds[kind]
	if kw == nil {
		kw = &kindWindow{}
		m.Kinds[kind] = kw
	}
	w := ts / raiserWindowNS
	if w != kw.Win {
		if w == kw.Win+1 {
			kw.Prev = kw.Cur
		} else {
			kw.Prev = 0
		}
		kw.Cur = 0
		kw.Win = w
	}
	key := subject + "\x00" + kind
	if last, ok := m.Raisers[key]; ok && last >= w-1 {
		if last != w {
			m.Raisers[key] = w
		}
		return
	}
	m.Raisers[key] = w
	kw.Cur++
}

// populationWide reports whether enough distinct subjects raised kind recently that it
// is a change affecting everyone rather than one client's deviation.
func (m *incidents) populationWide(kind string, ts int64, active uint32) bool {
	kw := m.Kinds[kind]
	if kw == nil {
		return false
	}
	if ts <= kw.SuppressUntil {
		return true
	}
	n := kw.Cur
	if ts/raiserWindowNS == kw.Win+1 {
		n = 0
	}
	n += kw.Prev
	if float64(n) >= max(4, 0.05*float64(active)) {
		kw.SuppressUntil = ts + int64(10*time.Minute)
		return true
	}
	return false
}

// sweep forgets incidents and raisers that can no longer merge.
func (m *incidents) sweep(ts int64, window int64) {
	if ts < m.NextSweep {
		return
	}
	m.NextSweep = ts + int64(time.Minute)
	for k, inc := range m.Open {
		if ts-inc.Last > window {
			delete(m.Open, k)
		}
	}
	w := ts / raiserWindowNS
	for k, last := range m.Raisers {
		if last < w-1 {
			delete(m.Raisers, k)
		}
	}
}

// persistenceRank raises a signal's severity with the incident's persistence: repeated
// signals lift it one level (up to high), signals in five or more distinct minutes one
// more (up to critical).
func persistenceRank(base int, count uint32, minutes int64) int {
	r := base
	if count >= 3 && r < SeverityRankHigh {
		r++
	}
	if minutes >= 5 && r < SeverityRankCritical {
		r++
	}
	return r
}

// Severity ranks, as models.SeverityRank returns them.
const (
	SeverityRankInfo = iota
	SeverityRankLow
	SeverityRankMedium
	SeverityRankHigh
	SeverityRankCritical
)

var severityNames = [...]string{models.SeverityInfo, models.SeverityLow, models.SeverityMedium, models.SeverityHigh, models.SeverityCritical}

// merge books a released finding into its incident and returns the finding to write, or
// nil when it adds nothing (same incident, no higher severity).
func (m *incidents) merge(key string, base int, score float64, f *models.Finding, window int64) *models.Finding {
	ts := f.TS.UnixNano()
	inc := m.Open[key]
	if inc == nil || ts-inc.Last > window {
		inc = &incident{ID: models.FindingID(f.ClientID, f.Kind, f.TS.UTC().Format(time.RFC3339Nano)), Start: ts, Emitted: -1}
		m.Open[key] = inc
	}
	inc.Count++
	inc.Last = ts
	if m := ts / int64(time.Minute); m != inc.LastMin || inc.Minutes == 0 {
		inc.Minutes++
		inc.LastMin = m
	}
	if score > inc.MaxScore {
		inc.MaxScore = score
	}
	rank := persistenceRank(base, inc.Count, inc.Minutes)
	if rank <= inc.Emitted {
		return nil
	}
	inc.Emitted = rank
	out := *f
	out.ID = inc.ID
	out.Severity = severityNames[rank]
	ev := make(map[string]any, len(f.Evidence)+3)
	for k, v := range f.Evidence {
		ev[k] = v
	}
	ev["incident_start"] = time.Unix(0, inc.Start).UTC().Format(time.RFC3339Nano)
	ev["incident_signals"] = inc.Count
	ev["incident_minutes"] = inc.Minutes
	ev["incident_max_score"] = round3(inc.MaxScore)
	out.Evidence = ev
	return &out
}

// sortPending keeps held findings in release order (stable on insertion order).
func (m *incidents) sortPending() {
	sort.SliceStable(m.Pending, func(i, j int) bool { return m.Pending[i].Release < m.Pending[j].Release })
}
