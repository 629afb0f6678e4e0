package alerting

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/metrics"
)

// Webhook request headers.
const (
	// HeaderSignature carries "sha256=" + hex HMAC-SHA256(secret, timestamp + "." + body).
	HeaderSignature = "X-Apiscope-Signature"
	// HeaderTimestamp is the Unix time (seconds) the request was signed, against replays.
	HeaderTimestamp = "X-Apiscope-Timestamp"
	// HeaderAlertID is the finding id: receivers de-duplicate retried deliveries with it.
	HeaderAlertID = "X-Apiscope-Alert-Id"
)

// WebhookConfig configures a webhook sink. Zero values mean the defaults noted.
type WebhookConfig struct {
	// URL receives one JSON POST per alert. Required; http or https.
	URL string
	// Secret keys the HMAC signature. Empty sends no signature header.
	Secret string
	// Format of the body: FormatNative (default) or FormatOCSF.
	Format string
	// QueueSize bounds the alerts waiting for delivery. Zero means 10 000.
	QueueSize int
	// Timeout bounds one request. Zero means 10 s.
	Timeout time.Duration
	// RetryBackoffMin and RetryBackoffMax bound the wait between attempts. Zero means
	// 500 ms and 30 s.
	RetryBackoffMin time.Duration
	RetryBackoffMax time.Duration
	// Headers are added to every request (an Authorization header, for example).
	Headers map[string]string
	// Client sends the requests. Nil means a client with Timeout.
	Client *http.Client
	// Metrics receives the counters. Nil means metrics.Default.
	Metrics *metrics.Registry
}

// Webhook posts alerts to an HTTP endpoint, one JSON object per request, in order. A
// 2xx answer is delivery; 408, 429, 5xx and network errors are retried with backoff;
// other answers drop the alert (counted as rejected). Safe for concurrent use.
type Webhook struct {
	cfg    WebhookConfig
	client *http.Client
	d      *deliverer
	// now gives the signing time; tests replace it.
	now func() time.Time
}

// NewWebhook validates cfg and starts the sending goroutine.
func NewWebhook(cfg WebhookConfig, log *zap.Logger) (*Webhook, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webhook: bad URL %q: want http(s)://host/path", cfg.URL)
	}
	if cfg.Format, err = ParseFormat(cfg.Format); err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.Secret == "" {
		log.Warn("webhook without a secret: requests are not signed", zap.String("host", u.Host))
	}
	w := &Webhook{cfg: cfg, client: cfg.Client, now: time.Now}
	if w.client == nil {
		w.client = &http.Client{Timeout: cfg.Timeout}
	}
	w.d = newDeliverer(deliveryConfig{name: "webhook", queueSize: cfg.QueueSize, backoffMin: cfg.RetryBackoffMin,
		backoffMax: cfg.RetryBackoffMax, reg: cfg.Metrics, log: log}, w.post)
	return w, nil
}

// WriteFinding renders f and queues it; it never waits for the receiver.
func (w *Webhook) WriteFinding(_ context.Context, f *models.Finding) error {
	body, err := Marshal(f, w.cfg.Format)
	if err != nil {
		w.d.dropped[ReasonEncode].Inc()
		return err
	}
	return w.d.enqueue(item{id: f.ID, body: body, kind: f.Kind, sev: f.Severity, ts: f.TS})
}

// Sign returns the signature header value for body signed at ts (Unix seconds).
func Sign(secret string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature header as a receiver would, in constant time.
func Verify(secret, signature string, ts int64, body []byte) bool {
	return hmac.Equal([]byte(signature), []byte(Sign(secret, ts, body)))
}

func (w *Webhook) post(ctx context.Context, it *item) error {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(it.body))
	if err != nil {
		return permanent{err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "apiscope-alerts/"+CEFVersion)
	req.Header.Set(HeaderAlertID, it.id)
	for k, v := range w.cfg.Headers {
		req.Header.Set(k, v)
	}
	if w.cfg.Secret != "" {
		ts := w.now().Unix()
		req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
		req.Header.Set(HeaderSignature, Sign(w.cfg.Secret, ts, it.body))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("webhook: status %d", resp.StatusCode)
	default:
		return permanent{fmt.Errorf("webhook: status %d", resp.StatusCode)}
	}
}

// Flush waits until every queued alert was delivered or dropped, or ctx ends.
func (w *Webhook) Flush(ctx context.Context) error { return w.d.flush(ctx) }

// Shutdown stops intake and delivers until ctx ends; the rest is counted as dropped.
func (w *Webhook) Shutdown(ctx context.Context) error { return w.d.shutdown(ctx) }

// Close is Shutdown bounded by 10 s.
func (w *Webhook) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return w.Shutdown(ctx)
}

// Stats returns the sink's counters (shared by every webhook sink of a registry).
func (w *Webhook) Stats() SinkStats { return w.d.stats() }

var _ Sink = (*Webhook)(nil)
