package store

import (
	"context"
	sqldriver "database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.uber.org/zap"
)

// Options tune a Store. Zero values mean the defaults in parentheses.
type Options struct {
	// ConnectTimeout bounds how long Open keeps trying to reach the server (10s).
	ConnectTimeout time.Duration
	// RetryInitial is the first wait after a failed insert (100ms); each retry doubles it
	// up to RetryMax (5s). Inserts retry until their context ends.
	RetryInitial time.Duration
	RetryMax     time.Duration
}

func (o Options) withDefaults() Options {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.RetryInitial <= 0 {
		o.RetryInitial = 100 * time.Millisecond
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 5 * time.Second
	}
	if o.RetryMax < o.RetryInitial {
		o.RetryMax = o.RetryInitial
	}
	return o
}

// Store is a connection pool to one ClickHouse database. Safe for concurrent use.
type Store struct {
	conn driver.Conn
	db   string
	log  *zap.Logger
	opts Options
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Open connects to the database named in dsn (clickhouse://host:9000/db?dial_timeout=5s,
// the clickhouse-go v2 native-protocol DSN), creating the database if it is missing. An
// empty database means "default". Settings in the DSN are passed to the server as given;
// on 18.16 use only integer or boolean settings.
func Open(ctx context.Context, dsn string, log *zap.Logger) (*Store, error) {
	return OpenWith(ctx, dsn, log, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, dsn string, log *zap.Logger, o Options) (*Store, error) {
	if log == nil {
		log = zap.NewNop()
	}
	o = o.withDefaults()
	opts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("bad ClickHouse DSN: %w", err)
	}
	if opts.Protocol != clickhouse.Native {
		return nil, fmt.Errorf("bad ClickHouse DSN: want the native protocol (clickhouse://host:9000/db)")
	}
	db := opts.Auth.Database
	if db == "" {
		db = "default"
	}
	if !identRE.MatchString(db) {
		return nil, fmt.Errorf("bad ClickHouse database name %q: want letters, digits and underscores", db)
	}
	// Connect to "default" first: a handshake naming a missing database fails.
	bootOpts := *opts
	bootOpts.Auth.Database = "default"
	if err := connectRetry(ctx, o.ConnectTimeout, log, func(ctx context.Context) error {
		c, err := clickhouse.Open(&bootOpts)
		if err != nil {
			return err
		}
		defer c.Close()
		return c.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+db)
	}); err != nil {
		return nil, fmt.Errorf("connect to ClickHouse at %s: %w", strings.Join(opts.Addr, ","), err)
	}
	opts.Auth.Database = db
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("connect to ClickHouse at %s: %w", strings.Join(opts.Addr, ","), err)
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("connect to ClickHouse at %s: %w", strings.Join(opts.Addr, ","), err)
	}
	return &Store{conn: conn, db: db, log: log.With(zap.String("component", "store"), zap.String("database", db)), opts: o}, nil
}

// connectRetry runs fn until it succeeds, fails with a non-connection error, or timeout
// passes.
func connectRetry(ctx context.Context, timeout time.Duration, log *zap.Logger, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	wait := 100 * time.Millisecond
	for {
		err := fn(ctx)
		if err == nil || !Retryable(err) {
			return err
		}
		log.Warn("ClickHouse not reachable yet; retrying", zap.Error(err), zap.Duration("wait", wait))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// Close closes the connection pool.
func (s *Store) Close() error { return s.conn.Close() }

// Database returns the database name the store writes to.
func (s *Store) Database() string { return s.db }

// Conn returns the underlying clickhouse-go connection, for queries.
func (s *Store) Conn() driver.Conn { return s.conn }

// retryableCodes are server exceptions that a later attempt can get past: overload,
// timeouts, network trouble inside the server, and a server shutting down.
var retryableCodes = map[int32]bool{
	159: true, // TIMEOUT_EXCEEDED
	202: true, // TOO_MANY_SIMULTANEOUS_QUERIES
	209: true, // SOCKET_TIMEOUT
	210: true, // NETWORK_ERROR
	236: true, // ABORTED
	241: true, // MEMORY_LIMIT_EXCEEDED
	242: true, // TABLE_IS_READ_ONLY
	252: true, // TOO_MANY_PARTS
	319: true, // UNKNOWN_STATUS_OF_INSERT
	394: true, // QUERY_WAS_CANCELLED (server shutdown)
	425: true, // SYSTEM_ERROR
}

// Retryable reports whether err is a connection-level failure (refused, reset, timed out,
// closed) or a transient server exception, as opposed to an error that repeats on every
// attempt. Context cancellation is not retryable.
func Retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		return retryableCodes[ex.Code]
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, net.ErrClosed), errors.Is(err, sqldriver.ErrBadConn),
		errors.Is(err, clickhouse.ErrAcquireConnTimeout):
		return true
	}
	// The driver flattens some transport errors into text.
	msg := err.Error()
	for _, s := range []string{"connection refused", "connection reset", "broken pipe", "EOF", "i/o timeout", "use of closed network connection", "acquire conn timeout"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
