package analyzer

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/apiscope/apiscope/models"
)

// JSONL writes findings as JSON Lines (models.MarshalFinding, one per line).
type JSONL struct {
	w      *bufio.Writer
	closer io.Closer
	n      uint64
}

// NewJSONL writes to w; Close flushes but does not close w.
func NewJSONL(w io.Writer) *JSONL { return &JSONL{w: bufio.NewWriterSize(w, 64<<10)} }

// CreateJSONL creates (truncates) path; "-" is standard output.
func CreateJSONL(path string) (*JSONL, error) {
	if path == "-" {
		return NewJSONL(os.Stdout), nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create findings file: %w", err)
	}
	j := NewJSONL(f)
	j.closer = f
	return j, nil
}

// WriteFinding writes one line.
func (j *JSONL) WriteFinding(f *models.Finding) error {
	b, err := models.MarshalFinding(f)
	if err != nil {
		return fmt.Errorf("encode finding: %w", err)
	}
	j.n++
	if _, err := j.w.Write(b); err != nil {
		return fmt.Errorf("write findings: %w", err)
	}
	return j.w.WriteByte('\n')
}

// Written returns the number of findings written.
func (j *JSONL) Written() uint64 { return j.n }

// Flush writes buffered lines (and syncs a file) so they are durable.
func (j *JSONL) Flush(context.Context) error {
	if err := j.w.Flush(); err != nil {
		return fmt.Errorf("write findings: %w", err)
	}
	if f, ok := j.closer.(*os.File); ok {
		return f.Sync()
	}
	return nil
}

// Close flushes and closes the file it created.
func (j *JSONL) Close() error {
	err := j.w.Flush()
	if j.closer != nil {
		if cerr := j.closer.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// Outputs fans findings out to several outputs in order.
type Outputs []Output

// WriteFinding writes f to every output; the first error stops it.
func (o Outputs) WriteFinding(f *models.Finding) error {
	for _, x := range o {
		if err := x.WriteFinding(f); err != nil {
			return err
		}
	}
	return nil
}

// ProfileSnapshot is what a client normally does, for analysts (ClickHouse
// client_profiles). Version is the capture time in nanoseconds.
type ProfileSnapshot struct {
	ClientID string
	Version  uint64
	TS       time.Time
	Kind     string
	Calls    uint64
	JSON     string
}

// Snapshots returns snapshots of the profiles that changed since the capture time
// `since` (unix ns), in client order.
func (e *Engine) Snapshots(since int64) []ProfileSnapshot {
	ids := make([]string, 0)
	for id, p := range e.profiles {
		if p.Last > since {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	out := make([]ProfileSnapshot, 0, len(ids))
	for _, id := range ids {
		p := e.profiles[id]
		b, err := json.Marshal(e.describe(p))
		if err != nil {
			continue // a profile is plain data; encoding cannot fail
		}
		out = append(out, ProfileSnapshot{ClientID: id, Version: uint64(p.Last), TS: time.Unix(0, p.Last).UTC(),
			Kind: KindName(p.Kind), Calls: uint64(p.N), JSON: string(b)})
	}
	return out
}

// describe renders a profile for people: endpoints with counts, usual addresses and
// agents, status mix, counters' peaks, daily rhythm.
func (e *Engine) describe(p *Profile) map[string]any {
	eps := make([]map[string]any, 0, len(p.Endpoints))
	for _, ep := range p.Endpoints {
		x := &e.pop.Endpoints.List[ep.EP]
		eps = append(eps, map[string]any{"endpoint": x.Method + " " + x.Template, "host": x.Host, "calls": ep.N})
	}
	seenList := func(s *[maxSeen]seenValue) []map[string]any {
		var l []map[string]any
		for _, v := range s {
			if v.N > 0 {
				l = append(l, map[string]any{"value": v.V, "calls": v.N, "last": time.Unix(0, v.Last).UTC().Format(time.RFC3339)})
			}
		}
		return l
	}
	peaks := map[string]float64{}
	for i, n := range counterNames {
		peaks[n] = figure(float64(p.Peaks[i]))
	}
	return map[string]any{
		"client_id": p.ClientID, "principal": p.Principal, "actor": p.Actor, "kind": KindName(p.Kind),
		"role_group": int(p.Role), "first_seen": time.Unix(0, p.First).UTC().Format(time.RFC3339Nano),
		"last_seen": time.Unix(0, p.Last).UTC().Format(time.RFC3339Nano), "calls": p.N,
		"endpoints": eps, "ips": seenList(&p.IPs), "user_agents": seenList(&p.UAs),
		"status_mix": map[string]float32{"2xx": p.Status[0], "3xx": p.Status[1], "4xx": p.Status[2], "5xx": p.Status[3], "none": p.Status[4]},
		"hours_utc":  p.Hours, "peaks": peaks, "response_p50_bytes": figure(p.sizeQuantile(0.5)),
		"response_p99_bytes": figure(p.sizeQuantile(0.99)), "mean_surprisal_bits": figure(float64(p.Surprise)),
		"acts_for_others": p.Actor != "",
	}
}
