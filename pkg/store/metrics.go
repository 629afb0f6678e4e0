package store

import (
	"github.com/apiscope/apiscope/pkg/metrics"
)

// Table names, also used as the table label of every metric.
const (
	TableCalls          = "api_calls"
	TableFindings       = "findings"
	TableEndpoints      = "endpoints"
	TableEndpointsMV    = "endpoints_mv"
	TableInventory      = "endpoint_inventory"
	TableClientProfiles = "client_profiles"
	TableSchemaVersion  = "schema_version"
)

// Error reasons for apiscope_store_write_errors_total.
const (
	reasonConnection = "connection" // retried
	reasonServer     = "server"     // a server exception retrying cannot fix
	reasonCanceled   = "canceled"   // the context ended while retrying
)

// tableMetrics are one table's write counters, resolved once per table.
type tableMetrics struct {
	rows       *metrics.Counter
	batches    *metrics.Counter
	retries    *metrics.Counter
	errConn    *metrics.Counter
	errServer  *metrics.Counter
	errCancel  *metrics.Counter
	failedRows *metrics.Counter
	latency    *metrics.Gauge
}

func newTableMetrics(table string) *tableMetrics {
	r := metrics.Default
	errs := func(reason string) *metrics.Counter {
		return r.Counter("apiscope_store_write_errors_total", "Failed insert attempts into ClickHouse, by table and reason.", "table", table, "reason", reason)
	}
	return &tableMetrics{
		rows:       r.Counter("apiscope_store_rows_written_total", "Rows inserted into ClickHouse, by table.", "table", table),
		batches:    r.Counter("apiscope_store_batches_total", "Insert batches committed to ClickHouse, by table.", "table", table),
		retries:    r.Counter("apiscope_store_retries_total", "Insert attempts repeated after a connection error, by table.", "table", table),
		errConn:    errs(reasonConnection),
		errServer:  errs(reasonServer),
		errCancel:  errs(reasonCanceled),
		failedRows: r.Counter("apiscope_store_rows_failed_total", "Rows whose insert failed for good (returned to the caller as an error), by table.", "table", table),
		latency:    r.Gauge("apiscope_store_write_latency_seconds", "Duration of the last successful insert, retries included, by table.", "table", table),
	}
}

var (
	callsMetrics    = newTableMetrics(TableCalls)
	findingsMetrics = newTableMetrics(TableFindings)
	profilesMetrics = newTableMetrics(TableClientProfiles)

	pendingRows = metrics.Default.Gauge("apiscope_store_pending_rows", "Rows held by batch writers (buffered or being inserted).")
	blockedAdds = metrics.Default.Counter("apiscope_store_add_blocked_total", "Batch writer Add calls that waited because the pending-row bound was reached.")
)
