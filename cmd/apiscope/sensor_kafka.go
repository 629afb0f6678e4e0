package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/apiscope/apiscope/pkg/kafkabus"
	"github.com/apiscope/apiscope/sensor"
)

// kafkaFlags are the sensor's Kafka options (--brokers and the flags beside it).
type kafkaFlags struct {
	brokers           string
	topic             string
	acks              string
	compression       string
	partitions        int
	replicationFactor int
	queueSize         int
	queueBytes        int64
	clientID          string

	tlsEnabled  bool
	tlsCA       string
	tlsCert     string
	tlsKey      string
	tlsInsecure bool

	saslMechanism string
	saslUser      string
	saslPassword  string
}

// sensorKafka holds the sensor command's Kafka flags once registered.
var sensorKafka = &kafkaFlags{}

// register adds the Kafka flags to fs: connection, topic and publishing options.
func (k *kafkaFlags) register(fs *pflag.FlagSet) {
	k.registerConn(fs, "Kafka bootstrap brokers, comma-separated host:port; publishes calls to Kafka")
	fs.StringVar(&k.topic, "topic", kafkabus.TopicCalls, "Kafka topic for calls (key = client_id)")
	fs.StringVar(&k.acks, "acks", "all", "Kafka acknowledgements: all, 1 or 0")
	fs.StringVar(&k.compression, "compression", kafkabus.DefaultCompression, "Kafka compression: none, gzip, snappy, lz4 or zstd")
	fs.IntVar(&k.partitions, "partitions", 6, "partitions when the topic has to be created")
	fs.IntVar(&k.replicationFactor, "replication-factor", 0, "replication factor when the topic has to be created (0: broker default)")
	fs.IntVar(&k.queueSize, "queue-size", 100_000, "calls held in memory while Kafka is slow or down; live capture drops the oldest beyond it (counted)")
	fs.Int64Var(&k.queueBytes, "queue-bytes", 64<<20, "bytes held in memory while Kafka is slow or down")
}

// registerConn adds only the flags that reach a cluster: brokers, client id, TLS, SASL.
func (k *kafkaFlags) registerConn(fs *pflag.FlagSet, brokersHelp string) {
	fs.StringVar(&k.brokers, "brokers", "", brokersHelp)
	fs.StringVar(&k.clientID, "kafka-client-id", "apiscope", "Kafka client id")
	fs.BoolVar(&k.tlsEnabled, "kafka-tls", false, "connect to Kafka with TLS")
	fs.StringVar(&k.tlsCA, "kafka-tls-ca", "", "PEM CA bundle verifying the brokers (implies --kafka-tls)")
	fs.StringVar(&k.tlsCert, "kafka-tls-cert", "", "PEM client certificate for mutual TLS (with --kafka-tls-key)")
	fs.StringVar(&k.tlsKey, "kafka-tls-key", "", "PEM client key for mutual TLS")
	fs.BoolVar(&k.tlsInsecure, "kafka-tls-insecure-skip-verify", false, "do not verify broker certificates (testing only)")
	fs.StringVar(&k.saslMechanism, "kafka-sasl-mechanism", "", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	fs.StringVar(&k.saslUser, "kafka-sasl-user", "", "SASL user name")
	fs.StringVar(&k.saslPassword, "kafka-sasl-password", "", "SASL password (or set APISCOPE_KAFKA_SASL_PASSWORD)")
}

// enabled reports whether --brokers was given.
func (k *kafkaFlags) enabled() bool { return len(kafkabus.SplitBrokers(k.brokers)) > 0 }

// config turns the flags into a kafkabus.Config and checks the publishing options too.
func (k *kafkaFlags) config() (kafkabus.Config, error) {
	cfg, err := k.connConfig()
	if err != nil {
		return cfg, err
	}
	if _, err := kafkabus.ParseAcks(k.acks); err != nil {
		return cfg, err
	}
	if _, err := kafkabus.ParseCompression(k.compression); err != nil {
		return cfg, err
	}
	if k.queueSize <= 0 || k.queueBytes <= 0 {
		return cfg, errors.New("--queue-size and --queue-bytes must be positive")
	}
	if k.topic == "" {
		return cfg, errors.New("--topic must not be empty")
	}
	return cfg, nil
}

// connConfig turns the connection flags into a kafkabus.Config, checked.
func (k *kafkaFlags) connConfig() (kafkabus.Config, error) {
	pw := k.saslPassword
	if pw == "" {
		pw = os.Getenv("APISCOPE_KAFKA_SASL_PASSWORD")
	}
	cfg := kafkabus.Config{
		Brokers:  kafkabus.SplitBrokers(k.brokers),
		ClientID: k.clientID,
		TLS: kafkabus.TLSConfig{Enabled: k.tlsEnabled, CAFile: k.tlsCA, CertFile: k.tlsCert, KeyFile: k.tlsKey,
			InsecureSkipVerify: k.tlsInsecure},
		SASL: kafkabus.SASLConfig{Mechanism: k.saslMechanism, Username: k.saslUser, Password: pw},
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// kafkaSinkFromFlags builds the sensor's Kafka sink from the sensor command's flags, or
// returns nil, nil without --brokers. It creates the topic when missing (a failure to
// reach the brokers is logged, not fatal: the publisher buffers and retries). blocking is
// true when reading a capture file: the pipeline then waits for Kafka and drops nothing.
// The returned Publisher satisfies sensor.Sink (Write, Close).
func kafkaSinkFromFlags(ctx context.Context, k *kafkaFlags, blocking bool, l *zap.Logger) (*kafkabus.Publisher, error) {
	if !k.enabled() {
		return nil, nil
	}
	cfg, err := k.config()
	if err != nil {
		return nil, err
	}
	tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err = kafkabus.EnsureTopics(tctx, cfg, []string{k.topic}, k.partitions, k.replicationFactor)
	cancel()
	if err != nil {
		l.Warn("could not create or check the Kafka topic; publishing anyway", zap.String("topic", k.topic), zap.Error(err))
	}
	p, err := kafkabus.NewPublisher(kafkabus.PublisherConfig{
		Config:        cfg,
		Topic:         k.topic,
		Acks:          k.acks,
		Compression:   k.compression,
		QueueMessages: k.queueSize,
		QueueBytes:    k.queueBytes,
		Blocking:      blocking,
		// Close flushes what Kafka accepts within this time; the rest is counted as
		// dropped (reason "shutdown").
		CloseTimeout: 30 * time.Second,
	}, l)
	if err != nil {
		return nil, fmt.Errorf("kafka publisher: %w", err)
	}
	if blocking {
		go abandonOnInterrupt(ctx, p, l)
	}
	l.Info("publishing calls to Kafka", zap.Strings("brokers", cfg.Brokers), zap.String("topic", k.topic),
		zap.String("acks", k.acks), zap.String("compression", k.compression), zap.Bool("blocking", blocking))
	return p, nil
}

// interruptGrace is how long an interrupted --pcap run may keep writing to Kafka before
// the publisher gives up on what it holds.
var interruptGrace = 10 * time.Second

// abandonOnInterrupt stops a blocking publisher some time after ctx ends. Reading a
// file, the sensor waits for Kafka; if Kafka is down when the user interrupts the run,
// the write that waits for room would otherwise never return. Closing the publisher
// ends that wait (the calls it holds are counted as dropped, reason "shutdown").
func abandonOnInterrupt(ctx context.Context, p *kafkabus.Publisher, l *zap.Logger) {
	select {
	case <-p.Done():
		return
	case <-ctx.Done():
	}
	t := time.NewTimer(interruptGrace)
	defer t.Stop()
	select {
	case <-p.Done():
	case <-t.C:
		l.Warn("interrupted while Kafka is not taking calls; dropping what is queued")
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = p.Shutdown(sctx)
	}
}

// kafkaSink is the sensor's Kafka sink: the publisher, plus a summary of its counters
// in the log when it closes (a --pcap run prints only the sensor's own counters).
type kafkaSink struct {
	*kafkabus.Publisher
	log *zap.Logger
}

// Close flushes, closes and logs what reached Kafka and what did not.
func (k kafkaSink) Close() error {
	err := k.Publisher.Close()
	st := k.Stats()
	k.log.Info("kafka publisher closed", zap.Uint64("published", st.Published), zap.Uint64("bytes", st.Bytes),
		zap.Uint64("dropped", st.DroppedTotal()), zap.Uint64("errors", st.Errors), zap.Uint64("retries", st.Retries))
	return err
}

func init() {
	sensorKafka.register(sensorCmd.Flags())
	sensorSinkHooks = append(sensorSinkHooks, func(cmd *cobra.Command) (sensor.Sink, error) {
		// Reading a file applies backpressure (nothing dropped); live capture never waits.
		p, err := kafkaSinkFromFlags(cmd.Context(), sensorKafka, sensorFlags.pcap != "", log)
		if err != nil || p == nil {
			return nil, err
		}
		return kafkaSink{Publisher: p, log: log}, nil
	})
}
