package alerting

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/metrics"
)

func TestSyslogFormat(t *testing.T) {
	s, err := NewSyslog(SyslogConfig{Addr: "127.0.0.1:514", Hostname: "sensor-1", Metrics: metrics.NewRegistry()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f := sampleFinding()
	f.ClientID = `odd "client" ]`
	b, err := s.Format(f)
	if err != nil {
		t.Fatal(err)
	}
	want := `<131>1 2024-05-01T12:30:15.250123Z sensor-1 apiscope ` + s.pid + ` bola_enumeration [apiscope@32473 id="f0e1d2c3b4a5968778695a4b3c2d1e0f" client="odd \"client\" \]" severity="high" score="7.25"] CEF:0|apiscope|apiscope|1|bola_enumeration|`
	if !strings.HasPrefix(string(b), want) {
		t.Errorf("message\n%s\nwant prefix\n%s", b, want)
	}
}

// collect reads octet-counted syslog frames from one TCP (or TLS) connection.
func collect(t *testing.T, ln net.Listener, out chan<- string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			r := bufio.NewReader(c)
			for {
				lenStr, err := r.ReadString(' ')
				if err != nil {
					return
				}
				n, err := strconv.Atoi(strings.TrimSpace(lenStr))
				if err != nil {
					t.Errorf("bad frame length %q", lenStr)
					return
				}
				buf := make([]byte, n)
				if _, err := readFull(r, buf); err != nil {
					return
				}
				out <- string(buf)
			}
		}()
	}
}

func readFull(r *bufio.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func sendAndReceive(t *testing.T, s *Syslog, out <-chan string, n int) []string {
	t.Helper()
	for i := 0; i < n; i++ {
		if err := s.WriteFinding(context.Background(), finding("c", models.KindAuthFailures, models.SeverityMedium, time.Unix(1700000000, 0), i)); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	timeout := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case m := <-out:
			got = append(got, m)
		case <-timeout:
			t.Fatalf("received %d of %d messages", len(got), n)
		}
	}
	for i, m := range got {
		if !strings.Contains(m, `id="c-auth_failures-`+strconv.Itoa(i)+`"`) || !strings.HasPrefix(m, "<132>1 ") {
			t.Errorf("message %d = %q; want alert %d in order, facility local0 severity warning", i, m, i)
		}
	}
	return got
}

func TestSyslogUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	out := make(chan string, 10)
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			out <- string(buf[:n])
		}
	}()
	s, err := NewSyslog(SyslogConfig{Network: SyslogUDP, Addr: pc.LocalAddr().String(), Format: "json", Metrics: metrics.NewRegistry()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := sendAndReceive(t, s, out, 3)
	if _, msg, _ := strings.Cut(got[0], "] "); !strings.HasPrefix(msg, `{"id":"c-auth_failures-0"`) {
		t.Errorf("JSON message body = %q", msg)
	}
}

// TestSyslogTCPCollectorRestarts: the collector is down when the first alerts come, then
// starts; the sink retries (counted) and delivers everything in order.
func TestSyslogTCPCollectorRestarts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // down
	s, err := NewSyslog(SyslogConfig{Network: SyslogTCP, Addr: addr, RetryBackoffMin: 20 * time.Millisecond,
		RetryBackoffMax: 100 * time.Millisecond, Timeout: time.Second, Metrics: metrics.NewRegistry()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := make(chan string, 10)
	go func() {
		time.Sleep(200 * time.Millisecond)
		ln2, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("restart collector: %v", err)
			return
		}
		t.Cleanup(func() { ln2.Close() })
		collect(t, ln2, out)
	}()
	sendAndReceive(t, s, out, 5)
	// The collector may read the last message before the sender has counted it.
	deadline := time.Now().Add(5 * time.Second)
	for st := s.Stats(); st.Sent != 5 && time.Now().Before(deadline); st = s.Stats() {
		time.Sleep(10 * time.Millisecond)
	}
	if st := s.Stats(); st.Retries == 0 || st.Sent != 5 {
		t.Errorf("stats %+v; want retries counted and 5 sent", st)
	}
}

func TestSyslogTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	out := make(chan string, 10)
	go collect(t, ln, out)
	s, err := NewSyslog(SyslogConfig{Network: SyslogTLS, Addr: ln.Addr().String(),
		TLS: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}, Metrics: metrics.NewRegistry()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := sendAndReceive(t, s, out, 2)
	if !strings.Contains(got[0], "CEF:0|apiscope|apiscope|1|auth_failures|") {
		t.Errorf("TLS message = %q; want CEF body", got[0])
	}
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "collector"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestNewSyslogRejectsBadConfig(t *testing.T) {
	for _, c := range []SyslogConfig{{Addr: "x"}, {Addr: "h:1", Network: "sctp"}, {Addr: "h:1", Format: "xml"}, {Addr: "h:1", Facility: 24}} {
		if s, err := NewSyslog(c, nil); err == nil {
			s.Close()
			t.Errorf("NewSyslog(%+v) = nil error", c)
		}
	}
}
