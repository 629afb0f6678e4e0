package sensor

import "github.com/apiscope/apiscope/models"

// Sink receives the calls, in output order, from one goroutine. Write must not retain c
// after it returns. Close flushes and releases the sink; Run calls it exactly once, last.
type Sink interface {
	Write(c *models.APICall) error
	Close() error
}

// merger writes the workers' calls to the sink in output order: a call leaves only when
// every worker's horizon has passed its event, so no worker can still produce a call
// that sorts before it. Owned by the merge goroutine.
type merger struct {
	queues  [][]output // per worker, outputs not yet fully written
	heads   []int
	horizon []uint64
	sink    Sink
	calls   uint64
	noResp  uint64
	err     error
}

func newMerger(workers int, sink Sink) *merger {
	return &merger{
		queues:  make([][]output, workers),
		heads:   make([]int, workers),
		horizon: make([]uint64, workers),
		sink:    sink,
	}
}

// add takes one worker output and writes every call that has become final.
func (m *merger) add(o output) {
	if len(o.entries) > 0 {
		m.queues[o.worker] = append(m.queues[o.worker], o)
	}
	m.horizon[o.worker] = o.horizon
	m.release()
}

func (m *merger) release() {
	limit := m.horizon[0]
	for _, h := range m.horizon[1:] {
		limit = min(limit, h)
	}
	for {
		best := -1
		var be *entry
		for i, q := range m.queues {
			if len(q) == 0 {
				continue
			}
			e := &q[0].entries[m.heads[i]]
			if e.event > limit {
				continue
			}
			if best < 0 || e.compare(be) < 0 {
				best, be = i, e
			}
		}
		if best < 0 {
			return
		}
		m.write(&be.call)
		m.heads[best]++
		if q := m.queues[best]; m.heads[best] == len(q[0].entries) {
			// Every call of this output is written: hand its slice back, cleared so it
			// pins no strings, and move on to the worker's next output.
			done := q[0]
			clear(done.entries)
			select {
			case done.free <- done.entries[:0]:
			default:
			}
			q[0] = output{}
			m.queues[best], m.heads[best] = q[1:], 0
		}
	}
}

func (m *merger) write(c *models.APICall) {
	if m.err != nil {
		return
	}
	if err := m.sink.Write(c); err != nil {
		mSinkErrors.Inc()
		m.err = err
		return
	}
	m.calls++
	mCalls.Inc()
	if c.Status == 0 {
		m.noResp++
		mCallsNoResp.Inc()
	}
}
