package analyzer

import (
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/apiscope/apiscope/models"
)

// injectionDetector flags attack payloads in the request target (SQL injection, cross-site
// scripting, path traversal, command and template injection, JNDI lookups), scanner user
// agents, and endpoint fuzzing: runs of 404s on paths the client never called.
type injectionDetector struct{}

func init() { Register("injection", true, func(*Config) Detector { return injectionDetector{} }) }

func (injectionDetector) Name() string { return "injection" }

// injectionPatterns are lower-case substrings of the percent-decoded request target, by
// attack class. They are chosen to be rare in legitimate API parameters.
var injectionPatterns = []struct {
	class    string
	patterns []string
}{
	{"sql_injection", []string{"' or ", "'or'", "\" or ", " or 1=1", "' and ", "union select", "union all select", "select * from", "sleep(", "benchmark(", "waitfor delay", "'--", "';", "information_schema", "pg_sleep", "xp_cmdshell", "1=1--", "order by 1--", "' or '1'='1"}},
	{"xss", []string{"<script", "javascript:", "onerror=", "onload=", "<img src", "<svg", "alert(", "document.cookie", "<iframe"}},
	{"path_traversal", []string{"../", "..\\", "/etc/passwd", "/etc/shadow", "c:\\windows", "boot.ini", "/proc/self"}},
	{"command_injection", []string{";cat ", "; cat ", "|cat ", "| cat ", "$(", "`id`", ";id;", "|id;", "| id", "; ls", ";ls ", "&& whoami", "|whoami", ";whoami", "/bin/sh", "/bin/bash", "nc -e", "wget http", "curl http"}},
	{"template_injection", []string{"{{7*7}}", "${7*7}", "<%= 7*7", "#{7*7}", "{{config"}},
	{"jndi", []string{"${jndi:", "${env:", "${lower:"}},
	{"null_byte", []string{"\x00", "%00"}},
}

var scannerAgents = []string{"sqlmap", "nikto", "nuclei", "gobuster", "dirbuster", "wfuzz", "ffuf", "nmap", "masscan", "zgrab", "acunetix", "burp", "zap/", "feroxbuster", "arachni", "w3af", "openvas", "nessus", "dirsearch", "hydra"}

const (
	fuzzFloor  = 12 // decayed 404s on paths new for the client, two-minute half-life
	fuzzFactor = 4
)

// suspicious reports whether s contains a byte that any payload needs; most targets
// have none and skip the pattern scan.
func suspicious(s string) bool {
	return strings.ContainsAny(s, "'\"<>%;|$`(){}\\\x00") || strings.Contains(s, "..")
}

// matchInjection returns the attack classes whose patterns occur in target.
func matchInjection(target string) []string {
	if !suspicious(target) {
		return nil
	}
	dec := strings.ToLower(target)
	for i := 0; i < 2 && strings.ContainsAny(dec, "%+"); i++ {
		u, err := url.QueryUnescape(dec)
		if err != nil || u == dec {
			break
		}
		dec = strings.ToLower(u)
	}
	var classes []string
	for _, g := range injectionPatterns {
		for _, p := range g.patterns {
			if strings.Contains(dec, p) {
				classes = append(classes, g.class)
				break
			}
		}
	}
	return classes
}

func (injectionDetector) Inspect(x *Context) {
	c := x.Call
	classes := matchInjection(c.URI)
	if ua := strings.ToLower(c.UserAgent); containsAny(ua, scannerAgents) {
		classes = append(classes, "scanner_user_agent")
	}
	if len(classes) > 0 {
		sort.Strings(classes)
		sev := models.SeverityMedium
		if len(classes) >= 2 || c.Status >= 500 || c.Status > 0 && c.Status < 300 {
			sev = models.SeverityHigh
		}
		x.Emit(Signal{
			Kind: models.KindInjectionProbe, Score: float64(len(classes)), Severity: sev,
			Summary: fmt.Sprintf("%s sent %s payloads to %s (answered %d)",
				x.Profile.ClientID, strings.Join(classes, ", "), x.endpointName(x.Obs.EP), c.Status),
			Evidence: map[string]any{"classes": classes, "uri": c.URI, "status": c.Status, "user_agent": c.UserAgent,
				"endpoint": x.endpointName(x.Obs.EP)},
		})
		return
	}
	if c.Status != 404 || !x.Obs.NewEndpoint || !x.warm() {
		return
	}
	v := x.counter(c404New)
	base := x.baseline(c404New)
	thr := max(fuzzFloor, fuzzFactor*base)
	if v < thr {
		return
	}
	ev := observedBaseline(v, base, thr, "decayed 404s on paths new for the client (2m half-life)")
	ev["uri"] = c.URI
	x.Emit(Signal{
		Kind: models.KindInjectionProbe, Score: v / thr, Severity: models.SeverityMedium,
		Summary: fmt.Sprintf("%s is probing for endpoints: %.0f not-found answers on paths it never called in the last minutes (usual peak %.0f)",
			x.Profile.ClientID, v, base),
		Evidence: ev,
	})
}
