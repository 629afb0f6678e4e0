package kafkabus_test

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/kafkabus"
	"github.com/apiscope/apiscope/pkg/kafkabus/kafkatest"
	"github.com/apiscope/apiscope/pkg/metrics"
)

// sampleCalls builds n varied, realistic calls: 500 clients, a few dozen endpoints,
// distinct timestamps, ports, trace ids and sizes, so compression sees what a sensor
// sends rather than one record repeated.
func sampleCalls(n int) []models.APICall {
	paths := []string{"/api/v1/users/%d", "/api/v1/users/%d/orders", "/api/v1/orders/%d/items/%d",
		"/api/v2/search", "/login", "/api/v1/accounts/%d/balance", "/api/v1/products/%d", "/healthz"}
	agents := []string{"python-requests/2.31.0", "okhttp/4.12.0", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
		"agent-runner/1.4 (langchain)", "curl/8.5.0"}
	methods := []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	out := make([]models.APICall, n)
	for i := range out {
		client := i * 7919 % 500
		p := fmt.Sprintf(paths[i%len(paths)], i*31%100000, i%17)
		if len(p) > 2 && p[len(p)-6:] == "%!d(MISSING)" {
			p = paths[i%len(paths)]
		}
		query := ""
		if i%5 == 0 {
			query = fmt.Sprintf("page=%d&limit=50", i%40)
		}
		uri := p
		if query != "" {
			uri += "?" + query
		}
		out[i] = models.APICall{
			TS:    base.Add(time.Duration(i) * 137 * time.Microsecond),
			SrcIP: fmt.Sprintf("10.%d.%d.%d", client/200, client%200, i%3+10), SrcPort: uint16(30000 + i%30000),
			DstIP: "10.0.0.5", DstPort: 443, Method: methods[i%len(methods)], Host: "api.example.com",
			URI: uri, Path: p, Query: query, Template: paths[i%len(paths)],
			Status: []int{200, 200, 200, 201, 404, 401, 500}[i%7], ReqBytes: int64(i % 900), RespBytes: int64(i * 13 % 50000),
			LatencyMS: float64(i%250) + 0.125, UserAgent: agents[client%len(agents)], ContentType: "application/json",
			ClientID: fmt.Sprintf("jwt:user-%d", client), Principal: fmt.Sprintf("user-%d", client), Auth: models.AuthJWT,
			CredFP:  fmt.Sprintf("%016x", uint64(client)*0x9e3779b97f4a7c15),
			TraceID: fmt.Sprintf("%032x", uint64(i)*0x9e3779b97f4a7c15),
		}
	}
	return out
}

// processCPU returns the user+system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// countingDial counts every byte the client writes to the brokers.
func countingDial(n *atomic.Int64) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{Conn: c, n: n}, nil
	}
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// BenchmarkPublishCalls publishes APICall records to an in-process broker over TCP and
// reports calls/s and bytes per call on the wire for each codec. Blocking mode, so every
// call is written and the rate is what Kafka sustains, not what the queue absorbs.
func BenchmarkPublishCalls(b *testing.B) {
	addr := kafkatest.Start(b, kafkatest.Partitions(6))
	calls := sampleCalls(8192)
	for _, codec := range []string{"none", "snappy", "lz4", "zstd", "gzip"} {
		b.Run(codec, func(b *testing.B) {
			topic := kafkatest.UniqueTopic(b, addr, "bench."+codec, 6)
			var wire atomic.Int64
			p, err := kafkabus.NewPublisher(kafkabus.PublisherConfig{
				Config: kafkabus.Config{Brokers: kafkabus.SplitBrokers(addr)}, Topic: topic,
				Compression: codec, Blocking: true, Metrics: metrics.NewRegistry(), Dial: countingDial(&wire),
			}, nil)
			if err != nil {
				b.Fatal(err)
			}
			// Warm up: connections and metadata are not part of the steady state.
			_ = p.PublishCall(&calls[0])
			if err := p.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
			wire.Store(0)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := processCPU()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if err := p.PublishCall(&calls[i%len(calls)]); err != nil {
					b.Fatal(err)
				}
			}
			if err := p.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
			el := time.Since(start)
			cpu := processCPU() - cpu0
			b.StopTimer()
			st := p.Stats()
			b.ReportMetric(float64(b.N)/el.Seconds(), "calls/s")
			// CPU time of the whole process (publisher and the in-process broker) per
			// call: on a shared machine this, not wall time, says what one core does.
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/call")
			b.ReportMetric(float64(wire.Load())/float64(b.N), "wire-B/call")
			b.ReportMetric(float64(st.Bytes)/float64(st.Published), "json-B/call")
			_ = p.Close()
		})
	}
}

// BenchmarkPublishCallEnqueue measures the caller's side alone: encoding and queueing,
// which is what the capture path pays per call in live mode.
func BenchmarkPublishCallEnqueue(b *testing.B) {
	calls := sampleCalls(8192)
	p, err := kafkabus.NewPublisher(kafkabus.PublisherConfig{
		Config: kafkabus.Config{Brokers: []string{"127.0.0.1:1"}}, Metrics: metrics.NewRegistry(),
		QueueMessages: 1 << 16, RetryBackoffMin: time.Hour,
	}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = p.PublishCall(&calls[i%len(calls)])
	}
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_ = p.Shutdown(ctx)
}

// BenchmarkConsumeCalls reads b.N APICall records (lz4, 6 partitions) with one group
// member, committing every 1000 records as the analyzer does, and reports records/s.
func BenchmarkConsumeCalls(b *testing.B) {
	addr := kafkatest.Start(b, kafkatest.Partitions(6))
	topic := kafkatest.UniqueTopic(b, addr, "bench.consume", 6)
	cfg := kafkabus.Config{Brokers: kafkabus.SplitBrokers(addr)}
	p, err := kafkabus.NewPublisher(kafkabus.PublisherConfig{Config: cfg, Topic: topic, Blocking: true, Metrics: metrics.NewRegistry()}, nil)
	if err != nil {
		b.Fatal(err)
	}
	calls := sampleCalls(8192)
	for i := 0; i < b.N; i++ {
		_ = p.PublishCall(&calls[i%len(calls)])
	}
	if err := p.Close(); err != nil {
		b.Fatal(err)
	}
	c, err := kafkabus.NewConsumer(kafkabus.ConsumerConfig{Config: cfg, Group: "bench-" + topic, Topics: []string{topic},
		Metrics: metrics.NewRegistry()}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	start := time.Now()
	last := map[int]kafkabus.Message{}
	for i := 0; i < b.N; i++ {
		m, err := c.Fetch(ctx)
		if err != nil {
			b.Fatal(err)
		}
		last[m.Partition] = m
		if i%1000 == 999 || i == b.N-1 {
			batch := make([]kafkabus.Message, 0, len(last))
			for _, m := range last {
				batch = append(batch, m)
			}
			if err := c.Commit(ctx, batch...); err != nil {
				b.Fatal(err)
			}
			clear(last)
		}
	}
	el := time.Since(start)
	cpu := processCPU() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "records/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/record")
}
