package flow

import (
	"runtime"
	"time"

	"github.com/apiscope/apiscope/sensor/decode"
)

// Config sizes a Sharder. The zero value gives runtime.NumCPU() workers and bounded queues.
type Config struct {
	// Workers is the number of shards. Zero means runtime.NumCPU().
	Workers int
	// QueueLen is the number of batches a worker's queue holds. Zero means 64.
	QueueLen int
	// BatchSize is the number of items a batch holds before it is sent. Zero means
	// DefaultBatchSize:
	// fewer, larger hand-offs cost the stages less waking each other.
	BatchSize int
	// BatchBytes is the payload bytes a batch holds before it is sent. Zero means 256 KiB.
	BatchBytes int
	// Block makes Add wait for room in a full queue (file input) instead of dropping the
	// batch (live capture).
	Block bool
}

func (c *Config) workers() int {
	if c.Workers > 0 {
		return c.Workers
	}
	return runtime.NumCPU()
}

func orDefault(v, d int) int {
	if v > 0 {
		return v
	}
	return d
}

// DefaultBatchSize is the number of items a batch holds when Config.BatchSize is zero.
const DefaultBatchSize = 1024

// Sharder hands segments to per-worker queues. Its methods other than Queue and Release
// must be called from one goroutine (the dispatcher); Release is safe from any goroutine.
type Sharder struct {
	block      bool
	batchSize  int
	batchBytes int
	lag        uint64
	queues     []chan *Batch
	pending    []*Batch
	sent       []uint64 // horizon of the last batch sent to each worker
	free       chan *Batch
	event      uint64
	closed     bool
}

// New returns a Sharder with cfg.Workers queues.
func New(cfg Config) *Sharder {
	n := cfg.workers()
	qlen := orDefault(cfg.QueueLen, 64)
	s := &Sharder{
		block:      cfg.Block,
		batchSize:  orDefault(cfg.BatchSize, DefaultBatchSize),
		batchBytes: orDefault(cfg.BatchBytes, 256<<10),
		queues:     make([]chan *Batch, n),
		pending:    make([]*Batch, n),
		sent:       make([]uint64, n),
		// Every batch in flight is in a queue, pending, or being processed: this many
		// free slots mean Release never blocks.
		free: make(chan *Batch, n*(qlen+2)),
	}
	// An idle worker's horizon may trail by this many events before it is sent an
	// empty batch; small enough to keep the merge moving, large enough to stay cheap.
	s.lag = uint64(s.batchSize * n)
	for i := range s.queues {
		s.queues[i] = make(chan *Batch, qlen)
		s.pending[i] = s.newBatch()
	}
	return s
}

// Workers returns the number of shards.
func (s *Sharder) Workers() int { return len(s.queues) }

// Queue returns worker i's input. It is closed by Close.
func (s *Sharder) Queue(i int) <-chan *Batch { return s.queues[i] }

// Event returns the number of the last event added.
func (s *Sharder) Event() uint64 { return s.event }

// Release returns a processed batch for reuse.
func (s *Sharder) Release(b *Batch) {
	b.reset()
	select {
	case s.free <- b:
	default:
	}
}

func (s *Sharder) newBatch() *Batch {
	select {
	case b := <-s.free:
		return b
	default:
		return &Batch{Items: make([]Item, 0, s.batchSize), buf: make([]byte, 0, s.batchBytes)}
	}
}

// Add copies seg into its worker's batch and returns its event number. With Block set it
// may wait for the worker; otherwise a full queue drops a whole batch (counted).
func (s *Sharder) Add(seg *decode.Segment) uint64 {
	s.event++
	i := 0
	if len(s.queues) > 1 { // one worker takes everything: no hash needed
		i = Shard(Hash(seg.Src, seg.SrcPort, seg.Dst, seg.DstPort), len(s.queues))
	}
	b := s.pending[i]
	if len(b.Items) > 0 && len(b.buf)+len(seg.Payload) > s.batchBytes {
		s.send(i)
		b = s.pending[i]
	}
	b.add(seg, s.event)
	if len(b.Items) >= s.batchSize {
		s.send(i)
	}
	return s.event
}

// Tick sends a capture-time mark to every worker under one new event number.
func (s *Sharder) Tick(ts time.Time) uint64 {
	s.event++
	for i, b := range s.pending {
		b.addTick(ts, s.event)
		if len(b.Items) >= s.batchSize {
			s.send(i)
		}
	}
	return s.event
}

// Flush sends every worker its pending batch, empty or not, so every worker's horizon
// reaches the last event. Live capture calls it when packets stop arriving.
func (s *Sharder) Flush() {
	for i, b := range s.pending {
		if len(b.Items) > 0 || s.sent[i] < s.event {
			s.send(i)
		}
	}
}

// Close flushes and closes every queue. The Sharder must not be used afterwards.
func (s *Sharder) Close() {
	if s.closed {
		return
	}
	s.Flush()
	s.closed = true
	for _, q := range s.queues {
		close(q)
	}
}

func (s *Sharder) send(i int) {
	s.sendOne(i)
	// Keep idle workers' horizons close to the last event so the ordered merge of
	// their output is never held back by a worker that has nothing to do.
	for j := range s.pending {
		if j != i && s.event-s.sent[j] > s.lag {
			s.sendOne(j)
		}
	}
}

func (s *Sharder) sendOne(i int) {
	b := s.pending[i]
	b.Horizon = s.event
	s.sent[i] = s.event
	s.pending[i] = s.newBatch()
	mBatches.Inc()
	if s.block {
		s.queues[i] <- b
		return
	}
	select {
	case s.queues[i] <- b:
	default:
		var n uint64
		for k := range b.Items {
			if b.Items[k].Kind == KindSegment {
				n++
			}
		}
		mDroppedQueueFull.Add(n)
		s.Release(b)
	}
}
