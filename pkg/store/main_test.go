package store

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/apiscope/apiscope/pkg/store/chtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	chtest.StopShared()
	// Every Store is closed in t.Cleanup and every BatchWriter by its test: nothing of
	// ours, nor of the driver's pool, may be left running.
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goroutines left behind: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// openTest opens a store on a fresh database of the shared server, closed in t.Cleanup.
func openTest(t *testing.T) (*Store, *chtest.Server) {
	t.Helper()
	srv := chtest.Shared(t)
	st := openDSN(t, srv.DSN(chtest.UniqueDB(t)), Options{})
	return st, srv
}

func openDSN(t *testing.T, dsn string, o Options) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := OpenWith(ctx, dsn, zaptest.NewLogger(t), o)
	if err != nil {
		t.Fatalf("Open(%s): %v", dsn, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func contextCanceled() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx.Err()
}
