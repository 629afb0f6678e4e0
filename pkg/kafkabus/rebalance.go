package kafkabus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/apiscope/apiscope/pkg/metrics"
)

// How the Consumer follows the group (kafka-go v0.4.51, consumergroup.go):
//
//   - ConsumerGroup.Next hands out one Generation at a time; the group's loop builds the
//     next one only after every function started with Generation.Start has returned
//     (nextGeneration waits on gen.done, then gen.close waits for them all).
//   - A generation ends (the context given to Start functions is done) when any Start
//     function returns: the heartbeat loop returns on the first failed heartbeat, which is
//     how REBALANCE_IN_PROGRESS from the coordinator arrives, and the partition watcher
//     returns when the partition count changes. Close of the group ends it too.
//   - The coordinator connection Generation.CommitOffsets uses is closed only after
//     nextGeneration returns, that is after every Start function returned, so commits
//     keep working while the consumer's own Start function waits for Rebalance.Done.
//     The broker accepts them while the group prepares the rebalance (the generation id
//     only changes when the rebalance completes). kafka-go's Reader relies on the same
//     thing for its final commit (reader.go, commitLoopImmediate).
//   - The protocol is eager: every member gives up all its partitions at each rebalance.
//
// So each generation runs one Start function that reads the assigned partitions, one
// kafka-go Reader per partition from the assigned offset, and when the generation ends
// stops them, reports Revoked and waits (bounded by RevokeTimeout) for Rebalance.Done
// before returning, which is what lets the group move on. No heartbeat is sent in that
// time, hence the bound below the session and rebalance timeouts.

// Rebalance reports a change of the partitions (of the consumed topic) this consumer owns.
type Rebalance struct {
	// Revoked: partitions this consumer gives up. After the event no further records of the
	// ending generation are returned (records fetched but not yet returned are discarded:
	// their offsets were not committed, the next owner reads them again).
	Revoked []int
	// Assigned: the partitions of the new generation (all of them, sorted). Their records
	// follow this event.
	Assigned []int

	rel *release // nil on an Assigned event; shared by copies
}

// release is closed once by Rebalance.Done.
type release struct {
	once sync.Once
	done chan struct{}
}

// Done tells the consumer that the caller has made the work of the revoked partitions
// durable and committed their offsets (with Commit, which still works until Done); only
// then the consumer lets the group move to the next generation. Done on an Assigned-only
// event is a no-op; calling it twice is safe.
func (r *Rebalance) Done() {
	if r == nil || r.rel == nil {
		return
	}
	r.rel.once.Do(func() { close(r.rel.done) })
}

// generation is one assignment of partitions to this consumer.
type generation struct {
	seq     uint64 // local, increasing; stamped on every record fetched under it
	gen     *kafka.Generation
	offsets map[int]int64 // assigned partition -> start offset; read-only
	// ended is set as soon as the group ends the generation; Fetch then drops its
	// records instead of returning them.
	ended atomic.Bool
	// commits counts Commit calls in progress under this generation; the generation's
	// Start function waits for them before returning, since returning lets kafka-go
	// close the connection they use.
	commits sync.WaitGroup
}

func (g *generation) owns(partition int) bool {
	_, ok := g.offsets[partition]
	return ok
}

// record is a record on its way from a partition reader to Fetch.
type record struct {
	g *generation
	m kafka.Message
}

// join starts following the group, once.
func (c *Consumer) join() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.isClosed {
		return ErrClosed
	}
	if c.group != nil {
		return nil
	}
	cg, err := kafka.NewConsumerGroup(c.gcfg)
	if err != nil {
		return fmt.Errorf("kafka: consumer group %s: %w", c.cfg.Group, err)
	}
	c.group = cg
	c.wg.Add(1)
	go c.run(cg)
	return nil
}

// run takes each generation in turn until Close or a permanent failure.
func (c *Consumer) run(cg *kafka.ConsumerGroup) {
	defer c.wg.Done()
	var failing streak
	for {
		gen, err := cg.Next(c.life)
		if err != nil {
			switch {
			case c.life.Err() != nil || errors.Is(err, kafka.ErrGroupClosed):
				return
			case errors.Is(err, kafka.RebalanceInProgress):
				// Another member joined while this one was joining; kafka-go joins again
				// at once and the coordinator paces it.
				c.log.Debug("joining group: rebalance in progress")
				continue
			}
			c.m.errors.Inc()
			if isPermanent(err) {
				c.setFatal(fmt.Errorf("kafka: joining group %s: %w", c.cfg.Group, err))
				return
			}
			// kafka-go backs off (JoinGroupBackoff, 5 s) before its next attempt.
			if failing.fail() {
				c.log.Warn("cannot join the consumer group; retrying", zap.Error(err))
			} else {
				c.log.Debug("cannot join the consumer group; retrying", zap.Error(err))
			}
			continue
		}
		if failing.ok() {
			c.log.Info("consumer group joined again")
		}
		done := make(chan struct{})
		gen.Start(func(ctx context.Context) {
			defer close(done)
			c.generation(ctx, gen)
		})
		<-done
	}
}

// generation reads the partitions of gen until the group ends it, then releases them.
// It runs as gen's Start function: the group cannot move on before it returns.
func (c *Consumer) generation(ctx context.Context, gen *kafka.Generation) {
	if ctx.Err() != nil {
		// The generation ended before this function started: Start then does not wait
		// for it (consumergroup.go, Generation.Start), so the connection may be gone.
		// Nothing was read, nothing is reported.
		return
	}
	assigned := gen.Assignments[c.topic]
	parts := make([]int, 0, len(assigned))
	offsets := make(map[int]int64, len(assigned))
	for _, a := range assigned {
		parts = append(parts, a.ID)
		offsets[a.ID] = a.Offset
	}
	sort.Ints(parts)

	c.mu.Lock()
	c.seq++
	g := &generation{seq: c.seq, gen: gen, offsets: offsets}
	c.cur = g
	if c.cfg.RebalanceEvents {
		c.events = append(c.events, Message{Rebalance: &Rebalance{Assigned: slices.Clone(parts)}})
	}
	c.mu.Unlock()
	c.signal()
	c.rm.generations.Inc()
	c.rm.assigned.Set(float64(len(parts)))
	c.log.Info("partitions assigned", zap.String("topic", c.topic), zap.Int32("generation", gen.ID), zap.Ints("partitions", parts))

	rctx, stop := context.WithCancel(c.life)
	var readers sync.WaitGroup
	for _, p := range parts {
		readers.Add(1)
		go func() {
			defer readers.Done()
			c.readPartition(rctx, g, p, offsets[p])
		}()
	}
	// Close ends the generation too: it closes the group right after c.closed and
	// c.life (which stops the readers). Returning before the group ends the generation
	// would end it from here, and kafka-go's loop, seeing its generation over before
	// seeing the group closed, could join the group once more before leaving.
	<-ctx.Done()
	ended := time.Now()
	g.ended.Store(true)
	stop()
	readers.Wait()
	c.rm.assigned.Set(0)

	select {
	case <-c.closed:
		// Close: nothing to hand over (Close commits nothing).
	default:
		c.log.Info("partitions revoked", zap.String("topic", c.topic), zap.Int32("generation", gen.ID), zap.Ints("partitions", parts))
		if c.cfg.RebalanceEvents {
			rb := &Rebalance{Revoked: parts, rel: &release{done: make(chan struct{})}}
			c.mu.Lock()
			c.events = append(c.events, Message{Rebalance: rb})
			c.mu.Unlock()
			c.signal()
			if len(parts) > 0 {
				c.awaitDone(rb, ended)
			}
		}
	}
	c.mu.Lock()
	c.cur = nil
	c.mu.Unlock()
	g.commits.Wait()
}

// awaitDone waits for the caller to release revoked partitions, at most RevokeTimeout
// after the generation ended.
func (c *Consumer) awaitDone(rb *Rebalance, ended time.Time) {
	t := time.NewTimer(c.cfg.RevokeTimeout - time.Since(ended))
	defer t.Stop()
	select {
	case <-rb.rel.done:
	case <-c.closed:
		// Close in the middle of a revocation: once this returns, kafka-go joins the
		// next generation before it looks at the group being closed, then leaves
		// (consumergroup.go, run and nextGeneration), so the others rebalance once more.
	case <-t.C:
		c.rm.revokeTimeouts.Inc()
		c.log.Warn("revoked partitions were not released in time; the group moves on, and records not committed are read again by their next owner",
			zap.Duration("revoke_timeout", c.cfg.RevokeTimeout), zap.Ints("partitions", rb.Revoked))
	}
}

// readPartition sends the records of one assigned partition, from offset, to Fetch
// until ctx ends. The kafka-go Reader retries failures with backoff (100 ms to 1 s) and
// reconnects to the partition's leader by itself.
func (c *Consumer) readPartition(ctx context.Context, g *generation, part int, offset int64) {
	l := c.log.With(zap.String("topic", c.topic), zap.Int("partition", part))
	var failing streak
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: c.cfg.Brokers, Topic: c.topic, Partition: part, Dialer: c.dialer,
		MinBytes: 1, MaxBytes: c.cfg.MaxBytes, MaxWait: c.cfg.MaxWait,
		ReadBackoffMin: 100 * time.Millisecond, ReadBackoffMax: time.Second,
		ReadLagInterval: -1,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			c.m.errors.Inc()
			if failing.fail() {
				l.Warn("reading partition failed; retrying", zap.String("detail", fmt.Sprintf(msg, args...)))
			}
		}),
	})
	defer r.Close()
	// FirstOffset and LastOffset (a partition the group never committed) are resolved
	// by the Reader against the partition's current range.
	_ = r.SetOffset(offset) // fails only on a closed Reader
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.m.errors.Inc()
			if isPermanent(err) {
				c.setFatal(fmt.Errorf("kafka: reading %s/%d: %w", c.topic, part, err))
				return
			}
			if failing.fail() {
				l.Warn("reading partition failed; retrying", zap.Error(err))
			}
			continue
		}
		if failing.ok() {
			l.Info("reading partition again")
		}
		select {
		case c.recs <- record{g: g, m: m}:
		case <-ctx.Done():
			return
		}
	}
}

// nextEvent pops the oldest rebalance event not yet returned.
func (c *Consumer) nextEvent() (Message, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.events) == 0 {
		return Message{}, false
	}
	ev := c.events[0]
	c.events[0] = Message{}
	c.events = c.events[1:]
	return ev, true
}

// signal wakes a Fetch waiting for records.
func (c *Consumer) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *Consumer) setFatal(err error) {
	c.mu.Lock()
	if c.fatal == nil {
		c.fatal = err
		c.log.Error("consumer stopped", zap.Error(err))
	}
	c.mu.Unlock()
	c.signal()
}

func (c *Consumer) permanent() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fatal
}

// commitOffsets commits through g, three attempts at most (100 and 200 ms apart), as
// kafka-go's Reader does.
func (c *Consumer) commitOffsets(ctx context.Context, g *generation, offsets map[int]int64) error {
	req := map[string]map[int]int64{c.topic: offsets}
	if err := ctx.Err(); err != nil {
		return err
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(time.Duration(attempt) * 100 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("%w (after %w)", ctx.Err(), err)
			case <-t.C:
			}
		}
		if err = g.gen.CommitOffsets(req); err == nil || lostGeneration(err) {
			return err
		}
	}
	return err
}

// notOwned counts records Commit left uncommitted because their partition is not this
// consumer's any more.
func (c *Consumer) notOwned(n int, why string) {
	c.rm.commitSkipped.Add(uint64(n))
	c.log.Debug("not committing records of a partition this consumer does not own; its owner reads them again",
		zap.Int("records", n), zap.String("reason", why))
}

// lostGeneration reports a commit refused because the group has moved on without this
// member's generation.
func lostGeneration(err error) bool {
	return errors.Is(err, kafka.IllegalGeneration) || errors.Is(err, kafka.UnknownMemberId) ||
		errors.Is(err, kafka.RebalanceInProgress) || errors.Is(err, kafka.FencedInstanceID)
}

// isPermanent reports failures that retrying does not cure: credentials, permissions,
// certificates. Everything else (connections, leaders and coordinators moving) is
// retried.
func isPermanent(err error) bool {
	var ke kafka.Error
	if errors.As(err, &ke) {
		switch ke {
		case kafka.SASLAuthenticationFailed, kafka.UnsupportedSASLMechanism, kafka.IllegalSASLState,
			kafka.GroupAuthorizationFailed, kafka.TopicAuthorizationFailed, kafka.ClusterAuthorizationFailed,
			kafka.InvalidGroupId, kafka.InconsistentGroupProtocol:
			return true
		}
		return false
	}
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
	)
	return errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify)
}

// streak logs a failure once until the next success. Safe for concurrent use.
type streak struct{ failing atomic.Bool }

// fail records a failure and reports whether it starts a streak.
func (s *streak) fail() bool { return s.failing.CompareAndSwap(false, true) }

// ok records a success and reports whether it ends a streak.
func (s *streak) ok() bool { return s.failing.CompareAndSwap(true, false) }

// rebMetrics are one consumer's assignment series.
type rebMetrics struct {
	generations    *metrics.Counter
	revokeTimeouts *metrics.Counter
	commitSkipped  *metrics.Counter
	discarded      *metrics.Counter
	assigned       *metrics.Gauge
}

func newRebMetrics(r *metrics.Registry, group string) rebMetrics {
	return rebMetrics{
		generations:    r.Counter("apiscope_kafka_rebalances_total", "Consumer group generations this consumer took part in (one per rebalance).", "group", group),
		revokeTimeouts: r.Counter("apiscope_kafka_revoke_timeouts_total", "Revocations where the group moved on before the revoked partitions were released (RevokeTimeout).", "group", group),
		commitSkipped:  r.Counter("apiscope_kafka_commit_skipped_total", "Records passed to Commit of partitions this consumer no longer owned; left to their new owner.", "group", group),
		discarded:      r.Counter("apiscope_kafka_revoked_discarded_total", "Records fetched but not returned before their partition was revoked; their new owner reads them again.", "group", group),
		assigned:       r.Gauge("apiscope_kafka_assigned_partitions", "Partitions currently assigned to this consumer.", "group", group),
	}
}
