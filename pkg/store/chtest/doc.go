// Package chtest starts a real clickhouse-server for tests: a private data directory, free
// loopback ports, its own minimal configuration (no dependence on /etc/clickhouse-server),
// and a readiness wait on the HTTP /ping endpoint. The server is stopped by its PID, never by
// name, so concurrent test binaries do not disturb each other.
//
// Two ways to use it:
//
//	// One server per test (fault tests that stop and restart it):
//	srv := chtest.Start(t) // stopped in t.Cleanup
//	dsn := srv.DSN("db1")
//
//	// One server per test binary, shared by every test in the package:
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		chtest.StopShared()
//		os.Exit(code)
//	}
//	srv := chtest.Shared(t)
//	dsn := srv.DSN(chtest.UniqueDB(t))
//
// When the server binary is missing the test is skipped with a message, unless CI=true, in
// which case it fails: CI must run the storage tests. The binary is taken from
// $CLICKHOUSE_SERVER, then clickhouse-server on $PATH, then /usr/sbin/clickhouse-server.
package chtest
