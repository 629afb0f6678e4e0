package models

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// referenceJSON is what encoding/json writes for c with its timestamp in UTC: the
// encoding MarshalAPICall must reproduce byte for byte.
func referenceJSON(c *APICall) ([]byte, error) {
	cc := *c
	cc.TS = cc.TS.UTC()
	return json.Marshal(&cc)
}

func TestAppendAPICallKnowsEveryField(t *testing.T) {
	typ := reflect.TypeOf(APICall{})
	var names []string
	for i := 0; i < typ.NumField(); i++ {
		names = append(names, strings.Split(typ.Field(i).Tag.Get("json"), ",")[0])
	}
	if !reflect.DeepEqual(names, apiCallFields) {
		t.Fatalf("APICall fields %v; appendAPICall writes %v: update appendAPICall", names, apiCallFields)
	}
}

func sampleCall() APICall {
	return APICall{
		TS: time.Date(2024, 5, 1, 12, 0, 0, 5, time.UTC), SrcIP: "192.168.1.10", SrcPort: 1, DstIP: "::1", DstPort: 8080,
		Method: "POST", Host: "shop.example.com:8080", URI: "/api/v1/orders/123?x=<1>", Path: "/api/v1/orders/123",
		Query: "x=<1>", Template: "/api/v1/orders/{id}", Status: 503, ReqBytes: 1 << 40, LatencyMS: 250.125,
		UserAgent: "Mozilla/5.0", ContentType: "application/json; charset=utf-8", ClientID: "jwt:alice+agent-7",
		Principal: "alice", Actor: "agent-7", Auth: AuthJWT, CredFP: "0123abcd", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
	}
}

func TestAppendAPICallMatchesEncodingJSON(t *testing.T) {
	base := sampleCall()
	var calls []APICall
	add := func(f func(c *APICall)) {
		c := base
		f(&c)
		calls = append(calls, c)
	}
	tricky := []string{"", "plain", `quote " and \ backslash`, "<script>&</script>", "tab\tnl\ncr\r\b\f\x00\x1f",
		"bad utf8 \xff\xfe", "truncated rune \xe2\x82", "sep \u2028 \u2029", "ünïcødé ✓ 🚀", "\x7f del", "\ufffd real replacement",
		"surrogate \xed\xa0\x80", "overlong \xc0\xaf"}
	for _, s := range tricky {
		add(func(c *APICall) {
			c.SrcIP, c.DstIP, c.Method, c.Host, c.URI, c.Path, c.Query, c.Template = s, s, s, s, s, s, s, s
			c.UserAgent, c.ContentType, c.ClientID, c.Principal, c.Actor, c.Auth, c.CredFP, c.TraceID = s, s, s, s, s, s, s, s
			c.Scope, c.Issuer, c.XFF = s, s, s
		})
	}
	// Path is copied untested when URI needed no escaping and starts with it, CredFP when
	// ClientID ends with it: parts of plain and of escaped wholes, a rune cut in two.
	for _, s := range append(tricky, "/api/v1/orders/123?x=1", "0123456789abcdef0123456789abcdef", "é", "a\u00e9") {
		for _, k := range []int{0, 1, len(s) / 2, len(s) - 1, len(s)} {
			if k < 0 || k > len(s) {
				continue
			}
			add(func(c *APICall) {
				c.URI, c.Path, c.Query = s, s[:k], s[k:]
				c.ClientID, c.CredFP = s, s[k:]
			})
			add(func(c *APICall) {
				c.URI, c.Path = "/"+s, "/"+s[:k]
				c.ClientID, c.CredFP = "apikey:"+s, s[k:]+"x"
			})
		}
	}
	for _, f := range []float64{0, math.Copysign(0, -1), 1e-7, 1e21, 123456.789, 0.000001, 0.0000009999, -2.5e-9, 1e20,
		math.SmallestNonzeroFloat64, math.MaxFloat64, 0.1, 1.0 / 3, 3.5e-5, 1e-100} {
		add(func(c *APICall) { c.LatencyMS = f })
	}
	for _, ts := range []time.Time{{}, time.Unix(0, 0), time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		time.Date(2024, 1, 2, 3, 4, 5, 100, time.UTC), time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.FixedZone("X", 3600)),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Now()} {
		add(func(c *APICall) { c.TS = ts })
	}
	for _, n := range []int64{0, -1, 1, math.MaxInt64, math.MinInt64} {
		add(func(c *APICall) { c.ReqBytes, c.RespBytes, c.Status = n, -n, int(n) })
	}
	add(func(c *APICall) { c.SrcPort, c.DstPort = 0, math.MaxUint16 })
	add(func(c *APICall) { c.Shadow, c.Partial, c.Truncated = true, true, true })
	add(func(c *APICall) { c.Shadow, c.Scope, c.Issuer, c.XFF = false, "", "", "" })
	add(func(c *APICall) { c.Shadow, c.Scope, c.Issuer, c.XFF = true, "read write", "https://iss", "10.1.2.3" })
	calls = append(calls, APICall{})
	for i := range calls {
		want, err := referenceJSON(&calls[i])
		if err != nil {
			t.Fatalf("call %d: encoding/json: %v", i, err)
		}
		got, err := MarshalAPICall(&calls[i])
		if err != nil {
			t.Fatalf("call %d: MarshalAPICall: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("call %d:\nMarshalAPICall %s\nencoding/json  %s", i, got, want)
		}
		if obj, err := AppendAPICall([]byte("prefix"), &calls[i]); err != nil || string(obj) != "prefix"+string(want) {
			t.Errorf("call %d: AppendAPICall = %q, %v; want the prefix and %s", i, obj, err, want)
		}
		line, err := AppendAPICallJSON([]byte("prefix"), &calls[i])
		if err != nil || string(line) != "prefix"+string(want)+"\n" {
			t.Errorf("call %d: AppendAPICallJSON = %q, %v; want the prefix, %s and a newline", i, line, err, want)
		}
	}
}

func TestAppendAPICallRefusesWhatEncodingJSONRefuses(t *testing.T) {
	for _, c := range []APICall{{LatencyMS: math.NaN()}, {LatencyMS: math.Inf(1)}, {LatencyMS: math.Inf(-1)},
		{TS: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, {TS: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}} {
		if _, err := referenceJSON(&c); err == nil {
			t.Fatalf("encoding/json accepts %v, %v; the test expects it not to", c.TS, c.LatencyMS)
		}
		if b, err := MarshalAPICall(&c); err == nil {
			t.Errorf("MarshalAPICall(%v, %v) = %s, nil error; want an error as encoding/json", c.TS, c.LatencyMS, b)
		}
		if got, err := AppendAPICall([]byte("keep"), &c); err == nil || string(got) != "keep" {
			t.Errorf("AppendAPICall(%v, %v) = %q, %v; want dst unchanged and an error", c.TS, c.LatencyMS, got, err)
		}
		dst := []byte("keep")
		if got, err := AppendAPICallJSON(dst, &c); err == nil || string(got) != "keep" {
			t.Errorf("AppendAPICallJSON(%v, %v) = %q, %v; want dst unchanged and an error", c.TS, c.LatencyMS, got, err)
		}
	}
}

func TestAppendAPICallJSONAllocatesNothingWithRoom(t *testing.T) {
	c := sampleCall()
	buf := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		buf, _ = AppendAPICallJSON(buf[:0], &c)
	})
	if allocs != 0 {
		t.Errorf("AppendAPICallJSON allocates %.0f times per call with room in dst; want 0", allocs)
	}
}

func FuzzAppendAPICall(f *testing.F) {
	f.Add("GET", "/users/1?a=b", "ua", "client", "", 1.25, int64(0), int64(200), false)
	f.Add("P\x00ST", "\xff\u2028<&>", "\"\\", "", "x\u2029", 1e-9, int64(1700000000123456789), int64(-5), true)
	f.Fuzz(func(t *testing.T, method, uri, ua, client, xff string, lat float64, ns, n int64, flag bool) {
		c := APICall{TS: time.Unix(0, ns), SrcIP: xff, SrcPort: uint16(n), DstIP: client, DstPort: uint16(n >> 16),
			Method: method, Host: ua, URI: uri, Path: uri[:len(uri)*2/3], Query: uri[len(uri)/2:], Template: client,
			Status: int(n), ReqBytes: n, RespBytes: ns, LatencyMS: lat, UserAgent: ua, ContentType: method,
			ClientID: client, Principal: uri, Actor: xff, Auth: method, CredFP: client[len(client)/3:], TraceID: client,
			Partial: flag, Truncated: !flag,
			Shadow: flag, Scope: ua, Issuer: method, XFF: xff}
		want, werr := referenceJSON(&c)
		got, gerr := MarshalAPICall(&c)
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("errors differ: encoding/json %v, MarshalAPICall %v", werr, gerr)
		}
		if werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("MarshalAPICall %s\nencoding/json  %s", got, want)
		}
	})
}

func BenchmarkAppendAPICallJSON(b *testing.B) {
	c := sampleCall()
	b.Run("models", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for i := 0; i < b.N; i++ {
			buf, _ = AppendAPICallJSON(buf[:0], &c)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_, _ = referenceJSON(&c)
		}
	})
}

// TestMayNeedEscape checks the word test against the byte table: a word holding a byte
// that needs escaping, in any position and among any other bytes, is always flagged, and
// a word is flagged only for those and for '^', '|' and '~'.
func TestMayNeedEscape(t *testing.T) {
	// safe: not flagged. '^', '|' and '~' need no escaping but are flagged on purpose.
	safe := func(b byte) bool { return b < 0x80 && jsonSafe[b] && b != '^' && b != '|' && b != '~' }
	for b := 0; b < 256; b++ {
		for p := 0; p < 8; p++ {
			for _, fill := range []byte{'a', 0x20, 0x7f, '%', 0x21} {
				w := []byte{fill, fill, fill, fill, fill, fill, fill, fill}
				w[p] = byte(b)
				got := mayNeedEscape(load8(string(w), 0))
				if !safe(byte(b)) && !got {
					t.Fatalf("byte %#x at %d among %q: not flagged", b, p, fill)
				}
				if safe(byte(b)) && safe(fill) && got {
					t.Errorf("byte %#x at %d among %q: flagged, yet every byte is plain", b, p, fill)
				}
			}
		}
	}
	// Every pair of adjacent bytes at every position: flagged exactly when one of the
	// pair needs escaping (a borrow from one byte into the next must not flag a plain word).
	for p := 0; p < 7; p++ {
		for b1 := 0; b1 < 256; b1++ {
			for b2 := 0; b2 < 256; b2++ {
				w := []byte("aaaaaaaa")
				w[p], w[p+1] = byte(b1), byte(b2)
				if got, want := mayNeedEscape(load8(string(w), 0)), !safe(byte(b1)) || !safe(byte(b2)); got != want {
					t.Fatalf("word %q: flagged %v, want %v", w, got, want)
				}
			}
		}
	}
	// Random words mixing every kind of byte: flagged exactly when one needs escaping.
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 200000; n++ {
		var w [8]byte
		need := false
		for i := range w {
			w[i] = byte(rng.Uint32())
			if rng.IntN(3) == 0 {
				w[i] = "a\"\\<>&\x1f\x20\x7f\x80^|~"[rng.IntN(13)]
			}
			need = need || !safe(w[i])
		}
		if got := mayNeedEscape(load8(string(w[:]), 0)); got != need {
			t.Fatalf("word %q: flagged %v, want %v", w, got, need)
		}
	}
	// Long strings with one special byte or rune at every offset.
	for _, special := range []string{"\"", "\\", "<", ">", "&", "\x00", "\x1f", "\n", "\xff", "é", "\u2028", "\xe2\x80",
		"^", "|", "~"} {
		for off := 0; off < 20; off++ {
			s := strings.Repeat("x", off) + special + strings.Repeat("y", 19-off)
			c := APICall{URI: s, UserAgent: s[:off], ClientID: s[off:]}
			want, _ := referenceJSON(&c)
			got, _ := MarshalAPICall(&c)
			if !bytes.Equal(got, want) {
				t.Errorf("%q at %d:\nMarshalAPICall %s\nencoding/json  %s", special, off, got, want)
			}
		}
	}
}

func TestAppendRFC3339NanoUTC(t *testing.T) {
	times := []time.Time{{}, time.Unix(0, 0), time.Unix(1, 1), time.Unix(1700000000, 120000000),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 2, 29, 9, 5, 7, 100, time.UTC), time.Date(1969, 7, 20, 20, 17, 40, 10, time.UTC)}
	for i := int64(0); i < 2000; i++ {
		times = append(times, time.Unix(i*7919*86400/13, i*104729%1000000000).UTC())
	}
	// Every count of trailing zeros in the nanoseconds.
	for ns, k := 1, 0; k < 9; ns, k = ns*10, k+1 {
		times = append(times, time.Unix(1700000000, int64(ns)), time.Unix(1700000000, int64(ns*7)),
			time.Unix(1700000000, 999999999/int64(ns)*int64(ns)))
	}
	// Every day from year 0 to 9999, at a varying time of day.
	first := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	last := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC).Unix()
	for u, i := first, int64(0); u <= last; u, i = u+86400, i+1 {
		times = append(times, time.Unix(u+i*7%86400, 0).UTC())
	}
	for _, ts := range times {
		ts = ts.UTC()
		want := ts.Format(time.RFC3339Nano)
		if got := string(appendRFC3339NanoUTC(nil, ts)); got != want {
			t.Errorf("appendRFC3339NanoUTC(%v) = %s; want %s", ts, got, want)
		}
	}
}

// TestAppendJSONFloatMilli holds the k/1000 fast path to encoding/json's formatting.
func TestAppendJSONFloatMilli(t *testing.T) {
	check := func(f float64) {
		want, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONFloat(nil, f); string(got) != string(want) {
			t.Fatalf("appendJSONFloat(%v) = %s; want %s", f, got, want)
		}
	}
	for k := 0; k < 300000; k++ {
		check(float64(k) / 1000)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for n := 0; n < 200000; n++ {
		k := rng.Uint64N(1 << uint(rng.IntN(50)))
		check(float64(k) / 1000)
		check(float64(k)/1000 + 1e-9)
		check(math.Nextafter(float64(k)/1000, 0))
		check(math.Nextafter(float64(k)/1000, 2e12))
	}
	for _, f := range []float64{0.0005, 0.0015, 999999999999.999, 1e12, 1e12 - 0.001, 0.1 + 0.2, 1.0000000000000002} {
		check(f)
	}
}

func TestRFC3339Bounds(t *testing.T) {
	if u := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Unix(); u != minRFC3339Unix {
		t.Errorf("minRFC3339Unix = %d; want %d", minRFC3339Unix, u)
	}
	if u := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix(); u != maxRFC3339Unix {
		t.Errorf("maxRFC3339Unix = %d; want %d", maxRFC3339Unix, u)
	}
	for _, ts := range []time.Time{time.Unix(minRFC3339Unix, 0), time.Unix(minRFC3339Unix-1, 999999999),
		time.Unix(maxRFC3339Unix, 999999999), time.Unix(maxRFC3339Unix+1, 0)} {
		c := APICall{TS: ts}
		_, werr := referenceJSON(&c)
		_, gerr := MarshalAPICall(&c)
		if (werr == nil) != (gerr == nil) {
			t.Errorf("%v: encoding/json error %v, MarshalAPICall error %v", ts.UTC(), werr, gerr)
		}
	}
}

// TestAppendIntMatchesStrconv holds appendInt and appendUint to strconv: every value up to
// past their short cases, the edges of each digit count, negatives and the extremes.
func TestAppendIntMatchesStrconv(t *testing.T) {
	check := func(v int64) {
		if got, want := string(appendInt([]byte("x"), v)), string(strconv.AppendInt([]byte("x"), v, 10)); got != want {
			t.Fatalf("appendInt(%d) = %q; want %q", v, got, want)
		}
		if v >= 0 {
			if got, want := string(appendUint(nil, uint64(v))), strconv.FormatUint(uint64(v), 10); got != want {
				t.Fatalf("appendUint(%d) = %q; want %q", v, got, want)
			}
		}
	}
	for v := int64(-1000); v <= 1_200_000; v++ {
		check(v)
	}
	for _, v := range []int64{math.MaxInt64, math.MinInt64, math.MaxInt32, 1 << 40, 99999, 100000, 9999999999} {
		check(v)
	}
	if got := string(appendUint(nil, math.MaxUint64)); got != strconv.FormatUint(math.MaxUint64, 10) {
		t.Fatalf("appendUint(MaxUint64) = %q", got)
	}
}

// TestLoadShort holds loadShort, which loads a short string in two overlapping halves, to
// the word built byte by byte, for every length and random bytes of every kind.
func TestLoadShort(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for n := 1; n < 8; n++ {
		for k := 0; k < 20000; k++ {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			want := uint64(0x6161616161616161)
			for i := n - 1; i >= 0; i-- {
				want = want<<8 | uint64(b[i])
			}
			if got := loadShort(string(b)); got != want {
				t.Fatalf("loadShort(%q) = %#x; want %#x", b, got, want)
			}
		}
	}
}

// TestAppendAPICallRandom holds the whole encoder, fast paths and byte-wise path alike, to
// encoding/json on random calls: strings of every length up to past four words, mostly
// plain with now and then a byte or rune that needs escaping (or one of the bytes the
// word test flags needlessly), parts shared between URI and Path, ClientID and CredFP,
// integers and latencies of every size.
func TestAppendAPICallRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const plain = "abcXYZ019/._-:?=%+ ,;()[]{}@!#$*'`"
	special := []string{"\"", "\\", "<", ">", "&", "\x00", "\x1f", "\n", "\x7f", "\xff", "é", "\u2028", "\u2029", "\xe2\x80",
		"🚀", "^", "|", "~"}
	str := func() string {
		n := rng.IntN(40)
		var b strings.Builder
		for b.Len() < n {
			if rng.IntN(60) == 0 {
				b.WriteString(special[rng.IntN(len(special))])
			} else {
				b.WriteByte(plain[rng.IntN(len(plain))])
			}
		}
		return b.String()
	}
	num := func() int64 {
		v := int64(rng.Uint64() >> uint(rng.IntN(64)))
		if rng.IntN(8) == 0 {
			v = -v
		}
		return v
	}
	buf := make([]byte, 0, 64)
	for n := 0; n < 30000; n++ {
		uri, client := str(), str()
		c := APICall{TS: time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)*int64(rng.IntN(2))), SrcIP: str(),
			SrcPort: uint16(rng.Uint32()), DstIP: str(), DstPort: uint16(rng.Uint32()), Method: str(), Host: str(),
			URI: uri, Path: uri[:rng.IntN(len(uri)+1)], Query: str(), Template: str(), Status: int(num()),
			ReqBytes: num(), RespBytes: num(), LatencyMS: float64(rng.Int64N(1e7)) / 1000, UserAgent: str(),
			ContentType: str(), ClientID: client, Principal: str(), Actor: str(), Auth: str(),
			CredFP: client[rng.IntN(len(client)+1):], TraceID: str(), Partial: rng.IntN(2) == 0}
		if rng.IntN(4) == 0 {
			c.LatencyMS = rng.Float64() * math.Pow(10, float64(rng.IntN(30)-10))
		}
		if rng.IntN(4) == 0 {
			c.Shadow, c.Scope, c.Issuer, c.XFF = true, str(), str(), str()
		}
		want, err := referenceJSON(&c)
		if err != nil {
			t.Fatal(err)
		}
		buf, err = AppendAPICallJSON(buf[:0], &c)
		if err != nil || string(buf) != string(want)+"\n" {
			t.Fatalf("AppendAPICallJSON = %q, %v\nencoding/json       %s", buf, err, want)
		}
	}
}
