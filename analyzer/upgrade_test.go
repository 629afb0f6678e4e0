package analyzer

import (
	"context"
	"encoding/gob"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apiscope/apiscope/models"
)

// An analyzer upgraded to a new profile layout finds the old version's checkpoint: it
// sets the file aside and starts (profiles relearned from the stream) instead of refusing.
func TestRunSetsAsideIncompatibleCheckpoint(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, checkpointFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := gob.NewEncoder(f).Encode(struct{ Version int }{checkpointVersion - 1}); err != nil {
		t.Fatal(err)
	}
	f.Close()

	e, err := New(Config{}, OutputFunc(func(*models.Finding) error { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ReadCheckpoint(dir); !errors.Is(err, ErrCheckpointVersion) {
		t.Fatalf("ReadCheckpoint of an old version: %v; want ErrCheckpointVersion", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err = Run(ctx, e, &sliceSource{}, RunConfig{StateDir: dir, IdleCommit: 50 * time.Millisecond,
		StartupWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("Run with an incompatible checkpoint: %v; want it to start fresh", err)
	}
	if _, err := os.Stat(filepath.Join(dir, checkpointFile+".incompatible")); err != nil {
		t.Fatalf("old checkpoint not kept aside: %v", err)
	}
	if ok, err := e.ReadCheckpoint(dir); err != nil || !ok {
		t.Fatalf("after the run, ReadCheckpoint = %v, %v; want the new version's checkpoint", ok, err)
	}
}
