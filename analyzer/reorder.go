package analyzer

import (
	"container/heap"

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

// reorderBuf is a min-heap of calls by callLess.
type reorderBuf []*models.APICall

func (h reorderBuf) Len() int           { return len(h) }
func (h reorderBuf) Less(i, j int) bool { return callLess(h[i], h[j]) }
func (h reorderBuf) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *reorderBuf) Push(x any)        { *h = append(*h, x.(*models.APICall)) }
func (h *reorderBuf) Pop() any {
	old := *h
	n := len(old)
	x := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return x
}

func (h *reorderBuf) push(c *models.APICall) { heap.Push(h, c) }
func (h *reorderBuf) pop() *models.APICall   { return heap.Pop(h).(*models.APICall) }
func (h reorderBuf) top() *models.APICall    { return h[0] }
