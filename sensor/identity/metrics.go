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

var authKinds = [...]string{models.AuthJWT, models.AuthAPIKey, models.AuthBasic, models.AuthCookie, models.AuthNone}

type resolverMetrics struct {
	malformed [numWhat]*metrics.Counter
	// byAuth[i] counts requests of auth kind authKinds[i] (the order resolved uses).
	byAuth [len(authKinds)]*metrics.Counter
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
	for i, a := range authKinds {
		m.byAuth[i] = reg.Counter("apiscope_identity_resolved_total", "Requests attributed, by authentication kind.", "auth", a)
	}
	return m
}

// resolved counts one request of auth kind auth. A switch, not a map: the kinds are few
// and a string switch costs less than hashing the name for every request.
func (m *resolverMetrics) resolved(auth string) {
	var i int
	switch auth {
	case models.AuthJWT:
		i = 0
	case models.AuthAPIKey:
		i = 1
	case models.AuthBasic:
		i = 2
	case models.AuthCookie:
		i = 3
	case models.AuthNone:
		i = 4
	default:
		return
	}
	m.byAuth[i].Inc()
}
