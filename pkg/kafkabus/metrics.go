package kafkabus

import "github.com/apiscope/apiscope/pkg/metrics"

// Reasons a record is dropped, the reason label of apiscope_kafka_dropped_total.
const (
	// ReasonQueueFull: the queue bound was hit in live mode; the oldest record went.
	ReasonQueueFull = "queue_full"
	// ReasonTooLarge: the record is larger than one batch may be.
	ReasonTooLarge = "too_large"
	// ReasonRejected: the broker refused the record with a non-retriable error.
	ReasonRejected = "rejected"
	// ReasonShutdown: Shutdown's deadline passed before the record was written.
	ReasonShutdown = "shutdown"
	// ReasonClosed: Publish was called after Close.
	ReasonClosed = "closed"
	// ReasonEncode: the record could not be encoded.
	ReasonEncode = "encode"
)

var dropReasons = []string{ReasonQueueFull, ReasonTooLarge, ReasonRejected, ReasonShutdown, ReasonClosed, ReasonEncode}

// pubMetrics are one publisher's series, resolved once at construction.
type pubMetrics struct {
	published *metrics.Counter
	bytes     *metrics.Counter
	errors    *metrics.Counter
	retries   *metrics.Counter
	dropped   map[string]*metrics.Counter
	depth     *metrics.Gauge
	depthB    *metrics.Gauge
}

func newPubMetrics(r *metrics.Registry, topic string) pubMetrics {
	m := pubMetrics{
		published: r.Counter("apiscope_kafka_published_total", "Records written to Kafka.", "topic", topic),
		bytes:     r.Counter("apiscope_kafka_published_bytes_total", "Key and value bytes of records written to Kafka (before compression).", "topic", topic),
		errors:    r.Counter("apiscope_kafka_publish_errors_total", "Failed write attempts (each failed batch counts once).", "topic", topic),
		retries:   r.Counter("apiscope_kafka_publish_retries_total", "Batch write retries after a failure.", "topic", topic),
		depth:     r.Gauge("apiscope_kafka_queue_depth", "Records waiting in the publish queue.", "topic", topic),
		depthB:    r.Gauge("apiscope_kafka_queue_bytes", "Bytes waiting in the publish queue.", "topic", topic),
		dropped:   map[string]*metrics.Counter{},
	}
	for _, reason := range dropReasons {
		m.dropped[reason] = r.Counter("apiscope_kafka_dropped_total", "Records dropped before reaching Kafka, by reason.", "reason", reason, "topic", topic)
	}
	return m
}

// consMetrics are one consumer's series.
type consMetrics struct {
	fetched   *metrics.Counter
	committed *metrics.Counter
	errors    *metrics.Counter
}

func newConsMetrics(r *metrics.Registry, group string) consMetrics {
	return consMetrics{
		fetched:   r.Counter("apiscope_kafka_fetched_total", "Records fetched from Kafka.", "group", group),
		committed: r.Counter("apiscope_kafka_committed_total", "Records whose offsets were committed.", "group", group),
		errors:    r.Counter("apiscope_kafka_consume_errors_total", "Failed fetches and commits.", "group", group),
	}
}
