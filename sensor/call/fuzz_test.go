package call

import (
	"strings"
	"testing"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/metrics"
	"github.com/apiscope/apiscope/sensor/httpwire"
	"github.com/apiscope/apiscope/sensor/identity"
)

// FuzzBuild: any request target and credential headers build a call without panicking,
// and the Authorization value never reaches the record.
func FuzzBuild(f *testing.F) {
	f.Add("/users/42?api_key=abc", "Bearer a.b.c", "session=x", "10.0.0.1, 1.2.3.4")
	f.Add("http://h/x?access_token=eyJ.eyJ.x&&=", "Basic Ym9iOmh1bnRlcjI=", ";;=", "for=unknown")
	f.Add("*", `Digest username="a\"`, "JSESSIONID=\"\"", "[::1]:80")
	f.Add("", "AWS4-HMAC-SHA256 Credential=/", "", ",,")
	b, err := NewBuilder(Config{Identity: identity.Config{Key: testKey}, Metrics: metrics.NewRegistry()}, nil)
	if err != nil {
		f.Fatal(err)
	}
	ws := b.WrapSink(&discardSink{})
	f.Fuzz(func(t *testing.T, uri, authz, cookie, xff string) {
		tx := &httpwire.Transaction{Req: &httpwire.Request{TS: t0, Method: "GET", URI: uri,
			Header: hdr("Host", "fuzz.example", "Authorization", authz, "Cookie", cookie, "X-Forwarded-For", xff)}}
		var c models.APICall
		b.Build(tx, client, server, &c)
		if err := ws.Write(&c); err != nil {
			t.Fatal(err)
		}
		line, err := models.MarshalAPICall(&c)
		if err != nil {
			t.Fatal(err)
		}
		_, cred, _ := strings.Cut(strings.TrimSpace(authz), " ")
		cred = strings.TrimSpace(cred)
		exportedElsewhere := strings.Contains(uri, cred) || strings.Contains(xff, cred) || strings.Contains("fuzz.example", cred)
		if len(cred) >= 12 && !exportedElsewhere && !strings.ContainsAny(cred, `"\<>&`) && strings.Contains(string(line), cred) {
			t.Fatalf("credential %q leaked into %s", cred, line)
		}
	})
}

type discardSink struct{}

func (discardSink) Write(*models.APICall) error { return nil }
func (discardSink) Close() error                { return nil }
