// Package call builds models.APICall records from parsed HTTP transactions: the
// connection, request line, status, sizes and latency, the identity of the client
// (package identity) and the endpoint template (package template).
//
// A Builder is shared by all sensor workers and is safe for concurrent use. Work is split
// in two so that one capture gives the same calls with 1 or N workers:
//
//   - Build, on the workers, fills every field. Its template is the static one (segment
//     classifier, OpenAPI documents, templates loaded at start), which depends on the
//     call alone.
//   - Learn, in the sensor's ordered output stage (WrapSink wraps the sink with it),
//     records each call for online learning and replaces the template with the learned
//     one. One goroutine in an order that does not depend on the worker count: learned
//     templates are deterministic by construction.
//
// Without the ordered stage, calls carry static templates only. When every call goes
// through it, SinkTemplated is the workers' builder: the same fields without the static
// template, which Learn would replace anyway (the sensor command does this).
//
// BuildWithAddrs and AddrString let a caller format a connection's addresses once for
// all its calls (the sensor's workers do).
//
// Secrets never reach a record: credentials become cred_fp, and the values of API-key
// and other secret query parameters are replaced by "REDACTED" in uri and query (the
// one place the record departs from "uri exactly as sent").
package call
