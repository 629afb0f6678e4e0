// Package kafkatest starts a Kafka-protocol broker for tests: an in-process kfake
// cluster of one node listening on 127.0.0.1, which kafka-go clients reach over TCP
// exactly as they reach Kafka. Setting KAFKA_BROKERS (host:port[,host:port]) points the
// same tests at a real cluster instead.
//
//	addr := kafkatest.Start(t)                       // topics of kafkabus.AllTopics exist
//	cfg := kafkabus.Config{Brokers: kafkabus.SplitBrokers(addr)}
//
// For outage tests, StartBroker returns a handle that can stop the broker and start it
// again on the same address with the same data directory.
package kafkatest
