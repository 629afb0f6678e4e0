package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/apiscope/apiscope/pkg/metrics"
)

// ConsumerConfig configures a Consumer. Zero values mean the defaults noted on each field.
type ConsumerConfig struct {
	Config
	// Group is the consumer group id. Required.
	Group string
	// Topics names the one topic to consume. Empty means TopicCalls. More than one is
	// refused: a Rebalance reports partition numbers of a single topic.
	Topics []string
	// StartLatest makes a group with no committed offset start at the end of each
	// partition. The default starts at the beginning, so a new analyzer misses nothing.
	StartLatest bool
	// MaxWait is how long a fetch waits for data. Zero means 500 ms; below 500 ms
	// kafka-go fetches time out against some brokers, so smaller values are raised.
	MaxWait time.Duration
	// MaxBytes bounds one fetch response of one partition. Zero means 10 MiB.
	MaxBytes int
	// SessionTimeout is how long the group waits for a silent member before moving its
	// partitions. Zero means 30 s.
	SessionTimeout time.Duration
	// HeartbeatInterval is how often membership is confirmed; a rebalance is noticed
	// within about one interval. Zero means 3 s.
	HeartbeatInterval time.Duration
	// RebalanceTimeout is how long a rebalance waits for members to rejoin. Zero means
	// 30 s.
	RebalanceTimeout time.Duration
	// RebalanceEvents makes Fetch return Rebalance events (Message.Rebalance) besides
	// records: the partitions assigned when a generation starts, and the partitions
	// revoked when it ends, after which the group waits for Rebalance.Done. Without it
	// assignment changes are silent and a revocation does not wait.
	RebalanceEvents bool
	// RevokeTimeout bounds how long a revocation waits for Rebalance.Done before the
	// group moves on anyway (counted in apiscope_kafka_revoke_timeouts_total). No
	// heartbeat is sent meanwhile, so it must stay below both SessionTimeout and
	// RebalanceTimeout, or the group would drop this member. Zero means 80% of the
	// smaller of the two.
	RevokeTimeout time.Duration
	// Metrics receives the consumer's series. Nil means metrics.Default.
	Metrics *metrics.Registry
}

// minMaxWait is the smallest fetch wait that works reliably with kafka-go (DESIGN.md).
const minMaxWait = 500 * time.Millisecond

// Message is one consumed record, or (Rebalance non-nil) a change of this consumer's
// assignment. Key and Value belong to the caller.
type Message struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []Header
	// Time is the record's timestamp as the broker stored it (producer time).
	Time time.Time
	// Rebalance, when not nil, means this is not a record but a change of the
	// partitions this consumer owns (only with ConsumerConfig.RebalanceEvents); the
	// other fields are empty.
	Rebalance *Rebalance

	// gen is the local sequence number of the generation that fetched the record;
	// Commit refuses records of an earlier generation. Zero (a Message the caller
	// built) is checked against the partition alone.
	gen uint64
}

// Consumer reads one topic as a member of a consumer group and commits offsets only
// when told to. Each assigned partition is read by its own reader from the offset the
// group hands over, so the assignment is known (see Rebalance). Fetch and Commit may be
// called from different goroutines; Fetch itself is meant for one goroutine.
type Consumer struct {
	cfg    ConsumerConfig
	topic  string
	gcfg   kafka.ConsumerGroupConfig
	dialer *kafka.Dialer
	log    *zap.Logger
	client *kafka.Client
	m      consMetrics
	rm     rebMetrics

	// life ends at Close; it cancels the group loop and every partition reader.
	life   context.Context
	cancel context.CancelFunc
	closed chan struct{}
	wg     sync.WaitGroup // the group loop

	// recs carries records from the partition readers to Fetch; wake tells a waiting
	// Fetch that an event or a permanent error was queued.
	recs chan record
	wake chan struct{}

	mu       sync.Mutex
	group    *kafka.ConsumerGroup // nil until the first Fetch
	isClosed bool
	events   []Message   // rebalance events not yet returned, oldest first
	cur      *generation // the generation whose partitions Commit may commit
	seq      uint64      // last generation sequence number given out
	fatal    error       // a permanent failure, returned by every Fetch

	fetchMu sync.Mutex
	held    record // a record taken from recs but not yet returned
	holding bool

	commitMu sync.Mutex // commits one at a time, so offsets only move forward
}

// ErrNoGroup is returned by NewConsumer without ConsumerConfig.Group.
var ErrNoGroup = errors.New("kafka: consumer group id is required")

// NewConsumer validates cfg and joins the group lazily, on the first Fetch.
func NewConsumer(cfg ConsumerConfig, log *zap.Logger) (*Consumer, error) {
	if cfg.Group == "" {
		return nil, ErrNoGroup
	}
	if log == nil {
		log = zap.NewNop()
	}
	if len(cfg.Topics) == 0 {
		cfg.Topics = []string{TopicCalls}
	}
	if len(cfg.Topics) > 1 {
		return nil, fmt.Errorf("kafka: a consumer reads one topic, got %d (%v); use one consumer per topic", len(cfg.Topics), cfg.Topics)
	}
	if cfg.MaxWait < minMaxWait {
		cfg.MaxWait = minMaxWait
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 10 << 20
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 30 * time.Second
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 3 * time.Second
	}
	if cfg.RebalanceTimeout <= 0 {
		cfg.RebalanceTimeout = 30 * time.Second
	}
	limit := min(cfg.SessionTimeout, cfg.RebalanceTimeout)
	switch {
	case cfg.RevokeTimeout < 0:
		return nil, fmt.Errorf("kafka: negative revoke timeout %v", cfg.RevokeTimeout)
	case cfg.RevokeTimeout == 0:
		cfg.RevokeTimeout = limit * 4 / 5
	case cfg.RevokeTimeout >= limit:
		return nil, fmt.Errorf("kafka: revoke timeout %v must be below the session timeout (%v) and the rebalance timeout (%v), or the group drops the member while it saves its work",
			cfg.RevokeTimeout, cfg.SessionTimeout, cfg.RebalanceTimeout)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.Default
	}
	d, err := cfg.dialer()
	if err != nil {
		return nil, err
	}
	l := log.With(zap.String("component", "kafka_consumer"), zap.String("group", cfg.Group))
	start := kafka.FirstOffset
	if cfg.StartLatest {
		start = kafka.LastOffset
	}
	gcfg := kafka.ConsumerGroupConfig{
		ID:                    cfg.Group,
		Brokers:               cfg.Brokers,
		Dialer:                d,
		Topics:                cfg.Topics,
		HeartbeatInterval:     cfg.HeartbeatInterval,
		SessionTimeout:        cfg.SessionTimeout,
		RebalanceTimeout:      cfg.RebalanceTimeout,
		WatchPartitionChanges: true,
		StartOffset:           start,
		// Join failures also come back from Next, where they are counted and logged
		// once per failure streak; the group's own reports are detail.
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			l.Debug("kafka consumer group", zap.String("detail", fmt.Sprintf(msg, args...)))
		}),
	}
	if err := gcfg.Validate(); err != nil {
		return nil, fmt.Errorf("kafka: consumer group config: %w", err)
	}
	cl, err := cfg.client()
	if err != nil {
		return nil, err
	}
	life, cancel := context.WithCancel(context.Background())
	return &Consumer{
		cfg: cfg, topic: cfg.Topics[0], gcfg: gcfg, dialer: d, log: l, client: cl,
		m: newConsMetrics(cfg.Metrics, cfg.Group), rm: newRebMetrics(cfg.Metrics, cfg.Group),
		life: life, cancel: cancel, closed: make(chan struct{}),
		recs: make(chan record, 256), wake: make(chan struct{}, 1),
	}, nil
}

// Fetch returns the next record of the partitions assigned to this member, or with
// RebalanceEvents the next change of the assignment, waiting until one arrives or ctx
// ends. It returns ErrClosed after Close, and a permanent failure (authentication,
// authorisation, an untrusted certificate) as an error on every call; transient
// failures (a broker down, a coordinator moving) are retried with backoff, counted in
// apiscope_kafka_consume_errors_total and logged once per failure streak.
//
// Delivery is at-least-once: after a rebalance or restart, records not yet committed
// are delivered again (to this member or to the partition's new owner).
func (c *Consumer) Fetch(ctx context.Context) (Message, error) {
	c.fetchMu.Lock()
	defer c.fetchMu.Unlock()
	if err := c.join(); err != nil {
		return Message{}, err
	}
	for {
		select {
		case <-c.closed:
			return Message{}, ErrClosed
		default:
		}
		if ev, ok := c.nextEvent(); ok {
			return ev, nil
		}
		if c.holding {
			r := c.held
			c.held, c.holding = record{}, false
			if r.g.ended.Load() {
				// Its generation ended before it was returned: its offset was not
				// committed, the partition's next owner reads it again.
				c.rm.discarded.Inc()
				continue
			}
			c.m.fetched.Inc()
			m := r.m
			return Message{
				Topic: m.Topic, Partition: m.Partition, Offset: m.Offset,
				Key: m.Key, Value: m.Value, Headers: m.Headers, Time: m.Time, gen: r.g.seq,
			}, nil
		}
		if err := c.permanent(); err != nil {
			return Message{}, err
		}
		select {
		case <-ctx.Done():
			return Message{}, fmt.Errorf("kafka: fetching from %s: %w", c.topic, ctx.Err())
		case <-c.closed:
			return Message{}, ErrClosed
		case <-c.wake:
		case r := <-c.recs:
			// Held, not returned: an event queued meanwhile (the Assigned of this
			// record's generation, or the Revoked ending it) goes first.
			c.held, c.holding = r, true
		}
	}
}

// Commit marks msgs (and everything before them in their partitions) as processed:
// per partition, the offset after the last message is committed through the current
// generation. Call it only once what they produced is durable. Committing the last
// record of each partition of a batch is enough; Rebalance events are ignored.
//
// A message of a partition this consumer no longer owns (revoked, or fetched in an
// earlier generation) is not committed: it is counted in
// apiscope_kafka_commit_skipped_total and logged at debug, and Commit does not fail,
// because the partition's owner reads it again. During a revocation, until
// Rebalance.Done, the revoked partitions are still owned.
func (c *Consumer) Commit(ctx context.Context, msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	c.mu.Lock()
	g := c.cur
	if g != nil {
		// The generation's connection stays open until every commit begun under it
		// has returned (see generation.commits).
		g.commits.Add(1)
		defer g.commits.Done()
	}
	c.mu.Unlock()

	offsets := map[int]int64{}
	var n, skipped int
	for _, m := range msgs {
		if m.Rebalance != nil {
			continue
		}
		if g == nil || m.Topic != c.topic || !g.owns(m.Partition) || m.gen != 0 && m.gen != g.seq {
			skipped++
			continue
		}
		if o, ok := offsets[m.Partition]; !ok || m.Offset+1 > o {
			offsets[m.Partition] = m.Offset + 1
		}
		n++
	}
	if skipped > 0 {
		c.notOwned(skipped, "partition not owned by this consumer")
	}
	if len(offsets) == 0 {
		return nil
	}
	err := c.commitOffsets(ctx, g, offsets)
	switch {
	case err == nil:
		c.m.committed.Add(uint64(n))
		return nil
	case lostGeneration(err):
		// The group moved on without this member (it missed the rebalance deadline):
		// the partitions are someone else's now.
		c.notOwned(n, err.Error())
		return nil
	default:
		c.m.errors.Inc()
		return fmt.Errorf("kafka: committing offsets of group %s: %w", c.cfg.Group, err)
	}
}

// Lag returns how many records of the consumed topic the group has not committed yet,
// summed over partitions (a partition with no commit counts from its first offset). It
// asks the brokers, so call it every few seconds, not per record.
func (c *Consumer) Lag(ctx context.Context) (int64, error) {
	return GroupLag(ctx, c.client, c.cfg.Group, c.cfg.Topics)
}

// Close leaves the group and releases connections. It commits nothing: what was not
// committed is read again by the partitions' next owners. Fetch then returns ErrClosed.
func (c *Consumer) Close() error {
	c.mu.Lock()
	if c.isClosed {
		c.mu.Unlock()
		return nil
	}
	c.isClosed = true
	g := c.group
	c.mu.Unlock()

	close(c.closed)
	c.cancel()
	if g != nil {
		// Waits for the running generation (which stops its readers on c.closed),
		// then sends LeaveGroup so the others take the partitions over at once.
		_ = g.Close()
	}
	c.wg.Wait()
	closeClient(c.client)
	return nil
}

// GroupLag computes a group's uncommitted record count over topics with an admin client.
func GroupLag(ctx context.Context, cl *kafka.Client, group string, topics []string) (int64, error) {
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return 0, fmt.Errorf("kafka: metadata for lag: %w", err)
	}
	parts := map[string][]int{}
	list := map[string][]kafka.OffsetRequest{}
	for _, t := range md.Topics {
		if t.Error != nil {
			return 0, fmt.Errorf("kafka: metadata for %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			parts[t.Name] = append(parts[t.Name], p.ID)
			list[t.Name] = append(list[t.Name], kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
		}
	}
	of, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: parts})
	if err != nil {
		return 0, fmt.Errorf("kafka: committed offsets of %s: %w", group, err)
	}
	if of.Error != nil {
		return 0, fmt.Errorf("kafka: committed offsets of %s: %w", group, of.Error)
	}
	lo, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: list})
	if err != nil {
		return 0, fmt.Errorf("kafka: end offsets: %w", err)
	}
	committed := map[string]map[int]int64{}
	for t, ps := range of.Topics {
		committed[t] = map[int]int64{}
		for _, p := range ps {
			committed[t][p.Partition] = p.CommittedOffset
		}
	}
	var lag int64
	for t, ps := range lo.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return 0, fmt.Errorf("kafka: end offset of %s/%d: %w", t, p.Partition, p.Error)
			}
			from := p.FirstOffset
			if c, ok := committed[t][p.Partition]; ok && c >= 0 {
				from = max(c, p.FirstOffset)
			}
			lag += max(p.LastOffset-from, 0)
		}
	}
	return lag, nil
}
