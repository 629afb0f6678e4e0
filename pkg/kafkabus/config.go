package kafkabus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// Config says how to reach a Kafka cluster. The zero value is not usable: Brokers is
// required.
type Config struct {
	// Brokers are bootstrap addresses, host:port.
	Brokers []string
	// ClientID names this client in broker logs and quotas. Empty means "apiscope".
	ClientID string
	// TLS enables TLS when Enabled is set (or any file is given).
	TLS TLSConfig
	// SASL enables authentication when Mechanism is set.
	SASL SASLConfig
	// DialTimeout bounds one connection attempt. Zero means 5 s.
	DialTimeout time.Duration
}

// TLSConfig holds the client side of TLS. Files are PEM.
type TLSConfig struct {
	Enabled bool
	// CAFile verifies the brokers' certificates; empty means the system roots.
	CAFile string
	// CertFile and KeyFile are a client certificate for mutual TLS; both or neither.
	CertFile string
	KeyFile  string
	// InsecureSkipVerify disables certificate verification (testing only).
	InsecureSkipVerify bool
	// ServerName overrides the name checked against the broker certificate.
	ServerName string
}

// SASL mechanisms understood by SASLConfig.Mechanism.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// SASLConfig holds SASL credentials. Password is never logged.
type SASLConfig struct {
	// Mechanism is SASLPlain, SASLScramSHA256 or SASLScramSHA512; empty disables SASL.
	Mechanism string
	Username  string
	Password  string
}

// ErrNoBrokers is returned when a Config names no broker.
var ErrNoBrokers = errors.New("kafka: no brokers given")

func (c *Config) clientID() string {
	if c.ClientID == "" {
		return "apiscope"
	}
	return c.ClientID
}

func (c *Config) dialTimeout() time.Duration {
	if c.DialTimeout <= 0 {
		return 5 * time.Second
	}
	return c.DialTimeout
}

// Validate checks the configuration without contacting a broker.
func (c *Config) Validate() error {
	if len(c.Brokers) == 0 {
		return ErrNoBrokers
	}
	for _, b := range c.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return fmt.Errorf("kafka: bad broker address %q: want host:port", b)
		}
	}
	if _, err := c.SASL.mechanism(); err != nil {
		return err
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return errors.New("kafka: TLS client certificate and key must be given together")
	}
	if _, err := c.TLS.config(); err != nil {
		return err
	}
	return nil
}

// SplitBrokers turns a comma-separated list ("a:9092,b:9092") into addresses, dropping
// blanks.
func SplitBrokers(s string) []string {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

func (t *TLSConfig) enabled() bool {
	return t.Enabled || t.CAFile != "" || t.CertFile != "" || t.InsecureSkipVerify
}

// config builds the crypto/tls configuration, nil when TLS is off.
func (t *TLSConfig) config() (*tls.Config, error) {
	if !t.enabled() {
		return nil, nil
	}
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // explicit operator choice, documented as testing only
		ServerName:         t.ServerName,
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka: reading TLS CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka: no PEM certificate in %s", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka: loading TLS client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func (s *SASLConfig) mechanism() (sasl.Mechanism, error) {
	switch strings.ToUpper(s.Mechanism) {
	case "":
		return nil, nil
	case SASLPlain:
		if s.Username == "" {
			return nil, errors.New("kafka: SASL PLAIN needs a username")
		}
		return plain.Mechanism{Username: s.Username, Password: s.Password}, nil
	case SASLScramSHA256, SASLScramSHA512:
		if s.Username == "" {
			return nil, fmt.Errorf("kafka: SASL %s needs a username", s.Mechanism)
		}
		algo := scram.SHA256
		if strings.ToUpper(s.Mechanism) == SASLScramSHA512 {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, s.Username, s.Password)
		if err != nil {
			return nil, fmt.Errorf("kafka: SASL %s: %w", s.Mechanism, err)
		}
		return m, nil
	default:
		return nil, fmt.Errorf("kafka: unknown SASL mechanism %q (want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)", s.Mechanism)
	}
}

// transport builds the kafka-go Transport used by writers and admin clients. dial, when
// not nil, replaces the TCP dial (tests count bytes on the wire through it).
func (c *Config) transport(dial func(ctx context.Context, network, addr string) (net.Conn, error)) (*kafka.Transport, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	tc, _ := c.TLS.config()
	mech, _ := c.SASL.mechanism()
	if dial == nil {
		d := &net.Dialer{Timeout: c.dialTimeout(), KeepAlive: 30 * time.Second}
		dial = d.DialContext
	}
	return &kafka.Transport{
		Dial:        dial,
		DialTimeout: c.dialTimeout(),
		ClientID:    c.clientID(),
		TLS:         tc,
		SASL:        mech,
		// A short metadata TTL lets a writer notice a restarted broker or new partitions
		// within seconds instead of the default 6 s.
		MetadataTTL: 2 * time.Second,
	}, nil
}

// dialer builds the kafka-go Dialer the Reader (consumer groups) needs.
func (c *Config) dialer() (*kafka.Dialer, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	tc, _ := c.TLS.config()
	mech, _ := c.SASL.mechanism()
	return &kafka.Dialer{
		ClientID:      c.clientID(),
		Timeout:       c.dialTimeout(),
		DualStack:     true,
		KeepAlive:     30 * time.Second,
		TLS:           tc,
		SASLMechanism: mech,
	}, nil
}

// closeClient releases an admin client's connections (kafka-go keeps them, and a
// goroutine per connection, until told).
func closeClient(cl *kafka.Client) {
	if tr, ok := cl.Transport.(*kafka.Transport); ok {
		tr.CloseIdleConnections()
	}
}

// client builds an admin client; release it with closeClient.
func (c *Config) client() (*kafka.Client, error) {
	tr, err := c.transport(nil)
	if err != nil {
		return nil, err
	}
	return &kafka.Client{Addr: kafka.TCP(c.Brokers...), Transport: tr, Timeout: 10 * time.Second}, nil
}
