package kafkatest

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/apiscope/apiscope/pkg/kafkabus"
)

// EnvBrokers names the environment variable that points tests at a real cluster.
const EnvBrokers = "KAFKA_BROKERS"

type options struct {
	partitions int
	topics     []string
	dataDir    string
}

// Option changes how Start runs the broker.
type Option func(*options)

// Partitions sets the partition count of the created topics (default 4).
func Partitions(n int) Option { return func(o *options) { o.partitions = n } }

// Topics replaces the topics created at start (default kafkabus.AllTopics).
func Topics(ts ...string) Option { return func(o *options) { o.topics = ts } }

// DataDir keeps the broker's log on disk in dir, so a restart finds its records and
// committed offsets again. Default: a fresh t.TempDir() for StartBroker, memory for Start.
func DataDir(dir string) Option { return func(o *options) { o.dataDir = dir } }

func apply(opts []Option) options {
	o := options{partitions: 4, topics: kafkabus.AllTopics}
	for _, fn := range opts {
		fn(&o)
	}
	return o
}

// Start runs a broker for the test and returns its address (a comma-separated list when
// KAFKA_BROKERS is set; split it with kafkabus.SplitBrokers). The broker stops at the
// end of the test.
func Start(t testing.TB, opts ...Option) string {
	t.Helper()
	o := apply(opts)
	if env := os.Getenv(EnvBrokers); env != "" {
		CreateTopics(t, env, o.partitions, o.topics...)
		return env
	}
	b := &Broker{opts: o}
	if err := b.start(0); err != nil {
		t.Fatalf("kafkatest: starting kfake broker: %v", err)
	}
	t.Cleanup(b.Stop)
	return b.Addr
}

// Broker is a kfake broker that can be stopped and started again on the same address.
// Safe for concurrent use.
type Broker struct {
	// Addr is host:port, fixed for the broker's life across restarts.
	Addr string

	opts options
	mu   sync.Mutex
	c    *kfake.Cluster
}

// StartBroker runs a restartable broker keeping its data on disk. It skips the test
// when KAFKA_BROKERS is set, since a real cluster cannot be restarted from here.
func StartBroker(t testing.TB, opts ...Option) *Broker {
	t.Helper()
	if os.Getenv(EnvBrokers) != "" {
		t.Skipf("kafkatest: %s is set; restarting a broker needs the in-process one", EnvBrokers)
	}
	o := apply(opts)
	if o.dataDir == "" {
		o.dataDir = t.TempDir()
	}
	b := &Broker{opts: o}
	if err := b.start(0); err != nil {
		t.Fatalf("kafkatest: starting kfake broker: %v", err)
	}
	t.Cleanup(b.Stop)
	return b
}

func (b *Broker) start(port int) error {
	kopts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.SeedTopics(int32(b.opts.partitions), b.opts.topics...),
		kfake.DefaultNumPartitions(b.opts.partitions),
		// Tests join groups quickly; the default 6 s floor is for real deployments.
		kfake.GroupMinSessionTimeout(time.Second),
	}
	if b.opts.dataDir != "" {
		kopts = append(kopts, kfake.DataDir(b.opts.dataDir))
	}
	c, err := kfake.NewCluster(kopts...)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.c = c
	if b.Addr == "" {
		b.Addr = c.ListenAddrs()[0]
	}
	b.mu.Unlock()
	return nil
}

// Stop shuts the broker down (saving its data when it has a data directory). Stopping a
// stopped broker does nothing.
func (b *Broker) Stop() {
	b.mu.Lock()
	c := b.c
	b.c = nil
	b.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// Restart starts a stopped broker again on the same address. The port is briefly free in
// between; Restart retries for a few seconds if something else grabbed it.
func (b *Broker) Restart(t testing.TB) {
	t.Helper()
	_, ps, err := net.SplitHostPort(b.Addr)
	if err != nil {
		t.Fatalf("kafkatest: bad broker address %q: %v", b.Addr, err)
	}
	port, _ := strconv.Atoi(ps)
	deadline := time.Now().Add(5 * time.Second)
	for {
		err = b.start(port)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("kafkatest: restarting broker on %s: %v", b.Addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// CreateTopics creates topics on brokers (comma-separated), treating "already exists" as
// success, and fails the test on any other error.
func CreateTopics(t testing.TB, brokers string, partitions int, topics ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := kafkabus.Config{Brokers: kafkabus.SplitBrokers(brokers)}
	if err := kafkabus.EnsureTopics(ctx, cfg, topics, partitions, 0); err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
}

// UniqueTopic returns a topic name no other test uses, created with partitions, so tests
// sharing a real cluster do not see each other's records.
func UniqueTopic(t testing.TB, brokers, prefix string, partitions int) string {
	t.Helper()
	name := fmt.Sprintf("%s.%d", prefix, time.Now().UnixNano())
	CreateTopics(t, brokers, partitions, name)
	return name
}
