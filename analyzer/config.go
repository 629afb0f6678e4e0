package analyzer

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Config tunes the engine. The zero value works: every zero field means the documented
// default.
type Config struct {
	// Warmup is how long (capture time) a client is observed before it gets per-client
	// alerts judged against its own baseline; until then it is judged against its cohort.
	// It is also the population warm-up: endpoints seen in the first Warmup of the stream
	// are the known inventory. Zero means 15 minutes.
	Warmup time.Duration
	// WarmupCalls is the least number of calls a client needs, besides Warmup, to be
	// mature. Zero means 20.
	WarmupCalls int
	// Lateness is how far behind the newest capture time a call may arrive and still be
	// put in order. Zero means 60 seconds. Calls later than that are processed when they
	// arrive and counted.
	Lateness time.Duration
	// IncidentWindow merges findings of one client and kind no further apart than this
	// into one incident. Zero means 15 minutes.
	IncidentWindow time.Duration
	// Hold delays signals of kinds a population-wide change can explain, so the change can
	// show itself first. Zero means 60 seconds (of capture time).
	Hold time.Duration
	// SessionGap ends a client's session: the next call starts a new path. Zero means 30
	// minutes.
	SessionGap time.Duration
	// CheckpointEvery is the capture-time interval between checkpoints taken by Run. Zero
	// means 5 minutes.
	CheckpointEvery time.Duration
	// MaxSampleCalls bounds the sample calls in a finding's evidence. Zero means 5.
	MaxSampleCalls int
	// Detectors names the detectors to run (see Detectors()). Empty means every default
	// detector.
	Detectors []string
}

func (c *Config) warmup() time.Duration     { return orDur(c.Warmup, 15*time.Minute) }
func (c *Config) lateness() time.Duration   { return orDur(c.Lateness, 60*time.Second) }
func (c *Config) window() time.Duration     { return orDur(c.IncidentWindow, 15*time.Minute) }
func (c *Config) hold() time.Duration       { return orDur(c.Hold, 60*time.Second) }
func (c *Config) sessionGap() time.Duration { return orDur(c.SessionGap, 30*time.Minute) }
func (c *Config) checkpointEvery() time.Duration {
	return orDur(c.CheckpointEvery, 5*time.Minute)
}
func (c *Config) warmupCalls() int {
	if c.WarmupCalls > 0 {
		return c.WarmupCalls
	}
	return 20
}
func (c *Config) maxSampleCalls() int {
	if c.MaxSampleCalls > 0 {
		return c.MaxSampleCalls
	}
	return 5
}

func orDur(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Validate reports the first invalid field.
func (c *Config) Validate() error {
	for name, d := range map[string]time.Duration{
		"warmup": c.Warmup, "lateness": c.Lateness, "incident window": c.IncidentWindow,
		"hold": c.Hold, "session gap": c.SessionGap, "checkpoint interval": c.CheckpointEvery,
	} {
		if d < 0 {
			return fmt.Errorf("%s must not be negative (got %s)", name, d)
		}
	}
	if c.WarmupCalls < 0 || c.MaxSampleCalls < 0 {
		return fmt.Errorf("warm-up calls and sample calls must not be negative")
	}
	for _, n := range c.Detectors {
		if _, ok := registry[n]; !ok {
			return fmt.Errorf("unknown detector %q (known: %s)", n, strings.Join(Detectors(), ", "))
		}
	}
	return nil
}

// Detectors lists the names of every registered detector, sorted.
func Detectors() []string {
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
