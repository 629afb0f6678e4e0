// Package alerting turns findings into the SOC's alert stream: renderings (a text line
// for people, native JSON, OCSF 1.3 Detection Finding, CEF), filters, storm control, and
// sinks that deliver alerts outside Kafka (an HTTP webhook with an HMAC signature, syslog
// RFC 5424 over UDP, TCP or TLS).
//
// Every sink implements Sink. Sinks never block the analyzer on a slow receiver: each
// owns a bounded queue and one sending goroutine; when the queue is full the oldest alert
// is dropped and counted (apiscope_alerts_dropped_total{sink,reason="queue_full"}), and
// within the bound nothing is lost: failed sends are retried with backoff until they
// succeed or Close gives up, every retry and failure counted.
//
// Storm control (Storm, NewStormSink) lets at most N alerts per client and kind through in
// a window of capture time; the rest are folded into one summary alert that says how many
// were folded, sent when the window closes.
package alerting
