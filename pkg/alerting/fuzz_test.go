package alerting

import (
	"strings"
	"testing"
	"time"

	"github.com/apiscope/apiscope/models"
)

// FuzzDecode: any record either fails cleanly or decodes to a finding that survives a
// native round trip unchanged.
func FuzzDecode(f *testing.F) {
	for _, fd := range []*models.Finding{sampleFinding(), {ID: "x", Kind: "k", Severity: "low"}} {
		for _, format := range []string{FormatNative, FormatOCSF} {
			b, _ := Marshal(fd, format)
			f.Add(b)
		}
	}
	f.Add([]byte(`{"class_uid":2004,"finding_info":{"uid":"u","types":["k"]},"unmapped":{"ts":"bad"}}`))
	f.Add([]byte(`{"id":"a","kind":"b","evidence":{"x":[1,{"y":null}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fd, err := Decode(b)
		if err != nil {
			return
		}
		nb, err := Marshal(fd, FormatNative)
		if err != nil {
			return // NaN scores and the like cannot be re-encoded; Decode still did not panic
		}
		again, err := Decode(nb)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", nb, err)
		}
		nb2, _ := Marshal(again, FormatNative)
		if string(nb) != string(nb2) {
			t.Fatalf("native round trip changed the record:\n%s\n%s", nb, nb2)
		}
		_, _ = MarshalOCSF(fd)
		_ = CEF(fd)
		_ = Text(fd, true)
	})
}

// FuzzCEF: whatever the fields hold, a CEF line is one line with exactly seven header
// separators, and a syslog message has no raw line break before its body.
func FuzzCEF(f *testing.F) {
	f.Add("bola_enumeration", "summary | with \\ pipes = and\nnewlines", "client", "10.0.0.1")
	f.Add("k|ind", "\r\n", "c\"]\\", "")
	f.Fuzz(func(t *testing.T, kind, summary, client, ip string) {
		fd := &models.Finding{ID: "id", TS: time.Unix(0, 0), Kind: kind, Summary: summary, ClientID: client, ClientIP: ip, Severity: "high"}
		line := CEF(fd)
		if strings.ContainsAny(line, "\r\n") {
			t.Fatalf("CEF line has a raw line break: %q", line)
		}
		var fields []string
		start := 0
		for i := 0; i < len(line) && len(fields) < 7; i++ {
			switch line[i] {
			case '\\':
				i++
			case '|':
				fields = append(fields, line[start:i])
				start = i + 1
			}
		}
		if len(fields) != 7 || fields[0] != "CEF:0" || fields[6] != "8" {
			t.Fatalf("CEF header fields %q; want 7 with the severity (8) last: %q", fields, line)
		}
	})
}
