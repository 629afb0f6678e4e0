package call

import (
	"bytes"
	"fmt"
	"math/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/apiscope/apiscope/pkg/metrics"
	"github.com/apiscope/apiscope/sensor/identity"
	"github.com/apiscope/apiscope/sensor/template"
)

// TestSensorOutputSameForAnyWorkerCount runs the whole sensor with the learning builder
// over one capture with 1 and with 4 workers: the JSON Lines must be identical, and
// learning must have happened (some templates hold {param}).
func TestSensorOutputSameForAnyWorkerCount(t *testing.T) {
	if testing.Short() {
		t.Skip("crafts and replays a capture")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "learn.pcap")
	p := newPcap(t, path)
	rng := rand.New(rand.NewSource(7))
	ts := t0
	const conns = 60
	cs := make([]*tcpConn, conns)
	for i := range cs {
		cs[i] = p.conn(fmt.Sprintf("10.3.%d.%d", i/200, i%200+1), uint16(30000+i), fmt.Sprintf("192.0.2.%d", i%4+1), 8080, ts)
		ts = ts.Add(time.Millisecond)
	}
	// Ten minutes of capture: owners and repositories keep growing, so positions merge
	// while the capture runs; a few requests get no response.
	for r := 0; r < 40; r++ {
		for i, c := range cs {
			ts = ts.Add(250 * time.Millisecond)
			var uri string
			switch rng.Intn(3) {
			case 0:
				uri = fmt.Sprintf("/repos/owner%d/repo%d/issues", rng.Intn(r*3+2), rng.Intn(50))
			case 1:
				uri = fmt.Sprintf("/users/u%c%c/profile", 'a'+rng.Intn(26), 'a'+rng.Intn(26))
			default:
				uri = fmt.Sprintf("/orders/%d", rng.Intn(100000))
			}
			hdrs := []string{fmt.Sprintf("X-API-Key: key-%d", i%9)}
			if (i+r)%23 == 0 {
				c.send(ts, true, "A", fmt.Sprintf("GET %s HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: 0\r\n\r\n", uri))
				continue
			}
			c.exchange(ts, "GET", uri, hdrs, 200)
		}
	}
	for _, c := range cs {
		c.close(ts.Add(time.Second))
	}
	p.close()

	run := func(workers int) ([]byte, *metrics.Registry) {
		reg := metrics.NewRegistry()
		b, err := NewBuilder(Config{
			Identity: identity.Config{Key: testKey},
			Template: template.Config{Threshold: 10},
			Metrics:  reg,
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return runSensor(t, path, b, workers, nil), reg
	}
	one, _ := run(1)
	four, reg := run(4)
	if !bytes.Contains(one, []byte(`{param}`)) {
		t.Fatal("nothing learned: the test proves nothing")
	}
	if !bytes.Equal(one, four) {
		l1, l4 := bytes.Split(one, []byte("\n")), bytes.Split(four, []byte("\n"))
		for i := range min(len(l1), len(l4)) {
			if !bytes.Equal(l1[i], l4[i]) {
				t.Fatalf("line %d differs:\n1 worker:  %s\n4 workers: %s", i+1, l1[i], l4[i])
			}
		}
		t.Fatalf("1 worker wrote %d lines, 4 workers %d", len(l1), len(l4))
	}
	for _, s := range reg.Snapshot() {
		if s.Name == "apiscope_template_late_total" && s.Value != 0 {
			t.Errorf("late calls %v; want 0", s.Value)
		}
	}
}
