package kafkabus

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apiscope/apiscope/models"
)

func TestAppendCallKnowsEveryField(t *testing.T) {
	typ := reflect.TypeOf(models.APICall{})
	var names []string
	for i := 0; i < typ.NumField(); i++ {
		names = append(names, strings.Split(typ.Field(i).Tag.Get("json"), ",")[0])
	}
	if !reflect.DeepEqual(names, callFields) {
		t.Fatalf("models.APICall fields %v; appendCall writes %v: update appendCall", names, callFields)
	}
}

func TestAppendCallMatchesModels(t *testing.T) {
	tricky := []string{"", "plain", `quote " and \ backslash`, "<script>&</script>", "tab\tnl\ncr\r\b\f\x00\x1f",
		"bad utf8 \xff\xfe", "sep \u2028 \u2029", "ünïcødé ✓ 🚀", "\x7f del"}
	base := models.APICall{
		TS: time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.FixedZone("X", 3600)), SrcIP: "10.0.0.1", SrcPort: 54321,
		DstIP: "10.0.0.2", DstPort: 443, Method: "GET", Host: "api", URI: "/a?b=c", Path: "/a", Query: "b=c",
		Template: "/a", Status: 200, ReqBytes: 12, RespBytes: -1, LatencyMS: 1.5, ClientID: "c",
	}
	var calls []models.APICall
	for _, s := range tricky {
		c := base
		c.UserAgent, c.ClientID, c.URI, c.Scope, c.XFF = s, s, s, s, s
		calls = append(calls, c)
	}
	for _, f := range []float64{0, 1e-7, 1e21, 123456.789, 0.000001, -2.5e-9, 1e20, math.SmallestNonzeroFloat64} {
		c := base
		c.LatencyMS = f
		calls = append(calls, c)
	}
	for _, ts := range []time.Time{{}, time.Unix(0, 0), time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), time.Date(2024, 1, 2, 3, 4, 5, 100, time.UTC)} {
		c := base
		c.TS = ts
		calls = append(calls, c)
	}
	flags := base
	flags.Shadow, flags.Partial, flags.Truncated, flags.Issuer = true, true, true, "https://issuer"
	calls = append(calls, flags)
	calls = append(calls, sampleCallsForTest()...)
	for i := range calls {
		want, err := models.MarshalAPICall(&calls[i])
		if err != nil {
			t.Fatalf("models.MarshalAPICall: %v", err)
		}
		got, err := appendCall(nil, &calls[i])
		if err != nil {
			t.Fatalf("appendCall: %v", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("call %d:\nappendCall          %s\nmodels.MarshalAPICall %s", i, got, want)
		}
	}
}

func TestAppendCallRefusesWhatJSONRefuses(t *testing.T) {
	for _, c := range []models.APICall{{LatencyMS: math.NaN()}, {LatencyMS: math.Inf(1)}, {TS: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}} {
		if _, err := appendCall(nil, &c); err == nil {
			t.Errorf("appendCall(%v, %v) = nil error; want one, as models.MarshalAPICall", c.TS, c.LatencyMS)
		}
	}
}

func sampleCallsForTest() []models.APICall {
	return []models.APICall{{
		TS: time.Date(2024, 5, 1, 12, 0, 0, 5, time.UTC), SrcIP: "192.168.1.10", SrcPort: 1, DstIP: "::1", DstPort: 8080,
		Method: "POST", Host: "shop.example.com:8080", URI: "/api/v1/orders/123?x=<1>", Path: "/api/v1/orders/123",
		Query: "x=<1>", Template: "/api/v1/orders/{id}", Status: 503, ReqBytes: 1 << 40, LatencyMS: 250.125,
		UserAgent: "Mozilla/5.0", ContentType: "application/json; charset=utf-8", ClientID: "jwt:alice+agent-7",
		Principal: "alice", Actor: "agent-7", Auth: models.AuthJWT, CredFP: "0123abcd", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
	}}
}

func FuzzAppendCall(f *testing.F) {
	f.Add("GET", "/users/1?a=b", "ua", "client", 1.25, int64(0))
	f.Add("P\x00ST", "\xff\u2028<&>", "\"\\", "", 1e-9, int64(1700000000123456789))
	f.Fuzz(func(t *testing.T, method, uri, ua, client string, lat float64, ns int64) {
		c := models.APICall{TS: time.Unix(0, ns), Method: method, URI: uri, UserAgent: ua, ClientID: client, LatencyMS: lat, Scope: ua}
		want, werr := models.MarshalAPICall(&c)
		got, gerr := appendCall(nil, &c)
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("errors differ: models %v, appendCall %v", werr, gerr)
		}
		if werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("appendCall %s\nmodels      %s", got, want)
		}
	})
}

func BenchmarkEncodeCall(b *testing.B) {
	c := sampleCallsForTest()[0]
	b.Run("appendCall", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for i := 0; i < b.N; i++ {
			buf, _ = appendCall(buf[:0], &c)
		}
	})
	b.Run("models.MarshalAPICall", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_, _ = models.MarshalAPICall(&c)
		}
	})
}
