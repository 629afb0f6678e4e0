package alerting

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apiscope/apiscope/models"
)

// Output formats.
const (
	// FormatNative is the models.Finding JSON record.
	FormatNative = "native"
	// FormatOCSF is an OCSF Detection Finding (class_uid 2004).
	FormatOCSF = "ocsf"
	// FormatCEF is ArcSight Common Event Format (syslog only).
	FormatCEF = "cef"
)

// ParseFormat validates a JSON format name (native or ocsf; json is native).
func ParseFormat(s string) (string, error) {
	switch strings.ToLower(s) {
	case "", FormatNative, "json":
		return FormatNative, nil
	case FormatOCSF:
		return FormatOCSF, nil
	}
	return "", fmt.Errorf("unknown alert format %q (want native or ocsf)", s)
}

// Marshal renders f as JSON in format (FormatNative or FormatOCSF).
func Marshal(f *models.Finding, format string) ([]byte, error) {
	switch format {
	case "", FormatNative:
		return models.MarshalFinding(f)
	case FormatOCSF:
		return MarshalOCSF(f)
	}
	return nil, fmt.Errorf("unknown alert format %q", format)
}

// Decode reads one alert record, native or OCSF (recognised by its class_uid), back into a
// Finding. From OCSF only what the mapping carries comes back: every Finding field, with
// evidence as published.
func Decode(b []byte) (*models.Finding, error) {
	var probe struct {
		ClassUID int `json:"class_uid"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("alert is not JSON: %w", err)
	}
	if probe.ClassUID == OCSFClassDetectionFinding {
		return FromOCSF(b)
	}
	var f models.Finding
	if err := models.UnmarshalFinding(b, &f); err != nil {
		return nil, fmt.Errorf("alert is not a finding: %w", err)
	}
	if f.ID == "" || f.Kind == "" {
		return nil, errors.New("alert has no id or kind")
	}
	return &f, nil
}

// ANSI colours by severity for terminals.
var severityColor = map[string]string{
	models.SeverityCritical: "\x1b[1;97;41m", // bold white on red
	models.SeverityHigh:     "\x1b[1;31m",    // bold red
	models.SeverityMedium:   "\x1b[33m",      // yellow
	models.SeverityLow:      "\x1b[36m",      // cyan
	models.SeverityInfo:     "\x1b[2m",       // dim
}

// Text renders f as one line for people: time, severity, client, kind, summary. With
// color, the severity is coloured for a terminal. Control characters in the fields are
// escaped so a crafted value cannot move the cursor or forge a line.
func Text(f *models.Finding, color bool) string {
	sev := fmt.Sprintf("%-8s", strings.ToUpper(f.Severity))
	if c, ok := severityColor[f.Severity]; ok && color {
		sev = c + sev + "\x1b[0m"
	}
	return fmt.Sprintf("%s %s %s %s %s", f.TS.UTC().Format("2006-01-02T15:04:05.000Z"), sev,
		clean(f.ClientID), clean(f.Kind), clean(f.Summary))
}

// clean quotes control characters (and nothing else) so one alert stays one line.
func clean(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }) < 0 {
		return s
	}
	q := strconv.QuoteToGraphic(s)
	return q[1 : len(q)-1]
}

// cefSeverity maps finding severities onto CEF's 0-10 scale.
var cefSeverity = map[string]int{
	models.SeverityInfo: 1, models.SeverityLow: 3, models.SeverityMedium: 5, models.SeverityHigh: 8, models.SeverityCritical: 10,
}

// CEFVersion is the product version written in CEF headers.
const CEFVersion = "1"

// CEF renders f in ArcSight Common Event Format:
//
//	CEF:0|apiscope|apiscope|1|<kind>|<summary>|<0-10>|rt=... src=... suser=... cs1=<client_id> ...
//
// Header fields escape | and \; extension values escape \ and = and turn line breaks
// into \n, as the format requires.
func CEF(f *models.Finding) string {
	var b strings.Builder
	b.WriteString("CEF:0|apiscope|apiscope|")
	b.WriteString(CEFVersion)
	b.WriteByte('|')
	b.WriteString(cefHeader(f.Kind))
	b.WriteByte('|')
	b.WriteString(cefHeader(f.Summary))
	b.WriteByte('|')
	b.WriteString(strconv.Itoa(cefSeverity[f.Severity]))
	b.WriteByte('|')
	ext := []struct{ k, v string }{
		{"rt", strconv.FormatInt(f.TS.UnixMilli(), 10)},
		{"externalId", f.ID},
		{"cat", f.Kind},
		{"src", f.ClientIP},
		{"suser", f.Principal},
		{"cs1Label", "client_id"}, {"cs1", f.ClientID},
		{"cs2Label", "actor"}, {"cs2", f.Actor},
		{"cs3Label", "severity"}, {"cs3", f.Severity},
		{"cfp1Label", "score"}, {"cfp1", strconv.FormatFloat(f.Score, 'f', -1, 64)},
		{"msg", f.Summary},
	}
	if ep, _ := f.Evidence["endpoint"].(string); ep != "" {
		ext = append(ext, struct{ k, v string }{"request", ep})
	}
	if len(f.RelatedIPs) > 0 {
		ext = append(ext, struct{ k, v string }{"cs4Label", "related_ips"}, struct{ k, v string }{"cs4", strings.Join(f.RelatedIPs, ",")})
	}
	first := true
	for _, e := range ext {
		if e.v == "" {
			continue
		}
		if !first {
			b.WriteByte(' ')
		}
		first = false
		b.WriteString(e.k)
		b.WriteByte('=')
		b.WriteString(cefExt(e.v))
	}
	return b.String()
}

var (
	cefHeaderEsc = strings.NewReplacer(`\`, `\\`, `|`, `\|`, "\r", " ", "\n", " ")
	cefExtEsc    = strings.NewReplacer(`\`, `\\`, `=`, `\=`, "\r\n", `\n`, "\n", `\n`, "\r", `\r`)
)

func cefHeader(s string) string { return cefHeaderEsc.Replace(s) }
func cefExt(s string) string    { return cefExtEsc.Replace(s) }

// timeMillis is t as Unix milliseconds, the OCSF timestamp unit.
func timeMillis(t time.Time) int64 { return t.UnixMilli() }
