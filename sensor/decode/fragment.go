package decode

import "time"

// Defaults for the fragment reassembly bounds in Config.
const (
	DefaultMaxFragmentDatagrams = 256
	DefaultFragmentTimeout      = 30 * time.Second // Linux's ipfrag_time
	DefaultMaxFragments         = 64
)

// maxDatagram is the largest IP payload fragments may rebuild (the 16-bit length fields).
const maxDatagram = 65535

// Reasons a fragment or a partly rebuilt datagram is dropped, the label of
// apiscope_sensor_decode_fragments_dropped_total{reason=...}.
const (
	dropTimeout      = iota // the rest did not arrive within the timeout (capture time)
	dropTableFull           // evicted, oldest first, to make room for a new datagram
	dropTooLarge            // the fragments describe a datagram over 65535 bytes
	dropTooMany             // more fragments than MaxFragments for one datagram
	dropInconsistent        // two different ends, or data past the end
	dropTruncated           // the fragment was cut short by the snaplen
	numDropReasons
)

var dropReasonNames = [numDropReasons]string{"timeout", "table_full", "too_large", "too_many_fragments", "inconsistent", "truncated"}

// fragKey identifies one datagram being rebuilt (RFC 791 / RFC 8200).
type fragKey struct {
	src, dst [16]byte
	id       uint32
	proto    uint8
	v6       bool
}

type span struct{ start, end int }

// datagram is one IP datagram being rebuilt. Its buffers are kept for reuse.
type datagram struct {
	key    fragKey
	first  time.Time // capture time of its first fragment
	hdr    [60]byte  // IP header of the offset-0 fragment
	hdrLen int
	data   []byte // payload; bytes outside spans are stale
	spans  []span // byte ranges received, sorted and merged
	total  int    // payload length, known from the last fragment; -1 before
	frags  int
}

// reassembler rebuilds fragmented datagrams in bounded memory: at most max datagrams of
// at most 64 KiB each, each dropped when it is older than timeout in capture time. Not
// safe for concurrent use; each Decoder has its own.
type reassembler struct {
	table     map[fragKey]*datagram
	free      []*datagram
	max       int
	maxFrags  int
	timeout   time.Duration
	lastSweep time.Time
}

func newReassembler(max, maxFrags int, timeout time.Duration) *reassembler {
	return &reassembler{table: make(map[fragKey]*datagram), max: max, maxFrags: maxFrags, timeout: timeout}
}

// add files one fragment: payload at byte offset off, more when further fragments
// follow, hdr the fragment's IP header (kept from the offset-0 fragment). It returns the
// complete datagram, which the caller must release, or nil. Every drop is counted.
func (r *reassembler) add(k fragKey, ts time.Time, off int, more bool, payload, hdr []byte) *datagram {
	r.sweep(ts)
	end := off + len(payload)
	dg := r.table[k]
	if end > maxDatagram || (dg != nil && dg.total >= 0 && (end > dg.total || (!more && end != dg.total))) {
		reason := dropTooLarge
		if end <= maxDatagram {
			reason = dropInconsistent
		}
		mFragDropped[reason].Inc()
		if dg != nil {
			r.drop(dg)
		}
		return nil
	}
	if dg == nil {
		if len(r.table) >= r.max {
			r.evictOldest()
		}
		dg = r.get()
		dg.key, dg.first = k, ts
		r.table[k] = dg
	}
	dg.frags++
	if dg.frags > r.maxFrags {
		mFragDropped[dropTooMany].Inc()
		r.drop(dg)
		return nil
	}
	if !more {
		dg.total = end
		if n := len(dg.spans); n > 0 && dg.spans[n-1].end > end {
			mFragDropped[dropInconsistent].Inc()
			r.drop(dg)
			return nil
		}
	}
	if len(dg.data) < end {
		if cap(dg.data) < end {
			grown := make([]byte, end, max(end, 2*cap(dg.data)))
			copy(grown, dg.data)
			dg.data = grown
		}
		dg.data = dg.data[:end]
	}
	copy(dg.data[off:end], payload) // on overlap the later fragment wins
	dg.addSpan(off, end)
	if off == 0 && len(hdr) <= len(dg.hdr) {
		dg.hdrLen = copy(dg.hdr[:], hdr)
	}
	if dg.total >= 0 && dg.hdrLen > 0 && len(dg.spans) == 1 && dg.spans[0].start == 0 && dg.spans[0].end == dg.total {
		delete(r.table, k)
		return dg
	}
	return nil
}

// addSpan merges [start, end) into the sorted, disjoint spans.
func (dg *datagram) addSpan(start, end int) {
	if start == end {
		return
	}
	i := 0
	for i < len(dg.spans) && dg.spans[i].end < start {
		i++
	}
	// spans[:i] end before start; spans[i:j] touch [start, end) and are merged into it.
	j := i
	for j < len(dg.spans) && dg.spans[j].start <= end {
		start = min(start, dg.spans[j].start)
		end = max(end, dg.spans[j].end)
		j++
	}
	if j == i {
		dg.spans = append(dg.spans, span{})
		copy(dg.spans[i+1:], dg.spans[i:])
		dg.spans[i] = span{start, end}
		return
	}
	dg.spans[i] = span{start, end}
	dg.spans = append(dg.spans[:i+1], dg.spans[j:]...)
}

func (r *reassembler) get() *datagram {
	var dg *datagram
	if n := len(r.free); n > 0 {
		dg, r.free = r.free[n-1], r.free[:n-1]
	} else {
		dg = &datagram{}
	}
	dg.total, dg.frags, dg.hdrLen = -1, 0, 0
	dg.data, dg.spans = dg.data[:0], dg.spans[:0]
	return dg
}

// release returns a completed datagram's buffers for reuse.
func (r *reassembler) release(dg *datagram) { r.free = append(r.free, dg) }

func (r *reassembler) drop(dg *datagram) {
	delete(r.table, dg.key)
	r.release(dg)
}

// evictOldest makes room by dropping the datagram whose first fragment is oldest.
func (r *reassembler) evictOldest() {
	var oldest *datagram
	for _, dg := range r.table {
		if oldest == nil || dg.first.Before(oldest.first) {
			oldest = dg
		}
	}
	if oldest != nil {
		mFragDropped[dropTableFull].Inc()
		r.drop(oldest)
	}
}

// sweep drops datagrams older than the timeout, looking at most once per capture-time
// second.
func (r *reassembler) sweep(ts time.Time) {
	if d := ts.Sub(r.lastSweep); d >= 0 && d < time.Second {
		return
	}
	r.lastSweep = ts
	for _, dg := range r.table {
		if ts.Sub(dg.first) > r.timeout {
			mFragDropped[dropTimeout].Inc()
			r.drop(dg)
		}
	}
}

// pending returns how many datagrams are waiting for fragments.
func (r *reassembler) pending() int { return len(r.table) }
