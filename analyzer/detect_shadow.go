package analyzer

import (
	"fmt"
	"time"

	"github.com/apiscope/apiscope/models"
)

// shadowDetector flags calls to undocumented endpoints: those the sensor marks shadow
// (outside the OpenAPI document), and those that answer (not 404) although the population
// never used them during the warm-up and hardly anyone uses them since. An endpoint the
// population adopts at once (a deploy) is held back and dropped.
type shadowDetector struct{}

func init() { Register("shadow", true, func(*Config) Detector { return shadowDetector{} }) }

func (shadowDetector) Name() string { return "shadow" }

func (shadowDetector) Inspect(x *Context) {
	c := x.Call
	o := x.Obs
	e := o.Endpoint
	if c.Shadow {
		// Outside the specification and answering: medium unless the population already
		// uses it (an outdated document), then a low note. 404s are probes, not endpoints.
		if !o.NewEndpoint || c.Status == 0 || c.Status >= 400 && c.Status != 401 && c.Status != 403 {
			return
		}
		sev := models.SeverityMedium
		if o.Endpoint.Clients >= adoptionClients {
			sev = models.SeverityLow
		}
		x.Emit(Signal{
			Kind: models.KindShadowEndpoint, Score: 1, Severity: sev,
			Summary: fmt.Sprintf("%s called %s, which is not in the API specification (answered %d)",
				x.Profile.ClientID, x.endpointName(o.EP), c.Status),
			Evidence: map[string]any{"endpoint": x.endpointName(o.EP), "host": e.Host, "status": c.Status, "source": "openapi"},
		})
		return
	}
	if !o.PopWarm || !o.PopNew || o.Familiar || c.Status == 0 || c.Status >= 400 {
		return
	}
	// One call to an endpoint nobody else uses may be a rare feature: low. Every further
	// call adds to the incident, whose persistence makes it an alert.
	x.Emit(Signal{
		Kind: models.KindShadowEndpoint, Score: 1, Severity: models.SeverityLow, Hold: true, AdoptionEP: o.EP,
		Summary: fmt.Sprintf("%s called %s, an endpoint no other client used before (first seen %s, answered %d)",
			x.Profile.ClientID, x.endpointName(o.EP), time.Unix(0, e.FirstSeen).UTC().Format(time.RFC3339), c.Status),
		Evidence: map[string]any{"endpoint": x.endpointName(o.EP), "host": e.Host, "status": c.Status, "source": "inventory",
			"endpoint_clients": e.Clients, "first_seen": time.Unix(0, e.FirstSeen).UTC().Format(time.RFC3339Nano)},
	})
}
