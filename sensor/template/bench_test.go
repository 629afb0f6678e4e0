package template

import (
	"fmt"
	"testing"
	"time"

	"github.com/apiscope/apiscope/pkg/metrics"
)

var benchPaths = []string{
	"/v1/users/me",
	"/api/v2/orders/ORD-12345/items/7",
	"/users/123e4567-e89b-12d3-a456-426614174000/keys",
	"/files/report-2024.pdf",
	"/repos/alice/project/issues/42",
}

func BenchmarkClassify(b *testing.B) {
	segs := []string{"users", "v1", "ORD-12345", "123e4567-e89b-12d3-a456-426614174000", "report-2024.pdf", "42"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		Classify(segs[i%len(segs)])
	}
}

func BenchmarkTemplateHeuristic(b *testing.B) {
	tp, _ := New(Config{Metrics: metrics.NewRegistry()})
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		tp.Template("api.example.com", "GET", benchPaths[i%len(benchPaths)], ts.Add(time.Duration(i)))
	}
}

func BenchmarkTemplateLiteral(b *testing.B) {
	tp, _ := New(Config{Metrics: metrics.NewRegistry()})
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		tp.Template("api.example.com", "GET", "/v1/users/me", ts)
	}
}

// BenchmarkTemplateNewIDs is keep-alive API traffic where most calls carry an id never
// seen before: they miss the exact table and are served from the shape table.
func BenchmarkTemplateNewIDs(b *testing.B) {
	tp, _ := New(Config{Metrics: metrics.NewRegistry()})
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	paths := make([]string, 1<<16)
	for i := range paths {
		paths[i] = fmt.Sprintf("/api/v1/products/%d", i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if r := tp.Template("api.example.com", "GET", paths[i%len(paths)], ts.Add(time.Duration(i))); r.Template != "/api/v1/products/{id}" {
			b.Fatal(r.Template)
		}
	}
}

func BenchmarkTemplateParallel(b *testing.B) {
	tp, _ := New(Config{Metrics: metrics.NewRegistry()})
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			tp.Template("api.example.com", "GET", benchPaths[i%len(benchPaths)], ts)
			i++
		}
	})
}

func BenchmarkTemplateOpenAPI(b *testing.B) {
	doc := `{"openapi":"3.0.0","servers":[{"url":"https://api.example.com"}],"paths":{`
	for i := 0; i < 200; i++ {
		doc += fmt.Sprintf(`"/r%d/{id}":{"get":{}},"/r%d/{id}/sub/{sub}":{"get":{}},`, i, i)
	}
	doc += `"/users/{userId}/keys":{"get":{}}}}`
	s, err := ParseOpenAPI([]byte(doc), "bench")
	if err != nil {
		b.Fatal(err)
	}
	tp, _ := New(Config{Specs: []*Spec{s}, Metrics: metrics.NewRegistry()})
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		if r := tp.Template("api.example.com", "GET", "/r150/42/sub/7", ts); r.Shadow {
			b.Fatal("shadow")
		}
	}
}

// BenchmarkTemplateStatic is what each sensor worker pays per call.
func BenchmarkTemplateStatic(b *testing.B) {
	tp, _ := New(Config{Metrics: metrics.NewRegistry()})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		tp.Static("api.example.com", "GET", benchPaths[i%len(benchPaths)])
	}
}
