package sensor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/apiscope/apiscope/sensor/capture"
	"github.com/apiscope/apiscope/sensor/decode"
	"github.com/apiscope/apiscope/sensor/flow"
	"github.com/apiscope/apiscope/sensor/httpwire"
	"github.com/apiscope/apiscope/sensor/tcpstream"
)

// Config tunes the pipeline. The zero value works: one worker per core, bounded queues,
// timeouts and memory, file semantics (backpressure, nothing dropped).
type Config struct {
	// Workers is the number of flow workers. Zero means runtime.NumCPU().
	Workers int
	// QueueLen is the number of batches each worker's queue holds. Zero means 64 for a
	// live capture, where the queue absorbs bursts, and 4 for a file, where the reader
	// waits for room anyway: a short queue keeps the batches in the CPU's caches
	// between the reader that fills them and the worker that empties them.
	QueueLen int
	// BatchSize is the number of segments handed to a worker at once. Zero means
	// flow.DefaultBatchSize (1024).
	BatchSize int
	// Live selects live-capture semantics: the capture loop never blocks, a full worker
	// queue drops (counted), and partial batches leave at least every FlushEvery of wall
	// time. Without it (a file), every stage waits for the next and nothing is dropped.
	Live bool
	// FlushEvery is how often, in wall time, a live capture hands partial batches to the
	// workers and advances the capture clock while no packets arrive. Zero means 100 ms.
	// It affects latency only, never which calls are produced from a file.
	FlushEvery time.Duration
	// TickInterval is the capture-time granularity of timeouts: the workers check idle
	// connections and stalled out-of-order data every time the capture clock crosses a
	// multiple of it. Zero means 1 s.
	TickInterval time.Duration
	// TCP bounds reassembly (timeouts, buffered pages, open connections) per worker.
	TCP tcpstream.Config
	// Decode bounds the decoder (IP fragment reassembly) and names its logger.
	Decode decode.Config
	// HTTP bounds the HTTP parser.
	HTTP httpwire.Config
	// Builder turns transactions into calls. Nil means a builder without identity
	// configuration (client_id is the source IP, templates replace numbers and UUIDs).
	Builder CallBuilder
	// Logger receives warnings and sampled bug reports. Nil means none.
	Logger *zap.Logger
}

// Validate reports the first unusable value.
func (c *Config) Validate() error {
	if c.Workers < 0 || c.QueueLen < 0 || c.BatchSize < 0 || c.FlushEvery < 0 || c.TickInterval < 0 {
		return errors.New("sensor: workers, queue length, batch size and intervals must not be negative")
	}
	if err := c.TCP.Validate(); err != nil {
		return fmt.Errorf("sensor: %w", err)
	}
	if err := c.HTTP.Validate(); err != nil {
		return fmt.Errorf("sensor: %w", err)
	}
	return nil
}

// fileQueueLen is the default QueueLen of a file (see Config.QueueLen).
const fileQueueLen = 4

// Stats counts one Run.
type Stats struct {
	Packets         uint64 // frames read from the source
	Segments        uint64 // TCP segments among them, handed to the workers
	Bytes           uint64 // wire bytes of the frames that carried those segments
	Calls           uint64 // calls written to the sink
	CallsNoResponse uint64 // of which without a response (status 0)
	// SourceErr is the error that ended the source early (a truncated file), if any.
	// Everything read before it was processed.
	SourceErr error
}

// Run reads src until it ends or ctx is cancelled and writes every call to sink, in
// output order (see the package documentation). It closes sink before it returns, and it
// closes src only to stop a live capture when ctx is cancelled; the caller closes src.
//
// The returned error is a bad Config or the sink's first error; cancellation is a normal
// end (the calls of the packets already read are still flushed and written).
func Run(ctx context.Context, cfg Config, src capture.Source, sink Sink) (Stats, error) {
	var st Stats
	if err := cfg.Validate(); err != nil {
		_ = sink.Close()
		return st, err
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	builder := cfg.Builder
	if builder == nil {
		builder = basicBuilder{}
	}
	workers := cfg.Workers
	if workers == 0 {
		workers = runtime.NumCPU()
	}
	if workers == 1 && !cfg.Live {
		return runInline(ctx, &cfg, builder, log, src, sink)
	}
	qlen := cfg.QueueLen
	if qlen == 0 && !cfg.Live {
		qlen = fileQueueLen
	}
	sh := flow.New(flow.Config{Workers: workers, QueueLen: qlen, BatchSize: cfg.BatchSize, Block: !cfg.Live})

	// Stages, each with one owner: the dispatcher (this goroutine) reads and shards,
	// one goroutine per worker reassembles and parses, one merges and writes.
	var final uint64
	var finalClock time.Time
	finalEvent := func() (uint64, time.Time) { return final, finalClock } // read after the queues close
	merged := make(chan output, workers*4)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		w := newWorker(i, &cfg, builder, log)
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(sh, merged, finalEvent)
		}()
	}
	m := newMerger(workers, sink)
	sinkFailed := make(chan struct{})
	mergeDone := make(chan struct{})
	go func() {
		defer close(mergeDone)
		failed := false
		for o := range merged {
			m.add(o)
			if m.err != nil && !failed {
				failed = true
				close(sinkFailed)
			}
		}
	}()

	d := dispatcher{cfg: &cfg, sh: sh, route: sh, src: src, dec: decode.NewDecoder(cfg.Decode), log: log, st: &st}
	d.run(ctx, sinkFailed)

	final, finalClock = sh.Event()+1, d.clock
	sh.Close()
	wg.Wait()
	close(merged)
	<-mergeDone
	return finish(st, m, sink)
}

// finish ends a Run: the calls and the sink's error.
func finish(st Stats, m *merger, sink Sink) (Stats, error) {
	st.Calls, st.CallsNoResponse = m.calls, m.noResp
	cerr := sink.Close()
	if m.err != nil {
		return st, fmt.Errorf("writing calls: %w", m.err)
	}
	if cerr != nil {
		return st, fmt.Errorf("closing the call sink: %w", cerr)
	}
	return st, nil
}

// runInline runs the whole pipeline on the calling goroutine, Suricata's "single" run
// mode: the mode of one worker reading a file. Stages on goroutines of their own would
// only hand every segment and every call from one core's cache to another's and wake
// each other, to keep one worker busy; here each segment goes from the decoder to the
// worker where it lies, in the capture file's buffer, and each call from the worker to
// the sink. The output is the same as the pipeline's: the same event numbers, ticks and
// final flush, and the calls of each stretch of events sorted as a worker sorts them.
func runInline(ctx context.Context, cfg *Config, builder CallBuilder, log *zap.Logger, src capture.Source, sink Sink) (Stats, error) {
	var st Stats
	w := newWorker(0, cfg, builder, log)
	m := newMerger(1, sink)
	every := cfg.BatchSize
	if every <= 0 {
		every = flow.DefaultBatchSize
	}
	r := &inlineRoute{w: w, m: m, every: every, left: every, sinkFailed: make(chan struct{})}
	d := dispatcher{cfg: cfg, route: r, src: src, dec: decode.NewDecoder(cfg.Decode), log: log, st: &st}
	d.run(ctx, r.sinkFailed)
	w.event = r.event + 1
	w.asm.FlushAll(d.clock)
	r.hand(^uint64(0))
	return finish(st, m, sink)
}

// inlineRoute is the dispatcher's route in runInline: each segment and tick goes to the
// one worker at once, and its calls to the merge every so many events, as a batch would.
type inlineRoute struct {
	w          *worker
	m          *merger
	event      uint64
	every      int // segments between hand-offs to the merge (Config.BatchSize)
	left       int // segments until the next
	sinkFailed chan struct{}
	failed     bool
}

func (r *inlineRoute) Add(seg *decode.Segment) uint64 {
	r.event++
	r.w.event = r.event
	r.w.asm.Add(seg)
	if r.left--; r.left == 0 {
		r.left = r.every
		r.hand(r.event)
	}
	return r.event
}

func (r *inlineRoute) Tick(ts time.Time) uint64 {
	r.event++
	r.w.event = r.event
	r.w.asm.Tick(ts)
	return r.event
}

// hand gives the merge the worker's calls up to horizon.
func (r *inlineRoute) hand(horizon uint64) {
	r.w.send(r, horizon)
	if r.m.err != nil && !r.failed {
		r.failed = true
		close(r.sinkFailed)
	}
}

// put takes the worker's output (worker.send) straight to the merge.
func (r *inlineRoute) put(o output) { r.m.add(o) }

// route takes the dispatcher's segments and ticks: the sharder, or the worker itself.
type route interface {
	Add(seg *decode.Segment) uint64
	Tick(ts time.Time) uint64
}

// dispatcher reads, decodes and routes. For a file it runs alone; for a live capture a
// timer goroutine shares the sharder under mu to push partial batches out.
type dispatcher struct {
	cfg       *Config
	route     route
	sh        *flow.Sharder // the route of the pipeline (nil in runInline)
	src       capture.Source
	frame     capture.Frame // the frame being dispatched, filled by src
	dec       *decode.Decoder
	log       *zap.Logger
	st        *Stats
	published Stats // part of st already added to the process counters
	mu        sync.Mutex
	nextTick  time.Time
	clock     time.Time // latest capture time seen
	lastWall  time.Time // wall time when clock last moved (live only)
	// Unix seconds and nanoseconds of clock and nextTick (set with them by setClock and
	// setNextTick), which advance compares each frame's time with.
	clockSec, tickSec int64
	clockNs, tickNs   int
}

func (d *dispatcher) tickInterval() time.Duration {
	if d.cfg.TickInterval > 0 {
		return d.cfg.TickInterval
	}
	return time.Second
}

func (d *dispatcher) run(ctx context.Context, sinkFailed <-chan struct{}) {
	defer d.publishCounts()
	stop := make(chan struct{})
	live := d.cfg.Live
	d.setClock(d.clock)
	d.setNextTick(d.nextTick)
	if live {
		timerDone := make(chan struct{})
		go func() {
			defer close(timerDone)
			d.liveTimer(ctx, stop, sinkFailed)
		}()
		// The timer shares the sharder: it must be gone before the caller closes it.
		defer func() { close(stop); <-timerDone }()
	}
	for n := 0; ; n++ {
		if n&1023 == 0 {
			select {
			case <-ctx.Done():
				return
			case <-sinkFailed:
				return
			default:
			}
		}
		f := &d.frame
		if err := d.src.ReadFrame(f); err != nil {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				d.st.SourceErr = err
				mSourceErrors.Inc()
				d.log.Warn("capture source ended with an error; calls read so far are kept", zap.Error(err))
			}
			return
		}
		d.st.Packets++
		if d.st.Packets&255 == 0 {
			d.publishCounts()
		}
		seg, err := d.dec.DecodeFrame(f.Data, f.LinkType, f.Timestamp, f.Length)
		if err != nil || seg == nil {
			// Not TCP, or malformed: the decoder counts and logs it by layer.
			if live {
				d.mu.Lock()
				d.advance(f.Timestamp)
				d.mu.Unlock()
			}
			continue
		}
		d.st.Bytes += uint64(seg.WireLen)
		d.st.Segments++
		if live {
			d.mu.Lock()
		}
		d.advance(seg.TS)
		d.route.Add(seg)
		if live {
			d.mu.Unlock()
		}
	}
}

// publishCounts adds what the dispatcher counted since the last call to the process
// counters. Doing it every 256 packets instead of per packet keeps three atomic adds off
// the per-packet path; a progress display lags by at most that much.
func (d *dispatcher) publishCounts() {
	d.dec.PublishCounts()
	mPackets.Add(d.st.Packets - d.published.Packets)
	mBytes.Add(d.st.Bytes - d.published.Bytes)
	mSegments.Add(d.st.Segments - d.published.Segments)
	d.published = *d.st
}

// advance moves the capture clock to ts and sends a tick when it crosses a multiple of
// the tick interval. Capture times that go backwards do not move the clock. Each frame's
// time is compared with the clock and the next tick time by Unix seconds and
// nanoseconds, kept beside them: time.Time's After and Before would compare the same
// for times without a monotonic clock reading, which capture times never have, but as
// calls with both times copied.
func (d *dispatcher) advance(ts time.Time) {
	sec, ns := ts.Unix(), ts.Nanosecond()
	if sec > d.clockSec || sec == d.clockSec && ns > d.clockNs {
		d.clock, d.clockSec, d.clockNs = ts, sec, ns
		if d.cfg.Live {
			d.lastWall = time.Now()
		}
		if sec > d.tickSec || sec == d.tickSec && ns >= d.tickNs {
			d.tick(ts)
		}
	}
}

// tick sends a tick at ts, which has reached the next tick time, and sets the one after.
// The first time the clock moves sets the first tick time (the zero time is before ts)
// without a tick.
func (d *dispatcher) tick(ts time.Time) {
	if !d.nextTick.IsZero() {
		d.route.Tick(ts)
	}
	iv := d.tickInterval()
	d.setNextTick(ts.Truncate(iv).Add(iv))
}

// setClock sets the capture clock and its seconds and nanoseconds.
func (d *dispatcher) setClock(t time.Time) {
	d.clock, d.clockSec, d.clockNs = t, t.Unix(), t.Nanosecond()
}

// setNextTick sets the next tick time and its seconds and nanoseconds.
func (d *dispatcher) setNextTick(t time.Time) {
	d.nextTick, d.tickSec, d.tickNs = t, t.Unix(), t.Nanosecond()
}

// liveTimer pushes partial batches out and, while no packets arrive, advances the
// capture clock by the wall time elapsed so idle connections still time out. It also
// stops the capture when ctx is cancelled or the sink fails.
func (d *dispatcher) liveTimer(ctx context.Context, stop <-chan struct{}, sinkFailed <-chan struct{}) {
	every := d.cfg.FlushEvery
	if every <= 0 {
		every = 100 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			_ = d.src.Close()
			return
		case <-sinkFailed:
			_ = d.src.Close()
			return
		case now := <-t.C:
			d.mu.Lock()
			if !d.clock.IsZero() && now.Sub(d.lastWall) >= every {
				idle := now.Sub(d.lastWall)
				d.setClock(d.clock.Add(idle))
				d.lastWall = now
				if !d.clock.Before(d.nextTick) {
					iv := d.tickInterval()
					d.sh.Tick(d.clock)
					d.setNextTick(d.clock.Truncate(iv).Add(iv))
				}
			}
			d.sh.Flush()
			d.mu.Unlock()
		}
	}
}
