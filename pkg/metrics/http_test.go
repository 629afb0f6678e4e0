package metrics

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestServe(t *testing.T) {
	reg := NewRegistry()
	reg.Counter("apiscope_sensor_packets_total", "packets").Add(42)
	ready := &Readiness{state: map[string]string{}}
	ready.NotReady("kafka", "broker unreachable")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := Serve(ctx, "127.0.0.1:0", reg, ready)
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr.String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		path     string
		code     int
		contains string
	}{
		{"/metrics", 200, "apiscope_sensor_packets_total 42"},
		{"/healthz", 200, "ok"},
		{"/readyz", 503, "kafka: broker unreachable"},
	}
	for _, tt := range tests {
		code, body := get(tt.path)
		if code != tt.code || !strings.Contains(body, tt.contains) {
			t.Errorf("GET %s = %d %q; want %d containing %q", tt.path, code, body, tt.code, tt.contains)
		}
	}
	ready.Ready("kafka")
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("GET /readyz after Ready = %d; want 200", code)
	}
	if _, err := Serve(ctx, "256.0.0.1:1", reg, ready); err == nil {
		t.Error("Serve on a bad address succeeded")
	}
}
