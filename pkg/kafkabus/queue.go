package kafkabus

import (
	"errors"
	"sync"

	"github.com/segmentio/kafka-go"
)

// ErrClosed is returned by Publish after Close or Shutdown, and by Fetch after Close.
var ErrClosed = errors.New("kafka: closed")

// entry is one queued record. The publisher owns key and value: they were copied or
// freshly encoded when queued.
type entry struct {
	key, value []byte
	headers    []kafka.Header
}

// recordOverhead bounds what kafka-go adds to a record's key and value when it sizes a
// batch (length prefixes, attributes, timestamp), and headerOverhead what it adds per
// header. Batches are cut with these so kafka-go never splits one.
const (
	recordOverhead = 32
	headerOverhead = 8
)

// batchSize is the record's size as kafka-go counts it against BatchBytes, rounded up.
func (e *entry) batchSize() int64 {
	return e.size() + recordOverhead + headerOverhead*int64(len(e.headers))
}

func (e *entry) size() int64 {
	n := int64(len(e.key) + len(e.value))
	for _, h := range e.headers {
		n += int64(len(h.Key) + len(h.Value))
	}
	return n
}

// queue is a bounded FIFO of entries, bounded both by count and by bytes. Safe for
// concurrent use: many producers, one consumer (the publisher's send loop).
type queue struct {
	mu       sync.Mutex
	notEmpty sync.Cond // signalled when an entry is added or the queue closes
	notFull  sync.Cond // broadcast when entries are removed or the queue closes

	buf      []entry // ring buffer; grows by doubling up to maxMsgs
	head, n  int
	bytes    int64
	inflight int // entries taken by pop and not yet reported done

	maxMsgs  int
	maxBytes int64
	closed   bool
}

func newQueue(maxMsgs int, maxBytes int64) *queue {
	q := &queue{maxMsgs: maxMsgs, maxBytes: maxBytes}
	q.notEmpty.L = &q.mu
	q.notFull.L = &q.mu
	q.buf = make([]entry, min(maxMsgs, 1024))
	return q
}

func (q *queue) fullFor(sz int64) bool {
	return q.n > 0 && (q.n >= q.maxMsgs || q.bytes+sz > q.maxBytes)
}

// push appends e. When the queue is full it either waits for room (block) or drops
// the oldest entries until e fits; it returns how many entries and bytes it dropped.
// After close it refuses with ErrClosed.
func (q *queue) push(e entry, block bool) (dropped int, droppedBytes int64, err error) {
	sz := e.size()
	q.mu.Lock()
	defer q.mu.Unlock()
	if block {
		for !q.closed && q.fullFor(sz) {
			q.notFull.Wait()
		}
	}
	if q.closed {
		return 0, 0, ErrClosed
	}
	for q.fullFor(sz) {
		old := q.popFrontLocked()
		dropped++
		droppedBytes += old.size()
	}
	if q.n == len(q.buf) {
		q.grow()
	}
	q.buf[(q.head+q.n)%len(q.buf)] = e
	q.n++
	q.bytes += sz
	q.notEmpty.Signal()
	return dropped, droppedBytes, nil
}

func (q *queue) grow() {
	nb := make([]entry, min(max(2*len(q.buf), 1), q.maxMsgs))
	for i := 0; i < q.n; i++ {
		nb[i] = q.buf[(q.head+i)%len(q.buf)]
	}
	q.buf = nb
	q.head = 0
}

func (q *queue) popFrontLocked() entry {
	e := q.buf[q.head]
	q.buf[q.head] = entry{} // release the bytes to the GC
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	q.bytes -= e.size()
	return e
}

// pop waits for at least one entry and moves up to maxMsgs entries and maxBytes bytes
// (as batchSize counts them; always at least one) into dst[:0]. It returns an empty slice once the queue is closed
// and empty. The caller reports the batch finished with done.
func (q *queue) pop(dst []entry, maxMsgs int, maxBytes int64) []entry {
	dst = dst[:0]
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.n == 0 && !q.closed {
		q.notEmpty.Wait()
	}
	var bytes int64
	for q.n > 0 && len(dst) < maxMsgs {
		sz := q.buf[q.head].batchSize()
		if len(dst) > 0 && bytes+sz > maxBytes {
			break
		}
		dst = append(dst, q.popFrontLocked())
		bytes += sz
	}
	q.inflight = len(dst)
	if len(dst) > 0 {
		q.notFull.Broadcast()
	}
	return dst
}

// popMore appends to batch, without waiting, queued entries up to the same limits as pop.
func (q *queue) popMore(batch []entry, maxMsgs int, maxBytes int64) []entry {
	q.mu.Lock()
	defer q.mu.Unlock()
	var bytes int64
	for i := range batch {
		bytes += batch[i].batchSize()
	}
	n := len(batch)
	for q.n > 0 && len(batch) < maxMsgs {
		sz := q.buf[q.head].batchSize()
		if bytes+sz > maxBytes {
			break
		}
		batch = append(batch, q.popFrontLocked())
		bytes += sz
	}
	q.inflight = len(batch)
	if len(batch) > n {
		q.notFull.Broadcast()
	}
	return batch
}

// done marks the batch returned by the last pop as finished (written or dropped).
func (q *queue) done() {
	q.mu.Lock()
	q.inflight = 0
	q.mu.Unlock()
}

// drain removes and returns every queued entry (used when shutdown abandons them).
func (q *queue) drain() []entry {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]entry, 0, q.n)
	for q.n > 0 {
		out = append(out, q.popFrontLocked())
	}
	q.notFull.Broadcast()
	return out
}

// close refuses further pushes and wakes every waiter.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.notEmpty.Broadcast()
	q.notFull.Broadcast()
	q.mu.Unlock()
}

// depth returns queued entries and bytes, and whether nothing is queued or in flight.
func (q *queue) depth() (n int, bytes int64, idle bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n, q.bytes, q.n == 0 && q.inflight == 0
}
