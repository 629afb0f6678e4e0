// Package devbroker runs a single-node Kafka-protocol broker in process
// (github.com/twmb/franz-go/pkg/kfake) with the apiscope topics created, for local demos
// and tests. Any Kafka client can produce to it and consume from it over TCP.
//
// It is a development broker, not for production: one node, no replication, and only
// the protocol features kfake implements. With a data directory it keeps its log on disk
// and survives restarts; without one it keeps every record in memory.
package devbroker
