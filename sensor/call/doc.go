// Package call builds models.APICall records from parsed HTTP transactions: the
// connection, request line, status, sizes and latency, the identity of the client
// (package identity) and the endpoint template (package template).
//
// A Builder is shared by all sensor workers and is safe for concurrent use: identity
// resolution holds no per-call state, and the template learner is one shared, striped
// structure whose decisions depend on capture time rather than on which worker asks first
// (see package template, Determinism), so one capture gives the same calls with 1 or N
// workers.
//
// Secrets never reach a record: credentials become cred_fp, and the values of API-key
// and other secret query parameters are replaced by "REDACTED" in uri and query (the
// one place the record departs from "uri exactly as sent").
package call
