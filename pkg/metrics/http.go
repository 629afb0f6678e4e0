package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Readiness tracks the components that must be ready before /readyz answers 200 (a
// capture opened, a broker reached, a schema applied). Safe for concurrent use.
type Readiness struct {
	mu    sync.Mutex
	state map[string]string // component -> "" when ready, else the reason it is not
}

// DefaultReadiness is the process-wide readiness the metrics endpoint serves.
var DefaultReadiness = &Readiness{state: map[string]string{}}

// NotReady marks component as not ready, with a reason shown by /readyz.
func (r *Readiness) NotReady(component, reason string) {
	r.mu.Lock()
	r.state[component] = reason
	r.mu.Unlock()
}

// Ready marks component as ready.
func (r *Readiness) Ready(component string) {
	r.mu.Lock()
	r.state[component] = ""
	r.mu.Unlock()
}

// Check returns nil when every registered component is ready, else an error listing
// those that are not.
func (r *Readiness) Check() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var bad []string
	for c, why := range r.state {
		if why != "" {
			bad = append(bad, c+": "+why)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return errors.New(strings.Join(bad, "; "))
}

// Handler serves /metrics (Prometheus text format), /healthz (the process answers) and
// /readyz (every component ready).
func Handler(reg *Registry, ready *Readiness) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_ = reg.WritePrometheus(w)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := ready.Check(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// Serve listens on addr and serves Handler until ctx ends. It returns once listening, so
// a bad address is reported at start; the server stops when ctx is cancelled.
func Serve(ctx context.Context, addr string, reg *Registry, ready *Readiness) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics endpoint: %w", err)
	}
	srv := &http.Server{Handler: Handler(reg, ready), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr(), nil
}
