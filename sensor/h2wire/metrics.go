package h2wire

import "github.com/apiscope/apiscope/pkg/metrics"

// Parse error reasons (label values of apiscope_sensor_h2_parse_errors_total).
const (
	reasonPreface        = iota // the client's first bytes were not the connection preface
	reasonFrameSize             // a frame shorter than its fixed fields or its padding
	reasonContinuation          // CONTINUATION missing, or on another stream, or unexpected
	reasonStreamID              // HEADERS, DATA or RST_STREAM on stream 0
	reasonHPACK                 // the HPACK decoder rejected a header block
	reasonTooManyStreams        // more open streams than MaxStreams
	reasonPendingBytes          // open streams holding more header bytes than MaxPendingBytes
	reasonGap                   // a capture gap outside DATA: HPACK state lost
	numReasons
)

var reasonNames = [numReasons]string{
	"preface", "frame_size", "continuation", "stream_id", "hpack", "too_many_streams", "pending_bytes", "gap",
}

// Frame type names (label values of apiscope_sensor_h2_frames_total); index 10 is
// every type RFC 9113 does not define.
var frameNames = [...]string{
	"data", "headers", "priority", "rst_stream", "settings", "push_promise", "ping",
	"goaway", "window_update", "continuation", "unknown",
}

// Counters, resolved once so the parser only does atomic adds.
var (
	mFrames  [len(frameNames)]*metrics.Counter
	mStreams = metrics.Default.Counter("apiscope_sensor_h2_streams_total",
		"HTTP/2 request streams opened (a HEADERS block from the client on a new stream).")
	mTransactions = metrics.Default.Counter("apiscope_sensor_h2_transactions_total",
		"HTTP/2 transactions emitted (with or without a response).")
	mNoResponse = metrics.Default.Counter("apiscope_sensor_h2_requests_without_response_total",
		"HTTP/2 transactions emitted without a final response.")
	mInterim = metrics.Default.Counter("apiscope_sensor_h2_interim_responses_total",
		"HTTP/2 1xx interim responses skipped.")
	mUnmatched = metrics.Default.Counter("apiscope_sensor_h2_unmatched_responses_total",
		"HTTP/2 responses on a stream whose request was not seen, not emitted.")
	mUpgradeResponses = metrics.Default.Counter("apiscope_sensor_h2_upgrade_responses_total",
		"Responses on stream 1 after an h2c upgrade: the HTTP/1.1 request was reported with its 101, not again.")
	mHPACKErrors = metrics.Default.Counter("apiscope_sensor_h2_hpack_errors_total",
		"Header blocks the HPACK decoder rejected (the connection stops being decoded).")
	mGaps = metrics.Default.Counter("apiscope_sensor_h2_gaps_total",
		"Capture gaps reported to the HTTP/2 parser.")
	mResets = metrics.Default.Counter("apiscope_sensor_h2_resets_total",
		"RST_STREAM frames on a tracked stream.")
	mGoaways = metrics.Default.Counter("apiscope_sensor_h2_goaways_total",
		"GOAWAY frames.")
	mPushPromises = metrics.Default.Counter("apiscope_sensor_h2_push_promises_total",
		"PUSH_PROMISE frames (decoded for HPACK state, otherwise ignored).")
	mStopped = metrics.Default.Counter("apiscope_sensor_h2_stopped_connections_total",
		"HTTP/2 connections no longer decoded after a gap or an error.")
	mIgnoredBytes = metrics.Default.Counter("apiscope_sensor_h2_ignored_bytes_total",
		"Bytes of HTTP/2 connections that were no longer decoded.")
	mTruncated = metrics.Default.Counter("apiscope_sensor_h2_truncated_total",
		"HTTP/2 header blocks whose fields were cut by a limit.")
	mParseErrors [numReasons]*metrics.Counter
)

func init() {
	for i := range mFrames {
		mFrames[i] = metrics.Default.Counter("apiscope_sensor_h2_frames_total",
			"HTTP/2 frames by type.", "type", frameNames[i])
	}
	for i := range mParseErrors {
		mParseErrors[i] = metrics.Default.Counter("apiscope_sensor_h2_parse_errors_total",
			"HTTP/2 parse errors by reason.", "reason", reasonNames[i])
	}
}
