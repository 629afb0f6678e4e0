package analyzer

import (
	"bytes"
	"encoding/gob"
	"fmt"

	"github.com/apiscope/apiscope/models"
)

// rateLimitBaseline is the fixed per-client rate rule most API gateways enforce: more
// than RateLimitPerMinute calls in a calendar minute raises a finding. It knows nothing of
// the client's history; it exists to measure apiscope against what teams rely on today,
// and does not run unless named (--detectors ratelimit-baseline).
type rateLimitBaseline struct {
	limit uint32
	st    rateLimitState
}

type rateLimitState struct {
	Clients map[string]*rateWindow
}

type rateWindow struct {
	Win int64
	N   uint32
}

// RateLimitPerMinute is the fixed limit of the ratelimit-baseline detector.
const RateLimitPerMinute = 100

func init() {
	Register("ratelimit-baseline", false, func(*Config) Detector {
		return &rateLimitBaseline{limit: RateLimitPerMinute, st: rateLimitState{Clients: map[string]*rateWindow{}}}
	})
}

func (d *rateLimitBaseline) Name() string { return "ratelimit-baseline" }

func (d *rateLimitBaseline) SaveState() ([]byte, error) {
	var b bytes.Buffer
	err := gob.NewEncoder(&b).Encode(&d.st)
	return b.Bytes(), err
}

func (d *rateLimitBaseline) LoadState(b []byte) error {
	d.st = rateLimitState{}
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&d.st); err != nil {
		return err
	}
	if d.st.Clients == nil {
		d.st.Clients = map[string]*rateWindow{}
	}
	return nil
}

func (d *rateLimitBaseline) Inspect(x *Context) {
	id := x.Profile.ClientID
	w := d.st.Clients[id]
	if w == nil {
		w = &rateWindow{}
		d.st.Clients[id] = w
	}
	win := x.Obs.TS / 60e9
	if w.Win != win {
		w.Win, w.N = win, 0
	}
	w.N++
	if w.N != d.limit+1 {
		return
	}
	x.Emit(Signal{
		Kind: models.KindRateSpike, Score: float64(w.N) / float64(d.limit), Severity: models.SeverityMedium,
		Summary:  fmt.Sprintf("%s exceeded the fixed limit of %d calls per minute", id, d.limit),
		Evidence: map[string]any{"observed": w.N, "threshold": d.limit, "unit": "calls per calendar minute", "rule": "ratelimit-baseline"},
	})
}
