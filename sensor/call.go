package sensor

import (
	"net/netip"
	"strings"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/sensor/httpwire"
)

// CallBuilder turns one HTTP transaction of the connection between client and server
// into a call. It must fill every field of out it knows (out arrives zeroed) and must not
// retain tx, its Request, Response or their Header slices, whose memory the parser reuses
// (httpwire.Config.ReuseTransactions); their strings may be kept. The sensor calls it
// from its flow workers, one goroutine per worker, so an
// implementation shared between workers must be safe for concurrent use.
type CallBuilder interface {
	Build(tx *httpwire.Transaction, client, server netip.AddrPort, out *models.APICall)
}

// addrCallBuilder is a CallBuilder that can be handed the address strings of a
// connection, which the workers then format once per connection rather than per call.
// AddrString formats an address as the builder's calls show it; BuildWithAddrs is Build
// with AddrString's results for client.Addr() and server.Addr().
type addrCallBuilder interface {
	CallBuilder
	AddrString(a netip.Addr) string
	BuildWithAddrs(tx *httpwire.Transaction, client, server netip.AddrPort, clientIP, serverIP string, out *models.APICall)
}

// basicBuilder fills the fields that need no identity or template configuration: the
// connection, the request line, status, sizes, latency and plain headers. The template
// only replaces numbers and UUIDs.
type basicBuilder struct{}

func (b basicBuilder) Build(tx *httpwire.Transaction, client, server netip.AddrPort, out *models.APICall) {
	b.BuildWithAddrs(tx, client, server, "", "", out)
}

// AddrString formats an address as basicBuilder's calls show it.
func (basicBuilder) AddrString(a netip.Addr) string { return a.String() }

// BuildWithAddrs is Build with AddrString's results for the two addresses ("" to have
// them formatted here).
func (basicBuilder) BuildWithAddrs(tx *httpwire.Transaction, client, server netip.AddrPort, clientIP, serverIP string, out *models.APICall) {
	req := tx.Req
	out.TS = req.TS.UTC()
	if clientIP == "" {
		clientIP = client.Addr().String()
	}
	if serverIP == "" {
		serverIP = server.Addr().String()
	}
	out.SrcIP, out.SrcPort = clientIP, client.Port()
	out.DstIP, out.DstPort = serverIP, server.Port()
	out.Method, out.URI = req.Method, req.URI
	out.Host = req.Header.Get("Host")
	out.Path, out.Query = req.URI, ""
	if i := strings.IndexByte(req.URI, '?'); i >= 0 {
		out.Path, out.Query = req.URI[:i], req.URI[i+1:]
	}
	out.Template = simpleTemplate(out.Path)
	out.ReqBytes = req.BodyBytes
	out.UserAgent = req.Header.Get("User-Agent")
	out.Partial, out.Truncated = req.Partial, req.Truncated
	out.Auth = models.AuthNone
	out.ClientID = out.SrcIP
	if tp := req.Header.Get("Traceparent"); len(tp) >= 35 && tp[2] == '-' {
		out.TraceID = tp[3:35]
	} else {
		out.TraceID = req.Header.Get("X-Request-ID")
	}
	if resp := tx.Resp; resp != nil {
		out.Status = resp.Status
		out.RespBytes = resp.BodyBytes
		out.ContentType = resp.Header.Get("Content-Type")
		out.LatencyMS = float64(resp.TS.Sub(req.TS).Microseconds()) / 1000
		out.Partial = out.Partial || resp.Partial
		out.Truncated = out.Truncated || resp.Truncated
	}
	if out.ContentType == "" {
		out.ContentType = req.Header.Get("Content-Type")
	}
}

// simpleTemplate replaces path segments that are all digits or a UUID with {id}.
func simpleTemplate(path string) string {
	var b []byte
	last := 0 // path[:last] is already in b (when b is in use)
	for start := 0; start <= len(path); {
		end := strings.IndexByte(path[start:], '/')
		if end < 0 {
			end = len(path)
		} else {
			end += start
		}
		if seg := path[start:end]; isNumber(seg) || isUUID(seg) {
			if b == nil {
				b = make([]byte, 0, len(path)+8)
			}
			b = append(b, path[last:start]...)
			b = append(b, "{id}"...)
			last = end
		}
		start = end + 1
	}
	if b == nil {
		return path
	}
	return string(append(b, path[last:]...))
}

func isNumber(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}
