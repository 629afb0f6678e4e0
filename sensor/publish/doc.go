// Package publish holds the sensor's call sinks that write locally. JSONL writes one
// APICall JSON object per line (JSON Lines) to a file or standard output; the Kafka
// publisher lives in pkg/kafkabus.
package publish
