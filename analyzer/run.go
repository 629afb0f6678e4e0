package analyzer

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/apiscope/apiscope/models"
)

// Record is one consumed message. Ack is the source's own handle for committing it.
type Record struct {
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Ack       any
	// Rebalance, when set, is a change of the partitions the source delivers; such a
	// record carries no call and is not committed.
	Rebalance *Rebalance
}

// Rebalance is a change of the partitions a source delivers (a Kafka consumer group).
type Rebalance struct {
	Revoked, Assigned []int
	// Done, if set, is called once the revoked partitions' work is durable and committed.
	Done func()
}

// StateStore keeps client states where every analyzer of a consumer group can read them
// (ClickHouse's analyzer_state through an adapter), so a partition that moves to another
// analyzer takes its clients' profiles with it.
type StateStore interface {
	// Save stores the states; a later Load returns, per client, the one with the largest
	// Last. Nothing may be lost once it returns nil.
	Save(ctx context.Context, states []ClientState) error
	// Load returns the newest state of every client of the partitions (nil: of every
	// partition), in any order.
	Load(ctx context.Context, partitions []int) ([]ClientState, error)
}

// Source is the consumed stream (pkg/kafkabus's consumer through a small adapter):
// Fetch blocks for the next record; Commit marks records done. Commit gets, per
// partition, the last record processed.
type Source interface {
	Fetch(ctx context.Context) (Record, error)
	Commit(ctx context.Context, recs []Record) error
}

// Durable is an output whose writes become durable only on Flush (ClickHouse batches,
// a Kafka publisher, a file).
type Durable interface {
	Flush(ctx context.Context) error
}

// Store keeps calls, findings and profile snapshots (pkg/store through an adapter).
type Store interface {
	AddCalls(ctx context.Context, calls ...models.APICall) error
	AddFindings(ctx context.Context, fs ...models.Finding) error
	AddProfiles(ctx context.Context, ps ...ProfileSnapshot) error
	Flush(ctx context.Context) error
}

// RunConfig wires the consumer loop. Only the engine and the source are required.
type RunConfig struct {
	// StateDir holds the checkpoint; empty means no checkpoints (a restart relearns).
	StateDir string
	// States, when set, receives at every commit the profiles changed since the previous
	// one (all of them the first time), after the outputs are flushed and before offsets
	// move. Run loads from it the clients of every partition the source assigns (a
	// Rebalance), or, from a source that never says, of every partition at the first
	// record. Nil means profiles stay in this process (and in StateDir).
	States StateStore
	// Store, when set, receives every call, every finding and profile snapshots.
	Store Store
	// Durables are flushed before every commit (the outputs the engine writes to).
	Durables []Durable
	// DeadLetter receives records that cannot be decoded. Its failure is logged and
	// counted, never retried: a bad record must not stall its partition.
	DeadLetter func(ctx context.Context, rec Record, reason error) error
	// CommitRecords is the number of records between commits; with a StateDir every
	// commit writes a checkpoint first, which rewrites the whole state (megabytes for
	// thousands of clients), so the default is large there. Commits also happen every
	// Config.CheckpointEvery of capture time and when the stream goes idle. A restart
	// re-reads what was consumed after the last commit: at most this many records or that
	// much capture time. Zero means 500 000 with a StateDir, 20 000 without.
	CommitRecords int
	// IdleFlush, when no record has arrived for this long (wall clock), processes every
	// call waiting in the reorder buffer and releases held findings, as at the end of a
	// capture, then commits: the last minute of a finished capture is analysed without
	// waiting for more traffic. It is the one wall-clock input that can change what is
	// found (a call arriving after the flush, older than what was flushed, is processed
	// late), so it is long enough that a running sensor never pauses that long. Zero means
	// 10 s; negative disables it. Replay does not use Run and is unaffected.
	IdleFlush time.Duration
	// IdleCommit commits what was processed when no record arrives for this long (wall
	// clock: it decides only when state is saved, never what is found). Zero means 2 s.
	IdleCommit time.Duration
	// IdlePartition is how long a partition may deliver nothing while others do before
	// the merge stops waiting for it (wall clock). Zero means 5 s.
	IdlePartition time.Duration
	// StartupWait is how long, from the first record, calls are only buffered so every
	// assigned partition can deliver before the merge starts (wall clock). Zero means 3 s.
	StartupWait time.Duration
	Log         *zap.Logger
}

// storeChunk is how many calls Run hands the Store at once.
const storeChunk = 5000

// stateChunk is how many client states Run encodes and saves at once (a few KiB each).
const stateChunk = 2000

// ErrUnknownSchema is the dead-letter reason of a record that is JSON but not a call.
var ErrUnknownSchema = errors.New("analyzer: record is not an APICall of a known schema")

// DecodeCall decodes one record value into c, refusing what is not a call.
func DecodeCall(b []byte, c *models.APICall) error {
	*c = models.APICall{}
	if err := models.UnmarshalAPICall(b, c); err != nil {
		return fmt.Errorf("decode call: %w", err)
	}
	if c.TS.IsZero() || c.Method == "" || c.ClientID == "" && c.SrcIP == "" {
		return ErrUnknownSchema
	}
	return nil
}

// Run consumes src into the engine until ctx ends or an output fails. Commits happen only
// after the store and durable outputs are flushed and the checkpoint is written, so a
// crash re-delivers what was not yet durable, and deterministic ids make the repeats
// harmless. On return the state is checkpointed (without flushing the reorder buffer:
// the checkpoint carries it; with States but no StateDir, the buffer is processed first).
//
// With RunConfig.States, every commit also saves the profiles changed since the last one,
// and a Rebalance record moves profiles with partitions: on Revoked, Run processes what
// the reorder buffer holds and releases held findings (as an idle flush does), makes
// everything durable, saves the states, commits, then calls Done; the profiles stay in
// memory in case the partitions come back. On Assigned, it forgets the clients of the
// partitions it held and no longer has (DropPartitions), loads from States the clients of
// the partitions it did not have, and waits StartupWait for every partition to deliver
// before the merge resumes, as at start.
func Run(ctx context.Context, e *Engine, src Source, rc RunConfig) error {
	log := rc.Log
	if log == nil {
		log = zap.NewNop()
	}
	every := rc.CommitRecords
	if every <= 0 {
		every = 20000
		if rc.StateDir != "" {
			every = 500000
		}
	}
	idleFlush := rc.IdleFlush
	if idleFlush == 0 {
		idleFlush = 10 * time.Second
	}
	lastRecord := time.Now()
	// A restored reorder buffer is flushed too if nothing arrives after a restart.
	flushedIdle := false
	idle := rc.IdleCommit
	if idle <= 0 {
		idle = 2 * time.Second
	}
	idlePart := rc.IdlePartition
	if idlePart <= 0 {
		idlePart = 5 * time.Second
	}
	lastWall := map[int]time.Time{}
	var nextIdleCheck, started time.Time
	startup := rc.StartupWait
	if startup <= 0 {
		startup = 3 * time.Second
	}
	e.HoldRelease(true)
	if rc.StateDir != "" {
		ok, err := e.ReadCheckpoint(rc.StateDir)
		if errors.Is(err, ErrCheckpointVersion) {
			// An upgrade changed the profile layout: keep the old file for inspection and
			// relearn from the stream rather than refuse to start.
			old, rerr := SetAsideCheckpoint(rc.StateDir)
			if rerr != nil {
				return fmt.Errorf("restore analyzer state from %s: %w; and setting it aside: %v", rc.StateDir, err, rerr)
			}
			log.Warn("checkpoint written by an incompatible version set aside; profiles are relearned from the stream",
				zap.String("moved_to", old), zap.Error(err))
			ok, err = false, nil
		}
		if err != nil {
			return fmt.Errorf("restore analyzer state from %s: %w", rc.StateDir, err)
		}
		if ok {
			log.Info("analyzer state restored", zap.String("dir", rc.StateDir), zap.Int("clients", e.Stats().Clients),
				zap.Time("clock", e.Clock()))
		}
	}
	// owned are the partitions whose clients the engine holds: those of the restored
	// profiles until the source assigns some.
	owned := map[int]bool{}
	for _, p := range e.Partitions() {
		owned[p] = true
	}
	// loaded is set once States was read (at the first Assigned, or the first record).
	loaded := rc.States == nil
	// savedAt is the engine clock of the last save of states (0: none yet, save all).
	var savedAt int64
	last := map[int]Record{}
	var pending int
	var calls []models.APICall
	lastSnap := e.maxTS
	nextCkpt := e.maxTS + int64(e.cfg.checkpointEvery())
	var c models.APICall

	commit := func(ctx context.Context) error {
		if rc.Store != nil {
			if len(calls) > 0 {
				if err := rc.Store.AddCalls(ctx, calls...); err != nil {
					return fmt.Errorf("store calls: %w", err)
				}
				calls = calls[:0]
			}
			if snaps := e.Snapshots(lastSnap); len(snaps) > 0 {
				if err := rc.Store.AddProfiles(ctx, snaps...); err != nil {
					return fmt.Errorf("store profiles: %w", err)
				}
			}
			lastSnap = e.maxTS
			if err := rc.Store.Flush(ctx); err != nil {
				return fmt.Errorf("store flush: %w", err)
			}
		}
		for _, d := range rc.Durables {
			if err := d.Flush(ctx); err != nil {
				return fmt.Errorf("flush outputs: %w", err)
			}
		}
		if rc.StateDir != "" {
			if err := e.WriteCheckpoint(rc.StateDir); err != nil {
				return err
			}
		}
		if rc.States != nil {
			clock := e.maxTS
			if err := e.exportClients(nil, savedAt, stateChunk, func(s []ClientState) error {
				return rc.States.Save(ctx, s)
			}); err != nil {
				return fmt.Errorf("save client states: %w", err)
			}
			// Profiles changed at this clock and later are saved again next time:
			// a repeat is harmless, a miss is not.
			savedAt = max(clock, 1)
		}
		if len(last) > 0 {
			recs := make([]Record, 0, len(last))
			for p := 0; len(recs) < len(last); p++ {
				if r, ok := last[p]; ok {
					recs = append(recs, r)
				}
			}
			if err := src.Commit(ctx, recs); err != nil {
				return fmt.Errorf("commit offsets: %w", err)
			}
			clear(last)
		}
		pending = 0
		return nil
	}
	// durable commits under ctx; when shutdown cancels ctx mid-commit, what was processed is
	// still made durable under a fresh, bounded context rather than reported as a failure.
	durable := func() error {
		err := commit(ctx)
		if err == nil || ctx.Err() == nil {
			return err
		}
		sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer scancel()
		return commit(sctx)
	}
	load := func(parts []int) error {
		loaded = true
		states, err := rc.States.Load(ctx, parts)
		if err != nil {
			return fmt.Errorf("load client states: %w", err)
		}
		before := len(e.profiles)
		if err := e.ImportClients(states); err != nil {
			// Those clients are relearned; the others are loaded.
			log.Warn("client states refused", zap.Error(err))
		}
		log.Info("client states loaded", zap.Ints("partitions", parts), zap.Int("states", len(states)),
			zap.Int("clients_added", len(e.profiles)-before))
		return nil
	}
	rebalance := func(rb *Rebalance) error {
		if len(rb.Revoked) > 0 {
			// The next owner starts from the committed offsets and the saved states:
			// everything fetched must be processed, durable and saved first.
			if err := e.Flush(); err != nil {
				return fmt.Errorf("write findings: %w", err)
			}
			if err := durable(); err != nil {
				return err
			}
			for _, p := range rb.Revoked {
				e.PartitionIdle(p)
				delete(lastWall, p)
			}
			log.Info("partitions revoked: work committed and client states saved", zap.Ints("partitions", rb.Revoked))
		}
		// An event without revocations is an assignment, possibly of no partition (more
		// members than partitions).
		if rb.Assigned != nil || len(rb.Revoked) == 0 {
			now := map[int]bool{}
			var gained, lost []int
			for _, p := range rb.Assigned {
				now[p] = true
				if !owned[p] {
					gained = append(gained, p)
				}
			}
			for p := range owned {
				if !now[p] {
					lost = append(lost, p)
				}
			}
			sort.Ints(lost)
			if len(lost) > 0 {
				// Their calls were processed at the revocation; what is still buffered
				// (a source that revokes without saying) is processed now.
				if err := e.Flush(); err != nil {
					return fmt.Errorf("write findings: %w", err)
				}
				e.DropPartitions(lost)
				for _, p := range lost {
					e.PartitionIdle(p)
					delete(lastWall, p)
					delete(last, p)
				}
				pending++ // the state changed: checkpoint it
			}
			if rc.States != nil {
				parts := gained
				if !loaded {
					// At start: every assigned partition; clients restored from StateDir
					// that are newer stay (ImportClients keeps the newer).
					parts = append([]int(nil), rb.Assigned...)
				}
				if len(parts) > 0 {
					if err := load(parts); err != nil {
						return err
					}
				}
				loaded = true
			}
			owned = now
			// As at start: let every partition deliver before the merge resumes.
			e.HoldRelease(true)
			started = time.Time{}
			log.Info("partitions assigned", zap.Ints("partitions", rb.Assigned), zap.Ints("new", gained), zap.Ints("dropped", lost))
		}
		if rb.Done != nil {
			rb.Done()
		}
		return nil
	}

	for {
		fctx, cancel := context.WithTimeout(ctx, idle)
		rec, err := src.Fetch(fctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				// Shutdown: make what was processed durable, then stop.
				if rc.States != nil && rc.StateDir == "" {
					// No checkpoint carries the reorder buffer: what it holds is processed,
					// so the saved states cover every committed record.
					if err := e.Flush(); err != nil {
						return fmt.Errorf("write findings: %w", err)
					}
				}
				return durable()
			}
			if errors.Is(err, context.DeadlineExceeded) {
				// Nothing from any partition: every one is caught up.
				e.HoldRelease(false)
				for p := range lastWall {
					e.PartitionIdle(p)
					delete(lastWall, p)
				}
				if idleFlush > 0 && !flushedIdle && time.Since(lastRecord) >= idleFlush {
					flushedIdle = true
					if n := len(e.buf) + len(e.inc.Pending); n > 0 {
						log.Info("no calls for a while: analysing what waits in the reorder buffer and releasing held findings",
							zap.Duration("idle", idleFlush), zap.Int("buffered", len(e.buf)), zap.Int("held_findings", len(e.inc.Pending)))
						if err := e.Flush(); err != nil {
							return fmt.Errorf("write findings: %w", err)
						}
						e.m.idleFlushes.Inc()
						pending++ // the state changed: checkpoint it
					}
				}
				if pending > 0 {
					if err := durable(); err != nil {
						return err
					}
				}
				continue
			}
			return fmt.Errorf("fetch: %w", err)
		}
		if rec.Rebalance != nil {
			if err := rebalance(rec.Rebalance); err != nil {
				return err
			}
			continue
		}
		if !loaded {
			// A source without rebalance events: every partition may be ours.
			if err := load(nil); err != nil {
				return err
			}
		}
		e.seen.Add(1)
		now := time.Now()
		lastRecord, flushedIdle = now, false
		if started.IsZero() {
			started = now
		} else if e.holding && now.Sub(started) > startup {
			e.HoldRelease(false)
		}
		lastWall[rec.Partition] = now
		if now.After(nextIdleCheck) {
			nextIdleCheck = now.Add(time.Second)
			for p, t := range lastWall {
				if now.Sub(t) > idlePart {
					e.PartitionIdle(p)
					delete(lastWall, p)
				}
			}
		}
		if derr := DecodeCall(rec.Value, &c); derr != nil {
			e.m.decodeErrors.Inc()
			log.Warn("undecodable call record set aside", zap.Int("partition", rec.Partition),
				zap.Int64("offset", rec.Offset), zap.Error(derr))
			if rc.DeadLetter != nil {
				if err := rc.DeadLetter(ctx, rec, derr); err != nil {
					log.Error("dead-letter publish failed; record skipped", zap.Error(err))
				} else {
					e.m.deadLetters.Inc()
				}
			}
		} else {
			if err := e.ProcessFrom(rec.Partition, &c); err != nil {
				return fmt.Errorf("write findings: %w", err)
			}
			if rc.Store != nil {
				// Handed to the store's bounded batch writer in chunks; the commit
				// flushes it before offsets move.
				if calls = append(calls, c); len(calls) >= storeChunk {
					if err := rc.Store.AddCalls(ctx, calls...); err != nil {
						return fmt.Errorf("store calls: %w", err)
					}
					calls = calls[:0]
				}
			}
		}
		last[rec.Partition] = rec
		pending++
		if pending >= every || e.maxTS >= nextCkpt {
			if err := durable(); err != nil {
				return err
			}
			nextCkpt = e.maxTS + int64(e.cfg.checkpointEvery())
		}
	}
}
