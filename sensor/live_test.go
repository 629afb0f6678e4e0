package sensor_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/sensor"
	"github.com/apiscope/apiscope/sensor/capture"
)

// lockedCollect is a sink read by the test while the sensor runs.
type lockedCollect struct {
	mu    sync.Mutex
	calls []models.APICall
}

func (c *lockedCollect) Write(a *models.APICall) error {
	c.mu.Lock()
	c.calls = append(c.calls, *a)
	c.mu.Unlock()
	return nil
}
func (c *lockedCollect) Close() error { return nil }
func (c *lockedCollect) snapshot() []models.APICall {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]models.APICall(nil), c.calls...)
}

// TestLiveCaptureOnLoopback captures on lo while real HTTP requests go to a Go server on
// 127.0.0.1: every request must come out as a call with its status and body sizes.
func TestLiveCaptureOnLoopback(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	src, err := capture.OpenLive(capture.LiveConfig{Interface: "lo", BPF: fmt.Sprintf("tcp port %d", port), Immediate: true})
	if err != nil {
		ln.Close()
		if os.Getenv("CI") != "true" && (errors.Is(err, capture.ErrPermission) || strings.Contains(err.Error(), "permission")) {
			t.Skipf("live capture not permitted here (needs CAP_NET_RAW): %v", err)
		}
		t.Fatalf("opening live capture on lo: %v", err)
	}
	defer src.Close()

	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		switch {
		case strings.HasPrefix(r.URL.Path, "/chunked/"):
			// No Content-Length and several flushes: Go answers chunked.
			parts, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/chunked/"))
			for i := 0; i < parts; i++ {
				fmt.Fprintf(w, "{\"part\":%d}\n", i)
				w.(http.Flusher).Flush()
			}
		case strings.HasPrefix(r.URL.Path, "/big/"):
			size, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/big/"))
			w.Header().Set("Content-Length", strconv.Itoa(size))
			w.Write(bytes.Repeat([]byte("x"), size))
		case r.URL.Path == "/missing":
			http.NotFound(w, r)
		default:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"received":%d}`, n)
		}
	})}
	go srv.Serve(ln)
	defer srv.Close()

	sink := &lockedCollect{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := sensor.Run(ctx, sensor.Config{Live: true, Workers: 2, FlushEvery: 20 * time.Millisecond}, src, sink)
		done <- err
	}()
	time.Sleep(200 * time.Millisecond) // let the capture start

	type want struct {
		method, uri     string
		status          int
		reqBytes, respB int64
	}
	var wants []want
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2, DisableCompression: true}}
	defer client.CloseIdleConnections()
	do := func(method, uri string, body []byte, status int, respBytes int64) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, _ := http.NewRequest(method, base+uri, rd)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != status {
			t.Fatalf("%s %s: server answered %d", method, uri, resp.StatusCode)
		}
		if respBytes < 0 {
			respBytes = int64(len(got))
		}
		wants = append(wants, want{method, uri, status, int64(len(body)), respBytes})
	}
	for i := 0; i < 20; i++ { // keep-alive: these share a few connections
		do("GET", fmt.Sprintf("/api/items/%d?x=%d", i, i), nil, 200, -1)
	}
	do("POST", "/api/upload", bytes.Repeat([]byte("a"), 3<<20), 200, -1) // large request body
	do("GET", "/big/5000000", nil, 200, 5000000)                         // large response body
	do("GET", "/chunked/50", nil, 200, -1)                               // chunked response
	do("GET", "/missing", nil, 404, -1)
	do("PUT", "/api/items/7", []byte(`{"name":"seven"}`), 200, -1)

	deadline := time.Now().Add(10 * time.Second)
	for len(sink.snapshot()) < len(wants) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	calls := sink.snapshot()
	byURI := map[string][]models.APICall{}
	for _, c := range calls {
		byURI[c.Method+" "+c.URI] = append(byURI[c.Method+" "+c.URI], c)
	}
	for _, w := range wants {
		cs := byURI[w.method+" "+w.uri]
		if len(cs) != 1 {
			t.Errorf("%s %s: %d calls; want 1", w.method, w.uri, len(cs))
			continue
		}
		c := cs[0]
		if c.Status != w.status || c.ReqBytes != w.reqBytes || c.RespBytes != w.respB {
			t.Errorf("%s %s: status %d, req_bytes %d, resp_bytes %d; want %d, %d, %d",
				w.method, w.uri, c.Status, c.ReqBytes, c.RespBytes, w.status, w.reqBytes, w.respB)
		}
		if c.DstPort != uint16(port) || c.SrcIP != "127.0.0.1" || c.Partial {
			t.Errorf("%s %s: connection %s:%d -> %s:%d partial=%v", w.method, w.uri, c.SrcIP, c.SrcPort, c.DstIP, c.DstPort, c.Partial)
		}
	}
	if len(calls) != len(wants) {
		t.Errorf("%d calls for %d requests", len(calls), len(wants))
	}
}
