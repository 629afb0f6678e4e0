package models

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Severity levels, in increasing order.
const (
	SeverityInfo     = "info"
	SeverityLow      = "low"
	SeverityMedium   = "medium"
	SeverityHigh     = "high"
	SeverityCritical = "critical"
)

var severityRank = map[string]int{
	SeverityInfo: 0, SeverityLow: 1, SeverityMedium: 2, SeverityHigh: 3, SeverityCritical: 4,
}

// SeverityRank orders severities: info 0 ... critical 4. Unknown is -1.
func SeverityRank(s string) int {
	if r, ok := severityRank[s]; ok {
		return r
	}
	return -1
}

// ParseSeverity validates a severity name.
func ParseSeverity(s string) (string, error) {
	if SeverityRank(s) < 0 {
		return "", fmt.Errorf("unknown severity %q (want info, low, medium, high or critical)", s)
	}
	return s, nil
}

// Finding kinds.
const (
	KindBOLAEnumeration      = "bola_enumeration"
	KindSequenceAnomaly      = "sequence_anomaly"
	KindNewEndpointForClient = "new_endpoint_for_client"
	KindRateSpike            = "rate_spike"
	KindAuthFailures         = "auth_failures"
	KindDataVolume           = "data_volume"
	KindCredentialShared     = "credential_shared"
	KindScopeDrift           = "scope_drift"
	KindErrorBurst           = "error_burst"
	KindInjectionProbe       = "injection_probe"
	KindShadowEndpoint       = "shadow_endpoint"
)

// Finding is one explained deviation of a client from its baseline.
type Finding struct {
	// ID is deterministic: the same input gives the same id (see FindingID).
	ID string `json:"id"`
	// TS is the capture time of the call that raised it.
	TS        time.Time `json:"ts"`
	ClientID  string    `json:"client_id"`
	ClientIP  string    `json:"client_ip"`
	Principal string    `json:"principal"`
	Actor     string    `json:"actor"`
	Kind      string    `json:"kind"`
	Severity  string    `json:"severity"`
	// Score is the detector's deviation score, comparable within a kind.
	Score float64 `json:"score"`
	// Summary is one sentence an analyst understands without the code.
	Summary string `json:"summary"`
	// Evidence holds baseline vs observed figures and the calls involved.
	Evidence map[string]any `json:"evidence"`
	// RelatedIPs lists the sources of findings about many sources.
	RelatedIPs []string `json:"related_ips,omitempty"`
}

// FindingID derives a deterministic id from the parts that identify a finding (client,
// kind, the incident's first capture time, ...).
func FindingID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// MarshalFinding encodes f as one JSON object. encoding/json sorts map keys, so the same
// finding always gives the same bytes.
func MarshalFinding(f *Finding) ([]byte, error) {
	ff := *f
	ff.TS = ff.TS.UTC()
	if ff.Evidence == nil {
		ff.Evidence = map[string]any{}
	}
	return json.Marshal(&ff)
}

// UnmarshalFinding decodes one Finding JSON object.
func UnmarshalFinding(b []byte, f *Finding) error {
	return json.Unmarshal(b, f)
}
