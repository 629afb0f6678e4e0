package kafkabus

import (
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"
)

func TestParseAcks(t *testing.T) {
	tests := []struct {
		in      string
		want    kafka.RequiredAcks
		wantErr bool
	}{
		{"", kafka.RequireAll, false},
		{"all", kafka.RequireAll, false},
		{"-1", kafka.RequireAll, false},
		{"1", kafka.RequireOne, false},
		{"leader", kafka.RequireOne, false},
		{"0", kafka.RequireNone, false},
		{"2", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseAcks(tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("ParseAcks(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseCompression(t *testing.T) {
	tests := []struct {
		in      string
		want    kafka.Compression
		wantErr bool
	}{
		{"", kafka.Lz4, false},
		{"none", 0, false},
		{"gzip", kafka.Gzip, false},
		{"snappy", kafka.Snappy, false},
		{"LZ4", kafka.Lz4, false},
		{"zstd", kafka.Zstd, false},
		{"brotli", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseCompression(tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("ParseCompression(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"ok", Config{Brokers: []string{"127.0.0.1:9092"}}, ""},
		{"no brokers", Config{}, "no brokers"},
		{"no port", Config{Brokers: []string{"kafka"}}, "host:port"},
		{"plain", Config{Brokers: []string{"k:9092"}, SASL: SASLConfig{Mechanism: "PLAIN", Username: "u", Password: "p"}}, ""},
		{"scram 256", Config{Brokers: []string{"k:9092"}, SASL: SASLConfig{Mechanism: "SCRAM-SHA-256", Username: "u", Password: "p"}}, ""},
		{"scram 512 lower case", Config{Brokers: []string{"k:9092"}, SASL: SASLConfig{Mechanism: "scram-sha-512", Username: "u", Password: "p"}}, ""},
		{"sasl without user", Config{Brokers: []string{"k:9092"}, SASL: SASLConfig{Mechanism: "PLAIN"}}, "username"},
		{"unknown sasl", Config{Brokers: []string{"k:9092"}, SASL: SASLConfig{Mechanism: "GSSAPI", Username: "u"}}, "unknown SASL"},
		{"cert without key", Config{Brokers: []string{"k:9092"}, TLS: TLSConfig{CertFile: "c.pem"}}, "together"},
		{"missing CA", Config{Brokers: []string{"k:9092"}, TLS: TLSConfig{CAFile: "/nonexistent/ca.pem"}}, "reading TLS CA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v; want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate() = %v; want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestSplitBrokers(t *testing.T) {
	got := SplitBrokers(" a:1, ,b:2,")
	if len(got) != 2 || got[0] != "a:1" || got[1] != "b:2" {
		t.Errorf("SplitBrokers = %q; want [a:1 b:2]", got)
	}
}
