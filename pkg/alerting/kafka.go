package alerting

import (
	"context"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/kafkabus"
)

// KafkaSink publishes alerts to a Kafka topic (normally kafkabus.TopicAlerts), keyed by
// client id, in FormatNative or FormatOCSF, filtered by Filter (the analyzer passes
// medium and above by default). The publisher's queue and counters apply.
type KafkaSink struct {
	// P publishes the records; KafkaSink closes it.
	P *kafkabus.Publisher
	// Format is FormatNative (empty) or FormatOCSF.
	Format string
	// Filter selects what is published.
	Filter Filter
}

// WriteFinding publishes f when it passes the filter. It does not retain f.
func (k *KafkaSink) WriteFinding(_ context.Context, f *models.Finding) error {
	if !k.Filter.Match(f) {
		return nil
	}
	b, err := Marshal(f, k.Format)
	if err != nil {
		return err
	}
	return k.P.Publish([]byte(f.ClientID), b)
}

// Flush waits until the published alerts are written (an analyzer Durable).
func (k *KafkaSink) Flush(ctx context.Context) error { return k.P.Flush(ctx) }

// Close flushes and closes the publisher.
func (k *KafkaSink) Close() error { return k.P.Close() }

var _ Sink = (*KafkaSink)(nil)
