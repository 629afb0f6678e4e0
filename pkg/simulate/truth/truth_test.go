package truth

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLabelsRoundTrip(t *testing.T) {
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	in := &Labels{Scenario: "default", Scale: "small", Seed: 3, Start: t0, End: t0.Add(2 * time.Hour),
		Incidents:     []Incident{{ID: "inc-0001", Type: "bfla", Start: t0.Add(time.Hour), End: t0.Add(61 * time.Minute), Principals: []string{"u-1"}, IPs: []string{"10.0.0.1"}, Params: map[string]any{"rate_per_s": 0.5}}},
		BenignClients: []Client{{ID: "web-0001", Kind: "user", Principal: "u-2", IPs: []string{"10.0.0.2"}}}}
	p := filepath.Join(t.TempDir(), "labels.json")
	if err := WriteLabels(p, in); err != nil {
		t.Fatal(err)
	}
	out, err := ReadLabels(p)
	if err != nil {
		t.Fatal(err)
	}
	if out.Incidents[0].Start != in.Incidents[0].Start || out.BenignClients[0].Principal != "u-2" || out.Seed != 3 {
		t.Errorf("round trip changed labels: %+v", out)
	}
	if _, err := ReadLabels(filepath.Join(t.TempDir(), "none.json")); err == nil {
		t.Error("ReadLabels of a missing file: no error")
	}
}

func TestReadCallsCountsBadLines(t *testing.T) {
	in := `{"ts":"2026-01-05T00:00:01.5Z","src_ip":"1.2.3.4","src_port":1,"method":"GET","uri":"/a","status":200,"client":"c"}
{oops

{"ts":"2026-01-05T00:00:02Z","uri":"/b","incident":"inc-0001"}
`
	var uris []string
	bad, err := ReadCalls(strings.NewReader(in), func(c *Call) { uris = append(uris, c.URI+c.Incident) })
	if err != nil || bad != 1 || strings.Join(uris, ",") != "/a,/binc-0001" {
		t.Errorf("ReadCalls = %v, %d bad, %v", uris, bad, err)
	}
}
