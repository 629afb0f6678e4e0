// Package kafkabus carries apiscope records over Kafka: a Publisher that decouples the
// sensor from the brokers with a bounded queue, a Consumer for the analyzer with manual
// commits, and topic creation.
//
// # Topics
//
// TopicCalls holds APICall JSON keyed by client_id, so every call of one client lands in
// one partition and one analyzer instance sees them in order. TopicAlerts holds findings,
// keyed by client_id too. TopicCallsDLQ receives records the analyzer could not decode.
//
// # Publishing
//
// A Publisher owns a bounded in-memory queue (by messages and bytes) and one goroutine
// that drains it into a kafka-go Writer, a batch at a time. The caller never talks to
// Kafka directly:
//
//   - live mode (the default): Publish never waits for Kafka. When the queue is full the
//     oldest queued message is dropped and counted as
//     apiscope_kafka_dropped_total{reason="queue_full"}; capture keeps running.
//   - blocking mode (PublisherConfig.Blocking, used when reading a pcap file): Publish
//     waits for room, so nothing is dropped and the reader slows down to Kafka's pace.
//
// A batch that fails is retried with exponential backoff until it is written, so the
// publisher recovers by itself when a broker comes back; only the batch being sent plus
// the queue bound are ever held in memory. Records that Kafka rejects for good (too
// large, not authorised) are counted as dropped with their reason, never retried forever.
//
// Delivery is at-least-once: a retry after a timeout may write a batch twice. Consumers
// remove duplicates (finding ids are deterministic).
//
// # Consuming
//
// A Consumer joins a consumer group. Fetch returns one record; Commit marks records
// done and is called only after whatever they produced is durable, so a crash replays
// them rather than losing them.
//
// # Tests
//
// Package kafkatest starts an in-process kfake broker on 127.0.0.1 that kafka-go talks to
// over TCP; KAFKA_BROKERS points the same tests at a real cluster.
package kafkabus
