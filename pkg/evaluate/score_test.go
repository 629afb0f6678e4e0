package evaluate

import (
	"strings"
	"testing"
	"time"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/simulate/truth"
)

var t0 = time.Date(2026, 1, 5, 3, 0, 0, 0, time.UTC)

func labels() *truth.Labels {
	return &truth.Labels{
		Start: t0.Add(-3 * time.Hour),
		End:   t0.Add(time.Hour), // a 4-hour capture
		Incidents: []truth.Incident{
			{ID: "inc-0001", Type: "bola_enumeration", Start: t0, End: t0.Add(10 * time.Minute),
				Principals: []string{"u-1"}, IPs: []string{"172.16.0.9"}},
			{ID: "inc-0002", Type: "credential_stuffing_distributed", Start: t0.Add(20 * time.Minute), End: t0.Add(40 * time.Minute),
				Principals: []string{}, IPs: []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"}},
		},
		BenignClients: []truth.Client{
			{ID: "web-0001", Principal: "u-2", IPs: []string{"172.16.0.2"}},
			{ID: "web-0002", Principal: "u-3", IPs: []string{"172.16.0.3"}},
			{ID: "bot-0001", Principal: "u-3", Actor: "agent-1", IPs: []string{"172.16.0.4"}},
			{ID: "merchant-0001", IPs: []string{"172.16.0.5"}},
		},
	}
}

func finding(at time.Time, sev, principal, ip string, related ...string) models.Finding {
	return models.Finding{TS: at, Severity: sev, Principal: principal, ClientIP: ip, Kind: "k", ClientID: principal + ip, RelatedIPs: related}
}

func TestScore(t *testing.T) {
	cases := []struct {
		name                      string
		findings                  []models.Finding
		recall, precision         float64
		falseAlerts, unattributed int
		medianDelay               float64
	}{
		{"perfect", []models.Finding{
			finding(t0.Add(30*time.Second), "high", "u-1", "172.16.0.9"),
			finding(t0.Add(25*time.Minute), "medium", "", "", "198.51.100.2", "198.51.100.7"),
		}, 1, 1, 0, 0, 165},
		{"empty", nil, 0, 0, 0, 0, -1},
		{"late", []models.Finding{
			finding(t0.Add(10*time.Minute+301*time.Second), "high", "u-1", "172.16.0.9"),
		}, 0, 0, 0, 1, -1},
		{"within grace", []models.Finding{
			finding(t0.Add(10*time.Minute+299*time.Second), "high", "u-1", "10.9.9.9"),
		}, 0.5, 1, 0, 0, 899},
		{"too early", []models.Finding{
			finding(t0.Add(-time.Second), "high", "u-1", "172.16.0.9"),
		}, 0, 0, 0, 1, -1},
		{"wrong client", []models.Finding{
			finding(t0.Add(time.Minute), "high", "u-2", "172.16.0.2"),
		}, 0, 0, 1, 0, -1},
		{"low severity ignored", []models.Finding{
			finding(t0.Add(time.Minute), "low", "u-1", "172.16.0.9"),
			finding(t0.Add(time.Minute), "info", "u-2", "172.16.0.2"),
		}, 0, 0, 0, 0, -1},
		{"distributed via related_ips", []models.Finding{
			finding(t0.Add(21*time.Minute), "critical", "", "", "203.0.113.50", "198.51.100.3"),
		}, 0.5, 1, 0, 0, 60},
		{"ip match without principal", []models.Finding{
			finding(t0.Add(2*time.Minute), "medium", "", "172.16.0.9"),
		}, 0.5, 1, 0, 0, 120},
		{"agent and its user are different clients", []models.Finding{
			finding(t0.Add(2*time.Minute), "medium", "u-3", "172.16.0.4"),
		}, 0, 0, 1, 0, -1},
		{"benign by ip (api key)", []models.Finding{
			finding(t0.Add(2*time.Minute), "medium", "", "172.16.0.5"),
			finding(t0.Add(3*time.Minute), "high", "", "172.16.0.5"),
		}, 0, 0, 1, 0, -1},
		{"mixed", []models.Finding{
			finding(t0.Add(time.Minute), "high", "u-1", ""),
			finding(t0.Add(time.Minute), "high", "u-2", ""),
			finding(t0.Add(time.Minute), "high", "", "10.1.1.1"),
		}, 0.5, 1.0 / 3, 1, 1, 60},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Score(labels(), c.findings, Options{})
			if !near(r.Recall, c.recall) || !near(r.Precision, c.precision) || r.FalseAlertClients != c.falseAlerts ||
				r.Unattributed != c.unattributed || !near(r.MedianDelayS, c.medianDelay) {
				t.Errorf("Score = recall %.3f precision %.3f false alerts %d unattributed %d median delay %.1f; want %.3f %.3f %d %d %.1f",
					r.Recall, r.Precision, r.FalseAlertClients, r.Unattributed, r.MedianDelayS,
					c.recall, c.precision, c.falseAlerts, c.unattributed, c.medianDelay)
			}
			wantF1 := 0.0
			if c.recall+c.precision > 0 {
				wantF1 = 2 * c.recall * c.precision / (c.recall + c.precision)
			}
			if !near(r.F1, wantF1) {
				t.Errorf("F1 = %.3f; want %.3f", r.F1, wantF1)
			}
		})
	}
}

func TestScoreReportText(t *testing.T) {
	l := labels()
	r := Score(l, []models.Finding{
		finding(t0.Add(30*time.Second), "high", "u-1", ""),
		finding(t0.Add(time.Minute), "high", "u-2", ""),
	}, Options{})
	if len(r.FalseAlertKinds) != 1 || r.FalseAlertKinds[0] != (KindCount{"k", 1}) {
		t.Errorf("FalseAlertKinds = %+v; want k=1", r.FalseAlertKinds)
	}
	if r.FalseAlertIDs[0] != "web-0001" || r.ByType[0].Type != "bola_enumeration" || r.ByType[0].Recall != 1 {
		t.Errorf("report details wrong: %+v", r)
	}
	// 1 false-alert client among 4 benign over 4 hours: 62.5 per 1000 clients per hour.
	if !near(r.FalseAlertRate, 62.5) {
		t.Errorf("FalseAlertRate = %v; want 62.5", r.FalseAlertRate)
	}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	want := "recall=0.500 precision=0.500 f1=0.500 false_alert_clients=1/4 median_delay_s=30.0"
	if last := lines[len(lines)-1]; last != want {
		t.Errorf("last line = %q; want %q", last, want)
	}
}

func TestReadFindings(t *testing.T) {
	in := `{"id":"a","ts":"2026-01-05T03:00:30Z","principal":"u-1","severity":"high","kind":"bola_enumeration"}
not json
{"id":"b"}

{"id":"c","ts":"2026-01-05T03:01:00.123456789Z","client_ip":"172.16.0.9","severity":"medium","related_ips":["1.2.3.4"]}
`
	fs, bad, err := ReadFindings(strings.NewReader(in))
	if err != nil || len(fs) != 2 || bad != 2 {
		t.Fatalf("ReadFindings = %d findings, %d bad, %v; want 2, 2, nil", len(fs), bad, err)
	}
	if fs[1].RelatedIPs[0] != "1.2.3.4" || fs[1].TS.Nanosecond() != 123456789 {
		t.Errorf("decoded %+v", fs[1])
	}
}

func near(a, b float64) bool { d := a - b; return d < 1e-9 && d > -1e-9 }
