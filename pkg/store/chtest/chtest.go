package chtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Timeouts for start and stop. 18.16 answers /ping within a second on an idle machine; the
// margin covers a loaded CI runner.
const (
	startTimeout = 60 * time.Second
	stopTimeout  = 30 * time.Second
)

// Server is one clickhouse-server process owned by a test. Methods are safe for concurrent
// use; Stop and Restart serialise on an internal lock.
type Server struct {
	// Dir holds the configuration, data and logs.
	Dir string
	// TCPPort is the native-protocol port, HTTPPort the HTTP interface.
	TCPPort, HTTPPort, InterserverPort int

	bin string
	mu  sync.Mutex
	cmd *exec.Cmd
	// exited is closed when the current process has been reaped.
	exited chan struct{}
}

// Binary returns the clickhouse-server path, or "" when none is installed.
func Binary() string {
	if p := os.Getenv("CLICKHOUSE_SERVER"); p != "" {
		return p
	}
	if p, err := exec.LookPath("clickhouse-server"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/clickhouse-server"); err == nil {
		return "/usr/sbin/clickhouse-server"
	}
	return ""
}

// skipOrFail skips the test with msg, or fails it when CI=true.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: ClickHouse tests are required)", msg)
	}
	t.Skipf("%s; skipping ClickHouse test", msg)
}

// Start launches a dedicated server for t and stops it in t.Cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		skipOrFail(t, "clickhouse-server not found (install clickhouse-server or set CLICKHOUSE_SERVER)")
	}
	dir, err := os.MkdirTemp("", "chtest-")
	if err != nil {
		t.Fatal(err)
	}
	s, err := launch(bin, dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		skipOrFail(t, "clickhouse-server did not start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stopping clickhouse-server: %v", err)
		}
		_ = os.RemoveAll(dir)
	})
	return s
}

var shared struct {
	mu  sync.Mutex
	srv *Server
	err error
}

// Shared returns the server shared by the test binary, starting it on first use. Call
// StopShared from TestMain after m.Run.
func Shared(t testing.TB) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		skipOrFail(t, "clickhouse-server not found (install clickhouse-server or set CLICKHOUSE_SERVER)")
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv == nil && shared.err == nil {
		dir, err := os.MkdirTemp("", "chtest-")
		if err == nil {
			shared.srv, err = launch(bin, dir)
			if err != nil {
				_ = os.RemoveAll(dir)
			}
		}
		shared.err = err
	}
	if shared.err != nil {
		skipOrFail(t, "clickhouse-server did not start: %v", shared.err)
	}
	return shared.srv
}

// StopShared stops the shared server, if one was started, and removes its directory.
func StopShared() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv != nil {
		if err := shared.srv.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "chtest: stopping shared clickhouse-server: %v\n", err)
		}
		_ = os.RemoveAll(shared.srv.Dir)
		shared.srv = nil
	}
}

// Idle keep-alive connections make a stopping server wait for them to close, so the test
// clients never keep one.
var (
	httpClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	pingClient = &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
)

var dbSeq atomic.Int64

var nonIdent = regexp.MustCompile(`[^A-Za-z0-9_]+`)

// UniqueDB returns a database name unique within the process, derived from the test name.
func UniqueDB(t testing.TB) string {
	name := strings.ToLower(nonIdent.ReplaceAllString(t.Name(), "_"))
	if len(name) > 40 {
		name = name[:40]
	}
	return fmt.Sprintf("t%d_%d_%s", os.Getpid(), dbSeq.Add(1), name)
}

// DSN returns the native-protocol DSN for database db.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("clickhouse://127.0.0.1:%d/%s?dial_timeout=5s", s.TCPPort, db)
}

// Addr returns host:port of the native protocol.
func (s *Server) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.TCPPort) }

// Query runs sql through the HTTP interface and returns the response body (TabSeparated
// unless sql says otherwise). It fails t on any error.
func (s *Server) Query(t testing.TB, sql string) string {
	t.Helper()
	out, err := s.QueryErr(sql)
	if err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
	return out
}

// QueryErr runs sql through the HTTP interface.
func (s *Server) QueryErr(sql string) (string, error) { return s.QueryIn("", sql) }

// QueryIn runs sql through the HTTP interface with db as the current database ("" for
// the default).
func (s *Server) QueryIn(db, sql string) (string, error) {
	u := fmt.Sprintf("http://127.0.0.1:%d/", s.HTTPPort)
	if db != "" {
		u += "?database=" + url.QueryEscape(db)
	}
	resp, err := httpClient.Post(u, "text/plain", strings.NewReader(sql))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("http %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return string(b), nil
}

// PID returns the server's process id, 0 when it is not running.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Running reports whether the server process is alive.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// Stop sends SIGTERM to the server's PID and waits for it to exit, sending SIGKILL after
// stopTimeout. Stopping a stopped server is a no-op.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked(syscall.SIGTERM)
}

// Kill stops the server with SIGKILL: no graceful shutdown, as after a crash.
func (s *Server) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked(syscall.SIGKILL)
}

func (s *Server) stopLocked(sig syscall.Signal) error {
	if s.cmd == nil {
		return nil
	}
	defer func() { s.cmd = nil }()
	select {
	case <-s.exited:
		return nil
	default:
	}
	if err := s.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-s.exited:
		return nil
	case <-time.After(stopTimeout):
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	return fmt.Errorf("clickhouse-server (pid %d) ignored %v for %v; killed", s.cmd.Process.Pid, sig, stopTimeout)
}

// Restart starts the server again on the same ports and data directory.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.stopLocked(syscall.SIGTERM); err != nil {
		return err
	}
	return s.startLocked()
}

func launch(bin, dir string) (*Server, error) {
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, bin: bin, TCPPort: ports[0], HTTPPort: ports[1], InterserverPort: ports[2]}
	for _, sub := range []string{"data", "tmp", "user_files", "format_schemas"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "config.xml"), []byte(s.config()), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "users.xml"), []byte(usersXML), 0o644); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.startLocked(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) startLocked() error {
	cmd := exec.Command(s.bin, "--config-file="+filepath.Join(s.Dir, "config.xml"))
	cmd.Dir = s.Dir
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited
	deadline := time.Now().Add(startTimeout)
	u := fmt.Sprintf("http://127.0.0.1:%d/ping", s.HTTPPort)
	for {
		select {
		case <-exited:
			s.cmd = nil
			return fmt.Errorf("clickhouse-server exited at start: %s%s", strings.TrimSpace(out.String()), s.errLogTail())
		default:
		}
		resp, err := pingClient.Get(u)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			_ = s.stopLocked(syscall.SIGKILL)
			return fmt.Errorf("clickhouse-server did not answer %s within %v%s", u, startTimeout, s.errLogTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) errLogTail() string {
	b, err := os.ReadFile(filepath.Join(s.Dir, "server.err.log"))
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return "; server.err.log: " + string(b)
}

// freePorts asks the kernel for n distinct free loopback ports. The listeners are closed
// before the server binds, so another process could take a port in between; the start
// then fails with a clear message instead of hanging.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func (s *Server) config() string {
	esc := func(p string) string { return (&url.URL{Path: p}).Path }
	d := esc(s.Dir)
	return fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>%[1]s/server.log</log>
        <errorlog>%[1]s/server.err.log</errorlog>
        <size>100M</size>
        <count>1</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>%[2]d</tcp_port>
    <http_port>%[3]d</http_port>
    <interserver_http_port>%[4]d</interserver_http_port>
    <path>%[1]s/data/</path>
    <tmp_path>%[1]s/tmp/</tmp_path>
    <user_files_path>%[1]s/user_files/</user_files_path>
    <format_schema_path>%[1]s/format_schemas/</format_schema_path>
    <users_config>users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <!-- Seconds a stopping server waits for open connections: the tests' idle pools would
         otherwise hold every stop for the default 5 s. -->
    <shutdown_wait_unfinished>1</shutdown_wait_unfinished>
    <max_concurrent_queries>100</max_concurrent_queries>
    <mark_cache_size>268435456</mark_cache_size>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
</yandex>
`, d, s.TCPPort, s.HTTPPort, s.InterserverPort)
}

const usersXML = `<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <log_queries>0</log_queries>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
`
