package identity

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"go.uber.org/zap"
)

// KeyEnv is the environment variable holding the fingerprint key.
const KeyEnv = "APISCOPE_FP_KEY"

// MinKeyLen is the shortest accepted fingerprint key, in bytes.
const MinKeyLen = 16

// ErrKeyTooShort is returned for a configured key shorter than MinKeyLen bytes.
var ErrKeyTooShort = errors.New("fingerprint key too short")

// KeySource says where the fingerprint key comes from. The key is the bytes given, or the
// content of a file or variable with surrounding white space removed: sensors that must
// produce the same fingerprints are given the same text.
type KeySource struct {
	// Key, when set, is used as is.
	Key []byte
	// File, when set, names a file holding the key; it must exist.
	File string
	// StateFile is where a generated key is kept when no key is configured. Empty means
	// DefaultStateFile().
	StateFile string
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
}

// DefaultStateFile is $XDG_STATE_HOME/apiscope/fp.key, else ~/.local/state/apiscope/fp.key.
func DefaultStateFile() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "apiscope", "fp.key"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cannot place the fingerprint key state file: %w", err)
	}
	return filepath.Join(home, ".local", "state", "apiscope", "fp.key"), nil
}

// warnOnce keeps the "no key configured" warning to one line per process.
var warnOnce sync.Once

// ResolveKey returns the fingerprint key: src.Key, else the content of src.File, else
// $APISCOPE_FP_KEY, else the key in the state file, generated (32 random bytes, hex) and
// written with mode 0600 the first time. In the last case it warns once: fingerprints are
// then stable across runs of this sensor but not shared with other sensors.
func ResolveKey(src KeySource, log *zap.Logger) ([]byte, error) {
	if log == nil {
		log = zap.NewNop()
	}
	getenv := src.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	switch {
	case len(src.Key) > 0:
		return checkKey(src.Key, "configured key")
	case src.File != "":
		b, err := os.ReadFile(src.File)
		if err != nil {
			return nil, fmt.Errorf("cannot read fingerprint key file: %w", err)
		}
		return checkKey(bytes.TrimSpace(b), src.File)
	case getenv(KeyEnv) != "":
		return checkKey(bytes.TrimSpace([]byte(getenv(KeyEnv))), KeyEnv)
	}
	path := src.StateFile
	if path == "" {
		p, err := DefaultStateFile()
		if err != nil {
			return nil, err
		}
		path = p
	}
	key, created, err := stateKey(path)
	if err != nil {
		return nil, err
	}
	warnOnce.Do(func() {
		log.Warn("no fingerprint key configured: using a key kept in a state file; sensors share client ids only when given the same key (--fp-key-file or "+KeyEnv+")",
			zap.String("state_file", path), zap.Bool("generated", created))
	})
	return key, nil
}

func checkKey(k []byte, from string) ([]byte, error) {
	if len(k) < MinKeyLen {
		return nil, fmt.Errorf("%w: %s holds %d bytes, want at least %d", ErrKeyTooShort, from, len(k), MinKeyLen)
	}
	return bytes.Clone(k), nil
}

// stateKey reads the key at path, or creates it. Creation uses O_EXCL so two sensors
// starting together agree on one key.
func stateKey(path string) (key []byte, created bool, err error) {
	if b, err := os.ReadFile(path); err == nil {
		k, err := checkKey(bytes.TrimSpace(b), path)
		return k, false, err
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("cannot read fingerprint key state file: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("cannot create fingerprint key state directory: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, false, fmt.Errorf("cannot generate fingerprint key: %w", err)
	}
	text := []byte(hex.EncodeToString(raw[:]))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return stateKey(path) // another process won the race
	}
	if err != nil {
		return nil, false, fmt.Errorf("cannot create fingerprint key state file: %w", err)
	}
	_, werr := f.Write(append(text, '\n'))
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, false, fmt.Errorf("cannot write fingerprint key state file: %w", werr)
	}
	return text, true, nil
}
