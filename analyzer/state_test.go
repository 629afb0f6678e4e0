package analyzer

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apiscope/apiscope/models"
)

// attackWorld is the background with every detector case's abuse in it.
func attackWorld() []models.APICall {
	w := newWorld(99)
	w.background(40, 60*time.Minute)
	for _, tc := range detectorCases {
		tc.abuse(w)
	}
	return w.sorted()
}

func encode(t testing.TB, fs []models.Finding) []byte {
	t.Helper()
	var b bytes.Buffer
	for i := range fs {
		line, err := models.MarshalFinding(&fs[i])
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// TestDeterminism: the same calls give byte-identical findings, also when they arrive
// shuffled within the lateness window (as from parallel workers or partitions).
func TestDeterminism(t *testing.T) {
	calls := attackWorld()
	first := encode(t, run(t, Config{}, calls))
	if len(first) == 0 {
		t.Fatal("no findings at all")
	}
	if again := encode(t, run(t, Config{}, calls)); !bytes.Equal(first, again) {
		t.Fatal("second run differs")
	}
	// Shuffle arrival within 20 s of capture time.
	shuffled := append([]models.APICall(nil), calls...)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range shuffled {
		j := i + rng.IntN(min(50, len(shuffled)-i))
		if shuffled[j].TS.Sub(shuffled[i].TS) < 20*time.Second {
			shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
		}
	}
	if got := encode(t, run(t, Config{}, shuffled)); !bytes.Equal(first, got) {
		t.Fatal("shuffled arrival changed the findings")
	}
}

// TestRestart: stopping mid-capture, checkpointing, and continuing in a new engine from
// the checkpoint gives the same findings as one uninterrupted run.
func TestRestart(t *testing.T) {
	calls := attackWorld()
	want := encode(t, run(t, Config{}, calls))
	for _, cut := range []int{len(calls) / 3, len(calls) / 2, len(calls) * 4 / 5} {
		var got []models.Finding
		out := OutputFunc(func(f *models.Finding) error { got = append(got, *f); return nil })
		e1, err := New(Config{}, out)
		if err != nil {
			t.Fatal(err)
		}
		for i := range calls[:cut] {
			if err := e1.Process(&calls[i]); err != nil {
				t.Fatal(err)
			}
		}
		dir := t.TempDir()
		if err := e1.WriteCheckpoint(dir); err != nil {
			t.Fatal(err)
		}
		e2, err := New(Config{}, out)
		if err != nil {
			t.Fatal(err)
		}
		ok, err := e2.ReadCheckpoint(dir)
		if err != nil || !ok {
			t.Fatalf("read checkpoint: %v %v", ok, err)
		}
		for i := range calls[cut:] {
			if err := e2.Process(&calls[cut+i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := e2.Flush(); err != nil {
			t.Fatal(err)
		}
		if g := encode(t, got); !bytes.Equal(want, g) {
			t.Fatalf("cut at %d: restarted run differs from uninterrupted run (%d vs %d bytes)", cut, len(g), len(want))
		}
	}
}

func TestCheckpointMissingAndCorrupt(t *testing.T) {
	e, _ := New(Config{}, OutputFunc(func(*models.Finding) error { return nil }))
	dir := t.TempDir()
	if ok, err := e.ReadCheckpoint(dir); ok || err != nil {
		t.Fatalf("empty dir: ok=%v err=%v, want false, nil", ok, err)
	}
	if err := os.WriteFile(filepath.Join(dir, checkpointFile), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ReadCheckpoint(dir); err == nil {
		t.Fatal("corrupt checkpoint accepted")
	}
}
