package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/apiscope/apiscope/analyzer"
	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/alerting"
	"github.com/apiscope/apiscope/pkg/kafkabus"
	"github.com/apiscope/apiscope/pkg/metrics"
	"github.com/apiscope/apiscope/pkg/store"
)

var analyzerFlags struct {
	kafka       kafkaFlags
	group       string
	alertsTopic string
	dlqTopic    string
	clickhouse  string
	retention   int
	ckptRecords int
	ckptEvery   time.Duration
	idleFlush   time.Duration
	stateDir    string
	findings    string
	minSeverity string
	engine      engineFlags
	alerts      alertSinkFlags
}

var analyzerCmd = &cobra.Command{
	Use:   "analyzer --brokers HOST:PORT [--clickhouse DSN] [--state-dir DIR]",
	Short: "Consume calls from Kafka, learn baselines, write findings and alerts",
	Long: `analyzer consumes apiscope.calls as a member of a consumer group, learns every client's
baseline and raises explained findings. Findings go to ClickHouse (--clickhouse), to the
alert topic (medium and above by default) and optionally to a JSON Lines file. Offsets are
committed only after the outputs are flushed and the state is checkpointed to --state-dir,
so a restart continues exactly where the last commit left off. With --clickhouse, client
profiles are also saved in ClickHouse (analyzer_state, per --group): when the group moves a
partition to another analyzer, or an analyzer restarts without its --state-dir, the
profiles of that partition's clients are loaded from there. Records that cannot be
decoded are counted and set aside on the dead-letter topic, never retried.`,
	Example: `  apiscope analyzer --brokers 127.0.0.1:9092 --clickhouse clickhouse://127.0.0.1:9000/apiscope --state-dir /var/lib/apiscope
  apiscope analyzer --brokers kafka:9092 --group apiscope-analyzer --findings findings.jsonl
  apiscope analyzer --brokers 127.0.0.1:9092 --detectors ratelimit-baseline --findings baseline.jsonl`,
	Args: cobra.NoArgs,
	RunE: runAnalyzer,
}

func init() {
	f := analyzerCmd.Flags()
	a := &analyzerFlags
	a.kafka.register(f)
	// The Kafka flags are the sensor's; say what they mean here.
	f.Lookup("brokers").Usage = "Kafka bootstrap brokers, comma-separated host:port: consume calls from --topic, publish alerts to --alerts-topic"
	f.Lookup("topic").Usage = "Kafka topic the calls are consumed from"
	f.Lookup("partitions").Usage = "partitions when the analyzer has to create its topics"
	f.Lookup("acks").Usage = "Kafka acknowledgements for alert and dead-letter records: all, 1 or 0"
	f.Lookup("compression").Usage = "Kafka compression of alert and dead-letter records: none, gzip, snappy, lz4 or zstd"
	// The publishing queue bounds belong to the sensor: the analyzer's publishers wait
	// for Kafka rather than drop. Kept, hidden, so one config file serves both.
	_ = f.MarkHidden("queue-size")
	_ = f.MarkHidden("queue-bytes")
	f.StringVar(&a.group, "group", "apiscope-analyzer", "Kafka consumer group")
	f.StringVar(&a.alertsTopic, "alerts-topic", kafkabus.TopicAlerts, "topic for alerts (empty: no alerts)")
	f.StringVar(&a.dlqTopic, "dlq-topic", kafkabus.TopicCallsDLQ, "topic for records that cannot be decoded")
	f.StringVar(&a.clickhouse, "clickhouse", "", "store calls, findings and profiles in ClickHouse (DSN)")
	f.IntVar(&a.retention, "retention-days", 0, "with --clickhouse, drop api_calls and client_profiles partitions older than N days, at start and every 24 h (0 = keep everything)")
	f.StringVar(&a.stateDir, "state-dir", "", "directory for the analyzer checkpoint (empty: state is not kept across restarts)")
	f.IntVar(&a.ckptRecords, "checkpoint-every", 0, "records between commits; with --state-dir each commit first checkpoints the whole state, and a restart re-reads at most this many records (0 = 500000 with --state-dir, 20000 without)")
	f.DurationVar(&a.ckptEvery, "checkpoint-interval", 0, "capture time between commits and checkpoints, whichever of this and --checkpoint-every comes first (0 = 5m)")
	f.DurationVar(&a.idleFlush, "idle-flush", 10*time.Second, "wall time without any record after which buffered calls are analysed and held findings released, as at the end of a capture (0 or negative: never)")
	f.StringVar(&a.findings, "findings", "", "also append findings as JSON Lines to FILE")
	f.StringVar(&a.minSeverity, "alert-min-severity", models.SeverityMedium, "least severity published as an alert (topic, webhook, syslog)")
	a.engine.register(f)
	a.alerts.register(f)
	rootCmd.AddCommand(analyzerCmd)
}

// Readiness components of the analyzer (/readyz).
const (
	readyKafka      = "kafka"
	readyClickHouse = "clickhouse"
)

// consumerSource adapts the kafkabus consumer to the analyzer's Source. The first record
// fetched marks the consumer ready.
type consumerSource struct {
	c     *kafkabus.Consumer
	ready *sync.Once
}

func (s consumerSource) Fetch(ctx context.Context) (analyzer.Record, error) {
	m, err := s.c.Fetch(ctx)
	if err != nil {
		return analyzer.Record{}, err
	}
	s.ready.Do(func() { metrics.DefaultReadiness.Ready(readyKafka) })
	if rb := m.Rebalance; rb != nil {
		// The group waits for Done after a revocation: the analyzer calls it once the
		// revoked partitions' work is durable and committed.
		return analyzer.Record{Rebalance: &analyzer.Rebalance{Revoked: rb.Revoked, Assigned: rb.Assigned, Done: rb.Done}}, nil
	}
	return analyzer.Record{Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Ack: m}, nil
}

// stateStore keeps the analyzer's client states in ClickHouse (analyzer_state) under the
// consumer group, so the analyzer a partition moves to continues its clients.
type stateStore struct {
	st    *store.Store
	group string
}

func (s stateStore) Save(ctx context.Context, states []analyzer.ClientState) error {
	rows := make([]store.StateRow, len(states))
	for i, c := range states {
		rows[i] = store.StateRow{Partition: c.Partition, ClientID: c.ClientID, Version: uint32(c.Version), Updated: c.Last, State: c.State}
	}
	return s.st.SaveClientStates(ctx, s.group, rows)
}

func (s stateStore) Load(ctx context.Context, partitions []int) ([]analyzer.ClientState, error) {
	rows, err := s.st.LoadClientStates(ctx, s.group, partitions)
	if err != nil {
		return nil, err
	}
	out := make([]analyzer.ClientState, len(rows))
	for i, r := range rows {
		out[i] = analyzer.ClientState{Partition: r.Partition, ClientID: r.ClientID, Version: int(r.Version), Last: r.Updated, State: r.State}
	}
	return out, nil
}

// lagInterval is how often the consumer lag gauge is refreshed.
var lagInterval = 10 * time.Second

// watchLag sets apiscope_analyzer_consumer_lag from the group's uncommitted records now
// and every lagInterval until ctx ends; the first answer from the cluster also marks the
// consumer ready. A failed query is logged once per failure streak and retried.
func watchLag(ctx context.Context, c *kafkabus.Consumer, ready *sync.Once) {
	g := metrics.Default.Gauge("apiscope_analyzer_consumer_lag", "Records of the consumed topics the analyzer's group has not committed yet.")
	t := time.NewTicker(lagInterval)
	defer t.Stop()
	failing := false
	for {
		qctx, cancel := context.WithTimeout(ctx, lagInterval)
		lag, err := c.Lag(qctx)
		cancel()
		switch {
		case err == nil:
			g.Set(float64(lag))
			ready.Do(func() { metrics.DefaultReadiness.Ready(readyKafka) })
			failing = false
		case ctx.Err() == nil && !failing:
			log.Warn("consumer lag unavailable", zap.Error(err))
			failing = true
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s consumerSource) Commit(ctx context.Context, recs []analyzer.Record) error {
	msgs := make([]kafkabus.Message, len(recs))
	for i, r := range recs {
		msgs[i] = r.Ack.(kafkabus.Message)
	}
	return s.c.Commit(ctx, msgs...)
}

func runAnalyzer(cmd *cobra.Command, _ []string) error {
	a := &analyzerFlags
	if !a.kafka.enabled() {
		return errors.New("--brokers is required")
	}
	if a.group == "" {
		return errors.New("--group must not be empty")
	}
	if a.retention < 0 {
		return fmt.Errorf("--retention-days must not be negative, got %d", a.retention)
	}
	if a.retention > 0 && a.clickhouse == "" {
		return errors.New("--retention-days needs --clickhouse")
	}
	minSev, err := models.ParseSeverity(a.minSeverity)
	if err != nil {
		return fmt.Errorf("--alert-min-severity: %w", err)
	}
	kcfg, err := a.kafka.config()
	if err != nil {
		return err
	}
	if a.ckptRecords < 0 || a.ckptEvery < 0 {
		return errors.New("--checkpoint-every and --checkpoint-interval must not be negative")
	}
	ecfg, err := a.engine.config()
	if err != nil {
		return err
	}
	ecfg.CheckpointEvery = a.ckptEvery
	ctx := cmd.Context()
	metrics.DefaultReadiness.NotReady(readyKafka, "consumer not connected yet")
	if a.clickhouse != "" {
		metrics.DefaultReadiness.NotReady(readyClickHouse, "not connected yet")
	}
	if err := kafkabus.EnsureTopics(ctx, kcfg, []string{a.kafka.topic, a.alertsTopic, a.dlqTopic}, a.kafka.partitions, a.kafka.replicationFactor); err != nil {
		log.Warn("could not create topics; continuing with what exists", zap.Error(err))
	}

	var outs analyzer.Outputs
	var durables []analyzer.Durable
	var closers []func()
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}()
	if a.findings != "" {
		j, err := analyzer.CreateJSONL(a.findings)
		if err != nil {
			return err
		}
		outs = append(outs, j)
		durables = append(durables, j)
		closers = append(closers, func() { _ = j.Close() })
	}
	var rc analyzer.RunConfig
	if a.clickhouse != "" {
		st, sa, err := openAnalyzerStore(ctx, a.clickhouse, log)
		if err != nil {
			return err
		}
		metrics.DefaultReadiness.Ready(readyClickHouse)
		outs = append(outs, sa)
		rc.Store = sa
		rc.States = stateStore{st: st, group: a.group}
		closers = append(closers, func() {
			cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := sa.w.Close(cctx); err != nil {
				log.Error("clickhouse writer closed with rows unwritten", zap.Error(err))
			}
			st.Close()
		})
		if a.retention > 0 {
			closers = append(closers, startRetention(ctx, st, a.retention, retentionEvery, log))
		}
	}
	newPub := func(topic string) (*kafkabus.Publisher, error) {
		p, err := kafkabus.NewPublisher(kafkabus.PublisherConfig{Config: kcfg, Topic: topic, Acks: a.kafka.acks,
			Compression: a.kafka.compression, Blocking: true}, log)
		if err != nil {
			return nil, err
		}
		closers = append(closers, func() {
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = p.Shutdown(cctx)
		})
		return p, nil
	}
	filter := alerting.Filter{MinSeverity: minSev}
	var kafkaAlerts alerting.Sink
	if a.alertsTopic != "" {
		p, err := newPub(a.alertsTopic)
		if err != nil {
			return err
		}
		ks := &alerting.KafkaSink{P: p, Format: a.alerts.format, Filter: filter}
		durables = append(durables, ks)
		kafkaAlerts = ks
	}
	alertSink, err := a.alerts.build(filter, kafkaAlerts, log)
	if err != nil {
		return err
	}
	if alertSink != nil {
		outs = append(outs, alerting.Background{Sink: alertSink})
		closers = append(closers, func() {
			if err := alertSink.Close(); err != nil {
				log.Error("closing the alert sinks", zap.Error(err))
			}
		})
	}
	if a.dlqTopic != "" {
		p, err := newPub(a.dlqTopic)
		if err != nil {
			return err
		}
		rc.DeadLetter = func(ctx context.Context, rec analyzer.Record, reason error) error {
			return p.Publish(rec.Key, rec.Value, kafkabus.Header{Key: "apiscope-error", Value: []byte(reason.Error())})
		}
		durables = append(durables, p)
	}
	if len(outs) == 0 {
		return errors.New("no output for findings: give --clickhouse, --findings or an --alerts-topic")
	}
	eng, err := analyzer.New(ecfg, outs)
	if err != nil {
		return err
	}
	cons, err := kafkabus.NewConsumer(kafkabus.ConsumerConfig{Config: kcfg, Group: a.group, Topics: []string{a.kafka.topic},
		RebalanceEvents: true}, log)
	if err != nil {
		return err
	}
	defer cons.Close()
	var connected sync.Once
	lctx, stopLag := context.WithCancel(ctx)
	lagDone := make(chan struct{})
	go func() { defer close(lagDone); watchLag(lctx, cons, &connected) }()
	defer func() { stopLag(); <-lagDone }()
	rc.StateDir = a.stateDir
	rc.CommitRecords = a.ckptRecords
	rc.IdleFlush = a.idleFlush
	if rc.IdleFlush == 0 {
		rc.IdleFlush = -1 // the flag's 0 means never, as its help says for negatives
	}
	rc.Durables = durables
	rc.Log = log
	log.Info("analyzer consuming", zap.String("topic", a.kafka.topic), zap.String("group", a.group),
		zap.Strings("detectors", eng.DetectorNames()), zap.String("state_dir", a.stateDir))
	err = analyzer.Run(ctx, eng, consumerSource{c: cons, ready: &connected}, rc)
	st := eng.Stats()
	log.Info("analyzer stopped", zap.Uint64("calls", st.Calls), zap.Int("clients", st.Clients),
		zap.Uint64("findings", st.Findings), zap.Uint64("late", st.Late), zap.Uint64("duplicates", st.Duplicates))
	return err
}
