package analyzer

import (
	"fmt"

	"github.com/apiscope/apiscope/models"
)

// newEndpointDetector flags a client calling an endpoint it never called that lies
// outside its cohort's function set: the population knows the endpoint, but almost no
// client of this kind uses it (broken function-level authorisation: a user calling admin
// functions, an agent reaching for tools it was never given). Endpoints new to everyone are
// the shadow detector's.
type newEndpointDetector struct{}

func init() { Register("newendpoint", true, func(*Config) Detector { return newEndpointDetector{} }) }

func (newEndpointDetector) Name() string { return "newendpoint" }

const (
	bflaMaxShare    = 0.05 // at most this share of the cohort uses it
	bflaMaxAllShare = 0.25 // and at most this share of all clients
	bflaMinCohort   = 10
)

func (newEndpointDetector) Inspect(x *Context) {
	o := x.Obs
	c := x.Call
	if !o.NewEndpoint || !o.PopWarm || o.PopNew || c.Status == 404 || c.Status == 0 {
		return
	}
	co := x.pop.Cohorts[x.Profile.Kind]
	if co.Clients < bflaMinCohort || o.Share > bflaMaxShare || o.AllShare > bflaMaxAllShare {
		return
	}
	sev := models.SeverityMedium
	if c.Status < 300 && o.Share == 0 {
		sev = models.SeverityHigh
	}
	x.Emit(Signal{
		Kind: models.KindNewEndpointForClient, Score: (bflaMaxShare - o.Share) / bflaMaxShare * 2, Severity: sev,
		Summary: fmt.Sprintf("%s (%s) called %s, which %.1f%% of %s clients and %.1f%% of all clients use (answered %d)",
			x.Profile.ClientID, KindName(x.Profile.Kind), x.endpointName(o.EP), 100*o.Share, KindName(x.Profile.Kind), 100*o.AllShare, c.Status),
		Evidence: map[string]any{
			"endpoint": x.endpointName(o.EP), "status": c.Status,
			"baseline": map[string]any{"cohort": KindName(x.Profile.Kind), "cohort_share": figure(o.Share), "all_share": figure(o.AllShare),
				"cohort_clients": co.Clients, "role_group_members": o.RoleMembers, "client_endpoints": len(x.Profile.Endpoints)},
			"observed": map[string]any{"endpoint_new_for_client": true},
		},
	})
}
