package kafkabus_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Publishers, consumers and admin calls release their connections and goroutines.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
