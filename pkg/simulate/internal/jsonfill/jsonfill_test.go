package jsonfill

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
)

func TestAppendIsJSONOfAboutTheSize(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 10, 100, 1000, 50000, 1 << 20} {
		b := Append(nil, rng, size)
		if !json.Valid(b) {
			t.Fatalf("Append(%d) is not JSON: %.200s", size, b)
		}
		if size > 200 && (len(b) < size-40 || len(b) > size+400) {
			t.Errorf("Append(%d) gave %d bytes", size, len(b))
		}
	}
	for _, code := range []int{400, 401, 404, 418, 500, 503} {
		if b := AppendError(nil, rng, code); !json.Valid(b) {
			t.Errorf("AppendError(%d) is not JSON: %s", code, b)
		}
	}
}

func BenchmarkAppend(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 0, 8192)
	b.ReportAllocs()
	b.SetBytes(2000)
	for i := 0; i < b.N; i++ {
		buf = Append(buf[:0], rng, 2000)
	}
}
