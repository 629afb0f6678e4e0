package sensor

import (
	"cmp"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/sensor/decode"
	"github.com/apiscope/apiscope/sensor/flow"
	"github.com/apiscope/apiscope/sensor/httpwire"
	"github.com/apiscope/apiscope/sensor/tcpstream"
)

// entry is a call on its way to the merge, with its place in the output order.
type entry struct {
	event uint64 // event that completed the call
	pos   uint64 // position of the call on its connection
	call  models.APICall
}

// compare orders entries: by event, then request time, then connection, then position on
// the connection. Everything in the key comes from the capture.
func (a *entry) compare(b *entry) int {
	if c := cmp.Compare(a.event, b.event); c != 0 {
		return c
	}
	if c := a.call.TS.Compare(b.call.TS); c != 0 {
		return c
	}
	if c := cmp.Compare(a.call.SrcIP, b.call.SrcIP); c != 0 {
		return c
	}
	if c := cmp.Compare(a.call.SrcPort, b.call.SrcPort); c != 0 {
		return c
	}
	if c := cmp.Compare(a.call.DstIP, b.call.DstIP); c != 0 {
		return c
	}
	if c := cmp.Compare(a.call.DstPort, b.call.DstPort); c != 0 {
		return c
	}
	return cmp.Compare(a.pos, b.pos)
}

// output is what a worker hands the merge after each batch: its calls, sorted, and the
// horizon it has reached.
type output struct {
	worker  int
	entries []entry
	horizon uint64
	free    chan<- []entry // where the merge hands entries back once written
}

// worker owns one Assembler and every connection hashed to it; one goroutine runs it.
type worker struct {
	id      int
	asm     *tcpstream.Assembler
	http    *httpwire.Config
	builder CallBuilder
	event   uint64 // event being processed: stamps the calls it completes
	out     []entry
	free    chan []entry // emptied entry slices handed back by the merge
}

func newWorker(id int, cfg *Config, builder CallBuilder, log *zap.Logger) *worker {
	// The builder keeps nothing of a transaction but its strings (CallBuilder), so the
	// parsers may reuse transactions.
	hc := cfg.HTTP
	hc.ReuseTransactions = true
	w := &worker{id: id, http: &hc, builder: builder, free: make(chan []entry, 8)}
	w.asm = tcpstream.NewAssembler(&cfg.TCP, w.newConn, log.With(zap.Int("worker", id)))
	return w
}

// newConn makes the HTTP parser of a new connection.
func (w *worker) newConn(c tcpstream.Conn) tcpstream.Handler {
	var pos uint64
	ab, byAddr := w.builder.(addrCallBuilder)
	var ip0, ip1 string // the sides' addresses as ab formats them, once known
	return httpwire.NewConn(w.http, func(tx *httpwire.Transaction) {
		client, server := c.Side0, c.Side1
		if tx.ClientSide == 1 {
			client, server = server, client
		}
		pos++
		if w.out == nil {
			select {
			case w.out = <-w.free:
			default:
				w.out = make([]entry, 0, 64)
			}
		}
		w.out = append(w.out, entry{event: w.event, pos: pos})
		out := &w.out[len(w.out)-1].call
		if !byAddr {
			w.builder.Build(tx, client, server, out)
			return
		}
		if ip0 == "" {
			ip0, ip1 = ab.AddrString(c.Side0.Addr()), ab.AddrString(c.Side1.Addr())
		}
		clientIP, serverIP := ip0, ip1
		if tx.ClientSide == 1 {
			clientIP, serverIP = ip1, ip0
		}
		ab.BuildWithAddrs(tx, client, server, clientIP, serverIP, out)
	})
}

// run processes batches until the queue closes, then flushes every connection under the
// event number and at the capture time final() returns, and reports an infinite horizon.
func (w *worker) run(sh *flow.Sharder, merge mergeChan, final func() (uint64, time.Time)) {
	q := sh.Queue(w.id)
	var seg decode.Segment
	for b := range q {
		for i := range b.Items {
			it := &b.Items[i]
			w.event = it.Event
			switch it.Kind {
			case flow.KindSegment:
				b.Segment(i, &seg)
				w.asm.Add(&seg)
			case flow.KindTick:
				w.asm.Tick(it.TS)
			}
		}
		h := b.Horizon
		sh.Release(b)
		w.send(merge, h)
	}
	var end time.Time
	w.event, end = final()
	w.asm.FlushAll(end)
	w.send(merge, ^uint64(0))
}

// outlet takes a worker's outputs: the merge goroutine's channel, or the merge itself
// when everything runs on one goroutine (runInline).
type outlet interface{ put(output) }

// mergeChan is the outlet of the pipeline.
type mergeChan chan<- output

func (c mergeChan) put(o output) { c <- o }

func (w *worker) send(to outlet, horizon uint64) {
	out := output{worker: w.id, entries: w.out, horizon: horizon, free: w.free}
	// Calls come out in event order already; only calls completed by the same event (a
	// tick or the final flush ending many connections) may need sorting.
	if byKey := entryOrder(out.entries); !sort.IsSorted(byKey) {
		sort.Stable(byKey)
	}
	w.out = nil
	to.put(out)
}

// entryOrder sorts entries in place by their output key without copying them to compare.
type entryOrder []entry

func (s entryOrder) Len() int           { return len(s) }
func (s entryOrder) Less(i, j int) bool { return s[i].compare(&s[j]) < 0 }
func (s entryOrder) Swap(i, j int)      { s[i], s[j] = s[j], s[i] }
