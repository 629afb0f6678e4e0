package analyzer

import (
	"fmt"
	"sort"
	"strings"

	"github.com/apiscope/apiscope/models"
)

// scopeDetector flags an agent or integration whose set of endpoints keeps widening
// after it settled: several endpoints new for it within half an hour (an agent reaching for
// more and more tools), and bearer tokens whose scope claim grew. Endpoints the whole population is
// adopting do not count, nor a path whose last segment is evidently a value (file names,
// slugs: a parent with very many distinct literal children) next to one the client
// already calls: a new file is not a new tool. Drift is raised on an endpoint hardly
// anyone in the client's role group uses (the widening counts every new endpoint).
type scopeDetector struct{}

func init() { Register("scope", true, func(*Config) Detector { return scopeDetector{} }) }

func (scopeDetector) Name() string { return "scope" }

// scopeNew is the number of decayed new endpoints (thirty-minute half-life) that makes
// drift.
const scopeNew = 3

func (scopeDetector) Inspect(x *Context) {
	o := x.Obs
	p := x.Profile
	c := x.Call
	if !o.Mature || !x.warm() {
		return
	}
	if c.Scope != "" && p.Scopes[0] != "" && c.Scope != p.Scopes[0] && c.Scope != p.Scopes[1] {
		if added := scopeAdded(p.Scopes[0], c.Scope); len(added) > 0 {
			x.Emit(Signal{
				Kind: models.KindScopeDrift, Score: float64(len(added)), Severity: models.SeverityMedium,
				Summary:  fmt.Sprintf("%s presented a token with a wider scope: %s added", p.ClientID, strings.Join(added, ", ")),
				Evidence: map[string]any{"baseline": map[string]any{"scope": p.Scopes[0]}, "observed": map[string]any{"scope": c.Scope}, "added": added},
			})
			return
		}
	}
	if !o.NewEndpoint || o.PopAdopted || c.Status >= 400 || c.Status == 0 {
		return
	}
	if valueSibling(x) || o.Share > scopeRoleShare {
		return
	}
	// People explore an application's features over days; drift is about automated
	// callers whose tool set was fixed.
	if p.Kind != KindAgent && p.Kind != KindIntegration {
		return
	}
	thr := float64(scopeNew)
	v := x.counter(cNewEP)
	if v < thr {
		return
	}
	sev := models.SeverityMedium
	if v >= 2*thr {
		sev = models.SeverityHigh
	}
	ev := observedBaseline(v, float64(p.Peaks[cNewEP]), thr, "decayed endpoints new for the client (30m half-life)")
	ev["endpoint"] = x.endpointName(o.EP)
	ev["known_endpoints"] = len(p.Endpoints)
	x.Emit(Signal{
		Kind: models.KindScopeDrift, Score: v / thr, Severity: sev, Hold: true,
		Summary: fmt.Sprintf("%s (%s) keeps widening its scope: %.0f endpoints new for it in the last half hour after settling on %d, latest %s",
			p.ClientID, KindName(p.Kind), v, len(p.Endpoints), x.endpointName(o.EP)),
		Evidence: ev,
	})
}

// scopeRoleShare: an endpoint more of the client's role group uses than this is within
// the role's function set (a device reaching a rarely taken step of its own workflow);
// drift shows when the client reaches for what its peers do not use.
const scopeRoleShare = 0.02

// scopeFanOut is the number of distinct literal children that makes a parent's last
// segment a value rather than a set of resources: the most the endpoint table records
// (API roots mostly have fewer resources; a file or slug position has many more).
const scopeFanOut = maxChildren

// valueSibling reports whether the call's endpoint is a literal value under a parent with
// very many children, a sibling of which the client already calls.
func valueSibling(x *Context) bool {
	t := x.pop.Endpoints
	if t.parentFanOut(x.Obs.EP) < scopeFanOut {
		return false
	}
	parent := t.List[x.Obs.EP].Parent
	for _, es := range x.Profile.Endpoints {
		if es.EP != x.Obs.EP && int(es.EP) < len(t.List) && t.List[es.EP].Parent == parent {
			return true
		}
	}
	return false
}

// scopeAdded lists the space-separated scopes in now that were not in before.
func scopeAdded(before, now string) []string {
	had := map[string]bool{}
	for _, s := range strings.Fields(before) {
		had[s] = true
	}
	var out []string
	for _, s := range strings.Fields(now) {
		if !had[s] {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
