package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/apiscope/apiscope/models"
)

// ProfileRow is one snapshot of what a client normally does, as the analyzer's profile
// store serialises it. (ClientID, Version) identifies a snapshot: writing the same pair
// twice keeps one row after merges, and SELECT ... FINAL shows one.
type ProfileRow struct {
	ClientID string
	// Version increases with every snapshot of the client (a counter or the capture time
	// in nanoseconds).
	Version uint64
	// TS is the capture time the snapshot describes.
	TS time.Time
	// Kind is the client's role or cohort (the profile it backs off to while young).
	Kind string
	// Calls is how many calls the profile has learnt from.
	Calls uint64
	// JSON is the profile itself, a JSON object.
	JSON string
}

// Insert statements. clickhouse-go v2 against 18.16 needs the column list spelled out.
const (
	insertCalls    = "INSERT INTO api_calls (ts, ts_nsec, src_ip, src_port, dst_ip, dst_port, method, host, uri, path, query, template, status, req_bytes, resp_bytes, latency_ms, user_agent, content_type, client_id, principal, actor, auth, cred_fp, trace_id, partial, truncated, shadow, scope, iss, xff, dedup_key)"
	insertFindings = "INSERT INTO findings (id, ts, ts_nsec, client_id, client_ip, principal, actor, kind, severity, severity_rank, score, summary, evidence, related_ips, version)"
	insertProfiles = "INSERT INTO client_profiles (client_id, version, ts, ts_nsec, kind, calls, profile)"
)

// CallDedupKey is the api_calls.dedup_key of c: xxHash64 over the capture time in
// nanoseconds, both connection ends, method, host and URI. The same call delivered twice
// has the same key; two calls differ at least in capture time or connection.
func CallDedupKey(c *models.APICall) uint64 {
	var buf [256]byte
	b := binary.BigEndian.AppendUint64(buf[:0], uint64(c.TS.UnixNano()))
	b = binary.BigEndian.AppendUint16(b, c.SrcPort)
	b = binary.BigEndian.AppendUint16(b, c.DstPort)
	for _, s := range [...]string{c.SrcIP, c.DstIP, c.Method, c.Host, c.URI} {
		b = append(b, s...)
		b = append(b, 0)
	}
	return xxhash.Sum64(b)
}

// FindingVersion is findings.version for f: its capture time in nanoseconds. An incident
// re-emits its finding under the same id as it grows (more signals, a higher severity),
// each time with the capture time of the call that changed it, so the latest state has the
// highest version, whatever order re-deliveries arrive in. It is derived from the record,
// not from the wall clock, so a replay stores the same rows.
func FindingVersion(f *models.Finding) uint64 {
	ns := f.TS.UnixNano()
	if ns < 0 {
		return 0
	}
	return uint64(ns)
}

// unixSeconds is t in seconds, clamped to what DateTime holds (1970 to 2106): a record with
// an unset time is stored at the epoch instead of wrapping around or failing its batch.
func unixSeconds(t time.Time) int64 {
	return min(max(t.Unix(), 0), math.MaxUint32)
}

func b2u8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// clampStatus keeps a status code inside UInt16; the parser never yields more, but a
// hand-made record must not make the whole batch fail.
func clampStatus(s int) uint16 {
	switch {
	case s < 0:
		return 0
	case s > 65535:
		return 65535
	}
	return uint16(s)
}

// callColumns holds a batch of calls column by column: appending whole columns to a
// clickhouse-go batch is several times cheaper than appending row by row.
type callColumns struct {
	ts                                                         []int64
	nsec                                                       []uint32
	srcIP, dstIP                                               []string
	srcPort, dstPort                                           []uint16
	method, host, uri, path, query, template                   []string
	status                                                     []uint16
	reqBytes, respBytes                                        []int64
	latency                                                    []float64
	ua, ctype, client, principal, actor, auth, credFP, traceID []string
	partial, truncated, shadow                                 []uint8
	scope, iss, xff                                            []string
	dedup                                                      []uint64
}

func (cc *callColumns) fill(calls []models.APICall) {
	n := len(calls)
	*cc = callColumns{
		ts: make([]int64, 0, n), nsec: make([]uint32, 0, n),
		srcIP: make([]string, 0, n), dstIP: make([]string, 0, n),
		srcPort: make([]uint16, 0, n), dstPort: make([]uint16, 0, n),
		method: make([]string, 0, n), host: make([]string, 0, n), uri: make([]string, 0, n),
		path: make([]string, 0, n), query: make([]string, 0, n), template: make([]string, 0, n),
		status: make([]uint16, 0, n), reqBytes: make([]int64, 0, n), respBytes: make([]int64, 0, n),
		latency: make([]float64, 0, n),
		ua:      make([]string, 0, n), ctype: make([]string, 0, n), client: make([]string, 0, n),
		principal: make([]string, 0, n), actor: make([]string, 0, n), auth: make([]string, 0, n),
		credFP: make([]string, 0, n), traceID: make([]string, 0, n),
		partial: make([]uint8, 0, n), truncated: make([]uint8, 0, n), shadow: make([]uint8, 0, n),
		scope: make([]string, 0, n), iss: make([]string, 0, n), xff: make([]string, 0, n),
		dedup: make([]uint64, 0, n),
	}
	for i := range calls {
		c := &calls[i]
		ts := c.TS.UTC()
		cc.ts = append(cc.ts, unixSeconds(ts))
		cc.nsec = append(cc.nsec, uint32(ts.Nanosecond()))
		cc.srcIP = append(cc.srcIP, c.SrcIP)
		cc.srcPort = append(cc.srcPort, c.SrcPort)
		cc.dstIP = append(cc.dstIP, c.DstIP)
		cc.dstPort = append(cc.dstPort, c.DstPort)
		cc.method = append(cc.method, c.Method)
		cc.host = append(cc.host, c.Host)
		cc.uri = append(cc.uri, c.URI)
		cc.path = append(cc.path, c.Path)
		cc.query = append(cc.query, c.Query)
		cc.template = append(cc.template, c.Template)
		cc.status = append(cc.status, clampStatus(c.Status))
		cc.reqBytes = append(cc.reqBytes, c.ReqBytes)
		cc.respBytes = append(cc.respBytes, c.RespBytes)
		cc.latency = append(cc.latency, c.LatencyMS)
		cc.ua = append(cc.ua, c.UserAgent)
		cc.ctype = append(cc.ctype, c.ContentType)
		cc.client = append(cc.client, c.ClientID)
		cc.principal = append(cc.principal, c.Principal)
		cc.actor = append(cc.actor, c.Actor)
		cc.auth = append(cc.auth, c.Auth)
		cc.credFP = append(cc.credFP, c.CredFP)
		cc.traceID = append(cc.traceID, c.TraceID)
		cc.partial = append(cc.partial, b2u8(c.Partial))
		cc.truncated = append(cc.truncated, b2u8(c.Truncated))
		cc.shadow = append(cc.shadow, b2u8(c.Shadow))
		cc.scope = append(cc.scope, c.Scope)
		cc.iss = append(cc.iss, c.Issuer)
		cc.xff = append(cc.xff, c.XFF)
		cc.dedup = append(cc.dedup, CallDedupKey(c))
	}
}

// columns lists the columns in insertCalls order.
func (cc *callColumns) columns() []any {
	return []any{cc.ts, cc.nsec, cc.srcIP, cc.srcPort, cc.dstIP, cc.dstPort, cc.method, cc.host,
		cc.uri, cc.path, cc.query, cc.template, cc.status, cc.reqBytes, cc.respBytes, cc.latency,
		cc.ua, cc.ctype, cc.client, cc.principal, cc.actor, cc.auth, cc.credFP, cc.traceID,
		cc.partial, cc.truncated, cc.shadow, cc.scope, cc.iss, cc.xff, cc.dedup}
}

// findingColumns builds the findings columns in insertFindings order.
func findingColumns(fs []models.Finding) ([]any, error) {
	n := len(fs)
	strs := func() []string { return make([]string, 0, n) }
	var (
		id, client, clientIP, principal = strs(), strs(), strs(), strs()
		actor, kind, sev, summary       = strs(), strs(), strs(), strs()
		evidence                        = strs()
		ts                              = make([]int64, 0, n)
		nsec                            = make([]uint32, 0, n)
		rank                            = make([]uint8, 0, n)
		sc                              = make([]float64, 0, n)
		ips                             = make([][]string, 0, n)
		ver                             = make([]uint64, 0, n)
	)
	for i := range fs {
		f := &fs[i]
		ev := []byte("{}")
		if f.Evidence != nil {
			b, err := json.Marshal(f.Evidence)
			if err != nil {
				return nil, fmt.Errorf("finding %s: encode evidence: %w", f.ID, err)
			}
			ev = b
		}
		t := f.TS.UTC()
		r := models.SeverityRank(f.Severity)
		if r < 0 {
			r = 0
		}
		related := f.RelatedIPs
		if related == nil {
			related = []string{}
		}
		id = append(id, f.ID)
		ts = append(ts, unixSeconds(t))
		nsec = append(nsec, uint32(t.Nanosecond()))
		client = append(client, f.ClientID)
		clientIP = append(clientIP, f.ClientIP)
		principal = append(principal, f.Principal)
		actor = append(actor, f.Actor)
		kind = append(kind, f.Kind)
		sev = append(sev, f.Severity)
		rank = append(rank, uint8(r))
		sc = append(sc, f.Score)
		summary = append(summary, f.Summary)
		evidence = append(evidence, string(ev))
		ips = append(ips, related)
		ver = append(ver, FindingVersion(f))
	}
	return []any{id, ts, nsec, client, clientIP, principal, actor, kind, sev, rank, sc, summary, evidence, ips, ver}, nil
}

// profileColumns builds the client_profiles columns in insertProfiles order.
func profileColumns(ps []ProfileRow) []any {
	n := len(ps)
	client, kind, prof := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	ver, calls := make([]uint64, 0, n), make([]uint64, 0, n)
	ts := make([]int64, 0, n)
	nsec := make([]uint32, 0, n)
	for i := range ps {
		p := &ps[i]
		t := p.TS.UTC()
		j := p.JSON
		if j == "" {
			j = "{}"
		}
		client = append(client, p.ClientID)
		ver = append(ver, p.Version)
		ts = append(ts, unixSeconds(t))
		nsec = append(nsec, uint32(t.Nanosecond()))
		kind = append(kind, p.Kind)
		calls = append(calls, p.Calls)
		prof = append(prof, j)
	}
	return []any{client, ver, ts, nsec, kind, calls, prof}
}
