// Package store keeps apiscope's records in ClickHouse: every API call (api_calls), every
// finding (findings), the endpoint inventory (endpoints, filled by a materialized view from
// api_calls) and client profile snapshots (client_profiles).
//
// # Versions
//
// The schema runs on every ClickHouse from 18.16 to current releases, so it avoids what
// 18.16 lacks: DateTime64 (ts is DateTime('UTC') plus ts_nsec, the nanoseconds within the
// second), Map and JSON types (evidence and profiles are JSON strings, related_ips an
// Array(String)), table TTL (ApplyRetention drops daily partitions), LowCardinality (its
// native encoding differs on 18.16), ADD COLUMN IF NOT EXISTS (migrations look columns up
// in system.columns first) and SimpleAggregateFunction (the inventory uses
// AggregateFunction columns with -State in the view and -Merge in queries).
//
// # Schema
//
// ApplySchema runs the versioned migrations not yet recorded in schema_version. Every step
// is idempotent on its own (CREATE ... IF NOT EXISTS, ADD COLUMN only when missing), so a
// migration interrupted half way is simply run again, and running ApplySchema on every
// start is safe.
//
// # Writing
//
// WriteCalls, WriteFindings and WriteProfiles insert one batch each through
// PrepareBatch with an explicit column list (the only insert form that works with
// clickhouse-go v2 against 18.16) and retry connection errors with exponential backoff
// until their context ends. A server error that retrying cannot fix (a missing column, a
// bad value) is returned at once.
//
// BatchWriter sits in front of them for the analyzer: it buffers rows by count and age,
// bounds the rows it holds (Add blocks when the bound is reached, so a ClickHouse outage
// stops consumption instead of dropping rows), and Flush returns only when every row added
// before it is stored, so Kafka offsets can be committed after Flush.
//
// # Duplicates
//
// Delivery from Kafka is at least once. Findings have deterministic ids and findings is a
// ReplacingMergeTree on id with version = the finding's capture time in nanoseconds:
// SELECT ... FROM findings FINAL returns each finding once, in its latest state (an
// incident re-emits its finding under the same id as it grows). findings is not
// partitioned, so an update that crosses a month still replaces the older row.
// api_calls is a plain MergeTree (a ReplacingMergeTree ordered by client and time would
// merge distinct calls sharing a second); each row carries dedup_key, a hash of the fields
// that identify a call (capture time in nanoseconds, both connection ends, method, host,
// URI), so uniqExact(dedup_key) counts calls exactly and LIMIT 1 BY dedup_key lists them
// once.
package store
