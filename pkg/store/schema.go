package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"go.uber.org/zap"
)

// step is one idempotent schema change: either a statement that is safe to repeat
// (CREATE ... IF NOT EXISTS) or a column added only when system.columns lacks it (18.16
// has no ADD COLUMN IF NOT EXISTS).
type step struct {
	sql string
	// addColumn, when set, adds column name of type typ to table (after column after).
	table, name, typ, after string
}

func addColumn(table, name, typ, after string) step {
	return step{table: table, name: name, typ: typ, after: after}
}

// Migration is one schema version: what it changes and the steps that change it.
type Migration struct {
	Version     uint32
	Description string
	steps       []step
}

// callColumnsV1 is api_calls as version 1 created it. Later columns are added by later
// migrations, so an old table and a new one end with the same columns.
const callColumnsV1 = `
	ts          DateTime('UTC'),
	ts_nsec     UInt32,
	src_ip      String,
	src_port    UInt16,
	dst_ip      String,
	dst_port    UInt16,
	method      String,
	host        String,
	uri         String,
	path        String,
	query       String,
	template    String,
	status      UInt16,
	req_bytes   Int64,
	resp_bytes  Int64,
	latency_ms  Float64,
	user_agent  String,
	content_type String,
	client_id   String,
	principal   String,
	actor       String,
	auth        String,
	cred_fp     String,
	trace_id    String,
	partial     UInt8,
	truncated   UInt8,
	dedup_key   UInt64,
	ts_ns       Int64 ALIAS toInt64(toUInt32(ts)) * 1000000000 + ts_nsec`

// Migrations is the schema's history, oldest first. A deployed migration never changes;
// a new field is a new migration.
var Migrations = []Migration{
	{
		Version:     1,
		Description: "api_calls, findings and schema_version",
		steps: []step{
			{sql: `CREATE TABLE IF NOT EXISTS api_calls (` + callColumnsV1 + `
) ENGINE = MergeTree()
PARTITION BY toDate(ts)
ORDER BY (client_id, ts, ts_nsec)`},
			{sql: `CREATE TABLE IF NOT EXISTS findings (
	id            String,
	ts            DateTime('UTC'),
	ts_nsec       UInt32,
	client_id     String,
	client_ip     String,
	principal     String,
	actor         String,
	kind          String,
	severity      String,
	severity_rank UInt8,
	score         Float64,
	summary       String,
	evidence      String,
	related_ips   Array(String),
	version       UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY id`},
		},
	},
	{
		Version:     2,
		Description: "api_calls: shadow, scope, iss, xff",
		steps: []step{
			addColumn(TableCalls, "shadow", "UInt8", "truncated"),
			addColumn(TableCalls, "scope", "String", "shadow"),
			addColumn(TableCalls, "iss", "String", "scope"),
			addColumn(TableCalls, "xff", "String", "iss"),
		},
	},
	{
		Version:     3,
		Description: "endpoint inventory (endpoints, endpoints_mv, endpoint_inventory) and client_profiles",
		steps: []step{
			{sql: `CREATE TABLE IF NOT EXISTS endpoints (
	host        String,
	method      String,
	template    String,
	first_seen  AggregateFunction(min, DateTime('UTC')),
	last_seen   AggregateFunction(max, DateTime('UTC')),
	calls       AggregateFunction(count),
	callers     AggregateFunction(uniq, String),
	top_callers AggregateFunction(topK(10), String),
	auth_kinds  AggregateFunction(groupUniqArray, String),
	status_1xx  AggregateFunction(sum, UInt64),
	status_2xx  AggregateFunction(sum, UInt64),
	status_3xx  AggregateFunction(sum, UInt64),
	status_4xx  AggregateFunction(sum, UInt64),
	status_5xx  AggregateFunction(sum, UInt64),
	no_response AggregateFunction(sum, UInt64),
	resp_bytes  AggregateFunction(sum, Int64),
	shadow      AggregateFunction(max, UInt8)
) ENGINE = AggregatingMergeTree()
ORDER BY (host, method, template)`},
			{sql: `CREATE MATERIALIZED VIEW IF NOT EXISTS endpoints_mv TO endpoints AS
SELECT
	host, method, template,
	minState(ts) AS first_seen,
	maxState(ts) AS last_seen,
	countState() AS calls,
	uniqState(client_id) AS callers,
	topKState(10)(client_id) AS top_callers,
	groupUniqArrayState(auth) AS auth_kinds,
	sumState(toUInt64(status >= 100 AND status < 200)) AS status_1xx,
	sumState(toUInt64(status >= 200 AND status < 300)) AS status_2xx,
	sumState(toUInt64(status >= 300 AND status < 400)) AS status_3xx,
	sumState(toUInt64(status >= 400 AND status < 500)) AS status_4xx,
	sumState(toUInt64(status >= 500)) AS status_5xx,
	sumState(toUInt64(status = 0)) AS no_response,
	sumState(resp_bytes) AS resp_bytes,
	maxState(shadow) AS shadow
FROM api_calls
GROUP BY host, method, template`},
			{sql: `CREATE VIEW IF NOT EXISTS endpoint_inventory AS
SELECT
	host, method, template,
	minMerge(first_seen) AS first_seen,
	maxMerge(last_seen) AS last_seen,
	countMerge(calls) AS calls,
	uniqMerge(callers) AS callers,
	topKMerge(10)(top_callers) AS top_callers,
	groupUniqArrayMerge(auth_kinds) AS auth_kinds,
	sumMerge(status_1xx) AS status_1xx,
	sumMerge(status_2xx) AS status_2xx,
	sumMerge(status_3xx) AS status_3xx,
	sumMerge(status_4xx) AS status_4xx,
	sumMerge(status_5xx) AS status_5xx,
	sumMerge(no_response) AS no_response,
	sumMerge(resp_bytes) AS resp_bytes,
	maxMerge(shadow) AS shadow
FROM endpoints
GROUP BY host, method, template`},
			{sql: `CREATE TABLE IF NOT EXISTS client_profiles (
	client_id String,
	version   UInt64,
	ts        DateTime('UTC'),
	ts_nsec   UInt32,
	kind      String,
	calls     UInt64,
	profile   String
) ENGINE = ReplacingMergeTree()
PARTITION BY toDate(ts)
ORDER BY (client_id, version)`},
		},
	},
	{
		Version:     4,
		Description: "analyzer_state: client profiles the analyzers of a consumer group hand each other",
		steps: []step{
			// updated is the capture time (unix ns) of the client's newest call: the newest
			// state wins. ReplacingMergeTree's version column must be unsigned on 18.16.
			{sql: `CREATE TABLE IF NOT EXISTS analyzer_state (
	consumer_group String,
	partition      UInt16,
	client_id      String,
	version        UInt32,
	updated        UInt64,
	state          String
) ENGINE = ReplacingMergeTree(updated)
ORDER BY (consumer_group, partition, client_id)`},
		},
	},
}

// LatestVersion is the schema version ApplySchema migrates to.
func LatestVersion() uint32 { return Migrations[len(Migrations)-1].Version }

const schemaVersionDDL = `CREATE TABLE IF NOT EXISTS schema_version (
	version     UInt32,
	description String,
	applied_at  DateTime('UTC')
) ENGINE = MergeTree()
ORDER BY version`

// ApplySchema creates or migrates every table to LatestVersion. It is idempotent and safe
// to run on every start, also by several processes at once.
func (s *Store) ApplySchema(ctx context.Context) error {
	return s.applySchemaTo(ctx, LatestVersion())
}

// SchemaVersion returns the highest applied migration, 0 for an empty database.
func (s *Store) SchemaVersion(ctx context.Context) (uint32, error) {
	if err := s.conn.Exec(ctx, schemaVersionDDL); err != nil {
		return 0, fmt.Errorf("create schema_version: %w", err)
	}
	var v uint32
	if err := s.conn.QueryRow(ctx, "SELECT toUInt32(max(version)) FROM schema_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema_version: %w", err)
	}
	return v, nil
}

func (s *Store) applySchemaTo(ctx context.Context, target uint32) error {
	cur, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if cur > LatestVersion() {
		return fmt.Errorf("database %s has schema version %d, newer than this build's %d; upgrade apiscope", s.db, cur, LatestVersion())
	}
	for _, m := range Migrations {
		if m.Version <= cur || m.Version > target {
			continue
		}
		for i, st := range m.steps {
			if err := s.runStep(ctx, st); err != nil {
				return fmt.Errorf("schema migration %d (%s) step %d: %w", m.Version, m.Description, i+1, err)
			}
		}
		if err := s.recordVersion(ctx, m); err != nil {
			return err
		}
		s.log.Info("schema migrated", zap.Uint32("version", m.Version), zap.String("description", m.Description))
	}
	return nil
}

func (s *Store) runStep(ctx context.Context, st step) error {
	if st.sql != "" {
		err := s.conn.Exec(ctx, st.sql)
		if alreadyExists(err) {
			// Another process created it between our IF NOT EXISTS check and the create.
			return nil
		}
		return err
	}
	has := func() (bool, error) {
		var n uint64
		err := s.conn.QueryRow(ctx,
			"SELECT count() FROM system.columns WHERE database = ? AND table = ? AND name = ?",
			s.db, st.table, st.name).Scan(&n)
		return n > 0, err
	}
	if ok, err := has(); err != nil || ok {
		return err
	}
	q := fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", st.table, st.name, st.typ)
	if st.after != "" {
		q += " AFTER " + st.after
	}
	if err := s.conn.Exec(ctx, q); err != nil {
		// Two processes migrating at once: the other one added it first.
		if ok, herr := has(); herr == nil && ok {
			return nil
		}
		return err
	}
	return nil
}

// alreadyExists reports a server error saying the object being created exists.
func alreadyExists(err error) bool {
	var ex *clickhouse.Exception
	if !errors.As(err, &ex) {
		return false
	}
	const tableAlreadyExists, duplicateColumn = 57, 15
	return ex.Code == tableAlreadyExists || ex.Code == duplicateColumn || strings.Contains(ex.Message, "already exists")
}

func (s *Store) recordVersion(ctx context.Context, m Migration) error {
	b, err := s.conn.PrepareBatch(ctx, "INSERT INTO schema_version (version, description, applied_at)")
	if err != nil {
		return fmt.Errorf("record schema version %d: %w", m.Version, err)
	}
	defer b.Close()
	if err := b.Append(m.Version, m.Description, time.Now().UTC()); err != nil {
		return fmt.Errorf("record schema version %d: %w", m.Version, err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("record schema version %d: %w", m.Version, err)
	}
	return nil
}
