package alerting

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/metrics"
)

// Syslog transports.
const (
	SyslogUDP = "udp"
	SyslogTCP = "tcp"
	SyslogTLS = "tls"
)

// sdID names apiscope's structured-data element. 32473 is the private enterprise number
// RFC 5612 reserves for documentation and examples.
const sdID = "apiscope@32473"

// SyslogConfig configures a syslog sink. Zero values mean the defaults noted.
type SyslogConfig struct {
	// Network is SyslogUDP (RFC 5426), SyslogTCP (RFC 6587 octet counting) or SyslogTLS
	// (RFC 5425). Empty means udp.
	Network string
	// Addr is host:port of the collector. Required.
	Addr string
	// TLS configures SyslogTLS. Nil means the system roots and Addr's host name.
	TLS *tls.Config
	// Format of MSG: FormatCEF (default), FormatNative (JSON) or FormatOCSF (JSON).
	Format string
	// Facility is the syslog facility code (1-23). Zero means 16 (local0); the kernel
	// facility (0) is not for applications and cannot be chosen.
	Facility int
	// AppName is APP-NAME. Empty means "apiscope".
	AppName string
	// Hostname is HOSTNAME. Empty means os.Hostname().
	Hostname string
	// QueueSize bounds the alerts waiting for delivery. Zero means 10 000.
	QueueSize int
	// Timeout bounds a connection attempt and one write. Zero means 5 s.
	Timeout time.Duration
	// RetryBackoffMin and RetryBackoffMax bound the wait between attempts. Zero means
	// 500 ms and 30 s.
	RetryBackoffMin time.Duration
	RetryBackoffMax time.Duration
	// Metrics receives the counters. Nil means metrics.Default.
	Metrics *metrics.Registry
}

// syslogSeverity maps finding severities onto syslog severities (RFC 5424 table 2).
var syslogSeverity = map[string]int{
	models.SeverityCritical: 2, // critical
	models.SeverityHigh:     3, // error
	models.SeverityMedium:   4, // warning
	models.SeverityLow:      5, // notice
	models.SeverityInfo:     6, // informational
}

// Syslog sends alerts as RFC 5424 messages, in order, over UDP, TCP or TLS. A lost
// connection is re-dialled on the next attempt. Safe for concurrent use.
type Syslog struct {
	cfg  SyslogConfig
	host string
	pid  string
	d    *deliverer

	mu   sync.Mutex // guards conn, used only by the delivery goroutine and Close
	conn net.Conn
}

// NewSyslog validates cfg and starts the sending goroutine. It dials on the first alert.
func NewSyslog(cfg SyslogConfig, log *zap.Logger) (*Syslog, error) {
	if cfg.Network == "" {
		cfg.Network = SyslogUDP
	}
	switch cfg.Network {
	case SyslogUDP, SyslogTCP, SyslogTLS:
	default:
		return nil, fmt.Errorf("syslog: unknown transport %q (want udp, tcp or tls)", cfg.Network)
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("syslog: bad address %q: want host:port", cfg.Addr)
	}
	switch strings.ToLower(cfg.Format) {
	case "", FormatCEF:
		cfg.Format = FormatCEF
	case FormatNative, "json":
		cfg.Format = FormatNative
	case FormatOCSF:
		cfg.Format = FormatOCSF
	default:
		return nil, fmt.Errorf("syslog: unknown format %q (want cef, native or ocsf)", cfg.Format)
	}
	if cfg.Facility == 0 {
		cfg.Facility = 16
	}
	if cfg.Facility < 0 || cfg.Facility > 23 {
		return nil, fmt.Errorf("syslog: facility %d outside 0-23", cfg.Facility)
	}
	if cfg.AppName == "" {
		cfg.AppName = "apiscope"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	host := cfg.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	s := &Syslog{cfg: cfg, host: headerField(host, 255), pid: strconv.Itoa(os.Getpid())}
	s.d = newDeliverer(deliveryConfig{name: "syslog", queueSize: cfg.QueueSize, backoffMin: cfg.RetryBackoffMin,
		backoffMax: cfg.RetryBackoffMax, reg: cfg.Metrics, log: log}, s.write)
	return s, nil
}

// WriteFinding renders f as one syslog message and queues it.
func (s *Syslog) WriteFinding(_ context.Context, f *models.Finding) error {
	msg, err := s.Format(f)
	if err != nil {
		s.d.dropped[ReasonEncode].Inc()
		return err
	}
	return s.d.enqueue(item{id: f.ID, body: msg, kind: f.Kind, sev: f.Severity, ts: f.TS})
}

// Format renders f as an RFC 5424 message (without transport framing):
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [apiscope@32473 ...] MSG
//
// TIMESTAMP is the finding's capture time; MSGID its kind; MSG the CEF line or JSON.
func (s *Syslog) Format(f *models.Finding) ([]byte, error) {
	var body []byte
	if s.cfg.Format == FormatCEF {
		body = []byte(CEF(f))
	} else {
		var err error
		if body, err = Marshal(f, s.cfg.Format); err != nil {
			return nil, err
		}
	}
	sev, ok := syslogSeverity[f.Severity]
	if !ok {
		sev = 5
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<%d>1 %s %s %s %s %s [%s id=\"%s\" client=\"%s\" severity=\"%s\" score=\"%s\"] ",
		s.cfg.Facility*8+sev,
		f.TS.UTC().Format("2006-01-02T15:04:05.000000Z"),
		nilDash(s.host), headerField(s.cfg.AppName, 48), s.pid, nilDash(headerField(f.Kind, 32)),
		sdID, sdValue(f.ID), sdValue(f.ClientID), sdValue(f.Severity), strconv.FormatFloat(f.Score, 'f', -1, 64))
	b.Write(body)
	return []byte(b.String()), nil
}

// headerField keeps the printable ASCII (33-126) RFC 5424 allows in header fields, cut
// to n bytes.
func headerField(s string, n int) string {
	out := make([]byte, 0, min(len(s), n))
	for i := 0; i < len(s) && len(out) < n; i++ {
		if s[i] >= 33 && s[i] <= 126 {
			out = append(out, s[i])
		}
	}
	return string(out)
}

func nilDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// sdValue escapes a PARAM-VALUE: ", \ and ] take a backslash.
var sdEsc = strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`)

func sdValue(s string) string { return sdEsc.Replace(s) }

// write sends one message, dialling first if needed. TCP and TLS frame it with octet
// counting ("LEN SP MSG"); UDP sends one datagram.
func (s *Syslog) write(ctx context.Context, it *item) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		c, err := s.dial(ctx)
		if err != nil {
			return fmt.Errorf("syslog: dial %s %s: %w", s.cfg.Network, s.cfg.Addr, err)
		}
		s.conn = c
	}
	msg := it.body
	if s.cfg.Network != SyslogUDP {
		msg = append(strconv.AppendInt(nil, int64(len(it.body)), 10), ' ')
		msg = append(msg, it.body...)
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.cfg.Timeout))
	if _, err := s.conn.Write(msg); err != nil {
		s.conn.Close()
		s.conn = nil
		return fmt.Errorf("syslog: write: %w", err)
	}
	return nil
}

func (s *Syslog) dial(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{Timeout: s.cfg.Timeout}
	switch s.cfg.Network {
	case SyslogTLS:
		tc := s.cfg.TLS
		if tc == nil {
			host, _, _ := net.SplitHostPort(s.cfg.Addr)
			tc = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
		td := &tls.Dialer{NetDialer: d, Config: tc}
		return td.DialContext(ctx, "tcp", s.cfg.Addr)
	default:
		return d.DialContext(ctx, s.cfg.Network, s.cfg.Addr)
	}
}

// Flush waits until every queued alert was sent or dropped, or ctx ends.
func (s *Syslog) Flush(ctx context.Context) error { return s.d.flush(ctx) }

// Shutdown stops intake, sends until ctx ends (the rest counted as dropped) and closes
// the connection.
func (s *Syslog) Shutdown(ctx context.Context) error {
	err := s.d.shutdown(ctx)
	s.mu.Lock()
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
	s.mu.Unlock()
	return err
}

// Close is Shutdown bounded by 10 s.
func (s *Syslog) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.Shutdown(ctx)
}

// Stats returns the sink's counters (shared by every syslog sink of a registry).
func (s *Syslog) Stats() SinkStats { return s.d.stats() }

var _ Sink = (*Syslog)(nil)
