package alerting

import (
	"testing"

	"go.uber.org/goleak"
)

// Every sink owns a goroutine; Close must end it. The HTTP client's idle keep-alive
// connections belong to net/http, not to the sinks.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"))
}
