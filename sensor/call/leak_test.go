package call

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/metrics"
	"github.com/apiscope/apiscope/sensor/httpwire"
	"github.com/apiscope/apiscope/sensor/identity"
)

// secretCase is one request full of credentials, and the strings that must never leave
// the sensor.
type secretCase struct {
	uri     string
	headers []string // "Name: value"
	secrets []string
}

// secretCases returns n requests using every credential form identity knows, with
// random secrets (seeded: the same cases every run).
func secretCases(n int) []secretCase {
	rng := rand.New(rand.NewSource(42))
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	rnd := func(k int) string {
		b := make([]byte, k)
		for i := range b {
			b[i] = alnum[rng.Intn(len(alnum))]
		}
		return string(b)
	}
	var out []secretCase
	for i := 0; len(out) < n; i++ {
		user := fmt.Sprintf("user%d", i)
		sig := rnd(43)
		tok := jwt(fmt.Sprintf(`{"sub":"%s","iss":"https://idp.example","act":{"sub":"agent-%d"},"scope":"read"}`, user, i))
		tok = tok[:strings.LastIndexByte(tok, '.')+1] + sig
		pass, key, key2, qkey, sess, other := rnd(20), "sk_live_"+rnd(24), rnd(32), rnd(28), rnd(32), rnd(24)
		badTok := rnd(12) + "." + rnd(20) + "." + rnd(16)
		opaque := "gho_" + rnd(36)
		keyUser := "rk_" + rnd(24)
		for _, c := range []secretCase{
			{uri: fmt.Sprintf("/api/v1/users/%s/orders/%d", user, i), headers: []string{"Authorization: Bearer " + tok, "Cookie: session=" + sess + "; csrftoken=" + other},
				secrets: []string{tok, sig, sess, other}},
			{uri: "/api/v1/reports/ORD-" + fmt.Sprint(10000+i), headers: []string{"Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))},
				secrets: []string{pass, user + ":" + pass}},
			{uri: "/api/v1/charges", headers: []string{"Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(keyUser+":"))},
				secrets: []string{keyUser, keyUser + ":"}},
			{uri: "/api/v1/items?page=2&api_key=" + qkey + "&sort=asc", secrets: []string{qkey}},
			{uri: "/api/v1/items?access_token=" + tok, secrets: []string{tok, sig}},
			{uri: "/api/v1/keys", headers: []string{"X-API-Key: " + key, "Api-Key: " + key2}, secrets: []string{key, key2}},
			{uri: "/api/v1/broken", headers: []string{"Authorization: Bearer " + badTok, "Cookie: ;;JSESSIONID=" + sess + "; =" + other},
				secrets: []string{badTok, sess, other}},
			{uri: "/api/v1/opaque", headers: []string{"Authorization: Bearer " + opaque}, secrets: []string{opaque}},
			{uri: "/api/v1/token", headers: []string{"Authorization: Token " + key2, "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("proxy:"+pass))},
				secrets: []string{key2, pass, "proxy:" + pass}},
			{uri: "/api/v1/digest", headers: []string{`Authorization: Digest username="` + user + `", realm="r", nonce="n", response="` + other + `"`}, secrets: []string{other}},
			{uri: "/api/v1/bad-basic", headers: []string{"Authorization: Basic " + other + "!!", "Cookie: PHPSESSID=" + sess}, secrets: []string{other, sess}},
		} {
			out = append(out, c)
		}
	}
	return out[:n]
}

// forms returns s and its base64 and base64url encodings, padded and raw.
func forms(s string) []string {
	b := []byte(s)
	return []string{s,
		base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b)}
}

// findSecrets returns every secret form found in text.
func findSecrets(text []byte, cases []secretCase) []string {
	var found []string
	for _, c := range cases {
		for _, s := range c.secrets {
			for _, f := range forms(s) {
				if len(f) >= 8 && bytes.Contains(text, []byte(f)) {
					found = append(found, f)
				}
			}
		}
	}
	return found
}

// assertNoSecrets fails if text holds any secret form; it names only a prefix.
func assertNoSecrets(t *testing.T, what string, text []byte, cases []secretCase) {
	t.Helper()
	for i, f := range findSecrets(text, cases) {
		if i == 5 {
			t.Errorf("%s: more secrets found", what)
			break
		}
		t.Errorf("%s contains a secret (form %q...)", what, f[:6])
	}
}

// observedLog returns a debug-level logger and a func encoding every entry so far as
// JSON lines, the way the production logger would write them.
func observedLog() (*zap.Logger, func() []byte) {
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(core), func() []byte {
		enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
		var all bytes.Buffer
		for _, e := range logs.All() {
			buf, err := enc.EncodeEntry(e.Entry, e.Context)
			if err == nil {
				all.Write(buf.Bytes())
				buf.Free()
			}
		}
		return all.Bytes()
	}
}

func parseHeaders(lines []string) httpwire.Header {
	var h httpwire.Header
	for _, l := range lines {
		k, v, _ := strings.Cut(l, ": ")
		h = append(h, httpwire.Field{Name: k, Value: v})
	}
	return h
}

func TestNoSecretsInCallsOrLogs(t *testing.T) {
	log, logged := observedLog()
	b, err := NewBuilder(Config{
		Key:      identity.KeySource{StateFile: filepath.Join(t.TempDir(), "fp.key"), Getenv: func(string) string { return "" }},
		Metrics:  metrics.NewRegistry(),
		Identity: identity.Config{APIKeyParams: []string{"api_key"}},
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	cases := secretCases(300)
	var calls bytes.Buffer
	auths := map[string]int{}
	for i, c := range cases {
		ts := t0.Add(time.Duration(i) * time.Second)
		tx := &httpwire.Transaction{
			Req: &httpwire.Request{TS: ts, Method: "GET", URI: c.uri,
				Header: append(parseHeaders(c.headers), httpwire.Field{Name: "Host", Value: "api.example.com"})},
			Resp: &httpwire.Response{TS: ts.Add(time.Millisecond), Status: 200},
		}
		var call models.APICall
		b.Build(tx, client, server, &call)
		auths[call.Auth]++
		line, err := models.AppendAPICallJSON(nil, &call)
		if err != nil {
			t.Fatal(err)
		}
		calls.Write(line)
	}
	logs := logged()
	if len(logs) == 0 {
		t.Fatal("no log lines at debug level: the test proves nothing")
	}
	for _, a := range []string{models.AuthJWT, models.AuthBasic, models.AuthAPIKey, models.AuthCookie} {
		if auths[a] == 0 {
			t.Errorf("no call attributed by %s: %v", a, auths)
		}
	}
	assertNoSecrets(t, "APICall JSON", calls.Bytes(), cases)
	assertNoSecrets(t, "log", logs, cases)
	// The checker finds a secret when there is one, in any encoding.
	for _, f := range forms(cases[1].secrets[0]) {
		if len(findSecrets(append(calls.Bytes(), f...), cases)) == 0 {
			t.Fatalf("checker misses form %q", f)
		}
	}
}

// TestNoSecretsThroughSensor crafts a capture full of credentials and runs the whole
// sensor over it at debug level: neither the JSON Lines nor any log line may hold one.
func TestNoSecretsThroughSensor(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secrets.pcap")
	cases := secretCases(120)
	p := newPcap(t, path)
	ts := t0
	for i := 0; i < len(cases); i += 6 {
		c := p.conn(fmt.Sprintf("10.2.0.%d", i/6+1), uint16(40000+i), "192.0.2.10", 8080, ts)
		ts = ts.Add(5 * time.Millisecond)
		for _, sc := range cases[i:min(i+6, len(cases))] {
			c.exchange(ts, "GET", sc.uri, sc.headers, 200)
			ts = ts.Add(10 * time.Millisecond)
		}
		c.close(ts)
		ts = ts.Add(time.Millisecond)
	}
	p.close()

	log, logged := observedLog()
	b, err := NewBuilder(Config{
		Key:     identity.KeySource{StateFile: filepath.Join(dir, "fp.key"), Getenv: func(string) string { return "" }},
		Metrics: metrics.NewRegistry(),
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	out := runSensor(t, path, b, 2, log)
	if n := bytes.Count(out, []byte("\n")); n != len(cases) {
		t.Fatalf("sensor wrote %d calls; want %d", n, len(cases))
	}
	if !bytes.Contains(out, []byte(`"auth":"jwt"`)) || !bytes.Contains(out, []byte(`api_key=REDACTED`)) {
		t.Fatalf("calls were not attributed by the builder:\n%s", out[:min(len(out), 600)])
	}
	assertNoSecrets(t, "sensor JSON Lines", out, cases)
	assertNoSecrets(t, "sensor log", logged(), cases)
}
