package sensor_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: Run must wait for its
// workers and merge before it returns.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
