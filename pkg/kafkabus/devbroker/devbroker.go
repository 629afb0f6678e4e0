package devbroker

import (
	"fmt"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"

	"github.com/apiscope/apiscope/pkg/kafkabus"
)

// Config says where and how the broker runs.
type Config struct {
	// Listen is host:port to accept connections on. Empty means 127.0.0.1:9092.
	Listen string
	// Advertise is the host:port clients are told to connect to. Empty means Listen,
	// or 127.0.0.1 with Listen's port when Listen's host is a wildcard.
	Advertise string
	// DataDir keeps the log on disk when set; empty keeps everything in memory.
	DataDir string
	// Partitions of each created topic. Zero means 6.
	Partitions int
	// Topics to create at first start. Empty means kafkabus.AllTopics.
	Topics []string
}

// Broker is a running development broker.
type Broker struct {
	c *kfake.Cluster
	// Addr is the address clients connect to (the advertised one).
	Addr string
}

// advertised reports a chosen address as the listener's, which is what kfake tells
// clients in metadata responses.
type advertised struct {
	net.Listener
	addr net.Addr
}

func (a advertised) Addr() net.Addr { return a.addr }

type hostPort string

func (h hostPort) Network() string { return "tcp" }
func (h hostPort) String() string  { return string(h) }

// Start runs the broker until Close.
func Start(cfg Config, log *zap.Logger) (*Broker, error) {
	if log == nil {
		log = zap.NewNop()
	}
	listen := cfg.Listen
	if listen == "" {
		listen = "127.0.0.1:9092"
	}
	host, ps, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("bad listen address %q: want host:port", listen)
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("bad listen port in %q", listen)
	}
	adv := cfg.Advertise
	if adv != "" {
		if _, _, err := net.SplitHostPort(adv); err != nil {
			return nil, fmt.Errorf("bad advertised address %q: want host:port", adv)
		}
	}
	parts := cfg.Partitions
	if parts <= 0 {
		parts = 6
	}
	topics := cfg.Topics
	if len(topics) == 0 {
		topics = kafkabus.AllTopics
	}
	listenFn := func(network, _ string) (net.Listener, error) {
		ln, err := net.Listen(network, listen)
		if err != nil {
			return nil, err
		}
		a := adv
		if a == "" {
			_, p, _ := net.SplitHostPort(ln.Addr().String())
			h := host
			if ip := net.ParseIP(h); h == "" || (ip != nil && ip.IsUnspecified()) {
				h = "127.0.0.1"
			}
			a = net.JoinHostPort(h, p)
		}
		return advertised{Listener: ln, addr: hostPort(a)}, nil
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.ListenFn(listenFn),
		kfake.SeedTopics(int32(parts), topics...),
		kfake.DefaultNumPartitions(parts),
		kfake.ClusterID("apiscope-dev"),
		kfake.WithLogger(zapLogger{log.With(zap.String("component", "devbroker"))}),
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("starting broker on %s: %w", listen, err)
	}
	return &Broker{c: c, Addr: c.ListenAddrs()[0]}, nil
}

// Close stops the broker, writing its state to DataDir when it has one.
func (b *Broker) Close() { b.c.Close() }

// zapLogger forwards kfake's warnings and errors; its info and debug lines describe
// every request and would flood the log.
type zapLogger struct{ l *zap.Logger }

func (z zapLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	switch level {
	case kfake.LogLevelError:
		z.l.Error("kfake", zap.String("detail", fmt.Sprintf(format, args...)))
	case kfake.LogLevelWarn:
		z.l.Warn("kfake", zap.String("detail", fmt.Sprintf(format, args...)))
	}
}
