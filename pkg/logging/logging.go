// Package logging builds the process's zap logger: console output on a terminal, JSON
// otherwise, sampled so a flood of one message cannot drown the log.
//
// Never log a secret: tokens, API keys, cookies, passwords and bodies stay out of every
// field. Log cred_fp instead.
package logging

import (
	"fmt"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// IsTerminal reports whether f is a character device (a terminal).
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// New builds a logger writing to stderr at level ("debug", "info", "warn", "error").
func New(level string) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad --log-level %q: want debug, info, warn or error", level)
	}
	var enc zapcore.Encoder
	if IsTerminal(os.Stderr) {
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeLevel = zapcore.CapitalColorLevelEncoder
		enc = zapcore.NewConsoleEncoder(ec)
	} else {
		ec := zap.NewProductionEncoderConfig()
		ec.EncodeTime = zapcore.RFC3339NanoTimeEncoder
		enc = zapcore.NewJSONEncoder(ec)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(os.Stderr), lvl)
	// Sample per message: a constant message repeated per packet collapses to a trickle.
	core = zapcore.NewSamplerWithOptions(core, 1e9, 20, 100)
	return zap.New(core), nil
}
