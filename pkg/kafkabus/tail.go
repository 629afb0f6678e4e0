package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// ReadOptions says where ReadTopic starts and whether it stops.
type ReadOptions struct {
	// FromBeginning starts at each partition's first record.
	FromBeginning bool
	// Tail, without FromBeginning, starts this many records before the end of each
	// partition; zero starts at the end (only new records).
	Tail int
	// Follow keeps reading new records until ctx ends. Without it ReadTopic returns once
	// it has read up to the end each partition had when it started.
	Follow bool
}

// ReadTopic reads every partition of topic without joining a consumer group (nothing is
// committed, no other reader is affected) and calls fn with each record, from one
// goroutine. Order is kept within a partition, not across partitions. It returns fn's
// first error, ctx's error when following, or nil at the end.
func ReadTopic(ctx context.Context, cfg Config, topic string, opts ReadOptions, fn func(Message) error) error {
	cl, err := cfg.client()
	if err != nil {
		return err
	}
	defer closeClient(cl)
	d, err := cfg.dialer()
	if err != nil {
		return err
	}
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return fmt.Errorf("kafka: metadata for %s: %w", topic, err)
	}
	var parts []int
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return fmt.Errorf("kafka: topic %s: %w", topic, t.Error)
		}
		for _, p := range t.Partitions {
			parts = append(parts, p.ID)
		}
	}
	if len(parts) == 0 {
		return fmt.Errorf("kafka: topic %s has no partitions", topic)
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, p := range parts {
		req.Topics[topic] = append(req.Topics[topic], kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	lo, err := cl.ListOffsets(ctx, req)
	if err != nil {
		return fmt.Errorf("kafka: offsets of %s: %w", topic, err)
	}
	type span struct{ start, end int64 }
	spans := map[int]span{}
	for _, po := range lo.Topics[topic] {
		if po.Error != nil {
			return fmt.Errorf("kafka: offsets of %s/%d: %w", topic, po.Partition, po.Error)
		}
		s := span{start: po.LastOffset, end: po.LastOffset}
		switch {
		case opts.FromBeginning:
			s.start = po.FirstOffset
		case opts.Tail > 0:
			s.start = max(po.FirstOffset, po.LastOffset-int64(opts.Tail))
		}
		spans[po.Partition] = s
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs := make(chan Message, 256)
	errc := make(chan error, len(parts))
	var wg sync.WaitGroup
	for _, p := range parts {
		s := spans[p]
		if !opts.Follow && s.start >= s.end {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- readPartition(ctx, cfg, d, topic, p, s.start, s.end, opts.Follow, msgs)
		}()
	}
	go func() {
		wg.Wait()
		close(msgs)
	}()
	for m := range msgs {
		if err := fn(m); err != nil {
			cancel()
			for range msgs { // let the readers exit
			}
			return err
		}
	}
	close(errc)
	for e := range errc {
		if e != nil && !errors.Is(e, context.Canceled) {
			return e
		}
	}
	return ctx.Err()
}

// readPartition sends records of one partition from start (to end, unless follow).
func readPartition(ctx context.Context, cfg Config, d *kafka.Dialer, topic string, part int, start, end int64, follow bool, out chan<- Message) error {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: cfg.Brokers, Topic: topic, Partition: part, Dialer: d,
		MinBytes: 1, MaxBytes: 10 << 20, MaxWait: minMaxWait, ReadLagInterval: -1,
		ReadBackoffMin: 100 * time.Millisecond, ReadBackoffMax: time.Second,
	})
	defer r.Close()
	if err := r.SetOffset(start); err != nil {
		return fmt.Errorf("kafka: seeking %s/%d: %w", topic, part, err)
	}
	for follow || r.Offset() < end {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("kafka: reading %s/%d: %w", topic, part, err)
		}
		select {
		case out <- Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Headers: m.Headers, Time: m.Time}:
		case <-ctx.Done():
			return ctx.Err()
		}
		if !follow && m.Offset+1 >= end {
			return nil
		}
	}
	return nil
}
