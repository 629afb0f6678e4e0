package analyzer

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"sort"

	"github.com/apiscope/apiscope/models"
)

// authDetector flags authentication failures: per client (a credential failing over and
// over), per source address (one host stuffing many usernames), and across the population
// (stuffing spread over many sources, each failing only a few times), the last with the
// sources in related_ips. Low-and-slow stuffing hides its failures in the ordinary level of
// mistyped passwords, so the population is also judged by how many addresses it had never
// seen start by failing to authenticate and never succeed at anything: a person who
// mistypes a password goes on to use the API from the same address.
type authDetector struct {
	st authState
}

// authState is the detector's own state: failures by source address and across everyone.
type authState struct {
	IPs                    map[string]*ipAuth
	Fail, FailSlow         decayed
	Peak, PeakSlow         float64
	PeakT                  int64
	LastPopSignal, PopWarm int64
	// NewFail counts addresses first seen after the warm-up whose first failure came
	// before any success (decayed, authNewSrcHalfLife).
	NewFail decayed
}

type ipAuth struct {
	Fail       decayed
	OK         uint32
	Fails      uint32
	Last       int64
	Principals []uint64 // distinct principals tried, at most 8 hashes
	// First is when the address was first seen (unix ns); NewFail that it counts in
	// authState.NewFail (withdrawn when it succeeds).
	First   int64
	NewFail bool
}

func init() {
	Register("auth", true, func(*Config) Detector { return &authDetector{st: authState{IPs: map[string]*ipAuth{}}} })
}

func (d *authDetector) Name() string { return "auth" }

const (
	authFloorClient = 10 // decayed failures, two-minute half-life
	authFactor      = 4
	authFloorIP     = 10
	authPopFloor    = 20
	authPopSlow     = 50
	authPopMinIPs   = 8
	authMaxIPs      = 8192
	authRecentNS    = int64(15 * 60e9)
	authMaxRelated  = 256
	// authNewSrc is the decayed number of never-seen addresses failing before any
	// success that makes slow distributed stuffing (about twenty in half an hour).
	authNewSrc         = 20
	authNewSrcHalfLife = 1800
)

func (d *authDetector) SaveState() ([]byte, error) {
	var b bytes.Buffer
	err := gob.NewEncoder(&b).Encode(&d.st)
	return b.Bytes(), err
}

func (d *authDetector) LoadState(b []byte) error {
	d.st = authState{}
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&d.st); err != nil {
		return err
	}
	if d.st.IPs == nil {
		d.st.IPs = map[string]*ipAuth{}
	}
	return nil
}

func (d *authDetector) Inspect(x *Context) {
	c := x.Call
	ts := x.Obs.TS
	st := &d.st
	// Population-wide failure counters learn their peak while the population warms up and
	// creep afterwards, like client peaks.
	if st.PopWarm == 0 {
		st.PopWarm = ts + int64(x.Cfg.warmup())
	}
	fast := st.Fail.at(ts, 120)
	slow := st.FailSlow.at(ts, 900)
	if x.Obs.AuthFail {
		st.Fail.add(ts, 120, 1)
		st.FailSlow.add(ts, 900, 1)
		fast, slow = fast+1, slow+1
	}
	pf := decayFactor(ts-st.PeakT, peakHalfLife)
	st.Peak *= pf
	st.PeakSlow *= pf
	st.PeakT = ts
	warm := ts >= st.PopWarm

	ia := d.ip(c.SrcIP, ts)
	if ia != nil {
		if x.Obs.AuthFail {
			ia.Fail.add(ts, 120, 1)
			ia.Fails++
			ia.Last = ts
			if ia.Fails == 1 && ia.OK == 0 && st.PopWarm > 0 && ia.First >= st.PopWarm {
				st.NewFail.add(ts, authNewSrcHalfLife, 1)
			}
			if len(ia.Principals) < 8 && c.Principal != "" {
				h := fnvString(fnvOffset, c.Principal)
				found := false
				for _, p := range ia.Principals {
					found = found || p == h
				}
				if !found {
					ia.Principals = append(ia.Principals, h)
				}
			}
		} else if c.Status > 0 && c.Status < 400 {
			ia.OK++
		}
	}
	defer func() {
		if !warm {
			st.Peak, st.PeakSlow = max(st.Peak, fast), max(st.PeakSlow, slow)
		}
	}()
	if !x.Obs.AuthFail {
		return
	}

	// Per client.
	if x.warm() {
		v := x.counter(cAuthFail)
		base := x.baseline(cAuthFail)
		thr := max(authFloorClient, authFactor*base)
		if v >= thr {
			sev := models.SeverityMedium
			if v >= 3*thr {
				sev = models.SeverityHigh
			}
			ev := observedBaseline(v, base, thr, "decayed authentication failures (2m half-life)")
			ev["endpoint"] = x.endpointName(x.Obs.EP)
			x.Emit(Signal{
				Kind: models.KindAuthFailures, Score: v / thr, Severity: sev,
				Summary: fmt.Sprintf("%s failed authentication %.0f times in the last minutes (usual peak %.0f) on %s",
					x.Profile.ClientID, v, base, x.endpointName(x.Obs.EP)),
				Evidence: ev,
			})
			return
		}
	}
	// Per source address: many failures, usually across several usernames.
	if ia != nil {
		v := ia.Fail.V
		if v >= authFloorIP && (len(ia.Principals) >= 3 || v >= 2*authFloorIP) {
			ev := map[string]any{"observed": figure(v), "threshold": float64(authFloorIP), "unit": "decayed failures from one address (2m half-life)",
				"distinct_principals": len(ia.Principals), "successes": ia.OK, "endpoint": x.endpointName(x.Obs.EP)}
			x.Emit(Signal{
				Kind: models.KindAuthFailures, Score: v / authFloorIP, Severity: models.SeverityHigh,
				Subject: "ip:" + c.SrcIP,
				Summary: fmt.Sprintf("%s failed authentication %.0f times in the last minutes for %d different accounts (credential stuffing from one source)",
					c.SrcIP, v, len(ia.Principals)),
				Evidence: ev,
			})
			return
		}
	}
	// Across the population: failures far above the usual level, spread over many sources.
	if !warm || ts-st.LastPopSignal < int64(60e9) {
		return
	}
	thrFast := max(authPopFloor, authFactor*st.Peak)
	thrSlow := max(authPopSlow, authFactor*st.PeakSlow)
	newSrc := st.NewFail.at(ts, authNewSrcHalfLife)
	if fast < thrFast && slow < thrSlow && newSrc < authNewSrc {
		if fast < st.Peak*2 {
			st.Peak += (fast - st.Peak) * 0.01
		}
		return
	}
	ips := d.failingIPs(ts)
	if len(ips) < authPopMinIPs {
		return
	}
	st.LastPopSignal = ts
	v, thr := fast, thrFast
	summary := "authentication failures across all clients rose to %.0f (threshold %.0f), spread over %d source addresses (distributed credential stuffing)"
	switch {
	case fast >= thrFast:
	case slow >= thrSlow:
		v, thr = slow, thrSlow
	default:
		v, thr = newSrc, authNewSrc
		summary = "%.0f never-seen addresses in the last half hour failed to authenticate before any success (threshold %.0f), %d sources failing now (slow distributed credential stuffing)"
	}
	related := ips
	if len(related) > authMaxRelated {
		related = related[:authMaxRelated]
	}
	related = append([]string(nil), related...)
	sort.Strings(related)
	ev := observedBaseline(v, max(st.Peak, st.PeakSlow*fast/max(slow, 1)), thr, "decayed authentication failures, all clients")
	ev["failing_sources"] = len(ips)
	ev["new_sources_failing_first"] = figure(newSrc)
	ev["endpoint"] = x.endpointName(x.Obs.EP)
	x.Emit(Signal{
		Kind: models.KindAuthFailures, Score: v / thr, Severity: models.SeverityHigh,
		Subject:    "population:auth",
		RelatedIPs: related,
		Summary:    fmt.Sprintf(summary, v, thr, len(ips)),
		Evidence:   ev,
	})
}

// ip returns the state of a source address, creating it when there is room.
func (d *authDetector) ip(ip string, ts int64) *ipAuth {
	if ip == "" {
		return nil
	}
	if ia := d.st.IPs[ip]; ia != nil {
		return ia
	}
	if len(d.st.IPs) >= authMaxIPs {
		for k, v := range d.st.IPs {
			if ts-v.Last > authRecentNS && ts-v.Fail.T > authRecentNS {
				delete(d.st.IPs, k)
			}
		}
		if len(d.st.IPs) >= authMaxIPs {
			return nil
		}
	}
	ia := &ipAuth{Last: ts, First: ts}
	d.st.IPs[ip] = ia
	return ia
}

// failingIPs lists addresses with recent failures that fail more than they succeed,
// most failures first.
func (d *authDetector) failingIPs(ts int64) []string {
	type kv struct {
		ip string
		n  uint32
	}
	var l []kv
	for ip, ia := range d.st.IPs {
		if ia.Fails > 0 && ts-ia.Last <= authRecentNS && ia.Fails > ia.OK {
			l = append(l, kv{ip, ia.Fails})
		}
	}
	sort.Slice(l, func(i, j int) bool {
		if l[i].n != l[j].n {
			return l[i].n > l[j].n
		}
		return l[i].ip < l[j].ip
	})
	out := make([]string, len(l))
	for i := range l {
		out[i] = l[i].ip
	}
	return out
}
