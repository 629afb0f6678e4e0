// Package models holds the records that cross process boundaries: APICall (sensor to
// analyzer, through Kafka) and Finding (analyzer to ClickHouse and the SOC), with their
// JSON encoding and schema version.
//
// Field names are a stable contract (see DESIGN.md): new fields may be added, none
// renamed or removed without a new SchemaVersion.
package models
