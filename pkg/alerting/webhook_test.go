package alerting

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/metrics"
)

// flakyReceiver answers according to mode and records what it accepted.
type flakyReceiver struct {
	t      *testing.T
	secret string
	mode   atomic.Int32 // 0 ok, 1 fail with 503, 2 stall past the client timeout, 3 reject with 400
	mu     sync.Mutex
	ids    []string
	bodies map[string][]byte
}

func (r *flakyReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	switch r.mode.Load() {
	case 1:
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	case 2:
		time.Sleep(300 * time.Millisecond)
		http.Error(w, "slow", http.StatusGatewayTimeout)
		return
	case 3:
		http.Error(w, "bad", http.StatusBadRequest)
		return
	}
	ts, _ := strconv.ParseInt(req.Header.Get(HeaderTimestamp), 10, 64)
	if !Verify(r.secret, req.Header.Get(HeaderSignature), ts, body) {
		r.t.Errorf("bad signature %q", req.Header.Get(HeaderSignature))
		http.Error(w, "signature", http.StatusUnauthorized)
		return
	}
	f, err := Decode(body)
	if err != nil || f.ID != req.Header.Get(HeaderAlertID) {
		r.t.Errorf("body %s does not decode to the alert %s: %v", body, req.Header.Get(HeaderAlertID), err)
	}
	r.mu.Lock()
	if _, dup := r.bodies[f.ID]; !dup {
		r.ids = append(r.ids, f.ID)
	}
	r.bodies[f.ID] = body
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *flakyReceiver) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...)
}

func newWebhook(t *testing.T, url string, queue int) *Webhook {
	t.Helper()
	w, err := NewWebhook(WebhookConfig{URL: url, Secret: "s3cret", QueueSize: queue, Timeout: 100 * time.Millisecond,
		RetryBackoffMin: 10 * time.Millisecond, RetryBackoffMax: 50 * time.Millisecond, Metrics: metrics.NewRegistry()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestWebhookFailsStallsRecovers: the receiver fails, then stalls, then recovers. No
// alert within the queue bound is lost, order is kept, and the retries are counted.
func TestWebhookFailsStallsRecovers(t *testing.T) {
	rcv := &flakyReceiver{t: t, secret: "s3cret", bodies: map[string][]byte{}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	w := newWebhook(t, srv.URL, 100)
	t0 := time.Unix(1700000000, 0)
	var want []string
	rcv.mode.Store(1)
	for i := 0; i < 20; i++ {
		f := finding("alice", models.KindRateSpike, models.SeverityHigh, t0.Add(time.Duration(i)*time.Second), i)
		want = append(want, f.ID)
		if err := w.WriteFinding(context.Background(), f); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(150 * time.Millisecond)
	rcv.mode.Store(2)
	time.Sleep(400 * time.Millisecond)
	rcv.mode.Store(0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	got := rcv.received()
	if len(got) != len(want) {
		t.Fatalf("received %d alerts; want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("alert %d is %s; want %s (order kept)", i, got[i], want[i])
		}
	}
	st := w.Stats()
	if st.Sent != 20 || st.Retries == 0 || st.Failures == 0 {
		t.Errorf("stats %+v; want 20 sent and the failures and retries counted", st)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestWebhookQueueBound: while the receiver is down, alerts beyond the bound drop the
// oldest (counted); the newest `bound` arrive once it is back.
func TestWebhookQueueBound(t *testing.T) {
	rcv := &flakyReceiver{t: t, secret: "s3cret", bodies: map[string][]byte{}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	const bound = 10
	w := newWebhook(t, srv.URL, bound)
	rcv.mode.Store(1)
	t0 := time.Unix(1700000000, 0)
	var ids []string
	for i := 0; i < 30; i++ {
		f := finding("bob", models.KindErrorBurst, models.SeverityMedium, t0, i)
		ids = append(ids, f.ID)
		_ = w.WriteFinding(context.Background(), f)
	}
	time.Sleep(50 * time.Millisecond)
	rcv.mode.Store(0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, id := range rcv.received() {
		got[id] = true
	}
	st := w.Stats()
	if uint64(len(got))+st.Dropped[ReasonQueueFull] != 30 {
		t.Errorf("received %d + dropped %d != 30", len(got), st.Dropped[ReasonQueueFull])
	}
	for _, id := range ids[30-bound:] {
		if !got[id] {
			t.Errorf("alert %s, within the newest %d, was lost", id, bound)
		}
	}
	_ = w.Close()
}

func TestWebhookRejectedIsDroppedNotRetried(t *testing.T) {
	rcv := &flakyReceiver{t: t, secret: "s3cret", bodies: map[string][]byte{}}
	rcv.mode.Store(3)
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	w := newWebhook(t, srv.URL, 10)
	_ = w.WriteFinding(context.Background(), finding("a", "k", models.SeverityHigh, time.Unix(0, 0), 1))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = w.Flush(ctx)
	if st := w.Stats(); st.Dropped[ReasonRejected] != 1 || st.Retries != 0 {
		t.Errorf("stats %+v; want 1 rejected and no retry", st)
	}
	_ = w.Close()
}

func TestWebhookShutdownCountsAbandoned(t *testing.T) {
	rcv := &flakyReceiver{t: t, secret: "s3cret", bodies: map[string][]byte{}}
	rcv.mode.Store(1)
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	w := newWebhook(t, srv.URL, 100)
	for i := 0; i < 5; i++ {
		_ = w.WriteFinding(context.Background(), finding("a", "k", models.SeverityHigh, time.Unix(0, 0), i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := w.Shutdown(ctx); err == nil {
		t.Error("Shutdown with the receiver down = nil; want an error")
	}
	if st := w.Stats(); st.Dropped[ReasonShutdown] != 5 {
		t.Errorf("dropped %v; want 5 for shutdown", st.Dropped)
	}
	if err := w.WriteFinding(context.Background(), finding("a", "k", "high", time.Unix(0, 0), 9)); err != ErrClosed {
		t.Errorf("WriteFinding after Shutdown = %v; want ErrClosed", err)
	}
}

func TestNewWebhookRejectsBadConfig(t *testing.T) {
	for _, c := range []WebhookConfig{{URL: "ftp://x/y"}, {URL: "not a url"}, {URL: "http://x", Format: "xml"}} {
		if _, err := NewWebhook(c, nil); err == nil {
			t.Errorf("NewWebhook(%+v) = nil error", c)
		}
	}
}
