package alerting

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/apiscope/apiscope/pkg/metrics"
)

// Reasons an alert is dropped, the reason label of apiscope_alerts_dropped_total.
const (
	// ReasonQueueFull: the sink's queue bound was hit; the oldest alert went.
	ReasonQueueFull = "queue_full"
	// ReasonRejected: the receiver refused the alert for good (a 4xx other than 408/429).
	ReasonRejected = "rejected"
	// ReasonShutdown: Close's deadline passed before the alert was delivered.
	ReasonShutdown = "shutdown"
	// ReasonEncode: the alert could not be rendered.
	ReasonEncode = "encode"
)

// ErrClosed is returned by WriteFinding after Close.
var ErrClosed = errors.New("alert sink closed")

// permanent marks a delivery error that another attempt would repeat.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// item is one rendered alert waiting for delivery.
type item struct {
	id   string
	body []byte
	kind string
	sev  string
	ts   time.Time
}

// deliveryConfig is what every queued sink shares.
type deliveryConfig struct {
	name       string // sink label: webhook, syslog
	queueSize  int
	backoffMin time.Duration
	backoffMax time.Duration
	reg        *metrics.Registry
	log        *zap.Logger
}

// deliverer owns a bounded FIFO of alerts and the one goroutine that sends them in
// order, retrying each until it is delivered, refused for good, or shutdown gives up.
type deliverer struct {
	cfg  deliveryConfig
	send func(ctx context.Context, it *item) error

	mu          sync.Mutex
	cond        sync.Cond
	q           []item
	closed      bool
	inflight    bool
	lastDropLog time.Time // guarded by mu

	hard   context.Context
	cancel context.CancelFunc
	done   chan struct{}

	sent, failures, retries *metrics.Counter
	dropped                 map[string]*metrics.Counter
	depth                   *metrics.Gauge
}

func newDeliverer(cfg deliveryConfig, send func(ctx context.Context, it *item) error) *deliverer {
	if cfg.queueSize <= 0 {
		cfg.queueSize = 10_000
	}
	if cfg.backoffMin <= 0 {
		cfg.backoffMin = 500 * time.Millisecond
	}
	if cfg.backoffMax < cfg.backoffMin {
		cfg.backoffMax = max(30*time.Second, cfg.backoffMin)
	}
	if cfg.reg == nil {
		cfg.reg = metrics.Default
	}
	if cfg.log == nil {
		cfg.log = zap.NewNop()
	}
	cfg.log = cfg.log.With(zap.String("component", "alert_"+cfg.name))
	r := cfg.reg
	d := &deliverer{
		cfg: cfg, send: send, done: make(chan struct{}),
		sent:     r.Counter("apiscope_alerts_sent_total", "Alerts delivered, by sink.", "sink", cfg.name),
		failures: r.Counter("apiscope_alerts_failures_total", "Failed delivery attempts, by sink.", "sink", cfg.name),
		retries:  r.Counter("apiscope_alerts_retries_total", "Delivery retries after a failure, by sink.", "sink", cfg.name),
		depth:    r.Gauge("apiscope_alerts_queue_depth", "Alerts waiting for delivery, by sink.", "sink", cfg.name),
		dropped:  map[string]*metrics.Counter{},
	}
	for _, reason := range []string{ReasonQueueFull, ReasonRejected, ReasonShutdown, ReasonEncode} {
		d.dropped[reason] = r.Counter("apiscope_alerts_dropped_total", "Alerts not delivered, by sink and reason.", "reason", reason, "sink", cfg.name)
	}
	d.cond.L = &d.mu
	d.hard, d.cancel = context.WithCancel(context.Background())
	go d.loop()
	return d
}

// enqueue adds it, dropping the oldest queued alert when the queue is full. It never
// waits for the receiver.
func (d *deliverer) enqueue(it item) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	if len(d.q) >= d.cfg.queueSize {
		old := d.q[0]
		d.q = d.q[1:]
		d.dropped[ReasonQueueFull].Inc()
		// Once a second at most: while the receiver is down every alert drops one.
		if now := time.Now(); now.Sub(d.lastDropLog) >= time.Second {
			d.lastDropLog = now
			d.cfg.log.Warn("alert queue full, dropping the oldest alerts", zap.String("id", old.id), zap.String("kind", old.kind),
				zap.Uint64("dropped_total", d.dropped[ReasonQueueFull].Load()))
		}
	}
	d.q = append(d.q, it)
	d.depth.Set(float64(len(d.q)))
	d.cond.Signal()
	return nil
}

func (d *deliverer) loop() {
	defer close(d.done)
	for {
		d.mu.Lock()
		for len(d.q) == 0 && !d.closed {
			d.cond.Wait()
		}
		if len(d.q) == 0 {
			d.mu.Unlock()
			return
		}
		it := d.q[0]
		d.q[0] = item{}
		d.q = d.q[1:]
		d.inflight = true
		d.depth.Set(float64(len(d.q)))
		d.mu.Unlock()

		d.deliver(&it)

		d.mu.Lock()
		d.inflight = false
		if d.hard.Err() != nil {
			n := len(d.q)
			d.q = nil
			d.depth.Set(0)
			d.mu.Unlock()
			d.dropped[ReasonShutdown].Add(uint64(n))
			if n > 0 {
				d.cfg.log.Warn("alert sink closed before delivering every alert", zap.Int("dropped", n))
			}
			return
		}
		d.mu.Unlock()
	}
}

// deliver sends one alert, retrying with exponential backoff.
func (d *deliverer) deliver(it *item) {
	backoff := d.cfg.backoffMin
	for attempt := 0; ; attempt++ {
		err := d.send(d.hard, it)
		if err == nil {
			d.sent.Inc()
			if attempt > 0 {
				d.cfg.log.Info("alert delivered after retries", zap.String("id", it.id), zap.Int("attempts", attempt+1))
			}
			return
		}
		d.failures.Inc()
		var p permanent
		if errors.As(err, &p) {
			d.dropped[ReasonRejected].Inc()
			d.cfg.log.Error("alert refused for good, dropping it", zap.String("id", it.id), zap.Error(err))
			return
		}
		if attempt == 0 {
			d.cfg.log.Warn("alert delivery failed, retrying with backoff", zap.String("id", it.id), zap.Error(err))
		}
		select {
		case <-d.hard.Done():
			d.dropped[ReasonShutdown].Inc()
			return
		case <-time.After(backoff):
		}
		d.retries.Inc()
		backoff = min(2*backoff, d.cfg.backoffMax)
	}
}

// flush waits until nothing is queued or in flight, or ctx ends.
func (d *deliverer) flush(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		d.mu.Lock()
		idle := len(d.q) == 0 && !d.inflight
		d.mu.Unlock()
		if idle {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-d.done:
			return nil
		case <-t.C:
		}
	}
}

// shutdown stops intake, delivers until ctx ends, then abandons (and counts) the rest.
func (d *deliverer) shutdown(ctx context.Context) error {
	d.mu.Lock()
	already := d.closed
	d.closed = true
	d.cond.Broadcast()
	d.mu.Unlock()
	if already {
		<-d.done
		return nil
	}
	var err error
	select {
	case <-d.done:
	case <-ctx.Done():
		d.cancel()
		<-d.done
		err = fmt.Errorf("%s: closed before every alert was delivered: %w", d.cfg.name, ctx.Err())
	}
	d.cancel()
	return err
}

// SinkStats is a snapshot of a queued sink's counters.
type SinkStats struct {
	Sent, Failures, Retries uint64
	Dropped                 map[string]uint64
	Queued                  int
}

func (d *deliverer) stats() SinkStats {
	d.mu.Lock()
	n := len(d.q)
	d.mu.Unlock()
	s := SinkStats{Sent: d.sent.Load(), Failures: d.failures.Load(), Retries: d.retries.Load(),
		Dropped: map[string]uint64{}, Queued: n}
	for r, c := range d.dropped {
		s.Dropped[r] = c.Load()
	}
	return s
}
