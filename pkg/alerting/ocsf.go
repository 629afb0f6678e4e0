package alerting

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apiscope/apiscope/models"
)

// OCSF constants for the Detection Finding class.
const (
	// OCSFVersion is the schema version the rendering follows.
	OCSFVersion = "1.3.0"
	// OCSFClassDetectionFinding is the class_uid of Detection Finding.
	OCSFClassDetectionFinding = 2004
	// OCSFCategoryFindings is the category_uid of Findings.
	OCSFCategoryFindings = 2
	// ocsfActivityCreate: a finding was created.
	ocsfActivityCreate = 1
)

// OCSF severity_id values.
var ocsfSeverity = map[string]struct {
	id   int
	name string
}{
	models.SeverityInfo:     {1, "Informational"},
	models.SeverityLow:      {2, "Low"},
	models.SeverityMedium:   {3, "Medium"},
	models.SeverityHigh:     {4, "High"},
	models.SeverityCritical: {5, "Critical"},
}

// OCSFFinding is an OCSF 1.3 Detection Finding (class_uid 2004). Field names are the
// schema's; only what apiscope knows is filled.
type OCSFFinding struct {
	ActivityID   int    `json:"activity_id"`
	ActivityName string `json:"activity_name"`
	CategoryUID  int    `json:"category_uid"`
	CategoryName string `json:"category_name"`
	ClassUID     int    `json:"class_uid"`
	ClassName    string `json:"class_name"`
	TypeUID      int    `json:"type_uid"`
	TypeName     string `json:"type_name"`
	// Time is the capture time of the call that raised the finding, Unix milliseconds.
	Time       int64  `json:"time"`
	SeverityID int    `json:"severity_id"`
	Severity   string `json:"severity"`
	StatusID   int    `json:"status_id"`
	Status     string `json:"status"`
	Message    string `json:"message"`

	Metadata    OCSFMetadata    `json:"metadata"`
	FindingInfo OCSFFindingInfo `json:"finding_info"`
	Actor       *OCSFActor      `json:"actor,omitempty"`
	Evidences   []OCSFEvidence  `json:"evidences,omitempty"`
	Resources   []OCSFResource  `json:"resources,omitempty"`
	Observables []OCSFObserv    `json:"observables,omitempty"`
	// Unmapped carries the apiscope fields OCSF has no attribute for (kind, client_id,
	// score, the evidence object as the analyzer wrote it).
	Unmapped map[string]any `json:"unmapped"`
}

// OCSFMetadata is the metadata object.
type OCSFMetadata struct {
	Version string      `json:"version"`
	Product OCSFProduct `json:"product"`
	UID     string      `json:"uid,omitempty"`
	LogName string      `json:"log_name,omitempty"`
}

// OCSFProduct is the product object.
type OCSFProduct struct {
	Name       string `json:"name"`
	VendorName string `json:"vendor_name"`
	Version    string `json:"version,omitempty"`
}

// OCSFFindingInfo is the finding_info object.
type OCSFFindingInfo struct {
	UID         string        `json:"uid"`
	Title       string        `json:"title"`
	Desc        string        `json:"desc,omitempty"`
	Types       []string      `json:"types,omitempty"`
	CreatedTime int64         `json:"created_time,omitempty"`
	Analytic    *OCSFAnalytic `json:"analytic,omitempty"`
}

// OCSFAnalytic is the analytic object: the detector that raised the finding.
type OCSFAnalytic struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	TypeID int    `json:"type_id"`
}

// OCSFActor is the actor object: the user (principal) and the agent acting for them.
type OCSFActor struct {
	User    *OCSFUser `json:"user,omitempty"`
	AppName string    `json:"app_name,omitempty"`
}

// OCSFUser is the user object.
type OCSFUser struct {
	Name string `json:"name,omitempty"`
	UID  string `json:"uid,omitempty"`
}

// OCSFEvidence is one evidences entry: who called which API endpoint from where.
type OCSFEvidence struct {
	Actor       *OCSFActor        `json:"actor,omitempty"`
	SrcEndpoint *OCSFEndpoint     `json:"src_endpoint,omitempty"`
	HTTPRequest *OCSFHTTPRequest  `json:"http_request,omitempty"`
	API         *OCSFAPI          `json:"api,omitempty"`
	Data        map[string]any    `json:"data,omitempty"`
	DstEndpoint *OCSFEndpointHost `json:"dst_endpoint,omitempty"`
}

// OCSFEndpoint is a network endpoint by IP.
type OCSFEndpoint struct {
	IP string `json:"ip"`
}

// OCSFEndpointHost is a network endpoint by name.
type OCSFEndpointHost struct {
	Hostname string `json:"hostname"`
}

// OCSFHTTPRequest is the http_request object.
type OCSFHTTPRequest struct {
	HTTPMethod string   `json:"http_method,omitempty"`
	URL        *OCSFURL `json:"url,omitempty"`
	UserAgent  string   `json:"user_agent,omitempty"`
}

// OCSFURL is the url object.
type OCSFURL struct {
	Path     string `json:"path,omitempty"`
	Hostname string `json:"hostname,omitempty"`
}

// OCSFAPI is the api object.
type OCSFAPI struct {
	Operation string `json:"operation"`
}

// OCSFResource is an affected resource: the API endpoint.
type OCSFResource struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// OCSFObserv is an observable (IP addresses, user names).
type OCSFObserv struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	TypeID int    `json:"type_id"`
	Value  string `json:"value"`
}

// OCSF observable type ids.
const (
	ocsfObservIP   = 2
	ocsfObservUser = 4
)

// ToOCSF maps f onto a Detection Finding.
func ToOCSF(f *models.Finding) *OCSFFinding {
	sev, ok := ocsfSeverity[f.Severity]
	if !ok {
		sev.id, sev.name = 0, "Unknown"
	}
	title := f.Summary
	if title == "" {
		// finding_info.title is required; a finding without a summary still has a kind.
		title = strings.TrimSpace(f.Kind + " " + f.ClientID)
	}
	o := &OCSFFinding{
		ActivityID: ocsfActivityCreate, ActivityName: "Create",
		CategoryUID: OCSFCategoryFindings, CategoryName: "Findings",
		ClassUID: OCSFClassDetectionFinding, ClassName: "Detection Finding",
		TypeUID: OCSFClassDetectionFinding*100 + ocsfActivityCreate, TypeName: "Detection Finding: Create",
		Time:       timeMillis(f.TS),
		SeverityID: sev.id, Severity: sev.name,
		StatusID: 1, Status: "New",
		Message: f.Summary,
		Metadata: OCSFMetadata{
			Version: OCSFVersion,
			Product: OCSFProduct{Name: "apiscope", VendorName: "apiscope", Version: CEFVersion},
			UID:     f.ID,
			LogName: "apiscope.alerts",
		},
		FindingInfo: OCSFFindingInfo{
			UID: f.ID, Title: title, Desc: f.Summary, Types: []string{f.Kind},
			CreatedTime: timeMillis(f.TS),
			// Behavioral (type_id 2): a deviation from the client's learned baseline.
			Analytic: &OCSFAnalytic{Name: f.Kind, Type: "Behavioral", TypeID: 2},
		},
		// time is in milliseconds; ts keeps the capture time to the nanosecond.
		Unmapped: map[string]any{
			"kind": f.Kind, "client_id": f.ClientID, "score": f.Score, "severity": f.Severity,
			"ts": f.TS.UTC().Format(time.RFC3339Nano),
		},
	}
	var actor *OCSFActor
	if f.Principal != "" || f.ClientID != "" || f.Actor != "" {
		actor = &OCSFActor{AppName: f.Actor}
		if f.Principal != "" || f.ClientID != "" {
			actor.User = &OCSFUser{Name: f.Principal, UID: f.ClientID}
		}
	}
	o.Actor = actor
	ev := OCSFEvidence{Actor: actor, Data: f.Evidence}
	if f.ClientIP != "" {
		ev.SrcEndpoint = &OCSFEndpoint{IP: f.ClientIP}
	}
	method, tmpl := splitEndpoint(str(f.Evidence["endpoint"]))
	host := str(f.Evidence["host"])
	ua := str(f.Evidence["user_agent"])
	if method != "" || tmpl != "" || ua != "" {
		ev.HTTPRequest = &OCSFHTTPRequest{HTTPMethod: method, UserAgent: ua}
		if tmpl != "" || host != "" {
			ev.HTTPRequest.URL = &OCSFURL{Path: tmpl, Hostname: host}
		}
	}
	if tmpl != "" {
		ev.API = &OCSFAPI{Operation: strings.TrimSpace(method + " " + tmpl)}
		name := tmpl
		if host != "" {
			name = host + tmpl
		}
		o.Resources = []OCSFResource{{Name: strings.TrimSpace(method + " " + name), Type: "API Endpoint"}}
	}
	if host != "" {
		ev.DstEndpoint = &OCSFEndpointHost{Hostname: host}
	}
	o.Evidences = []OCSFEvidence{ev}
	if f.ClientIP != "" {
		o.Observables = append(o.Observables, OCSFObserv{Name: "client_ip", Type: "IP Address", TypeID: ocsfObservIP, Value: f.ClientIP})
	}
	for _, ip := range f.RelatedIPs {
		o.Observables = append(o.Observables, OCSFObserv{Name: "related_ips", Type: "IP Address", TypeID: ocsfObservIP, Value: ip})
	}
	if f.Principal != "" {
		o.Observables = append(o.Observables, OCSFObserv{Name: "actor.user.name", Type: "User Name", TypeID: ocsfObservUser, Value: f.Principal})
	}
	if len(f.RelatedIPs) > 0 {
		o.Unmapped["related_ips"] = f.RelatedIPs
	}
	return o
}

// MarshalOCSF renders f as OCSF Detection Finding JSON.
func MarshalOCSF(f *models.Finding) ([]byte, error) {
	b, err := json.Marshal(ToOCSF(f))
	if err != nil {
		return nil, fmt.Errorf("encode OCSF finding: %w", err)
	}
	return b, nil
}

// FromOCSF reads a Detection Finding written by MarshalOCSF back into a Finding.
func FromOCSF(b []byte) (*models.Finding, error) {
	var o OCSFFinding
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, fmt.Errorf("alert is not an OCSF finding: %w", err)
	}
	if o.ClassUID != OCSFClassDetectionFinding {
		return nil, fmt.Errorf("OCSF class_uid %d is not a Detection Finding", o.ClassUID)
	}
	f := &models.Finding{
		ID:      o.FindingInfo.UID,
		TS:      time.UnixMilli(o.Time).UTC(),
		Kind:    str(o.Unmapped["kind"]),
		Summary: o.Message,
	}
	if ts, err := time.Parse(time.RFC3339Nano, str(o.Unmapped["ts"])); err == nil {
		f.TS = ts.UTC()
	}
	if f.Kind == "" && len(o.FindingInfo.Types) > 0 {
		f.Kind = o.FindingInfo.Types[0]
	}
	f.Severity = str(o.Unmapped["severity"])
	if f.Severity == "" {
		for name, s := range ocsfSeverity {
			if s.id == o.SeverityID {
				f.Severity = name
			}
		}
	}
	f.ClientID = str(o.Unmapped["client_id"])
	if sc, ok := o.Unmapped["score"].(float64); ok {
		f.Score = sc
	}
	if o.Actor != nil {
		f.Actor = o.Actor.AppName
		if o.Actor.User != nil {
			f.Principal = o.Actor.User.Name
			if f.ClientID == "" {
				f.ClientID = o.Actor.User.UID
			}
		}
	}
	for _, ev := range o.Evidences {
		if ev.SrcEndpoint != nil && f.ClientIP == "" {
			f.ClientIP = ev.SrcEndpoint.IP
		}
		if ev.Data != nil && f.Evidence == nil {
			f.Evidence = ev.Data
		}
	}
	for _, ob := range o.Observables {
		if ob.Name == "related_ips" {
			f.RelatedIPs = append(f.RelatedIPs, ob.Value)
		}
	}
	if f.ID == "" || f.Kind == "" {
		return nil, errors.New("OCSF finding has no uid or kind")
	}
	return f, nil
}

// splitEndpoint splits the analyzer's "METHOD /template" endpoint name.
func splitEndpoint(s string) (method, template string) {
	if m, t, ok := strings.Cut(s, " "); ok && !strings.HasPrefix(m, "/") {
		return m, t
	}
	return "", s
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
