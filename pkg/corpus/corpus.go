// Package corpus locates the real-capture corpus for tests: third-party captures with
// tshark's expected transactions, kept beside the repository in
// ../shared/corpus/real-pcaps (or wherever APISCOPE_CORPUS points). Tests that use it
// skip with a message when it is absent, and fail instead when CI=true.
package corpus

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Env overrides where the corpus is looked for.
const Env = "APISCOPE_CORPUS"

// Find returns the corpus directory: $APISCOPE_CORPUS, else ../shared/corpus/real-pcaps
// beside the repository root (the directory holding go.mod above the working directory).
func Find() (string, error) {
	if d := os.Getenv(Env); d != "" {
		return d, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(filepath.Dir(d), "shared", "corpus", "real-pcaps"), nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("repository root (go.mod) not found above " + wd)
		}
	}
}

// Dir returns the corpus directory, skipping t when it is missing (failing under CI=true).
func Dir(t testing.TB) string {
	t.Helper()
	d, err := Find()
	if err == nil {
		_, err = os.Stat(filepath.Join(d, "MANIFEST.tsv"))
	}
	if err != nil {
		missing(t, fmt.Sprintf("real-capture corpus not found (%v; set %s)", err, Env))
	}
	return d
}

// Path returns one file of the corpus, skipping t when it is missing (failing under CI=true).
func Path(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(Dir(t), name)
	if _, err := os.Stat(p); err != nil {
		missing(t, fmt.Sprintf("corpus file %s: %v", name, err))
	}
	return p
}

func missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: the corpus is required)", msg)
	}
	t.Skipf("%s; skipping", msg)
}
