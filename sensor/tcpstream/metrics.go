package tcpstream

import "github.com/apiscope/apiscope/pkg/metrics"

// Reasons for forced flushes and drops.
const (
	// ReasonBufferLimit: a connection's or the Assembler's page budget was spent, so the
	// oldest out-of-order data was delivered behind a gap.
	ReasonBufferLimit = "buffer_limit"
	// ReasonConnLimit: the open-connection bound was reached.
	ReasonConnLimit = "conn_limit"
	// ReasonPanic: a bug hit while processing a connection; its state was dropped.
	ReasonPanic = "panic"
)

var (
	mStreams = metrics.Default.Counter("apiscope_sensor_tcp_streams_total",
		"TCP connections tracked by the reassembler.")
	mGaps = metrics.Default.Counter("apiscope_sensor_tcp_gaps_total",
		"Holes in a reassembled TCP direction (bytes never captured).")
	mGapBytes = metrics.Default.Counter("apiscope_sensor_tcp_gap_bytes_total",
		"Bytes missing from reassembled TCP directions.")
	mAckedHoles = metrics.Default.Counter("apiscope_sensor_tcp_acked_holes_total",
		"Holes delivered at once because the receiver acknowledged the missing bytes (lost before the capture point).")
	mReopened = metrics.Default.Counter("apiscope_sensor_tcp_reopened_total",
		"TCP connections replaced by a new handshake on the same addresses and ports.")
	mResetClosed = metrics.Default.Counter("apiscope_sensor_tcp_reset_closed_total",
		"TCP connections ended after an RST once they stayed quiet.")
	mIdleClosed = metrics.Default.Counter("apiscope_sensor_tcp_idle_closed_total",
		"TCP connections ended by the idle timeout.")
	mForcedBuffer = metrics.Default.Counter("apiscope_sensor_tcp_forced_flush_total",
		"Flushes forced by a bound, by reason.", "reason", ReasonBufferLimit)
	mForcedConn = metrics.Default.Counter("apiscope_sensor_tcp_forced_flush_total",
		"Flushes forced by a bound, by reason.", "reason", ReasonConnLimit)
	mDroppedConn = metrics.Default.Counter("apiscope_sensor_dropped_total",
		"Packets or calls dropped by the sensor, by reason.", "reason", ReasonConnLimit)
	mPanics = metrics.Default.Counter("apiscope_sensor_worker_panics_total",
		"Bugs recovered at the flow-worker boundary; the connection involved was dropped.")
)
