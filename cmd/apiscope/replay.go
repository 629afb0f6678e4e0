package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/apiscope/apiscope/analyzer"
	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/alerting"
	"github.com/apiscope/apiscope/pkg/kafkabus"
	"github.com/apiscope/apiscope/sensor"
	"github.com/apiscope/apiscope/sensor/call"
	"github.com/apiscope/apiscope/sensor/capture"
	"github.com/apiscope/apiscope/sensor/publish"
)

var replayFlags struct {
	pcap, fromCalls, findings, calls, clickhouse string
	workers                                      int
	engine                                       engineFlags
	kafka                                        kafkaFlags
	alertsTopic, minSeverity                     string
	alerts                                       alertSinkFlags
	identity                                     func() (call.Config, error)
}

var replayCmd = &cobra.Command{
	Use:   "replay (--pcap FILE | --from-calls FILE) --findings FILE",
	Short: "Run sensor and analyzer over a capture in one process",
	Long: `replay runs the whole pipeline over a capture file as fast as the machine allows: the
sensor rebuilds the calls and hands them, through an in-process queue instead of Kafka, to
the same analyzer engine 'apiscope analyzer' runs. Findings are written as JSON Lines.
Capture time is the clock: the same capture always gives byte-identical findings.

Calls are built exactly as 'apiscope sensor' builds them, with the same identity and
template flags (--trusted-proxy, --api-key-header, --openapi, --templates-file, ...): the
calls of --calls equal the sensor's --out byte for byte. With --brokers the alerts
(findings at or above --alert-min-severity) are also published to apiscope.alerts, and
--webhook-url / --syslog-addr deliver them as the analyzer does, behind storm control.

With --from-calls the sensor is skipped and calls are read from APICall JSON Lines (as
written by 'apiscope sensor --out' or 'replay --calls').`,
	Example: `  apiscope replay --pcap traffic.pcap --findings findings.jsonl
  apiscope replay --pcap traffic.pcap --findings findings.jsonl --calls calls.jsonl
  apiscope replay --from-calls calls.jsonl --findings baseline.jsonl --detectors ratelimit-baseline
  apiscope replay --pcap traffic.pcap --findings - --clickhouse clickhouse://127.0.0.1:9000/apiscope
  apiscope replay --pcap traffic.pcap --findings findings.jsonl --brokers 127.0.0.1:9092 --alert-format ocsf
  apiscope replay --pcap traffic.pcap --findings findings.jsonl --trusted-proxy 10.0.0.0/8 --openapi api.example.com=openapi.yaml`,
	Args: cobra.NoArgs,
	RunE: runReplay,
}

func init() {
	f := replayCmd.Flags()
	r := &replayFlags
	f.StringVar(&r.pcap, "pcap", "", "capture file to replay (pcap or pcapng, optionally .gz)")
	f.StringVar(&r.fromCalls, "from-calls", "", "read APICall JSON Lines instead of a capture")
	f.StringVar(&r.findings, "findings", "", `write findings as JSON Lines to FILE ("-" = stdout)`)
	f.StringVar(&r.calls, "calls", "", "also write the calls as JSON Lines to FILE")
	f.StringVar(&r.clickhouse, "clickhouse", "", "also store calls, findings and profiles in ClickHouse (DSN)")
	f.IntVar(&r.workers, "workers", 0, "sensor flow workers (0 = one per core)")
	r.engine.register(f)
	r.identity = identityFlags(f)
	r.kafka.registerConn(f, "Kafka bootstrap brokers, comma-separated host:port: also publish the alerts (findings at or above --alert-min-severity) to --alerts-topic")
	f.StringVar(&r.alertsTopic, "alerts-topic", kafkabus.TopicAlerts, "topic for alerts, with --brokers")
	f.StringVar(&r.minSeverity, "alert-min-severity", models.SeverityMedium, "least severity published as an alert (topic, webhook, syslog)")
	r.alerts.register(f)
	rootCmd.AddCommand(replayCmd)
}

// replaySink feeds the sensor's calls to the engine (and the optional outputs). The
// sensor calls it from one goroutine, in output order.
type replaySink struct {
	ctx   context.Context
	eng   *analyzer.Engine
	calls *publish.JSONL
	store *storeAdapter
	batch []models.APICall
}

func (s *replaySink) Write(c *models.APICall) error {
	if s.calls != nil {
		if err := s.calls.Write(c); err != nil {
			return err
		}
	}
	if s.store != nil {
		s.batch = append(s.batch, *c)
		if len(s.batch) >= 5000 {
			if err := s.store.AddCalls(s.ctx, s.batch...); err != nil {
				return err
			}
			s.batch = s.batch[:0]
		}
	}
	return s.eng.Process(c)
}

// Close ends the stream: buffered calls and held findings are processed.
func (s *replaySink) Close() error {
	err := s.eng.Flush()
	if s.store != nil && len(s.batch) > 0 {
		if serr := s.store.AddCalls(s.ctx, s.batch...); err == nil {
			err = serr
		}
		s.batch = nil
	}
	if s.calls != nil {
		if cerr := s.calls.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

func runReplay(cmd *cobra.Command, _ []string) error {
	r := &replayFlags
	if (r.pcap == "") == (r.fromCalls == "") {
		return errors.New("give exactly one of --pcap FILE or --from-calls FILE")
	}
	if r.findings == "" {
		return errors.New("--findings FILE is required")
	}
	if r.workers < 0 {
		return fmt.Errorf("--workers must not be negative, got %d", r.workers)
	}
	if r.fromCalls != "" && r.calls != "" {
		return errors.New("--calls applies to --pcap only")
	}
	cfg, err := r.engine.config()
	if err != nil {
		return err
	}
	bcfg, err := r.identity()
	if err != nil {
		return err
	}
	minSev, err := models.ParseSeverity(r.minSeverity)
	if err != nil {
		return fmt.Errorf("--alert-min-severity: %w", err)
	}
	ctx := cmd.Context()
	// What is opened before the run starts is released if setting up fails.
	var closers []func() error
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			_ = closers[i]() // early return: the error that caused it is the one reported
		}
	}()
	fout, err := analyzer.CreateJSONL(r.findings)
	if err != nil {
		return err
	}
	closers = append(closers, fout.Close)
	outs := analyzer.Outputs{fout}
	sink := &replaySink{ctx: ctx}
	var closeStore func() error
	if r.clickhouse != "" {
		st, sa, err := openAnalyzerStore(ctx, r.clickhouse, log)
		if err != nil {
			return err
		}
		sink.store = sa
		outs = append(outs, sa)
		closeStore = func() error {
			cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if snaps := sink.eng.Snapshots(0); len(snaps) > 0 {
				if err := sa.AddProfiles(cctx, snaps...); err != nil {
					return err
				}
			}
			err := sa.w.Close(cctx)
			st.Close()
			return err
		}
	}
	alertSink, err := replayAlertSink(ctx, minSev)
	if err != nil {
		return err
	}
	if alertSink != nil {
		outs = append(outs, alerting.Background{Sink: alertSink})
	}
	eng, err := analyzer.New(cfg, outs)
	if err != nil {
		if alertSink != nil {
			_ = alertSink.Close()
		}
		return err
	}
	sink.eng = eng
	if r.calls != "" {
		if sink.calls, err = publish.CreateJSONL(r.calls); err != nil {
			if alertSink != nil {
				_ = alertSink.Close()
			}
			return err
		}
	}

	start := time.Now()
	var runErr error
	if r.pcap != "" {
		runErr = replayPcap(cmd, r.pcap, r.workers, bcfg, sink)
	} else {
		runErr = replayCalls(ctx, r.fromCalls, sink)
	}
	elapsed := time.Since(start)
	// The engine has flushed (the sink's Close): pending storm summaries go out and the
	// alert publisher waits until Kafka has every alert.
	if alertSink != nil {
		if err := alertSink.Close(); runErr == nil {
			runErr = err
		}
	}
	closers = closers[:0]
	if err := fout.Close(); runErr == nil {
		runErr = err
	}
	if closeStore != nil {
		if err := closeStore(); runErr == nil {
			runErr = err
		}
	}
	st := eng.Stats()
	fmt.Fprintf(os.Stderr, "replay: calls %d  clients %d  findings %d (signals %d, held back as population-wide %d)  late %d  duplicates %d  in %.2fs (%.0f calls/s)\n",
		st.Calls, st.Clients, st.Findings, st.Signals, st.Suppressed, st.Late, st.Duplicates, elapsed.Seconds(), float64(st.Calls)/elapsed.Seconds())
	return runErr
}

// replayAlertSink builds the alert sinks replay's flags ask for: the alert topic with
// --brokers, webhook and syslog, behind storm control; nil when none is configured.
func replayAlertSink(ctx context.Context, minSev string) (alerting.Sink, error) {
	r := &replayFlags
	filter := alerting.Filter{MinSeverity: minSev}
	var kafkaAlerts alerting.Sink
	if r.kafka.enabled() && r.alertsTopic != "" {
		kcfg, err := r.kafka.connConfig()
		if err != nil {
			return nil, err
		}
		if _, err := alerting.ParseFormat(r.alerts.format); err != nil {
			return nil, fmt.Errorf("--alert-format: %w", err)
		}
		tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err = kafkabus.EnsureTopics(tctx, kcfg, []string{r.alertsTopic}, 0, 0)
		cancel()
		if err != nil {
			log.Warn("could not create or check the alert topic; publishing anyway", zap.String("topic", r.alertsTopic), zap.Error(err))
		}
		// Blocking: a replay waits for Kafka rather than drop an alert.
		p, err := kafkabus.NewPublisher(kafkabus.PublisherConfig{Config: kcfg, Topic: r.alertsTopic, Blocking: true,
			CloseTimeout: 30 * time.Second}, log)
		if err != nil {
			return nil, fmt.Errorf("kafka publisher: %w", err)
		}
		kafkaAlerts = &alerting.KafkaSink{P: p, Format: r.alerts.format, Filter: filter}
	}
	s, err := r.alerts.build(filter, kafkaAlerts, log)
	if err != nil && kafkaAlerts != nil {
		_ = kafkaAlerts.Close()
	}
	return s, err
}

// replayPcap runs the sensor over a capture file into the sink, building calls exactly as
// 'apiscope sensor' does: the same identity and template configuration, templates learned
// in output order by the builder's sink wrapper, the builder closed (and --templates-file
// saved) at the end.
func replayPcap(cmd *cobra.Command, path string, workers int, bcfg call.Config, sink *replaySink) error {
	scfg := sensor.Config{Workers: workers, Logger: log}
	scfg.HTTP.Logger = log
	scfg.Decode.Log = log
	b, err := call.NewBuilder(bcfg, log)
	if err != nil {
		_ = sink.Close()
		return err
	}
	defer func() {
		if err := b.Close(); err != nil {
			log.Warn("closing the call builder", zap.Error(err))
		}
	}()
	scfg.Builder = b.SinkTemplated()
	src, err := capture.OpenFile(path)
	if err != nil {
		_ = sink.Close()
		return err
	}
	defer src.Close()
	st, err := sensor.Run(cmd.Context(), scfg, src, b.WrapSink(sink))
	if err != nil {
		return err
	}
	if st.SourceErr != nil {
		return fmt.Errorf("%s: %w (the calls before it were analysed)", path, st.SourceErr)
	}
	log.Debug("sensor done", zap.Uint64("packets", st.Packets), zap.Uint64("calls", st.Calls))
	return nil
}

// replayCalls reads APICall JSON Lines into the sink. Lines that do not decode are
// counted and skipped.
func replayCalls(ctx context.Context, path string, sink *replaySink) error {
	var in io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			_ = sink.Close()
			return fmt.Errorf("open calls: %w", err)
		}
		defer f.Close()
		in = f
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	var c models.APICall
	var bad, line int
	for sc.Scan() {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		if err := analyzer.DecodeCall(sc.Bytes(), &c); err != nil {
			if bad == 0 {
				log.Warn("undecodable call line skipped", zap.Int("line", line), zap.Error(err))
			}
			bad++
			continue
		}
		if err := sink.Write(&c); err != nil {
			_ = sink.Close()
			return err
		}
		if line%4096 == 0 && ctx.Err() != nil {
			break
		}
	}
	err := sc.Err()
	if cerr := sink.Close(); err == nil {
		err = cerr
	}
	if bad > 0 {
		fmt.Fprintf(os.Stderr, "replay: %d undecodable lines skipped\n", bad)
	}
	if err != nil {
		return fmt.Errorf("read calls: %w", err)
	}
	return ctx.Err()
}
