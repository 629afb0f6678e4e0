package capture

import "github.com/apiscope/apiscope/pkg/metrics"

const errorsHelp = "Capture sources that ended with an error: a truncated or corrupt file (after its good frames), a failing interface."

// Counters of the capture stage, resolved once so the per-frame path is one atomic add.
var (
	mFrames = metrics.Default.Counter("apiscope_sensor_capture_frames_total",
		"Frames read from capture files and interfaces.")
	mBytes = metrics.Default.Counter("apiscope_sensor_capture_bytes_total",
		"Captured bytes of the frames read (caplen, not wire length).")
	mFileErrors     = metrics.Default.Counter("apiscope_sensor_capture_errors_total", errorsHelp, "source", "file")
	mLiveErrors     = metrics.Default.Counter("apiscope_sensor_capture_errors_total", errorsHelp, "source", "live")
	mKernelReceived = metrics.Default.Gauge("apiscope_sensor_capture_kernel_received",
		"Packets the kernel received for the live capture (libpcap ps_recv), at the last Stats call.")
	mKernelDropped = metrics.Default.Gauge("apiscope_sensor_capture_kernel_dropped",
		"Packets the kernel dropped because the capture buffer was full (ps_drop), at the last Stats call.")
	mKernelIfDropped = metrics.Default.Gauge("apiscope_sensor_capture_kernel_ifdropped",
		"Packets the interface or its driver dropped (ps_ifdrop), at the last Stats call.")
)
