package world

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/apiscope/apiscope/pkg/simulate/scenario"
)

const (
	usPerSec  = int64(1_000_000)
	usPerMS   = int64(1_000)
	usPerHour = 3600 * usPerSec
	usPerDay  = 24 * usPerHour
)

// newRNG returns the random stream named stream for this run. Streams are independent,
// so adding an actor does not change what the others draw.
func newRNG(seed uint64, stream string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(stream))
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

func hash64(seed uint64, parts ...string) uint64 {
	h := fnv.New64a()
	var b [8]byte
	for i := range b {
		b[i] = byte(seed >> (8 * i))
	}
	h.Write(b[:])
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// between draws uniformly from [r[0], r[1]].
func between(rng *rand.Rand, r scenario.Range) float64 {
	if r[1] <= r[0] {
		return r[0]
	}
	return r[0] + rng.Float64()*(r[1]-r[0])
}

// intIn draws an integer uniformly from [r[0], r[1]].
func intIn(rng *rand.Rand, r scenario.Range) int {
	lo, hi := int(math.Round(r[0])), int(math.Round(r[1]))
	if hi <= lo {
		return lo
	}
	return lo + rng.IntN(hi-lo+1)
}

// logUniform draws from [lo, hi] so that each order of magnitude is equally likely:
// sizes and latencies are skewed like that in real traffic.
func logUniform(rng *rand.Rand, r scenario.Range) float64 {
	lo, hi := math.Max(r[0], 1), math.Max(r[1], 1)
	if hi <= lo {
		return lo
	}
	return math.Exp(math.Log(lo) + rng.Float64()*(math.Log(hi)-math.Log(lo)))
}

// durIn draws a duration in microseconds uniformly from r.
func durIn(rng *rand.Rand, r scenario.DurRange) int64 {
	lo, hi := int64(r[0])/1000, int64(r[1])/1000
	if hi <= lo {
		return lo
	}
	return lo + rng.Int64N(hi-lo+1)
}

// expUS draws an exponential gap in microseconds with the given mean in seconds.
func expUS(rng *rand.Rand, meanSec float64) int64 {
	return int64(rng.ExpFloat64() * meanSec * float64(usPerSec))
}

// weighted picks among names by weight, in sorted-name order so the draw is stable.
type weighted struct {
	names []string
	cum   []float64
}

func newWeighted(m map[string]float64) weighted {
	var w weighted
	sum := 0.0
	for _, k := range scenario.SortedKeys(m) {
		if m[k] <= 0 {
			continue
		}
		sum += m[k]
		w.names = append(w.names, k)
		w.cum = append(w.cum, sum)
	}
	return w
}

func (w weighted) pick(rng *rand.Rand) string {
	if len(w.names) == 0 {
		return ""
	}
	x := rng.Float64() * w.cum[len(w.cum)-1]
	i := sort.SearchFloat64s(w.cum, x)
	if i >= len(w.names) {
		i = len(w.names) - 1
	}
	return w.names[i]
}

// pickFiltered picks by weight among the names ok accepts; "" when none is left.
func (w weighted) pickFiltered(rng *rand.Rand, ok func(string) bool) string {
	sum := 0.0
	prev := 0.0
	for i, n := range w.names {
		if ok(n) {
			sum += w.cum[i] - prev
		}
		prev = w.cum[i]
	}
	if sum <= 0 {
		return ""
	}
	x := rng.Float64() * sum
	prev = 0
	last := ""
	for i, n := range w.names {
		wt := w.cum[i] - prev
		prev = w.cum[i]
		if !ok(n) {
			continue
		}
		last = n
		if x < wt {
			return n
		}
		x -= wt
	}
	return last
}

// statusTable picks a status code by weight.
type statusTable struct {
	codes []int
	cum   []float64
}

func newStatusTable(m map[int]float64) statusTable {
	codes := make([]int, 0, len(m))
	for c := range m {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var t statusTable
	sum := 0.0
	for _, c := range codes {
		if m[c] <= 0 {
			continue
		}
		sum += m[c]
		t.codes = append(t.codes, c)
		t.cum = append(t.cum, sum)
	}
	if len(t.codes) == 0 {
		t.codes, t.cum = []int{200}, []float64{1}
	}
	return t
}

func (t statusTable) pick(rng *rand.Rand) int {
	x := rng.Float64() * t.cum[len(t.cum)-1]
	i := sort.SearchFloat64s(t.cum, x)
	if i >= len(t.codes) {
		i = len(t.codes) - 1
	}
	return t.codes[i]
}

// success returns the most likely 2xx code of the table (200 when none).
func (t statusTable) success() int {
	best, bw, prev := 200, -1.0, 0.0
	for i, c := range t.codes {
		wt := t.cum[i] - prev
		prev = t.cum[i]
		if c >= 200 && c < 300 && wt > bw {
			best, bw = c, wt
		}
	}
	return best
}
