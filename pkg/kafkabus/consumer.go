package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	// Topics to consume. Empty means TopicCalls.
	Topics []string
	// StartLatest makes a group with no committed offset start at the end of each
	// partition. The default starts at the beginning, so a new analyzer misses nothing.
	StartLatest bool
	// MaxWait is how long a fetch waits for data. Zero means 500 ms; below 500 ms
	// kafka-go fetches time out against some brokers, so smaller values are raised.
	MaxWait time.Duration
	// MaxBytes bounds one fetch response. Zero means 10 MiB.
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
	// Metrics receives the consumer's series. Nil means metrics.Default.
	Metrics *metrics.Registry
}

// minMaxWait is the smallest fetch wait that works reliably with kafka-go (DESIGN.md).
const minMaxWait = 500 * time.Millisecond

// Message is one consumed record. Key and Value belong to the caller.
type Message struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []Header
	// Time is the record's timestamp as the broker stored it (producer time).
	Time time.Time
}

// Consumer reads records as a member of a consumer group and commits offsets only when
// told to. Fetch and Commit may be called from different goroutines; Fetch itself is
// meant for one goroutine.
type Consumer struct {
	cfg    ConsumerConfig
	log    *zap.Logger
	r      *kafka.Reader
	client *kafka.Client
	m      consMetrics
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
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.Default
	}
	d, err := cfg.dialer()
	if err != nil {
		return nil, err
	}
	cl, err := cfg.client()
	if err != nil {
		return nil, err
	}
	start := kafka.FirstOffset
	if cfg.StartLatest {
		start = kafka.LastOffset
	}
	l := log.With(zap.String("component", "kafka_consumer"), zap.String("group", cfg.Group))
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           cfg.Brokers,
		GroupID:           cfg.Group,
		GroupTopics:       cfg.Topics,
		Dialer:            d,
		MinBytes:          1,
		MaxBytes:          cfg.MaxBytes,
		MaxWait:           cfg.MaxWait,
		StartOffset:       start,
		SessionTimeout:    cfg.SessionTimeout,
		HeartbeatInterval: cfg.HeartbeatInterval,
		RebalanceTimeout:  cfg.RebalanceTimeout,
		// Zero: commits are synchronous and happen only in Commit, after the caller
		// made the records' effects durable.
		CommitInterval:        0,
		WatchPartitionChanges: true,
		ReadLagInterval:       -1,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			l.Warn("kafka reader", zap.String("detail", fmt.Sprintf(msg, args...)))
		}),
	})
	return &Consumer{cfg: cfg, log: l, r: r, client: cl, m: newConsMetrics(cfg.Metrics, cfg.Group)}, nil
}

// Fetch returns the next record of the partitions assigned to this member, waiting until
// one arrives or ctx ends. It returns ErrClosed after Close. At-least-once: after a
// rebalance or restart, records not yet committed are delivered again.
func (c *Consumer) Fetch(ctx context.Context) (Message, error) {
	m, err := c.r.FetchMessage(ctx)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return Message{}, ErrClosed
		}
		if ctx.Err() == nil {
			c.m.errors.Inc()
		}
		return Message{}, fmt.Errorf("kafka: fetching from %v: %w", c.cfg.Topics, err)
	}
	c.m.fetched.Inc()
	return Message{
		Topic: m.Topic, Partition: m.Partition, Offset: m.Offset,
		Key: m.Key, Value: m.Value, Headers: m.Headers, Time: m.Time,
	}, nil
}

// Commit marks msgs (and everything before them in their partitions) as processed.
// Call it only once what they produced is durable. Committing the last record of each
// partition of a batch is enough.
func (c *Consumer) Commit(ctx context.Context, msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	km := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		km[i] = kafka.Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}
	}
	if err := c.r.CommitMessages(ctx, km...); err != nil {
		c.m.errors.Inc()
		return fmt.Errorf("kafka: committing offsets of group %s: %w", c.cfg.Group, err)
	}
	c.m.committed.Add(uint64(len(msgs)))
	return nil
}

// Lag returns how many records of the consumed topics the group has not committed yet,
// summed over partitions (a partition with no commit counts from its first offset). It
// asks the brokers, so call it every few seconds, not per record.
func (c *Consumer) Lag(ctx context.Context) (int64, error) {
	return GroupLag(ctx, c.client, c.cfg.Group, c.cfg.Topics)
}

// Close leaves the group and releases connections. Fetch then returns ErrClosed.
func (c *Consumer) Close() error {
	defer closeClient(c.client)
	if err := c.r.Close(); err != nil {
		return fmt.Errorf("kafka: closing consumer: %w", err)
	}
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
