package main

import (
	"errors"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/apiscope/apiscope/pkg/kafkabus"
	"github.com/apiscope/apiscope/pkg/kafkabus/devbroker"
)

func init() {
	var cfg devbroker.Config
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run a single-node development Kafka broker (not for production)",
		Long: `Run a Kafka-protocol broker in this process, with the apiscope topics
(` + kafkabus.TopicCalls + `, ` + kafkabus.TopicAlerts + `, ` + kafkabus.TopicCallsDLQ + `) created.

This is a single-node development broker for local demos and tests, NOT for production:
one node, no replication, only what kfake implements of the Kafka protocol. Any Kafka
client (kcat, kafka-go, the Java tools) can produce to it and consume from it.

With --data-dir the log is kept on disk and survives restarts; without it every record
stays in memory until the broker stops. It stops on SIGINT or SIGTERM.`,
		Example: `  apiscope broker --listen 127.0.0.1:9092 --data-dir /var/tmp/apiscope-kafka
  apiscope sensor --pcap capture.pcap --brokers 127.0.0.1:9092
  kcat -b 127.0.0.1:9092 -t apiscope.calls -C -e`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.Partitions < 0 {
				return errors.New("--partitions must be positive")
			}
			b, err := devbroker.Start(cfg, log)
			if err != nil {
				return err
			}
			log.Info("development broker running (single node, not for production)",
				zap.String("addr", b.Addr), zap.String("data_dir", cfg.DataDir), zap.Strings("topics", kafkabus.AllTopics))
			<-cmd.Context().Done()
			log.Info("stopping development broker")
			b.Close()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:9092", "address to accept Kafka clients on (host:port)")
	f.StringVar(&cfg.Advertise, "advertise", "", "host:port clients are told to connect to (default: --listen, or 127.0.0.1 for a wildcard host)")
	f.StringVar(&cfg.DataDir, "data-dir", "", "keep the log on disk in this directory (survives restarts); empty keeps it in memory")
	f.IntVar(&cfg.Partitions, "partitions", 6, "partitions of each apiscope topic created at first start")
	rootCmd.AddCommand(cmd)
}
