package alerting

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/apiscope/apiscope/models"
)

// Sink receives findings to deliver as alerts. WriteFinding must not retain f after it
// returns; Close delivers what it can and releases the sink.
type Sink interface {
	WriteFinding(ctx context.Context, f *models.Finding) error
	Close() error
}

// Filter selects alerts. The zero value passes everything.
type Filter struct {
	// MinSeverity drops findings below it; empty passes every severity.
	MinSeverity string
	// Kinds, when not empty, keeps only these kinds.
	Kinds []string
	// Clients, when not empty, keeps only these client ids.
	Clients []string
}

// Validate checks MinSeverity.
func (fl *Filter) Validate() error {
	if fl.MinSeverity != "" {
		if _, err := models.ParseSeverity(fl.MinSeverity); err != nil {
			return err
		}
	}
	return nil
}

// Match reports whether f passes the filter.
func (fl *Filter) Match(f *models.Finding) bool {
	if fl.MinSeverity != "" && models.SeverityRank(f.Severity) < models.SeverityRank(fl.MinSeverity) {
		return false
	}
	if len(fl.Kinds) > 0 && !contains(fl.Kinds, f.Kind) {
		return false
	}
	if len(fl.Clients) > 0 && !contains(fl.Clients, f.ClientID) {
		return false
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// FilterSink passes only findings matching a Filter to the next sink.
type FilterSink struct {
	Filter Filter
	Next   Sink
}

// WriteFinding forwards f when it matches.
func (s FilterSink) WriteFinding(ctx context.Context, f *models.Finding) error {
	if !s.Filter.Match(f) {
		return nil
	}
	return s.Next.WriteFinding(ctx, f)
}

// Close closes the next sink.
func (s FilterSink) Close() error { return s.Next.Close() }

// Multi writes every finding to each sink in turn and closes them all.
type Multi []Sink

// WriteFinding writes to every sink and returns their errors joined.
func (m Multi) WriteFinding(ctx context.Context, f *models.Finding) error {
	var errs []error
	for _, s := range m {
		if err := s.WriteFinding(ctx, f); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close closes every sink and returns their errors joined.
func (m Multi) Close() error {
	var errs []error
	for _, s := range m {
		if err := s.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing alert sink: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Background adapts a Sink to callers without a context, such as the analyzer's
// Output (WriteFinding(f) error): every write uses context.Background().
type Background struct{ Sink Sink }

// WriteFinding writes f to the sink.
func (b Background) WriteFinding(f *models.Finding) error {
	return b.Sink.WriteFinding(context.Background(), f)
}

// Close closes the sink.
func (b Background) Close() error { return b.Sink.Close() }
