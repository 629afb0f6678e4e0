package flow

import "github.com/apiscope/apiscope/pkg/metrics"

// Drop reasons of apiscope_sensor_dropped_total counted here.
const (
	// ReasonQueueFull: a worker's queue was full during live capture.
	ReasonQueueFull = "queue_full"
)

var (
	mDroppedQueueFull = metrics.Default.Counter("apiscope_sensor_dropped_total",
		"Packets or calls dropped by the sensor, by reason.", "reason", ReasonQueueFull)
	mBatches = metrics.Default.Counter("apiscope_sensor_batches_total",
		"Batches of segments handed to flow workers.")
)
