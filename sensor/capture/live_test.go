package capture

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// openLive opens a live capture for a test, skipping when the process may not capture
// (failing instead when CI=true: CI runs as root).
func openLive(t *testing.T, cfg LiveConfig) *LiveSource {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("live capture tests use Linux's lo and any interfaces")
	}
	s, err := OpenLive(cfg)
	if errors.Is(err, ErrPermission) && os.Getenv("CI") != "true" {
		t.Skipf("no capture permission (needs root or CAP_NET_RAW): %v", err)
	}
	if err != nil {
		t.Fatalf("OpenLive(%+v): %v", cfg, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// serveHTTP starts an HTTP server on 127.0.0.1 and returns its port.
func serveHTTP(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.URL.Path)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// captureUntil reads frames until every needle has been seen in some frame or the
// timeout passes, and returns the frames read. It reads every other frame with
// ReadFrame, which must give the interface's link type.
func captureUntil(t *testing.T, s *LiveSource, timeout time.Duration, needles ...string) int {
	t.Helper()
	timer := time.AfterFunc(timeout, func() { s.Close() })
	defer timer.Stop()
	seen := map[string]bool{}
	frames := 0
	var f Frame
	for len(seen) < len(needles) {
		var (
			data []byte
			ci   gopacket.CaptureInfo
			err  error
		)
		if frames%2 == 0 {
			data, ci, err = s.Next()
		} else if err = s.ReadFrame(&f); err == nil {
			if f.LinkType != s.LinkType() {
				t.Fatalf("ReadFrame: link type %v; want %v", f.LinkType, s.LinkType())
			}
			data, ci = f.Data, gopacket.CaptureInfo{Timestamp: f.Timestamp, CaptureLength: len(f.Data), Length: f.Length}
		}
		if err == io.EOF {
			t.Fatalf("capture closed after %d frames (timeout); saw %v of %q", frames, seen, needles)
		}
		if err != nil {
			t.Fatal(err)
		}
		if ci.CaptureLength != len(data) || ci.Timestamp.IsZero() {
			t.Fatalf("frame with %d bytes, CaptureLength %d, timestamp %v", len(data), ci.CaptureLength, ci.Timestamp)
		}
		frames++
		for _, n := range needles {
			if bytes.Contains(data, []byte(n)) {
				seen[n] = true
			}
		}
	}
	return frames
}

func TestOpenLiveLoopback(t *testing.T) {
	port := serveHTTP(t)
	s := openLive(t, LiveConfig{Interface: "lo", BPF: fmt.Sprintf("tcp port %d", port), Immediate: true, Snaplen: 2048})
	if s.LinkType() != layers.LinkTypeEthernet {
		t.Errorf("LinkType(lo) = %v; want Ethernet", s.LinkType())
	}
	go func() {
		for _, p := range []string{"/one", "/two"} {
			if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, p)); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}()
	frames := captureUntil(t, s, 10*time.Second, "GET /one HTTP/1.1", "GET /two HTTP/1.1", "hello /two")
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Received < uint64(frames) {
		t.Errorf("Stats().Received = %d; want at least the %d frames read", st.Received, frames)
	}
	if mKernelReceived.Load() != float64(st.Received) {
		t.Errorf("kernel received gauge = %v; want %d", mKernelReceived.Load(), st.Received)
	}
	// After Close, Stats reports the final counts instead of touching the closed handle.
	s.Close()
	after, err := s.Stats()
	if err != nil || after.Received < st.Received {
		t.Errorf("Stats after Close = %+v, %v; want at least %+v and no error", after, err, st)
	}
}

func TestOpenLiveAny(t *testing.T) {
	port := serveHTTP(t)
	s := openLive(t, LiveConfig{Interface: "any", BPF: fmt.Sprintf("tcp port %d", port), Immediate: true})
	if lt := s.LinkType(); lt != layers.LinkTypeLinuxSLL && lt != layers.LinkType(276&0xff) {
		t.Errorf("LinkType(any) = %v; want Linux cooked (SLL or SLL2)", lt)
	}
	go func() {
		if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/any", port)); err == nil {
			resp.Body.Close()
		}
	}()
	captureUntil(t, s, 10*time.Second, "GET /any HTTP/1.1")
}

func TestLiveCloseUnblocksNext(t *testing.T) {
	s := openLive(t, LiveConfig{Interface: "lo", BPF: "tcp port 1"}) // no traffic here
	done := make(chan error, 1)
	go func() {
		_, _, err := s.Next()
		done <- err
	}()
	time.Sleep(150 * time.Millisecond)
	s.Close()
	select {
	case err := <-done:
		if err != io.EOF {
			t.Errorf("Next after Close = %v; want io.EOF", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Next still blocked 3 s after Close")
	}
}

func TestOpenLiveErrors(t *testing.T) {
	openLive(t, LiveConfig{Interface: "lo"}) // skips without permission
	tests := []struct {
		cfg  LiveConfig
		want string
	}{
		{LiveConfig{}, "no interface"},
		{LiveConfig{Interface: "lo", Snaplen: -1}, "negative"},
		{LiveConfig{Interface: "no-such-if0"}, "no-such-if0"},
		{LiveConfig{Interface: "lo", BPF: "tcp port"}, "bad BPF filter"},
	}
	for _, tc := range tests {
		_, err := OpenLive(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("OpenLive(%+v) = %v; want an error containing %q", tc.cfg, err, tc.want)
		}
	}
}

// TestOpenLiveWithoutPermission runs this test binary as an unprivileged user (when the
// test runs as root and setpriv exists) and checks the error it gets.
func TestOpenLiveWithoutPermission(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	if os.Getenv("APISCOPE_LIVE_PERMISSION_CHILD") == "1" {
		_, err := OpenLive(LiveConfig{Interface: "lo"})
		if !errors.Is(err, ErrPermission) {
			t.Fatalf("OpenLive as an unprivileged user = %v; want ErrPermission", err)
		}
		if !strings.Contains(err.Error(), "CAP_NET_RAW") {
			t.Fatalf("error %q does not say what is needed", err)
		}
		return
	}
	if os.Getuid() != 0 {
		_, err := OpenLive(LiveConfig{Interface: "lo"})
		if err != nil && !errors.Is(err, ErrPermission) {
			t.Fatalf("OpenLive without root = %v; want success (capabilities) or ErrPermission", err)
		}
		return
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv not installed; cannot drop privileges")
	}
	// The test binary must be executable by the unprivileged user.
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "capture.test")
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
		bin, "-test.run=^TestOpenLiveWithoutPermission$", "-test.v")
	cmd.Env = append(os.Environ(), "APISCOPE_LIVE_PERMISSION_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("unprivileged run failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "PASS") {
		t.Fatalf("unprivileged run did not pass:\n%s", out)
	}
}
