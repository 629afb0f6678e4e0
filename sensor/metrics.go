package sensor

import "github.com/apiscope/apiscope/pkg/metrics"

// Counters of the pipeline itself; every stage keeps its own in its package, all under
// apiscope_sensor_*, so one Snapshot prints the whole sensor.
var (
	mPackets = metrics.Default.Counter("apiscope_sensor_packets_total",
		"Frames taken from the capture source.")
	mBytes = metrics.Default.Counter("apiscope_sensor_bytes_total",
		"Wire bytes of the frames that carried a TCP segment.")
	mSegments = metrics.Default.Counter("apiscope_sensor_tcp_segments_total",
		"TCP segments handed to the flow workers.")
	mCalls = metrics.Default.Counter("apiscope_sensor_calls_total",
		"API calls written to the sink.")
	mCallsNoResp = metrics.Default.Counter("apiscope_sensor_calls_without_response_total",
		"API calls written without a response (status 0): the connection ended or timed out first.")
	mSinkErrors = metrics.Default.Counter("apiscope_sensor_sink_errors_total",
		"Calls the sink failed to write.")
	mSourceErrors = metrics.Default.Counter("apiscope_sensor_source_errors_total",
		"Capture sources that ended with an error after their good frames.")
)
