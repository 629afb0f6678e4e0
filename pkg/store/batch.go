package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/apiscope/apiscope/models"
)

// ErrClosed is returned by a BatchWriter's Add methods after Close.
var ErrClosed = errors.New("store: batch writer closed")

// BatchConfig bounds a BatchWriter. Zero values mean the defaults in parentheses.
type BatchConfig struct {
	// MaxRows is the row count (all tables together) that starts an insert (100000).
	// ClickHouse wants few large inserts: each insert makes a part on disk per partition,
	// and parts are merged again later. Measured on 18.16 (docs/BENCHMARKS.md), 100000-row
	// inserts cost the server 3.1 to 3.6 µs of CPU per call against 4.3 to 7.9 µs for
	// 20000-row inserts.
	MaxRows int
	// MaxDelay is how long the oldest buffered row waits before an insert starts (1s).
	// It is an operational delay measured on the wall clock; it changes no stored value.
	MaxDelay time.Duration
	// MaxPending bounds the rows held, buffered plus being inserted (2*MaxRows: one insert
	// in flight while the next fills). An Add that would pass it blocks until an insert
	// completes: when ClickHouse is down, the caller stops (and Kafka holds the backlog)
	// instead of memory growing or rows dropping. A held call costs about 1 KB (the
	// APICall and the strings it keeps alive), so the default bound is about 200 MB.
	MaxPending int
}

func (c BatchConfig) withDefaults() BatchConfig {
	if c.MaxRows <= 0 {
		c.MaxRows = 100000
	}
	if c.MaxDelay <= 0 {
		c.MaxDelay = time.Second
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 2 * c.MaxRows
	}
	if c.MaxPending < c.MaxRows {
		c.MaxPending = c.MaxRows
	}
	return c
}

// batch is one generation of buffered rows.
type batch struct {
	calls    []models.APICall
	findings []models.Finding
	profiles []ProfileRow
}

func (b *batch) rows() int { return len(b.calls) + len(b.findings) + len(b.profiles) }

// BatchWriter buffers calls, findings and profiles and inserts them in large batches from
// one goroutine, in the order they were added. Its methods are safe for concurrent use.
//
// Delivery contract: when Flush returns nil, every row added before Flush was called is
// stored. Rows are never dropped: an insert that fails with a connection error is retried
// (with backoff, for as long as it takes) while Add blocks once MaxPending rows are held.
// An insert that fails for good (a server error retrying cannot fix) makes the writer
// fail: that Flush and every later Add and Flush return the error, so the caller stops
// without committing what was not stored.
type BatchWriter struct {
	st  *Store
	cfg BatchConfig
	log *zap.Logger

	// ctx ends inserts in flight when Close gives up waiting for them.
	ctx    context.Context
	cancel context.CancelFunc
	kick   chan struct{} // wakes run; capacity 1
	done   chan struct{} // closed when run returns

	mu      sync.Mutex
	buf     batch     // rows not yet handed to an insert
	bufGen  uint64    // generation number of buf; generations are inserted in order
	written uint64    // every generation up to this one is stored
	flushTo uint64    // the highest generation a Flush is waiting for
	pending int       // rows in buf plus rows being inserted
	oldest  time.Time // when the first row of buf was added
	closing bool
	// spare is the calls buffer of the last stored generation, cleared, kept for reuse:
	// growing a fresh []APICall to MaxRows on every generation cost more CPU than the
	// insert itself (large copies with write barriers, and GC scanning them).
	spare   []models.APICall
	err     error         // the first insert that failed for good; sticky
	changed chan struct{} // closed and replaced whenever written, pending, err or closing change
}

// NewBatchWriter starts a writer on s. Call Close to flush and stop it.
func (s *Store) NewBatchWriter(cfg BatchConfig) *BatchWriter {
	ctx, cancel := context.WithCancel(context.Background())
	w := &BatchWriter{
		st: s, cfg: cfg.withDefaults(), log: s.log.With(zap.String("component", "batchwriter")),
		ctx: ctx, cancel: cancel,
		kick: make(chan struct{}, 1), done: make(chan struct{}),
		bufGen: 1, changed: make(chan struct{}),
	}
	go w.run()
	return w
}

// AddCalls buffers calls for api_calls. It blocks while MaxPending rows are held and
// returns ctx's error if ctx ends first (nothing of calls is then buffered).
func (w *BatchWriter) AddCalls(ctx context.Context, calls ...models.APICall) error {
	return w.add(ctx, len(calls), func(b *batch) {
		if b.calls == nil {
			if w.spare != nil {
				b.calls, w.spare = w.spare, nil
			} else {
				b.calls = make([]models.APICall, 0, max(w.cfg.MaxRows, len(calls)))
			}
		}
		b.calls = append(b.calls, calls...)
	})
}

// AddFindings buffers findings.
func (w *BatchWriter) AddFindings(ctx context.Context, fs ...models.Finding) error {
	return w.add(ctx, len(fs), func(b *batch) { b.findings = append(b.findings, fs...) })
}

// AddProfiles buffers profile snapshots.
func (w *BatchWriter) AddProfiles(ctx context.Context, ps ...ProfileRow) error {
	return w.add(ctx, len(ps), func(b *batch) { b.profiles = append(b.profiles, ps...) })
}

func (w *BatchWriter) add(ctx context.Context, n int, app func(*batch)) error {
	if n == 0 {
		return nil
	}
	w.mu.Lock()
	blocked := false
	for {
		if w.err != nil {
			w.mu.Unlock()
			return w.err
		}
		if w.closing {
			w.mu.Unlock()
			return ErrClosed
		}
		// An Add larger than MaxPending on its own goes through when nothing is held.
		if w.pending == 0 || w.pending+n <= w.cfg.MaxPending {
			break
		}
		if !blocked {
			blocked = true
			blockedAdds.Inc()
		}
		ch := w.changed
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		w.mu.Lock()
	}
	wasEmpty := w.buf.rows() == 0
	if wasEmpty {
		w.oldest = time.Now()
	}
	app(&w.buf)
	w.pending += n
	pendingRows.Add(float64(n))
	full := w.buf.rows() >= w.cfg.MaxRows
	w.mu.Unlock()
	if wasEmpty || full {
		w.signal()
	}
	return nil
}

// Flush returns when every row added before the call is stored, when the writer has
// failed (its error), or when ctx ends.
func (w *BatchWriter) Flush(ctx context.Context) error {
	w.mu.Lock()
	target := w.bufGen
	if w.buf.rows() == 0 {
		target-- // nothing buffered: wait only for the insert in flight, if any
	}
	if target > w.flushTo {
		w.flushTo = target
	}
	w.mu.Unlock()
	w.signal()
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.written < target && w.err == nil {
		ch := w.changed
		w.mu.Unlock()
		select {
		case <-ch:
		case <-w.done:
		case <-ctx.Done():
			w.mu.Lock()
			return ctx.Err()
		}
		w.mu.Lock()
		if w.written < target && w.err == nil && isClosed(w.done) {
			return fmt.Errorf("store: batch writer stopped with %d rows unwritten", w.pending)
		}
	}
	return w.err
}

// Pending returns the rows held: buffered or being inserted.
func (w *BatchWriter) Pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pending
}

// Err returns the error that stopped the writer, if any.
func (w *BatchWriter) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Close stops intake, inserts what is buffered and stops the writer. If ctx ends first,
// the insert in flight is abandoned: the rows not stored are counted
// (apiscope_store_rows_failed_total), logged and reported in the error.
func (w *BatchWriter) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closing {
		w.closing = true
		w.broadcastLocked()
	}
	w.mu.Unlock()
	w.signal()
	select {
	case <-w.done:
	case <-ctx.Done():
		w.cancel()
		<-w.done
	}
	w.cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if w.pending > 0 {
		return fmt.Errorf("store: batch writer closed with %d rows unwritten", w.pending)
	}
	return nil
}

func (w *BatchWriter) signal() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *BatchWriter) broadcastLocked() {
	close(w.changed)
	w.changed = make(chan struct{})
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// run is the writer's only inserting goroutine. It exits when closing with nothing
// buffered, when an insert fails for good, or when Close gives up.
func (w *BatchWriter) run() {
	defer close(w.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		w.mu.Lock()
		n := w.buf.rows()
		due := n > 0 && (n >= w.cfg.MaxRows || w.flushTo >= w.bufGen || w.closing || time.Since(w.oldest) >= w.cfg.MaxDelay)
		if !due {
			if w.closing && n == 0 {
				w.mu.Unlock()
				return
			}
			wait := time.Duration(-1)
			if n > 0 {
				wait = w.cfg.MaxDelay - time.Since(w.oldest)
			}
			w.mu.Unlock()
			if wait >= 0 {
				timer.Reset(wait)
			}
			select {
			case <-w.kick:
			case <-timer.C:
			case <-w.ctx.Done():
				w.abandon()
				return
			}
			timer.Stop()
			continue
		}
		b, gen := w.buf, w.bufGen
		w.buf = batch{}
		w.bufGen++
		w.mu.Unlock()

		err := w.write(b)

		if err == nil && cap(b.calls) <= 2*w.cfg.MaxRows {
			clear(b.calls) // drop the string references before keeping the array
		}

		w.mu.Lock()
		w.pending -= n
		pendingRows.Add(-float64(n))
		if err == nil {
			w.written = gen
			if cap(b.calls) <= 2*w.cfg.MaxRows {
				w.spare = b.calls[:0]
			}
		} else if w.err == nil {
			w.err = fmt.Errorf("store: batch writer stopped: %w", err)
		}
		w.broadcastLocked()
		failed := w.err != nil
		w.mu.Unlock()
		if failed {
			w.abandon()
			return
		}
	}
}

// abandon counts and drops from memory what is still buffered when the writer stops
// without storing it (after a permanent error or when Close gave up); the caller learns it
// from Flush and Close and does not commit those rows' offsets.
func (w *BatchWriter) abandon() {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.buf
	n := b.rows()
	if n == 0 {
		return
	}
	callsMetrics.failedRows.Add(uint64(len(b.calls)))
	findingsMetrics.failedRows.Add(uint64(len(b.findings)))
	profilesMetrics.failedRows.Add(uint64(len(b.profiles)))
	w.log.Error("batch writer stopped with rows not stored", zap.Int("calls", len(b.calls)), zap.Int("findings", len(b.findings)), zap.Int("profiles", len(b.profiles)))
	pendingRows.Add(-float64(n))
	w.buf = batch{}
	w.broadcastLocked()
}

// write inserts one generation, table by table. Each insert retries on its own, so a
// table already stored is never inserted again when a later one has to wait.
func (w *BatchWriter) write(b batch) error {
	if err := w.st.WriteCalls(w.ctx, b.calls); err != nil {
		profilesMetrics.failedRows.Add(uint64(len(b.profiles)))
		findingsMetrics.failedRows.Add(uint64(len(b.findings)))
		return err
	}
	if err := w.st.WriteProfiles(w.ctx, b.profiles); err != nil {
		findingsMetrics.failedRows.Add(uint64(len(b.findings)))
		return err
	}
	return w.st.WriteFindings(w.ctx, b.findings)
}
