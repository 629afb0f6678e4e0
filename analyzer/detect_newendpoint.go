package analyzer

import (
	"fmt"

	"github.com/apiscope/apiscope/models"
)

// newEndpointDetector flags a client calling an endpoint it never called that is the
// function of another role (broken function-level authorisation: a user calling admin
// functions, an agent reaching for another agent's tools). A group of agents does not
// define a role for people or integrations: agents act with the rights of the users they
// serve, so their tools are user functions. The endpoint is known to the
// population, almost no client of the caller's role group and kind uses it, and it is
// core to some other role group. An endpoint merely rare everywhere (a feature few use)
// gives at most a low-severity note. A refusal (403) on an endpoint the caller's kind does
// not use, or nobody used before, is flagged too: that is what trying another role's
// function looks like when authorisation holds.
type newEndpointDetector struct{}

func init() { Register("newendpoint", true, func(*Config) Detector { return newEndpointDetector{} }) }

func (newEndpointDetector) Name() string { return "newendpoint" }

const (
	bflaMaxShare     = 0.02 // at most this share of the client's role group and kind uses it
	bflaOtherRole    = 0.25 // at least this share of another role group uses it
	bflaMinCohort    = 10
	bflaMinRoleGroup = 3
	bflaOtherMembers = 5 // members of another kind's group
	// A role group of the caller's own kind counts as another role only with these.
	bflaSameKindRole    = 0.6
	bflaSameKindMembers = 3
	bflaSameKindShare   = 0.01
	rareNoteShare       = 0.005
	// bflaDeniedShare bounds the kind's use of an endpoint on which a refusal counts as
	// a function-level authorisation probe.
	bflaDeniedShare = 0.01
)

func (newEndpointDetector) Inspect(x *Context) {
	o := x.Obs
	c := x.Call
	if !o.NewEndpoint || !o.PopWarm || c.Status == 404 || c.Status == 0 {
		return
	}
	p := x.Profile
	co := x.pop.Cohorts[p.Kind]
	kindShare := co.share(o.EP)
	// Refused on a function its kind does not use (or nobody used before): an
	// authenticated client trying another role's function.
	if c.Status == 403 && c.Auth != models.AuthNone && c.Auth != "" && (o.PopNew || kindShare <= bflaDeniedShare) && co.Clients >= bflaMinCohort {
		x.Emit(Signal{
			Kind: models.KindNewEndpointForClient, Score: 1, Severity: models.SeverityMedium,
			Summary: fmt.Sprintf("%s (%s) was refused (403) on %s, a function %.1f%% of %s clients use",
				p.ClientID, KindName(p.Kind), x.endpointName(o.EP), 100*kindShare, KindName(p.Kind)),
			Evidence: map[string]any{
				"endpoint": x.endpointName(o.EP), "status": c.Status,
				"baseline": map[string]any{"cohort": KindName(p.Kind), "kind_share": figure(kindShare), "endpoint_clients": o.Endpoint.Clients},
				"observed": map[string]any{"endpoint_new_for_client": true, "refused": true},
			},
		})
		return
	}
	if o.PopNew {
		return
	}
	if co.Clients < bflaMinCohort || o.Share > bflaMaxShare {
		return
	}
	other, otherKind, otherMembers := otherRoleShare(x.pop.Cohorts[:], p, o.EP, bflaMinRoleGroup)
	// Another kind's role group (agents' tools, partners' API) needs less evidence than a
	// group of the same kind, which must be large, use it widely, and the caller's kind
	// hardly at all (admins among users).
	another := other >= bflaOtherRole && otherKind != p.Kind && otherMembers >= bflaOtherMembers && kindShare <= bflaMaxShare ||
		other >= bflaSameKindRole && otherMembers >= bflaSameKindMembers && kindShare <= bflaSameKindShare
	sev := models.SeverityLow
	switch {
	case another && c.Status < 300:
		sev = models.SeverityHigh
	case another:
		sev = models.SeverityMedium
	case kindShare > rareNoteShare:
		return
	}
	x.Emit(Signal{
		Kind: models.KindNewEndpointForClient, Score: max(other/bflaOtherRole, 0.1), Severity: sev,
		Summary: fmt.Sprintf("%s (%s) called %s for the first time; %.1f%% of its role and %.1f%% of %s clients use it, but %.0f%% of a %s role group of %d do (answered %d)",
			p.ClientID, KindName(p.Kind), x.endpointName(o.EP), 100*o.Share, 100*kindShare, KindName(p.Kind), 100*other, KindName(otherKind), otherMembers, c.Status),
		Evidence: map[string]any{
			"endpoint": x.endpointName(o.EP), "status": c.Status,
			"baseline": map[string]any{"cohort": KindName(p.Kind), "role_share": figure(o.Share), "kind_share": figure(kindShare),
				"all_share": figure(o.AllShare), "cohort_clients": co.Clients, "role_group_members": o.RoleMembers,
				"client_endpoints": len(p.Endpoints)},
			"observed": map[string]any{"endpoint_new_for_client": true, "other_role_share": figure(other),
				"other_role_kind": KindName(otherKind), "other_role_members": otherMembers},
		},
	})
}
