package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/logging"
	"github.com/apiscope/apiscope/pkg/metrics"
	"github.com/apiscope/apiscope/sensor"
	"github.com/apiscope/apiscope/sensor/call"
	"github.com/apiscope/apiscope/sensor/capture"
	"github.com/apiscope/apiscope/sensor/publish"
)

// Extension points of the sensor command for the other files of this package. Their
// init functions add flags to sensorCmd and append a hook; hooks run after flags are
// parsed, before capture starts.
var (
	// sensorSinkHooks each return the sink their flags ask for (for example Kafka when
	// --brokers is set), or nil when their flags are unset. Every sink returned gets
	// every call; with none and no --out, calls go to standard output.
	sensorSinkHooks []func(cmd *cobra.Command) (sensor.Sink, error)
	// sensorBuilderHook, when set, returns the call builder (identity, templates) its
	// flags configure.
	sensorBuilderHook func(cmd *cobra.Command) (sensor.CallBuilder, error)
)

var sensorFlags struct {
	pcap, iface, bpf, out string
	snaplen, workers      int
	promisc, progress     bool
	noProgress            bool
	cfg                   sensor.Config
}

var sensorCmd = &cobra.Command{
	Use:   "sensor (--pcap FILE | --interface IF)",
	Short: "Rebuild HTTP API calls from packets and publish them",
	Long: `sensor reads packets from a capture file or a live interface, reassembles TCP,
parses HTTP/1.x and writes one APICall per request: as JSON Lines with --out, or to Kafka
with --brokers. A call is written when its response completes, or with status 0 when the
connection ends or times out without one. Reading a file drops nothing; live capture never
blocks and counts what it drops. At the end of a --pcap run the counters are printed on
stderr.

Memory: the Go collector runs at GOGC=400 with a soft limit GOMEMLIMIT=768MiB unless those
variables are set; raise GOMEMLIMIT for more than about 100k connections open at once.`,
	Example: `  apiscope sensor --pcap trace.pcap --out calls.jsonl
  apiscope sensor --pcap trace.pcapng.gz --out - | jq .uri
  apiscope sensor --interface eth1 --promisc --bpf 'tcp port 80 or tcp port 8080' --out -
  apiscope sensor --interface any --workers 4 --out /var/log/apiscope/calls.jsonl`,
	Args: cobra.NoArgs,
	RunE: runSensor,
}

func init() {
	f := sensorCmd.Flags()
	s := &sensorFlags
	f.StringVar(&s.pcap, "pcap", "", "read a capture file (pcap or pcapng, optionally .gz)")
	f.StringVarP(&s.iface, "interface", "i", "", `capture live on this interface ("any" for all)`)
	f.StringVar(&s.bpf, "bpf", "", "kernel capture filter, tcpdump syntax (live only)")
	f.IntVar(&s.snaplen, "snaplen", 0, "bytes kept per frame (live only; 0 = 262144)")
	f.BoolVar(&s.promisc, "promisc", false, "promiscuous mode, for SPAN and tap ports (live only)")
	f.StringVar(&s.out, "out", "", `write calls as JSON Lines to FILE ("-" = stdout)`)
	f.IntVar(&s.workers, "workers", 0, "flow workers (0 = one per core)")
	f.BoolVar(&s.noProgress, "no-progress", false, "do not show progress on a terminal (--pcap)")
	c := &s.cfg
	f.IntVar(&c.QueueLen, "queue-len", 0, "batches queued per worker (0 = 64 live, 4 from a file)")
	f.DurationVar(&c.TickInterval, "tick", 0, "capture-time granularity of timeouts (0 = 1s)")
	f.DurationVar(&c.TCP.IdleTimeout, "idle-timeout", 0, "end a connection idle this long in capture time (0 = 2m)")
	f.DurationVar(&c.TCP.FlushTimeout, "flush-timeout", 0, "wait this long in capture time for missing TCP segments (0 = 5s)")
	f.IntVar(&c.TCP.MaxConnections, "max-connections", 0, "connections tracked per worker (0 = 262144)")
	f.IntVar(&c.TCP.MaxBufferedPagesPerConnection, "max-conn-pages", 0, "out-of-order pages (1900 B) buffered per connection direction (0 = 1024)")
	f.IntVar(&c.TCP.MaxBufferedPagesTotal, "max-pages", 0, "out-of-order pages buffered per worker (0 = 65536)")
	f.IntVar(&c.HTTP.MaxHeaderBytes, "max-header-bytes", 0, "HTTP start line plus headers kept per message (0 = 64 KiB)")
	f.IntVar(&c.HTTP.MaxPending, "max-pending", 0, "requests awaiting a response per connection (0 = 100)")
	rootCmd.AddCommand(sensorCmd)
}

func runSensor(cmd *cobra.Command, _ []string) error {
	s := &sensorFlags
	if (s.pcap == "") == (s.iface == "") {
		return errors.New("give exactly one of --pcap FILE or --interface IF")
	}
	if s.workers < 0 {
		return fmt.Errorf("--workers must not be negative, got %d", s.workers)
	}
	if s.pcap != "" && (s.bpf != "" || s.snaplen != 0 || s.promisc) {
		return errors.New("--bpf, --snaplen and --promisc apply to --interface only")
	}
	tuneGC()
	cfg := s.cfg
	cfg.Workers = s.workers
	cfg.Logger = log
	cfg.HTTP.Logger = log
	cfg.Decode.Log = log
	if err := cfg.Validate(); err != nil {
		return err
	}
	if sensorBuilderHook != nil {
		b, err := sensorBuilderHook(cmd)
		if err != nil {
			return err
		}
		cfg.Builder = b
	} else {
		// Default identity and templates; the fingerprint key comes from the state file.
		b, err := call.NewBuilder(call.Config{}, log)
		if err != nil {
			return err
		}
		cfg.Builder = b
	}
	if c, ok := cfg.Builder.(io.Closer); ok {
		defer func() {
			if err := c.Close(); err != nil {
				log.Warn("closing the call builder", zap.Error(err))
			}
		}()
	}

	var sinks []sensor.Sink
	closeAll := func() {
		for _, k := range sinks {
			_ = k.Close()
		}
	}
	for _, h := range sensorSinkHooks {
		k, err := h(cmd)
		if err != nil {
			closeAll()
			return err
		}
		if k != nil {
			sinks = append(sinks, k)
		}
	}
	if s.out != "" || len(sinks) == 0 {
		out := s.out
		if out == "" {
			out = "-"
		}
		j, err := publish.CreateJSONL(out)
		if err != nil {
			closeAll()
			return err
		}
		sinks = append(sinks, j)
	}
	sink := sensor.Sink(teeSink(sinks))
	if len(sinks) == 1 {
		sink = sinks[0]
	}
	if b, ok := cfg.Builder.(*call.Builder); ok {
		// Templates are learned in output order, so they do not depend on the workers;
		// as the wrapped sink sets every call's template, the workers leave it out.
		sink = b.WrapSink(sink)
		cfg.Builder = b.SinkTemplated()
	} else if w, ok := cfg.Builder.(interface{ WrapSink(call.Sink) call.Sink }); ok {
		sink = w.WrapSink(sink)
	}

	var src capture.Source
	var file *capture.FileSource
	var live *liveSource
	if s.pcap != "" {
		f, err := capture.OpenFile(s.pcap)
		if err != nil {
			closeAll()
			return err
		}
		src, file = f, f
	} else {
		l, err := capture.OpenLive(capture.LiveConfig{Interface: s.iface, BPF: s.bpf, Snaplen: s.snaplen, Promisc: s.promisc})
		if err != nil {
			closeAll()
			return err
		}
		live = &liveSource{LiveSource: l}
		src = live
		cfg.Live = true
		log.Info("capturing", zap.String("interface", s.iface), zap.String("bpf", s.bpf))
	}
	defer src.Close()

	stopProgress := func() {}
	if file != nil && !s.noProgress && logging.IsTerminal(os.Stderr) {
		stopProgress = showProgress(os.Stderr, file)
	}
	start := time.Now()
	st, err := sensor.Run(cmd.Context(), cfg, src, sink)
	stopProgress()
	elapsed := time.Since(start)
	if live != nil {
		if ks, kerr := live.Stats(); kerr == nil {
			log.Info("capture stopped", zap.Uint64("kernel_received", ks.Received),
				zap.Uint64("kernel_dropped", ks.Dropped), zap.Uint64("interface_dropped", ks.IfDropped))
		}
	}
	if file != nil {
		printCounters(os.Stderr, st, elapsed)
	}
	if err != nil {
		return err
	}
	if st.SourceErr != nil {
		return fmt.Errorf("%w (the calls before it were written)", st.SourceErr)
	}
	return nil
}

// tuneGC trades memory for CPU unless GOGC or GOMEMLIMIT say otherwise: the sensor's
// heap is mostly short-lived call strings, and collecting at 5x the live heap instead of
// 2x cut CPU per packet by about a third on the benchmark capture. The soft memory limit
// brings collection back before a large connection table grows the heap past 768 MiB.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(768 << 20)
	}
}

// liveSource keeps the kernel's counts as they were when the capture stopped: the sensor
// closes the source to stop it, and libpcap cannot report after close. The counts are
// read from the goroutine that stops the capture, like any periodic statistics reader
// (pcap_stats is a getsockopt and gopacket does not serialise it with reads).
type liveSource struct {
	*capture.LiveSource
	once  sync.Once
	stats capture.LiveStats
	err   error
}

func (l *liveSource) Close() error {
	l.once.Do(func() { l.stats, l.err = l.LiveSource.Stats() })
	return l.LiveSource.Close()
}

// Stats returns the counts taken when the capture was closed.
func (l *liveSource) Stats() (capture.LiveStats, error) {
	_ = l.Close()
	return l.stats, l.err
}

// teeSink writes every call to each sink in turn.
type teeSink []sensor.Sink

func (t teeSink) Write(c *models.APICall) error {
	for _, k := range t {
		if err := k.Write(c); err != nil {
			return err
		}
	}
	return nil
}

// Close closes every sink and returns the first error.
func (t teeSink) Close() error {
	var first error
	for _, k := range t {
		if err := k.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// showProgress redraws one status line on w every half second until the returned func
// is called.
func showProgress(w io.Writer, f *capture.FileSource) func() {
	packets := metrics.Default.Counter("apiscope_sensor_packets_total", "")
	calls := metrics.Default.Counter("apiscope_sensor_calls_total", "")
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		lastP, lastT := packets.Load(), time.Now()
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case now := <-t.C:
				p := packets.Load()
				rate := float64(p-lastP) / now.Sub(lastT).Seconds()
				lastP, lastT = p, now
				fmt.Fprintf(w, "\r\033[K%5.1f%%  %d packets  %.0f packets/s  %d calls",
					100*f.Progress(), p, rate, calls.Load())
			}
		}
	}()
	return func() { close(done); <-finished }
}

// printCounters prints the run's figures, the totals of the error and drop counters
// (zero included, so a clean run says so), and every non-zero sensor counter by label.
func printCounters(w io.Writer, st sensor.Stats, elapsed time.Duration) {
	secs := elapsed.Seconds()
	fmt.Fprintf(w, "packets %d  tcp segments %d  calls %d (without response %d)  in %.2fs (%.0f packets/s, %.0f calls/s)\n",
		st.Packets, st.Segments, st.Calls, st.CallsNoResponse, secs, float64(st.Packets)/secs, float64(st.Calls)/secs)
	snap := metrics.Default.Snapshot()
	sum := func(name string) float64 {
		var v float64
		for _, s := range snap {
			if s.Name == name {
				v += s.Value
			}
		}
		return v
	}
	fmt.Fprintf(w, "streams %.0f  tcp gaps %.0f  decode errors %.0f  http parse errors %.0f  dropped %.0f\n",
		sum("apiscope_sensor_tcp_streams_total"), sum("apiscope_sensor_tcp_gaps_total"),
		sum("apiscope_sensor_decode_errors_total"), sum("apiscope_sensor_http_parse_errors_total"),
		sum("apiscope_sensor_dropped_total"))
	for _, s := range snap {
		if !strings.HasPrefix(s.Name, "apiscope_sensor_") || s.Value == 0 {
			continue
		}
		fmt.Fprintf(w, "  %s%s %g\n", s.Name, s.Labels, s.Value)
	}
}
