package store

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/apiscope/apiscope/models"
)

// WriteCalls inserts calls into api_calls in one batch, retrying connection errors until
// ctx ends. Safe for concurrent use.
func (s *Store) WriteCalls(ctx context.Context, calls []models.APICall) error {
	if len(calls) == 0 {
		return nil
	}
	var cc callColumns
	cc.fill(calls)
	return s.insert(ctx, TableCalls, insertCalls, callsMetrics, len(calls), cc.columns())
}

// WriteFindings inserts findings in one batch, retrying connection errors until ctx ends.
// Writing a finding again (same id) is harmless: findings is a ReplacingMergeTree on id.
func (s *Store) WriteFindings(ctx context.Context, fs []models.Finding) error {
	if len(fs) == 0 {
		return nil
	}
	cols, err := findingColumns(fs)
	if err != nil {
		findingsMetrics.errServer.Inc()
		findingsMetrics.failedRows.Add(uint64(len(fs)))
		return err
	}
	return s.insert(ctx, TableFindings, insertFindings, findingsMetrics, len(fs), cols)
}

// WriteProfiles inserts profile snapshots in one batch, retrying connection errors until
// ctx ends.
func (s *Store) WriteProfiles(ctx context.Context, ps []ProfileRow) error {
	if len(ps) == 0 {
		return nil
	}
	return s.insert(ctx, TableClientProfiles, insertProfiles, profilesMetrics, len(ps), profileColumns(ps))
}

// insert sends the columns as one INSERT, retrying with exponential backoff while the
// error is Retryable and ctx lives.
func (s *Store) insert(ctx context.Context, table, query string, m *tableMetrics, rows int, cols []any) error {
	start := time.Now()
	wait := s.opts.RetryInitial
	for attempt := 1; ; attempt++ {
		err := s.insertOnce(ctx, query, cols)
		if err == nil {
			m.rows.Add(uint64(rows))
			m.batches.Inc()
			m.latency.Set(time.Since(start).Seconds())
			if attempt > 1 {
				s.log.Info("ClickHouse insert succeeded after retries", zap.String("table", table), zap.Int("attempts", attempt), zap.Int("rows", rows))
			}
			return nil
		}
		if ctx.Err() != nil {
			m.errCancel.Inc()
			m.failedRows.Add(uint64(rows))
			return fmt.Errorf("insert %d rows into %s: %w (gave up: %w)", rows, table, ctx.Err(), err)
		}
		if !Retryable(err) {
			m.errServer.Inc()
			m.failedRows.Add(uint64(rows))
			s.log.Error("ClickHouse insert failed", zap.String("table", table), zap.Int("rows", rows), zap.Error(err))
			return fmt.Errorf("insert %d rows into %s: %w", rows, table, err)
		}
		m.errConn.Inc()
		m.retries.Inc()
		s.log.Warn("ClickHouse insert failed; retrying", zap.String("table", table), zap.Int("rows", rows), zap.Int("attempt", attempt), zap.Duration("wait", wait), zap.Error(err))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			m.errCancel.Inc()
			m.failedRows.Add(uint64(rows))
			return fmt.Errorf("insert %d rows into %s: %w (last error: %w)", rows, table, ctx.Err(), err)
		case <-t.C:
		}
		wait = min(2*wait, s.opts.RetryMax)
	}
}

// blockRows is the rows sent per native-protocol block. The INSERT stays one statement
// (the server squashes its blocks into parts of up to min_insert_block_size_rows), but the
// client reuses one block's buffers instead of growing column buffers for the whole batch:
// on 100k-row batches this halved the client's CPU (page faults and copies of growing
// buffers dominated).
const blockRows = 16384

func (s *Store) insertOnce(ctx context.Context, query string, cols []any) error {
	b, err := s.conn.PrepareBatch(ctx, query)
	if err != nil {
		return err
	}
	defer b.Close()
	n, ok := columnLen(cols[0])
	if !ok {
		return fmt.Errorf("store: unsupported column type %T", cols[0])
	}
	for lo := 0; lo < n; lo += blockRows {
		hi := min(lo+blockRows, n)
		for i, c := range cols {
			if err := b.Column(i).Append(sliceColumn(c, lo, hi)); err != nil {
				return fmt.Errorf("column %d: %w", i, err)
			}
		}
		if hi < n {
			if err := b.Flush(); err != nil {
				return err
			}
		}
	}
	return b.Send()
}

// columnLen and sliceColumn handle the column slice types the row builders produce.
func columnLen(c any) (int, bool) {
	switch v := c.(type) {
	case []string:
		return len(v), true
	case []int64:
		return len(v), true
	case []uint64:
		return len(v), true
	case []uint32:
		return len(v), true
	case []uint16:
		return len(v), true
	case []uint8:
		return len(v), true
	case []float64:
		return len(v), true
	case [][]string:
		return len(v), true
	}
	return 0, false
}

func sliceColumn(c any, lo, hi int) any {
	switch v := c.(type) {
	case []string:
		return v[lo:hi]
	case []int64:
		return v[lo:hi]
	case []uint64:
		return v[lo:hi]
	case []uint32:
		return v[lo:hi]
	case []uint16:
		return v[lo:hi]
	case []uint8:
		return v[lo:hi]
	case []float64:
		return v[lo:hi]
	case [][]string:
		return v[lo:hi]
	}
	return c // unreachable: insertOnce checked the type with columnLen
}
