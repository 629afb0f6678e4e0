package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// TableAnalyzerState is the table of the analyzers' client states.
const TableAnalyzerState = "analyzer_state"

// StateRow is one client's state as an analyzer saves it: what another analyzer of the
// same consumer group loads when the client's Kafka partition moves to it. The store does
// not read State; the analyzer encodes and versions it.
type StateRow struct {
	// Partition is the Kafka partition the client's calls arrive on (0 to 65535).
	Partition int
	ClientID  string
	// Version is the encoding of State.
	Version uint32
	// Updated is the capture time (unix ns) of the client's newest call in the state: of
	// two rows of one client, the one with the larger Updated wins.
	Updated int64
	State   []byte
}

const insertStates = "INSERT INTO analyzer_state (consumer_group, partition, client_id, version, updated, state)"

var statesMetrics = newTableMetrics(TableAnalyzerState)

// ErrStatePartition is returned by SaveClientStates for a partition outside 0..65535.
var ErrStatePartition = errors.New("store: client state partition out of range")

// SaveClientStates inserts the states of the consumer group's clients in one batch,
// retrying connection errors until ctx ends. Saving a client again adds a row; LoadClientStates
// returns the one with the largest Updated, and merges keep only it.
func (s *Store) SaveClientStates(ctx context.Context, group string, rows []StateRow) error {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	groups, clients, states := make([]string, n), make([]string, n), make([]string, n)
	parts, vers, upd := make([]uint16, n), make([]uint32, n), make([]uint64, n)
	for i := range rows {
		r := &rows[i]
		if r.Partition < 0 || r.Partition > math.MaxUint16 {
			statesMetrics.errServer.Inc()
			statesMetrics.failedRows.Add(uint64(n))
			return fmt.Errorf("%w: client %q on partition %d", ErrStatePartition, r.ClientID, r.Partition)
		}
		groups[i], clients[i], states[i] = group, r.ClientID, string(r.State)
		parts[i], vers[i], upd[i] = uint16(r.Partition), r.Version, uint64(max(r.Updated, 0))
	}
	return s.insert(ctx, TableAnalyzerState, insertStates, statesMetrics, n, []any{groups, parts, clients, vers, upd, states})
}

// LoadClientStates returns the newest state of every client of the consumer group on the
// given partitions (nil: on every partition; empty: none), in no particular order. It
// reads the table with FINAL, which streams the newest row per client instead of grouping
// every state in the server's memory. Connection errors are retried until ctx ends.
func (s *Store) LoadClientStates(ctx context.Context, group string, partitions []int) ([]StateRow, error) {
	if partitions != nil && len(partitions) == 0 {
		return nil, nil
	}
	q := "SELECT partition, client_id, version, updated, state FROM analyzer_state FINAL WHERE consumer_group = ?"
	if partitions != nil {
		list := make([]string, 0, len(partitions))
		for _, p := range partitions {
			if p < 0 || p > math.MaxUint16 {
				return nil, fmt.Errorf("%w: %d", ErrStatePartition, p)
			}
			list = append(list, strconv.Itoa(p))
		}
		q += " AND partition IN (" + strings.Join(list, ", ") + ")"
	}
	wait := s.opts.RetryInitial
	for attempt := 1; ; attempt++ {
		rows, err := s.loadStates(ctx, q, group)
		if err == nil {
			return rows, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("load client states: %w (gave up: %w)", ctx.Err(), err)
		}
		if !Retryable(err) {
			return nil, fmt.Errorf("load client states: %w", err)
		}
		s.log.Warn("loading client states failed; retrying", zap.Int("attempt", attempt), zap.Duration("wait", wait), zap.Error(err))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("load client states: %w (last error: %w)", ctx.Err(), err)
		case <-t.C:
		}
		wait = min(2*wait, s.opts.RetryMax)
	}
}

func (s *Store) loadStates(ctx context.Context, q, group string) ([]StateRow, error) {
	rows, err := s.conn.Query(ctx, q, group)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StateRow
	for rows.Next() {
		var (
			part  uint16
			r     StateRow
			upd   uint64
			state string
		)
		if err := rows.Scan(&part, &r.ClientID, &r.Version, &upd, &state); err != nil {
			return nil, err
		}
		r.Partition, r.Updated, r.State = int(part), int64(min(upd, math.MaxInt64)), []byte(state)
		out = append(out, r)
	}
	return out, rows.Err()
}
