package identity

import (
	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/metrics"
)

// What was malformed, as the what label of apiscope_identity_malformed_total.
const (
	whatJWT = iota
	whatBasic
	whatDigest
	whatCookie
	whatForwarded
	whatTraceparent
	whatRequestID
	numWhat
)

var whatNames = [numWhat]string{"jwt", "basic", "digest", "cookie", "forwarded", "traceparent", "request_id"}

var authKinds = []string{models.AuthJWT, models.AuthAPIKey, models.AuthBasic, models.AuthCookie, models.AuthNone}

type resolverMetrics struct {
	malformed [numWhat]*metrics.Counter
	byAuth    map[string]*metrics.Counter
}

func newResolverMetrics(reg *metrics.Registry) resolverMetrics {
	if reg == nil {
		reg = metrics.Default
	}
	var m resolverMetrics
	for i, w := range whatNames {
		m.malformed[i] = reg.Counter("apiscope_identity_malformed_total",
			"Credentials and identity headers that could not be parsed; the next identity rule applied.", "what", w)
	}
	m.byAuth = make(map[string]*metrics.Counter, len(authKinds))
	for _, a := range authKinds {
		m.byAuth[a] = reg.Counter("apiscope_identity_resolved_total", "Requests attributed, by authentication kind.", "auth", a)
	}
	return m
}

func (m *resolverMetrics) resolved(auth string) {
	if c := m.byAuth[auth]; c != nil {
		c.Inc()
	}
}
