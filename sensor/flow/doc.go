// Package flow shards decoded TCP segments across worker goroutines by connection.
//
// Both directions of a TCP connection hash to the same worker (Hash is symmetric), so
// each worker owns its connections outright: its reassembly state needs no locks and a
// connection's segments stay in capture order.
//
// Segments travel to workers in batches, which amortises the cost of a channel operation
// over many packets. A segment's payload is borrowed from the decoder, so Add copies it
// into the batch's own buffer; batches are recycled through a free list.
//
// Two queueing disciplines exist. Reading a file applies backpressure: Add blocks while a
// worker's queue is full and nothing is dropped. Live capture never blocks: a batch whose
// queue is full is dropped and its segments are counted in
// apiscope_sensor_dropped_total{reason="queue_full"}.
//
// Each batch carries a horizon: the number of the last packet the dispatcher had handed
// to any worker when the batch left. When a worker has processed a batch it knows it has
// seen every packet numbered up to the horizon that was meant for it, which is what lets
// the sensor merge the workers' output in capture order (see package sensor). Idle
// workers are sent empty batches now and then so their horizon keeps up.
//
// Hash values are for sharding inside one process only: they are not stable across
// versions and must never be persisted or used as a Kafka key.
package flow
