package kafkabus

import (
	"fmt"
	"strings"

	"github.com/segmentio/kafka-go"
)

// DefaultCompression is the codec used when none is configured. It was chosen by
// measuring APICall JSON batches (docs/BENCHMARKS.md, "Kafka"): lz4 costs no more CPU per
// call than sending uncompressed and puts about 5x fewer bytes on the wire, 20 % fewer
// than snappy for the same CPU; zstd halves the bytes again for about 40 % more CPU.
const DefaultCompression = "lz4"

// ParseCompression maps a codec name (none, gzip, snappy, lz4, zstd; empty means
// DefaultCompression) to kafka-go's codec.
func ParseCompression(s string) (kafka.Compression, error) {
	if s == "" {
		s = DefaultCompression
	}
	switch strings.ToLower(s) {
	case "none":
		return 0, nil
	case "gzip":
		return kafka.Gzip, nil
	case "snappy":
		return kafka.Snappy, nil
	case "lz4":
		return kafka.Lz4, nil
	case "zstd":
		return kafka.Zstd, nil
	}
	return 0, fmt.Errorf("kafka: unknown compression %q (want none, gzip, snappy, lz4 or zstd)", s)
}

// ParseAcks maps --acks (all or -1, 1 or leader, 0 or none; empty means all) to
// kafka-go's RequiredAcks.
func ParseAcks(s string) (kafka.RequiredAcks, error) {
	switch strings.ToLower(s) {
	case "", "all", "-1":
		return kafka.RequireAll, nil
	case "1", "leader":
		return kafka.RequireOne, nil
	case "0", "none":
		return kafka.RequireNone, nil
	}
	return 0, fmt.Errorf("kafka: bad acks %q (want all, 1 or 0)", s)
}
