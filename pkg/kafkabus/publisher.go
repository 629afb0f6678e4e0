package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/metrics"
)

// PublisherConfig configures a Publisher. Zero values mean the bounded defaults noted on
// each field.
type PublisherConfig struct {
	Config
	// Topic receives the records. Empty means TopicCalls.
	Topic string
	// Acks is all (-1), 1 or 0, as --acks takes it. Empty means all.
	Acks string
	// Compression is none, gzip, snappy, lz4 or zstd. Empty means DefaultCompression.
	Compression string

	// QueueMessages bounds the records waiting for Kafka. Zero means 100 000.
	QueueMessages int
	// QueueBytes bounds their key+value bytes. Zero means 64 MiB. It is raised to
	// BatchBytes if smaller, so that one largest record always fits.
	QueueBytes int64
	// Blocking makes Publish wait for room instead of dropping the oldest record
	// (reading a capture file: backpressure, no loss). Live capture leaves it false.
	Blocking bool

	// BatchMessages bounds the records sent in one request. Zero means 4096.
	BatchMessages int
	// BatchBytes bounds the bytes of one request, and so the largest record. Zero means
	// 1 MiB, under Kafka's default message.max.bytes.
	BatchBytes int64
	// BatchTimeout is how long a small batch (under an eighth of BatchMessages) waits
	// for more records before it is sent. Zero means 5 ms.
	BatchTimeout time.Duration
	// WriteTimeout bounds one write attempt. Zero means 10 s.
	WriteTimeout time.Duration
	// RetryBackoffMin and RetryBackoffMax bound the wait between attempts of a failing
	// batch; it doubles from min to max. Zero means 100 ms and 5 s.
	RetryBackoffMin time.Duration
	RetryBackoffMax time.Duration
	// CloseTimeout bounds how long Close (without a context) flushes. Zero means 10 s.
	CloseTimeout time.Duration

	// Metrics receives the publisher's series. Nil means metrics.Default.
	Metrics *metrics.Registry
	// Dial replaces the TCP dial (tests count bytes on the wire with it). Nil means
	// net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

func (c *PublisherConfig) withDefaults() PublisherConfig {
	d := *c
	if d.Topic == "" {
		d.Topic = TopicCalls
	}
	if d.QueueMessages <= 0 {
		d.QueueMessages = 100_000
	}
	if d.QueueBytes <= 0 {
		d.QueueBytes = 64 << 20
	}
	if d.BatchMessages <= 0 {
		d.BatchMessages = 4096
	}
	if d.BatchBytes <= 0 {
		d.BatchBytes = 1 << 20
	}
	if d.QueueBytes < d.BatchBytes {
		d.QueueBytes = d.BatchBytes
	}
	if d.BatchTimeout <= 0 {
		d.BatchTimeout = 5 * time.Millisecond
	}
	if d.WriteTimeout <= 0 {
		d.WriteTimeout = 10 * time.Second
	}
	if d.RetryBackoffMin <= 0 {
		d.RetryBackoffMin = 100 * time.Millisecond
	}
	if d.RetryBackoffMax <= 0 {
		d.RetryBackoffMax = 5 * time.Second
	}
	if d.RetryBackoffMax < d.RetryBackoffMin {
		d.RetryBackoffMax = d.RetryBackoffMin
	}
	if d.CloseTimeout <= 0 {
		d.CloseTimeout = 10 * time.Second
	}
	if d.Metrics == nil {
		d.Metrics = metrics.Default
	}
	return d
}

// Header is a record header (the dead-letter topic records why a record was set aside).
type Header = kafka.Header

// Publisher writes records to one topic through a bounded queue and a single sending
// goroutine, which keeps the records of one key in the order they were published.
//
// Publish, PublishCall and Write are safe for concurrent use. Shutdown or Close must be
// called once to stop the sending goroutine.
type Publisher struct {
	cfg PublisherConfig
	log *zap.Logger
	w   *kafka.Writer
	tr  *kafka.Transport
	q   *queue
	m   pubMetrics

	// hard is cancelled when Shutdown's deadline passes: the send loop then abandons
	// what it holds and counts it as dropped.
	hard       context.Context
	hardCancel context.CancelFunc
	done       chan struct{} // closed when the send loop returns

	closeOnce   sync.Once
	closeErr    error
	lastDropLog atomic.Int64 // wall time (ns) of the last queue-full warning
}

// NewPublisher validates cfg and starts the sending goroutine. It does not contact
// Kafka: a broker that is down at start is retried like one that goes down later.
func NewPublisher(cfg PublisherConfig, log *zap.Logger) (*Publisher, error) {
	c := cfg.withDefaults()
	if log == nil {
		log = zap.NewNop()
	}
	acks, err := ParseAcks(c.Acks)
	if err != nil {
		return nil, err
	}
	codec, err := ParseCompression(c.Compression)
	if err != nil {
		return nil, err
	}
	tr, err := c.transport(c.Dial)
	if err != nil {
		return nil, err
	}
	w := &kafka.Writer{
		Addr:  kafka.TCP(c.Brokers...),
		Topic: c.Topic,
		// Murmur2 is the Java client's default partitioner: a client id maps to the same
		// partition whichever client library produced it.
		Balancer:   &kafka.Murmur2Balancer{},
		BatchSize:  c.BatchMessages,
		BatchBytes: c.BatchBytes,
		// The send loop does the waiting (BatchTimeout) and hands kafka-go whole
		// batches: kafka-go must send each at once rather than linger again.
		BatchTimeout: time.Microsecond,
		WriteTimeout: c.WriteTimeout,
		ReadTimeout:  c.WriteTimeout,
		RequiredAcks: acks,
		Compression:  codec,
		Transport:    tr,
		// Retries happen here, in send, so that they are counted, backed off and never
		// reorder a key: kafka-go gets one attempt per call.
		MaxAttempts: 1,
	}
	p := &Publisher{
		cfg:  c,
		log:  log.With(zap.String("component", "kafka_publisher"), zap.String("topic", c.Topic)),
		w:    w,
		tr:   tr,
		q:    newQueue(c.QueueMessages, c.QueueBytes),
		m:    newPubMetrics(c.Metrics, c.Topic),
		done: make(chan struct{}),
	}
	p.hard, p.hardCancel = context.WithCancel(context.Background())
	go p.sendLoop()
	return p, nil
}

// Publish queues one record. It copies key, value and headers, so the caller may reuse
// them on return. In live mode it never waits for Kafka: when the queue is full the
// oldest record is dropped and counted. In blocking mode it waits for room, for as long
// as Kafka is down; Shutdown or Close from another goroutine ends the wait with
// ErrClosed. It fails only when the publisher is closed or the record is larger than
// BatchBytes.
func (p *Publisher) Publish(key, value []byte, headers ...Header) error {
	e := entry{key: clone(key), value: clone(value)}
	if len(headers) > 0 {
		e.headers = make([]kafka.Header, len(headers))
		for i, h := range headers {
			e.headers[i] = kafka.Header{Key: h.Key, Value: clone(h.Value)}
		}
	}
	return p.enqueue(e)
}

// PublishCall queues c as APICall JSON keyed by its client_id. It does not retain c.
func (p *Publisher) PublishCall(c *models.APICall) error {
	bp := encBufs.Get().(*[]byte)
	b, err := models.AppendAPICall((*bp)[:0], c)
	if err != nil {
		encBufs.Put(bp)
		p.m.dropped[ReasonEncode].Inc()
		return fmt.Errorf("kafka: encoding call: %w", err)
	}
	// One allocation holds key and value; the queue owns it from here.
	kv := make([]byte, 0, len(c.ClientID)+len(b))
	kv = append(append(kv, c.ClientID...), b...)
	*bp = b
	encBufs.Put(bp)
	return p.enqueue(entry{key: kv[:len(c.ClientID):len(c.ClientID)], value: kv[len(c.ClientID):]})
}

// encBufs holds scratch buffers for encoding calls.
var encBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// PublishFinding queues f as Finding JSON keyed by its client_id. It does not retain f.
func (p *Publisher) PublishFinding(f *models.Finding) error {
	v, err := models.MarshalFinding(f)
	if err != nil {
		p.m.dropped[ReasonEncode].Inc()
		return fmt.Errorf("kafka: encoding finding: %w", err)
	}
	return p.enqueue(entry{key: []byte(f.ClientID), value: v})
}

// Write is the sensor's sink seam: PublishCall.
func (p *Publisher) Write(c *models.APICall) error { return p.PublishCall(c) }

// ErrTooLarge is returned by Publish for a record larger than BatchBytes.
var ErrTooLarge = errors.New("kafka: record larger than the batch limit")

func (p *Publisher) enqueue(e entry) error {
	if e.batchSize() > p.cfg.BatchBytes {
		p.m.dropped[ReasonTooLarge].Inc()
		return ErrTooLarge
	}
	dropped, droppedBytes, err := p.q.push(e, p.cfg.Blocking)
	if err != nil {
		p.m.dropped[ReasonClosed].Inc()
		return err
	}
	if dropped > 0 {
		p.m.dropped[ReasonQueueFull].Add(uint64(dropped))
		// Once a second at most: while Kafka is down every call drops one record.
		now := time.Now().UnixNano()
		if last := p.lastDropLog.Load(); now-last >= int64(time.Second) && p.lastDropLog.CompareAndSwap(last, now) {
			p.log.Warn("kafka publish queue full, dropping oldest records",
				zap.Uint64("dropped_total", p.m.dropped[ReasonQueueFull].Load()), zap.Int64("last_dropped_bytes", droppedBytes))
		}
	}
	p.updateDepth()
	return nil
}

func (p *Publisher) updateDepth() {
	n, b, _ := p.q.depth()
	p.m.depth.Set(float64(n))
	p.m.depthB.Set(float64(b))
}

// sendLoop is the only goroutine that writes to Kafka. It takes one batch at a time and
// does not take the next until this one is written or dropped, which keeps per-key order
// across retries. It returns when the queue is closed and empty, or on a hard stop.
func (p *Publisher) sendLoop() {
	defer close(p.done)
	var (
		batch []entry
		msgs  []kafka.Message
	)
	for {
		batch = p.q.pop(batch, p.cfg.BatchMessages, p.cfg.BatchBytes)
		if len(batch) == 0 {
			return
		}
		if len(batch) < p.cfg.BatchMessages/8 && p.hard.Err() == nil {
			// A small batch: records are trickling in. Wait BatchTimeout for more so a
			// quiet sensor sends at most one request per BatchTimeout, not one per call.
			// Under load batches are large and this never waits.
			time.Sleep(p.cfg.BatchTimeout)
			batch = p.q.popMore(batch, p.cfg.BatchMessages, p.cfg.BatchBytes)
		}
		p.updateDepth()
		msgs = msgs[:0]
		for i := range batch {
			msgs = append(msgs, kafka.Message{Key: batch[i].key, Value: batch[i].value, Headers: batch[i].headers})
		}
		p.send(msgs)
		clear(batch) // release the records' bytes
		clear(msgs)
		p.q.done()
		p.updateDepth()
		if p.hard.Err() != nil {
			rest := p.q.drain()
			p.m.dropped[ReasonShutdown].Add(uint64(len(rest)))
			p.updateDepth()
			if len(rest) > 0 {
				p.log.Warn("kafka publisher stopped before writing every record", zap.Int("dropped", len(rest)))
			}
			return
		}
	}
}

// send writes msgs, retrying what failed for a retriable reason with exponential
// backoff until it is written or the publisher is stopped hard.
func (p *Publisher) send(msgs []kafka.Message) {
	backoff := p.cfg.RetryBackoffMin
	var failingSince time.Time
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(p.hard, p.cfg.WriteTimeout)
		err := p.w.WriteMessages(ctx, msgs...)
		cancel()
		if err == nil {
			p.count(msgs)
			if attempt > 0 {
				p.log.Info("kafka publish recovered",
					zap.Int("attempts", attempt+1), zap.Duration("failing_for", time.Since(failingSince)))
			}
			return
		}
		p.m.errors.Inc()
		msgs = p.keepRetriable(msgs, err)
		if len(msgs) == 0 {
			return
		}
		if attempt == 0 {
			failingSince = time.Now()
			p.log.Warn("kafka publish failed, retrying with backoff", zap.Error(err), zap.Int("records", len(msgs)))
		}
		select {
		case <-p.hard.Done():
			p.m.dropped[ReasonShutdown].Add(uint64(len(msgs)))
			return
		case <-time.After(backoff):
		}
		p.m.retries.Inc()
		backoff = min(2*backoff, p.cfg.RetryBackoffMax)
	}
}

// keepRetriable counts what err says was written or refused for good and returns the
// records worth another attempt (compacted in place, order kept).
func (p *Publisher) keepRetriable(msgs []kafka.Message, err error) []kafka.Message {
	var werrs kafka.WriteErrors
	if !errors.As(err, &werrs) || len(werrs) != len(msgs) {
		if retriable(err) {
			return msgs
		}
		p.reject(msgs, err)
		return msgs[:0]
	}
	out := msgs[:0]
	var ok, bad []kafka.Message
	var firstBad error
	for i := range msgs {
		switch e := werrs[i]; {
		case e == nil:
			ok = append(ok, msgs[i])
		case retriable(e):
			out = append(out, msgs[i])
		default:
			bad = append(bad, msgs[i])
			if firstBad == nil {
				firstBad = e
			}
		}
	}
	p.count(ok)
	if len(bad) > 0 {
		p.reject(bad, firstBad)
	}
	return out
}

func (p *Publisher) reject(msgs []kafka.Message, err error) {
	p.m.dropped[ReasonRejected].Add(uint64(len(msgs)))
	p.log.Error("kafka refused records for good, dropping them", zap.Error(err), zap.Int("records", len(msgs)))
}

func (p *Publisher) count(msgs []kafka.Message) {
	var b uint64
	for i := range msgs {
		b += uint64(len(msgs[i].Key) + len(msgs[i].Value))
	}
	p.m.published.Add(uint64(len(msgs)))
	p.m.bytes.Add(b)
}

// retriable tells whether another attempt may succeed: broker errors Kafka marks
// temporary, network failures and timeouts. Anything else (too large, not authorised,
// invalid record) fails again the same way.
func retriable(err error) bool {
	var ke kafka.Error
	if errors.As(err, &ke) {
		return ke.Temporary()
	}
	var tl kafka.MessageTooLargeError
	if errors.As(err, &tl) {
		return false
	}
	if errors.Is(err, io.ErrClosedPipe) {
		return false
	}
	return true
}

// Flush waits until every record queued before the call has been written or dropped,
// or ctx ends.
func (p *Publisher) Flush(ctx context.Context) error {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		if _, _, idle := p.q.depth(); idle {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.done:
			return nil
		case <-t.C:
		}
	}
}

// Shutdown stops intake (Publish fails with ErrClosed), writes what is queued until ctx
// ends, then abandons the rest, counting it as dropped with reason "shutdown". It
// returns ctx's error when records were abandoned. Later calls return the first result.
func (p *Publisher) Shutdown(ctx context.Context) error {
	p.closeOnce.Do(func() {
		p.q.close()
		select {
		case <-p.done:
		case <-ctx.Done():
			p.hardCancel()
			<-p.done
			p.closeErr = fmt.Errorf("kafka: shutdown before every record was written: %w", ctx.Err())
		}
		p.hardCancel()
		if err := p.w.Close(); err != nil && p.closeErr == nil {
			p.closeErr = fmt.Errorf("kafka: closing writer: %w", err)
		}
		// The writer does not own the transport: release its connections here.
		p.tr.CloseIdleConnections()
		p.updateDepth()
	})
	return p.closeErr
}

// Done is closed once the publisher has stopped (after Shutdown or Close).
func (p *Publisher) Done() <-chan struct{} { return p.done }

// Close is Shutdown bounded by CloseTimeout (the sensor's sink seam).
func (p *Publisher) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.CloseTimeout)
	defer cancel()
	return p.Shutdown(ctx)
}

// PublisherStats is a snapshot of one publisher's counters.
type PublisherStats struct {
	Published   uint64
	Bytes       uint64
	Errors      uint64
	Retries     uint64
	Dropped     map[string]uint64 // by reason; every reason present
	Queued      int
	QueuedBytes int64
}

// DroppedTotal sums Dropped over reasons.
func (s PublisherStats) DroppedTotal() uint64 {
	var n uint64
	for _, v := range s.Dropped {
		n += v
	}
	return n
}

// Stats returns the publisher's counters. With a shared registry (the default) they
// include every publisher on the same topic.
func (p *Publisher) Stats() PublisherStats {
	n, b, _ := p.q.depth()
	s := PublisherStats{
		Published:   p.m.published.Load(),
		Bytes:       p.m.bytes.Load(),
		Errors:      p.m.errors.Load(),
		Retries:     p.m.retries.Load(),
		Dropped:     make(map[string]uint64, len(p.m.dropped)),
		Queued:      n,
		QueuedBytes: b,
	}
	for r, c := range p.m.dropped {
		s.Dropped[r] = c.Load()
	}
	return s
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}
