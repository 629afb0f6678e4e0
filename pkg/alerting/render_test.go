package alerting

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apiscope/apiscope/models"
)

func sampleFinding() *models.Finding {
	return &models.Finding{
		ID: "f0e1d2c3b4a5968778695a4b3c2d1e0f", TS: time.Date(2024, 5, 1, 12, 30, 15, 250_123_456, time.UTC),
		ClientID: "jwt:alice+agent-7", ClientIP: "10.1.2.3", Principal: "alice", Actor: "agent-7",
		Kind: models.KindBOLAEnumeration, Severity: models.SeverityHigh, Score: 7.25,
		Summary:  "alice (via agent-7) read 140 distinct order ids in 2 minutes; baseline 3",
		Evidence: map[string]any{"endpoint": "GET /orders/{id}", "host": "shop.example.com", "observed": 140.0, "baseline": 3.0, "user_agent": "agent-runner/1.4"},
	}
}

// TestOCSFRequiredAttributes checks the OCSF rendering against the attributes OCSF 1.3.0
// requires of class 2004, written down in testdata from the published schema.
func TestOCSFRequiredAttributes(t *testing.T) {
	raw, err := os.ReadFile("testdata/ocsf_detection_finding_1.3.0.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		Version string `json:"version"`
		Class   struct {
			ClassUID    int               `json:"class_uid"`
			CategoryUID int               `json:"category_uid"`
			Required    map[string]string `json:"required"`
			Recommended []string          `json:"recommended"`
		} `json:"class"`
		Objects map[string]struct {
			Required map[string]string `json:"required"`
		} `json:"objects"`
		Enums map[string][]int `json:"enums"`
	}
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*models.Finding{sampleFinding(), {ID: "x", Kind: models.KindRateSpike, Severity: models.SeverityMedium, TS: time.Unix(1, 0)}} {
		b, err := MarshalOCSF(f)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		checkTypes(t, "", got, fx.Class.Required)
		for _, r := range fx.Class.Recommended {
			if _, ok := got[r]; !ok && r != "resources" {
				t.Errorf("recommended attribute %s missing", r)
			}
		}
		for path, obj := range fx.Objects {
			checkTypes(t, path+".", lookup(got, path), obj.Required)
		}
		if got["class_uid"] != float64(fx.Class.ClassUID) || got["category_uid"] != float64(fx.Class.CategoryUID) {
			t.Errorf("class_uid %v category_uid %v; want %d %d", got["class_uid"], got["category_uid"], fx.Class.ClassUID, fx.Class.CategoryUID)
		}
		if want := float64(fx.Class.ClassUID*100) + got["activity_id"].(float64); got["type_uid"] != want {
			t.Errorf("type_uid %v; want class_uid*100+activity_id = %v", got["type_uid"], want)
		}
		for attr, allowed := range fx.Enums {
			v, _ := got[attr].(float64)
			ok := false
			for _, a := range allowed {
				ok = ok || float64(a) == v
			}
			if !ok {
				t.Errorf("%s = %v; not in OCSF enum %v", attr, got[attr], allowed)
			}
		}
		if md := lookup(got, "metadata"); md["version"] != fx.Version {
			t.Errorf("metadata.version %v; want %s", md["version"], fx.Version)
		}
	}
}

func lookup(m map[string]any, path string) map[string]any {
	for _, p := range strings.Split(path, ".") {
		m, _ = m[p].(map[string]any)
	}
	return m
}

func checkTypes(t *testing.T, prefix string, m map[string]any, required map[string]string) {
	t.Helper()
	for attr, typ := range required {
		v, ok := m[attr]
		if !ok {
			t.Errorf("required attribute %s%s missing", prefix, attr)
			continue
		}
		var good bool
		switch typ {
		case "integer":
			f, isNum := v.(float64)
			good = isNum && f == float64(int64(f))
		case "string":
			s, isStr := v.(string)
			good = isStr && s != ""
		case "object":
			_, good = v.(map[string]any)
		}
		if !good {
			t.Errorf("required attribute %s%s = %#v; want a non-empty %s", prefix, attr, v, typ)
		}
	}
}

func TestOCSFMapping(t *testing.T) {
	o := ToOCSF(sampleFinding())
	if o.SeverityID != 4 || o.Time != 1714566615250 || o.FindingInfo.UID != sampleFinding().ID {
		t.Errorf("severity_id %d time %d uid %s; want 4, 1714566615250, the finding id", o.SeverityID, o.Time, o.FindingInfo.UID)
	}
	if o.Actor == nil || o.Actor.User.Name != "alice" || o.Actor.AppName != "agent-7" || o.Actor.User.UID != "jwt:alice+agent-7" {
		t.Errorf("actor %+v; want user alice (uid = client id) and app agent-7", o.Actor)
	}
	ev := o.Evidences[0]
	if ev.SrcEndpoint.IP != "10.1.2.3" || ev.HTTPRequest.HTTPMethod != "GET" || ev.HTTPRequest.URL.Path != "/orders/{id}" ||
		ev.HTTPRequest.UserAgent != "agent-runner/1.4" || ev.API.Operation != "GET /orders/{id}" || ev.Data["observed"] != 140.0 {
		t.Errorf("evidence %+v; want client IP, method, template, user agent and the evidence data", ev)
	}
	if len(o.Resources) != 1 || o.Resources[0].Name != "GET shop.example.com/orders/{id}" {
		t.Errorf("resources %+v; want the API endpoint", o.Resources)
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	f := sampleFinding()
	f.RelatedIPs = []string{"10.0.0.1", "10.0.0.2"}
	for _, format := range []string{FormatNative, FormatOCSF} {
		b, err := Marshal(f, format)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(%s): %v", format, err)
		}
		if !reflect.DeepEqual(got, f) {
			t.Errorf("Decode(Marshal(f, %s)) =\n%+v\nwant\n%+v", format, got, f)
		}
	}
	for _, bad := range []string{"", "{", `{"class_uid":2004}`, `{"id":""}`, `[1]`} {
		if _, err := Decode([]byte(bad)); err == nil {
			t.Errorf("Decode(%q) = nil error; want one", bad)
		}
	}
}

func TestCEF(t *testing.T) {
	f := sampleFinding()
	f.Summary = `a|b\c=d` + "\nnext"
	got := CEF(f)
	want := `CEF:0|apiscope|apiscope|1|bola_enumeration|a\|b\\c=d next|8|rt=1714566615250 externalId=f0e1d2c3b4a5968778695a4b3c2d1e0f cat=bola_enumeration src=10.1.2.3 suser=alice cs1Label=client_id cs1=jwt:alice+agent-7 cs2Label=actor cs2=agent-7 cs3Label=severity cs3=high cfp1Label=score cfp1=7.25 msg=a|b\\c\=d\nnext request=GET /orders/{id}`
	if got != want {
		t.Errorf("CEF =\n%s\nwant\n%s", got, want)
	}
}

func TestText(t *testing.T) {
	f := sampleFinding()
	f.Summary = "evil\x1b[2Jsummary\nsecond line"
	got := Text(f, false)
	if strings.ContainsAny(got, "\x1b\n") {
		t.Errorf("Text kept control characters: %q", got)
	}
	if !strings.HasPrefix(got, "2024-05-01T12:30:15.250Z HIGH     jwt:alice+agent-7 bola_enumeration evil") {
		t.Errorf("Text = %q", got)
	}
	if c := Text(f, true); !strings.Contains(c, "\x1b[1;31mHIGH") {
		t.Errorf("Text with colour = %q; want the severity in red", c)
	}
}

func TestFilter(t *testing.T) {
	f := sampleFinding()
	tests := []struct {
		fl   Filter
		want bool
	}{
		{Filter{}, true},
		{Filter{MinSeverity: "medium"}, true},
		{Filter{MinSeverity: "critical"}, false},
		{Filter{Kinds: []string{"rate_spike", "bola_enumeration"}}, true},
		{Filter{Kinds: []string{"rate_spike"}}, false},
		{Filter{Clients: []string{"jwt:alice+agent-7"}}, true},
		{Filter{Clients: []string{"bob"}}, false},
	}
	for _, tt := range tests {
		if got := tt.fl.Match(f); got != tt.want {
			t.Errorf("%+v.Match = %v; want %v", tt.fl, got, tt.want)
		}
	}
	if err := (&Filter{MinSeverity: "urgent"}).Validate(); err == nil {
		t.Error("Validate accepted severity urgent")
	}
}
