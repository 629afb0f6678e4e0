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
	queues  [][]entry
	heads   []int
	horizon []uint64
	sink    Sink
	calls   uint64
	noResp  uint64
	err     error
}

func newMerger(workers int, sink Sink) *merger {
	return &merger{
		queues:  make([][]entry, workers),
		heads:   make([]int, workers),
		horizon: make([]uint64, workers),
		sink:    sink,
	}
}

// add takes one worker output and writes every call that has become final.
func (m *merger) add(o output) {
	q := m.queues[o.worker][m.heads[o.worker]:]
	if len(q) == 0 {
		q = o.entries
	} else {
		q = append(q, o.entries...)
	}
	m.queues[o.worker], m.heads[o.worker] = q, 0
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
			if m.heads[i] >= len(q) {
				continue
			}
			e := &q[m.heads[i]]
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
		be.call = models.APICall{} // drop the strings now; the slice lives on
		m.heads[best]++
		if m.heads[best] == len(m.queues[best]) {
			m.queues[best], m.heads[best] = nil, 0
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
