package kafkabus_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/apiscope/apiscope/pkg/kafkabus"
	"github.com/apiscope/apiscope/pkg/metrics"
)

// tlsFiles writes a self-signed certificate for 127.0.0.1 and returns the server
// configuration and the CA file a client verifies it with.
func tlsFiles(t *testing.T) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "kafka"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}, ca
}

// TestTLSAndSASL publishes and reads back through a broker that requires TLS and each
// SASL mechanism, and checks that a wrong password is refused.
func TestTLSAndSASL(t *testing.T) {
	serverTLS, ca := tlsFiles(t)
	for _, mech := range []string{kafkabus.SASLPlain, kafkabus.SASLScramSHA256, kafkabus.SASLScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(serverTLS), kfake.EnableSASL(),
				kfake.Superuser(mech, "sensor", "s3cret-pw"), kfake.SeedTopics(2, "secure.calls"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			addr := c.ListenAddrs()[0]
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cfg := kafkabus.Config{Brokers: []string{addr}, TLS: kafkabus.TLSConfig{CAFile: ca},
				SASL: kafkabus.SASLConfig{Mechanism: mech, Username: "sensor", Password: "s3cret-pw"}}
			if err := kafkabus.EnsureTopics(ctx, cfg, []string{"secure.more"}, 1, 1); err != nil {
				t.Fatalf("EnsureTopics over TLS+%s: %v", mech, err)
			}
			p, err := kafkabus.NewPublisher(kafkabus.PublisherConfig{Config: cfg, Topic: "secure.calls", Metrics: metrics.NewRegistry()}, nil)
			if err != nil {
				t.Fatal(err)
			}
			publish(t, p, 0, 10, 3)
			if err := p.Shutdown(ctx); err != nil {
				t.Fatalf("publishing over TLS+%s: %v", mech, err)
			}
			n := 0
			if err := kafkabus.ReadTopic(ctx, cfg, "secure.calls", kafkabus.ReadOptions{FromBeginning: true},
				func(kafkabus.Message) error { n++; return nil }); err != nil || n != 10 {
				t.Fatalf("read back %d records, err %v; want 10", n, err)
			}

			bad := cfg
			bad.SASL.Password = "wrong"
			if err := kafkabus.EnsureTopics(ctx, bad, []string{"secure.other"}, 1, 1); err == nil {
				t.Error("EnsureTopics with a wrong password = nil; want an authentication error")
			}
			noTLS := cfg
			noTLS.TLS = kafkabus.TLSConfig{}
			short, cancelShort := context.WithTimeout(ctx, 3*time.Second)
			defer cancelShort()
			if err := kafkabus.EnsureTopics(short, noTLS, []string{"secure.other"}, 1, 1); err == nil {
				t.Error("EnsureTopics without TLS = nil; want a failure")
			}
		})
	}
}
