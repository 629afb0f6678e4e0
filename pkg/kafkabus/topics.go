package kafkabus

import (
	"context"
	"errors"
	"fmt"

	"github.com/segmentio/kafka-go"
)

// Topic names.
const (
	// TopicCalls carries APICall JSON, key = client_id.
	TopicCalls = "apiscope.calls"
	// TopicAlerts carries findings, key = client_id.
	TopicAlerts = "apiscope.alerts"
	// TopicCallsDLQ receives records from TopicCalls the analyzer could not decode.
	TopicCallsDLQ = "apiscope.calls.dlq"
)

// AllTopics lists every topic apiscope uses, for brokers and setup scripts.
var AllTopics = []string{TopicCalls, TopicAlerts, TopicCallsDLQ}

// EnsureTopics creates the topics that do not exist yet. A topic that already exists is
// success, whatever its partition count. partitions and replicationFactor <= 0 mean the
// broker's defaults (Kafka 2.4 and later).
func EnsureTopics(ctx context.Context, cfg Config, topics []string, partitions, replicationFactor int) error {
	if len(topics) == 0 {
		return nil
	}
	cl, err := cfg.client()
	if err != nil {
		return err
	}
	defer closeClient(cl)
	if partitions <= 0 {
		partitions = -1
	}
	if replicationFactor <= 0 {
		replicationFactor = -1
	}
	req := &kafka.CreateTopicsRequest{}
	for _, t := range topics {
		req.Topics = append(req.Topics, kafka.TopicConfig{
			Topic:             t,
			NumPartitions:     partitions,
			ReplicationFactor: replicationFactor,
		})
	}
	resp, err := cl.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("kafka: creating topics %v: %w", topics, err)
	}
	var errs []error
	for _, t := range topics {
		terr := resp.Errors[t]
		if terr == nil || errors.Is(terr, kafka.TopicAlreadyExists) {
			continue
		}
		errs = append(errs, fmt.Errorf("kafka: creating topic %s: %w", t, terr))
	}
	return errors.Join(errs...)
}
