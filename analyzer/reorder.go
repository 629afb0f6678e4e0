package analyzer

import (
	"github.com/apiscope/apiscope/models"
)

// callLess is the total order calls are processed in: capture time, then fields that tell
// apart calls with equal timestamps, so the order never depends on arrival.
func callLess(a, b *models.APICall) bool {
	if !a.TS.Equal(b.TS) {
		return a.TS.Before(b.TS)
	}
	if a.ClientID != b.ClientID {
		return a.ClientID < b.ClientID
	}
	if a.SrcIP != b.SrcIP {
		return a.SrcIP < b.SrcIP
	}
	if a.SrcPort != b.SrcPort {
		return a.SrcPort < b.SrcPort
	}
	if a.URI != b.URI {
		return a.URI < b.URI
	}
	if a.Method != b.Method {
		return a.Method < b.Method
	}
	if a.Status != b.Status {
		return a.Status < b.Status
	}
	if a.RespBytes != b.RespBytes {
		return a.RespBytes < b.RespBytes
	}
	return a.Host < b.Host
}

// sameCall reports whether two calls are equal in every ordering field: a re-delivered
// duplicate.
func sameCall(a, b *models.APICall) bool {
	return !callLess(a, b) && !callLess(b, a) && a.UserAgent == b.UserAgent && a.DstPort == b.DstPort
}

// bufItem is a buffered call with its capture time in nanoseconds, compared first.
type bufItem struct {
	ts int64
	c  *models.APICall
}

// reorderBuf is a min-heap of calls by capture time, then callLess.
type reorderBuf []bufItem

func (h reorderBuf) Len() int { return len(h) }
func (h reorderBuf) Less(i, j int) bool {
	if h[i].ts != h[j].ts {
		return h[i].ts < h[j].ts
	}
	return callLess(h[i].c, h[j].c)
}
func (h *reorderBuf) push(c *models.APICall) {
	*h = append(*h, bufItem{ts: c.TS.UnixNano(), c: c})
	b := *h
	for i := len(b) - 1; i > 0; {
		p := (i - 1) / 2
		if !b.Less(i, p) {
			break
		}
		b[i], b[p] = b[p], b[i]
		i = p
	}
}

func (h *reorderBuf) pop() *models.APICall {
	b := *h
	top := b[0].c
	n := len(b) - 1
	b[0] = b[n]
	b[n] = bufItem{}
	b = b[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && b.Less(l, m) {
			m = l
		}
		if r < n && b.Less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		b[i], b[m] = b[m], b[i]
		i = m
	}
	*h = b
	return top
}

func (h reorderBuf) topTS() int64 { return h[0].ts }
