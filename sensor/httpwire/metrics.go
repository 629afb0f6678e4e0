package httpwire

import "github.com/apiscope/apiscope/pkg/metrics"

// Parse error reasons (label values of apiscope_sensor_http_parse_errors_total).
const (
	reasonBadStartLine     = iota // bytes where a request or status line was expected
	reasonBadHeaderLine           // a header line without a colon
	reasonBadContentLength        // Content-Length not a decimal number
	reasonConflictingCL           // several Content-Length values that differ
	reasonTEAndCL                 // Transfer-Encoding and Content-Length together (smuggling)
	reasonBadTE                   // request Transfer-Encoding whose last coding is not chunked
	reasonBadChunkSize            // chunk-size line not a hex number, or over 2^63-1
	reasonTooManyPending          // more requests awaiting a response than MaxPending
	reasonRoleFlip                // client and server were mistaken (see Conn.contradicts)
	numReasons
)

var reasonNames = [numReasons]string{
	"bad_start_line", "bad_header_line", "bad_content_length", "conflicting_content_length",
	"te_and_cl", "bad_transfer_encoding", "bad_chunk_size", "too_many_pending", "role_flip",
}

// Limits that mark a message Truncated (label values of apiscope_sensor_http_truncated_total).
const (
	limitHeaderBytes = iota
	limitHeaderCount
	limitStartLine
	limitChunkLine
	limitTrailerBytes
	numLimits
)

var limitNames = [numLimits]string{"header_bytes", "header_count", "start_line", "chunk_line", "trailer_bytes"}

// Counters, resolved once so the parser only does atomic adds.
var (
	mRequests = metrics.Default.Counter("apiscope_sensor_http_requests_total",
		"HTTP requests whose start line was parsed.")
	mResponses = metrics.Default.Counter("apiscope_sensor_http_responses_total",
		"HTTP final responses whose status line was parsed (interim 1xx excluded).")
	mInterim = metrics.Default.Counter("apiscope_sensor_http_interim_responses_total",
		"HTTP 1xx interim responses skipped (100 Continue, 102, 103).")
	mTransactions = metrics.Default.Counter("apiscope_sensor_http_transactions_total",
		"Transactions emitted (with or without a response).")
	mLostByPosition = metrics.Default.Counter("apiscope_sensor_http_responses_lost_by_position_total",
		"Requests emitted without a response because a later request's TCP position showed that the response captured next answers it.")
	mUnmatched = metrics.Default.Counter("apiscope_sensor_http_unmatched_responses_total",
		"Responses without a pending request (capture started mid-stream), not emitted.")
	mHeldClaimed = metrics.Default.Counter("apiscope_sensor_http_late_requests_paired_total",
		"Responses paired with a request the reassembler delivered after them (held back behind lost bytes), by TCP position.")
	mNoResponse = metrics.Default.Counter("apiscope_sensor_http_requests_without_response_total",
		"Transactions emitted without a response.")
	mGaps = metrics.Default.Counter("apiscope_sensor_http_gaps_total",
		"Capture gaps reported to the HTTP parser.")
	mGapBytes = metrics.Default.Counter("apiscope_sensor_http_gap_bytes_total",
		"Bytes lost in capture gaps reported to the HTTP parser.")
	mResyncBytes = metrics.Default.Counter("apiscope_sensor_http_resync_skipped_bytes_total",
		"Bytes skipped while looking for the next request or status line.")
	mUpgradedBytes = metrics.Default.Counter("apiscope_sensor_http_upgraded_bytes_total",
		"Bytes ignored after a connection left HTTP (101 Switching Protocols, CONNECT).")
	mTunnelHTTP = metrics.Default.Counter("apiscope_sensor_http_connect_tunnels_http_total",
		"CONNECT tunnels whose client began with an HTTP request line, parsed as HTTP.")
	mParseErrors [numReasons]*metrics.Counter
	mTruncated   [numLimits]*metrics.Counter
	mUpgrades    = [...]*metrics.Counter{
		upgradeProtocol: metrics.Default.Counter("apiscope_sensor_http_upgrades_total",
			"Connections that left HTTP/1.x.", "kind", "upgrade"),
		upgradeConnect: metrics.Default.Counter("apiscope_sensor_http_upgrades_total",
			"Connections that left HTTP/1.x.", "kind", "connect"),
		upgradeH2: metrics.Default.Counter("apiscope_sensor_http_upgrades_total",
			"Connections that left HTTP/1.x.", "kind", "h2"),
	}
)

func init() {
	for i := range mParseErrors {
		mParseErrors[i] = metrics.Default.Counter("apiscope_sensor_http_parse_errors_total",
			"HTTP parse errors by reason.", "reason", reasonNames[i])
	}
	for i := range mTruncated {
		mTruncated[i] = metrics.Default.Counter("apiscope_sensor_http_truncated_total",
			"HTTP messages cut short by a limit, by the first limit hit.", "limit", limitNames[i])
	}
}
