// Package sensor runs the sensor pipeline: frames from a capture Source are decoded to TCP
// segments, sharded by connection across flow workers, reassembled, parsed as HTTP/1.x,
// turned into models.APICall records and written, in capture order, to a Sink.
//
//	capture ─ decode ─ flow.Sharder ─┬─ worker: tcpstream ─ httpwire ─ call ─┐
//	                                 └─ worker ...                           ├─ merge ─ Sink
//
// Each stage has a goroutine of its own, except with one worker reading a file: then the
// stages run in turn on one goroutine, one core (Suricata's "single" run mode), since
// goroutines would only pass every segment and every call between cores' caches to keep
// that one worker busy. The output is the same either way.
//
// # Order
//
// Output order depends only on the capture, never on the number of workers or on
// goroutine scheduling, so a file gives byte-identical output on every run. Every segment
// and every capture-time tick gets an event number from the dispatcher. A call is
// stamped with the event that completed it (the segment carrying the end of its
// response, the tick whose idle timeout ended its connection, or the final flush), and
// calls are written in (event, request time, client, server, position on the
// connection) order. Each worker reports a horizon with every batch it finishes: every
// event up to it that was meant for that worker has been processed. The merge writes a
// call only once every worker's horizon has reached its event.
//
// Idle and out-of-order timeouts run on capture time: the dispatcher sends a tick to all
// workers at the same event whenever the capture clock crosses Config.TickInterval.
//
// # Backpressure
//
// Reading a file (Config.Live false) applies backpressure end to end and drops nothing.
// Live capture never blocks the capture loop: a full worker queue drops the batch
// (apiscope_sensor_dropped_total{reason="queue_full"}).
//
// # Shutdown
//
// Cancelling the context stops the capture (Source.Close), then the queues are drained,
// every worker flushes its reassembly (open requests become calls with status 0), the
// merge writes what it holds and the Sink is closed.
package sensor
