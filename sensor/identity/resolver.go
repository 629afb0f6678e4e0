package identity

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/metrics"
)

// Headers is what identity reads from a request's header block. httpwire.Header
// satisfies it; Get compares names case-insensitively and returns the first value.
type Headers interface {
	Get(name string) string
}

// Defaults applied when the matching Config field is nil.
var (
	DefaultAPIKeyHeaders  = []string{"X-API-Key", "Api-Key"}
	DefaultAPIKeyParams   = []string{"api_key"}
	DefaultSessionCookies = []string{
		"session", "sessionid", "session_id", "sid", "JSESSIONID", "PHPSESSID", "connect.sid",
		"_session_id", "ASP.NET_SessionId", "laravel_session",
	}
	// DefaultRedactParams are query parameters whose values are secrets in any API; they
	// are redacted from exported URIs in addition to the API-key parameters.
	DefaultRedactParams = []string{
		"access_token", "id_token", "refresh_token", "token", "client_secret", "password",
		"passwd", "secret", "sig", "signature", "X-Amz-Signature", "X-Amz-Credential",
		"X-Amz-Security-Token",
	}
)

// Redacted replaces secret query-parameter values in exported URIs.
const Redacted = "REDACTED"

// fpBytes is how much of the HMAC-SHA256 a fingerprint keeps (hex doubles it).
const fpBytes = 16

// Config configures a Resolver. Nil slices mean the defaults above; an empty non-nil
// slice disables the rule.
type Config struct {
	// Key is the fingerprint HMAC key (see ResolveKey); at least MinKeyLen bytes.
	Key []byte
	// APIKeyHeaders are header names carrying an API key (compared case-insensitively).
	APIKeyHeaders []string
	// APIKeyParams are query parameter names carrying an API key.
	APIKeyParams []string
	// SessionCookies are cookie names carrying a session id (compared case-insensitively).
	SessionCookies []string
	// TrustedProxies are the networks whose Forwarded/X-Forwarded-For headers are believed.
	TrustedProxies []netip.Prefix
	// RedactParams are further query parameters redacted from exported URIs.
	RedactParams []string
	// Metrics receives the counters; nil means metrics.Default.
	Metrics *metrics.Registry
}

// Identity is who sent one request. Every field is safe to export: credentials appear only
// as CredFP.
type Identity struct {
	ClientID  string
	Principal string
	Actor     string
	Auth      string // models.AuthJWT, AuthAPIKey, AuthBasic, AuthCookie or AuthNone
	CredFP    string
	TraceID   string
	Scope     string
	Issuer    string
	// ClientIP is the source address after trusted-proxy resolution.
	ClientIP netip.Addr
	// XFF is ClientIP as a string when it came from a trusted proxy's header, else "".
	XFF string
}

type noHeaders struct{}

func (noHeaders) Get(string) string { return "" }

// Resolver attributes requests. Safe for concurrent use.
type Resolver struct {
	cfg    Config
	redact []string
	// redactASCII[i] is whether redact[i] is all ASCII.
	redactASCII []bool
	// redactLens has bit min(len(n), 63) set for each ASCII name n in redact, and
	// redactOnlyASCII tells there is no other: an ASCII parameter name of a length not
	// set is then no secret, which most are.
	redactLens      uint64
	redactOnlyASCII bool
	log             *zap.Logger
	hmacs           sync.Pool // hash.Hash keyed with cfg.Key; HMAC is not safe for concurrent use
	cache           credCache
	m               resolverMetrics
	trusted         []netip.Prefix
	hdrs            headerIndex
}

// New validates cfg and returns a Resolver. log receives debug lines about malformed input
// (never the input itself); nil means no logging.
func New(cfg Config, log *zap.Logger) (*Resolver, error) {
	if len(cfg.Key) < MinKeyLen {
		return nil, fmt.Errorf("%w: %d bytes, want at least %d", ErrKeyTooShort, len(cfg.Key), MinKeyLen)
	}
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.APIKeyHeaders == nil {
		cfg.APIKeyHeaders = DefaultAPIKeyHeaders
	}
	if cfg.APIKeyParams == nil {
		cfg.APIKeyParams = DefaultAPIKeyParams
	}
	if cfg.SessionCookies == nil {
		cfg.SessionCookies = DefaultSessionCookies
	}
	for _, lists := range [][]string{cfg.APIKeyHeaders, cfg.APIKeyParams, cfg.SessionCookies, cfg.RedactParams} {
		for _, n := range lists {
			if n == "" || strings.ContainsAny(n, " \t\r\n;,=&") {
				return nil, fmt.Errorf("bad header, parameter or cookie name %q", n)
			}
		}
	}
	r := &Resolver{cfg: cfg, log: log.With(zap.String("component", "identity"))}
	for _, p := range cfg.TrustedProxies {
		if !p.IsValid() {
			return nil, fmt.Errorf("bad trusted proxy network %v", p)
		}
		r.trusted = append(r.trusted, netip.PrefixFrom(p.Addr().Unmap(), unmappedBits(p)).Masked())
	}
	r.redact = append(append(append([]string(nil), cfg.APIKeyParams...), DefaultRedactParams...), cfg.RedactParams...)
	r.redactASCII = make([]bool, len(r.redact))
	r.redactOnlyASCII = true
	for i, n := range r.redact {
		r.redactASCII[i] = isASCII(n)
		if r.redactASCII[i] {
			r.redactLens |= 1 << min(len(n), 63)
		} else {
			r.redactOnlyASCII = false
		}
	}
	key := append([]byte(nil), cfg.Key...)
	r.hmacs.New = func() any { return hmac.New(sha256.New, key) }
	r.cache.init()
	r.m = newResolverMetrics(cfg.Metrics)
	r.hdrs = newHeaderIndex(cfg.APIKeyHeaders)
	return r, nil
}

func unmappedBits(p netip.Prefix) int {
	if p.Addr().Is4In6() {
		return max(p.Bits()-96, 0)
	}
	return p.Bits()
}

// Resolve fills id for one request: h its header block, query the URI's query string
// (after '?', as sent) and peer the TCP client address. id is overwritten entirely.
func (r *Resolver) Resolve(h Headers, query string, peer netip.Addr, id *Identity) {
	*id = Identity{}
	if h == nil {
		h = noHeaders{}
	}
	// Without trusted proxies ClientAddr is the peer: no header to look at.
	addr, via, bad := peer.Unmap(), false, false
	if len(r.trusted) > 0 {
		addr, via, bad = ClientAddr(h, peer, r.trusted)
	}
	if bad {
		r.malformed(whatForwarded)
	}
	id.ClientIP = addr
	if via {
		id.XFF = addr.String()
	}
	var rh reqHeaders
	r.read(h, &rh)
	id.TraceID = r.traceID(&rh)

	scheme, cred := splitAuth(rh.authorization)
	bearer, opaque := "", ""
	switch {
	case cred == "":
	case scheme == "Bearer" || strings.EqualFold(scheme, "Bearer"): // as sent, almost always
		bearer = cred
	case scheme == "Basic" || strings.EqualFold(scheme, "Basic"):
		if r.basic(cred, id) {
			r.m.resolved(id.Auth)
			return
		}
	case strings.EqualFold(scheme, "Digest"):
		if r.digest(cred, id) {
			r.m.resolved(id.Auth)
			return
		}
	case strings.EqualFold(scheme, "AWS4-HMAC-SHA256"):
		// SigV4 signs every request anew; the access key id is the stable credential.
		opaque = awsAccessKeyID(cred)
	case isHandshakeScheme(scheme):
		// NTLM and Negotiate send a new blob every handshake: not a stable credential.
	case isToken(scheme):
		opaque = cred // Token, ApiKey, SSWS...: an opaque credential
	}
	if bearer == "" {
		bearer = queryValue(query, "access_token")
	}
	if bearer != "" {
		if r.jwt(bearer, id) {
			r.m.resolved(id.Auth)
			return
		}
		if opaque == "" {
			opaque = bearer
		}
	}
	if r.apiKey(rh.apiKey, query, opaque, id) || r.cookie(rh.cookie, id) {
		r.m.resolved(id.Auth)
		return
	}
	id.Auth = models.AuthNone
	if addr.IsValid() {
		id.ClientID = "ip:" + addr.String()
	} else {
		id.ClientID = "ip:unknown"
	}
	r.m.resolved(id.Auth)
}

// jwt applies rule 1. It reports false, counting the token as malformed, when the bearer
// value does not decode; the caller then treats it as an opaque credential.
func (r *Resolver) jwt(tok string, id *Identity) bool {
	if strings.Count(tok, ".") != 2 {
		// Not shaped like a JWS: ParseJWT would refuse it, and such a token is opaque,
		// not malformed. Deciding here spares a cache lookup per call for opaque bearer
		// tokens, the common kind.
		return false
	}
	e, ok := r.cache.get(KindJWT, tok)
	if !ok {
		c, err := ParseJWT(tok)
		if err != nil {
			e = &credEntry{bad: true, reason: err.Error()}
		} else {
			e = &credEntry{claims: c, fp: r.Fingerprint(KindJWT, tok)}
			e.clientID = jwtClientID(&e.claims, e.fp)
		}
		r.cache.put(KindJWT, tok, e)
	}
	if e.bad { // shaped like a JWS (JWE, with four dots, is opaque by design) but not one
		r.malformed(whatJWT)
		r.log.Debug("bearer token is not a decodable JWT", zap.String("reason", e.reason))
		return false
	}
	c := &e.claims
	id.Auth = models.AuthJWT
	id.CredFP = e.fp
	id.Principal = c.Sub
	id.Actor = c.Actor()
	id.Scope = c.Scope
	id.Issuer = c.Iss
	id.ClientID = e.clientID
	return true
}

// jwtClientID is the client_id of a decoded token with fingerprint fp.
func jwtClientID(c *Claims, fp string) string {
	actor := c.Actor()
	switch {
	case c.Sub != "" && actor != "":
		return "jwt:" + escapeID(c.Sub) + "|agent:" + escapeID(actor)
	case c.Sub != "":
		return "jwt:" + escapeID(c.Sub)
	case actor != "":
		return "agent:" + escapeID(actor)
	default:
		return "jwtfp:" + fp
	}
}

// basic applies rule 2. A Basic credential with an empty password is an API key sent as
// the user name (a common convention), so the user is not exported.
func (r *Resolver) basic(cred string, id *Identity) bool {
	e, ok := r.cache.get(KindBasic, cred)
	if !ok {
		e = r.decodeBasic(cred)
		r.cache.put(KindBasic, cred, e)
	}
	if e.bad {
		r.malformed(whatBasic)
		r.log.Debug("basic credentials do not decode to user:password", zap.String("reason", e.reason))
		return false
	}
	id.CredFP = e.fp
	id.ClientID = e.clientID
	if e.user == "" {
		id.Auth = models.AuthAPIKey
		return true
	}
	id.Auth = models.AuthBasic
	id.Principal = e.user
	return true
}

func (r *Resolver) decodeBasic(cred string) *credEntry {
	raw, err := base64.StdEncoding.DecodeString(cred)
	if err != nil {
		raw, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(cred, "="))
	}
	if err != nil || len(raw) == 0 {
		return &credEntry{bad: true, reason: "not base64"}
	}
	s := string(raw)
	user, pass, found := strings.Cut(s, ":")
	if !found || (user == "" && pass == "") {
		return &credEntry{bad: true, reason: "no user:password form"}
	}
	if pass == "" { // API key as user name
		fp := r.Fingerprint(KindAPIKey, user)
		return &credEntry{fp: fp, clientID: "apikey:" + fp}
	}
	if user == "" {
		fp := r.Fingerprint(KindAPIKey, pass)
		return &credEntry{fp: fp, clientID: "apikey:" + fp}
	}
	return &credEntry{user: user, fp: r.Fingerprint(KindBasic, s), clientID: "basic:" + escapeID(user)}
}

// digest applies rule 2 to HTTP Digest authentication: the user name is the principal
// and, as the response changes with every nonce, user and realm are what is fingerprinted.
// Digest is reported as auth "basic", the user-and-password kind.
func (r *Resolver) digest(cred string, id *Identity) bool {
	user := authParam(cred, "username")
	if user == "" {
		r.malformed(whatDigest)
		r.log.Debug("digest credentials without a user name")
		return false
	}
	id.Auth = models.AuthBasic
	id.Principal = user
	id.CredFP, _ = r.cachedFP(KindBasic, "digest\x00"+user+"\x00"+authParam(cred, "realm"), "")
	id.ClientID = "basic:" + escapeID(user)
	return true
}

// authParam returns the value of one auth-param (name=token or name="quoted") of a
// credentials list, unquoted; "" when absent.
func authParam(cred, name string) string {
	for cred != "" {
		cred = strings.TrimLeft(cred, " \t,")
		eq := strings.IndexByte(cred, '=')
		if eq <= 0 {
			return ""
		}
		k := strings.TrimSpace(cred[:eq])
		rest := strings.TrimLeft(cred[eq+1:], " \t")
		var v string
		if strings.HasPrefix(rest, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(rest) && rest[i] != '"'; i++ {
				if rest[i] == '\\' && i+1 < len(rest) {
					i++
				}
				b.WriteByte(rest[i])
			}
			v = b.String()
			if i < len(rest) {
				i++
			}
			cred = rest[i:]
		} else {
			end := strings.IndexByte(rest, ',')
			if end < 0 {
				end = len(rest)
			}
			v, cred = strings.TrimSpace(rest[:end]), rest[end:]
		}
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// awsAccessKeyID returns the access key id of SigV4 credentials
// (Credential=AKID/date/region/service/aws4_request, ...).
func awsAccessKeyID(cred string) string {
	c := authParam(cred, "Credential")
	if i := strings.IndexByte(c, '/'); i > 0 {
		return c[:i]
	}
	return c
}

// isHandshakeScheme reports connection-oriented schemes whose credentials change with
// every handshake.
func isHandshakeScheme(s string) bool {
	return strings.EqualFold(s, "NTLM") || strings.EqualFold(s, "Negotiate") || strings.EqualFold(s, "Kerberos")
}

// isToken reports whether s is an HTTP token (an auth scheme name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// apiKey applies rule 3: configured headers (key, the first one set, trimmed), configured
// query parameters, then an opaque credential from Authorization (a bearer token that is
// not a JWT, another scheme's token, a SigV4 access key id).
func (r *Resolver) apiKey(key, query, opaque string, id *Identity) bool {
	if key == "" {
		for _, n := range r.cfg.APIKeyParams {
			if v := queryValue(query, n); v != "" {
				key = v
				break
			}
		}
	}
	if key == "" {
		key = opaque
	}
	if key == "" {
		return false
	}
	id.Auth = models.AuthAPIKey
	id.CredFP, id.ClientID = r.cachedFP(KindAPIKey, key, "apikey:")
	return true
}

// cookie applies rule 4 to hv, the Cookie header.
func (r *Resolver) cookie(hv string, id *Identity) bool {
	if hv == "" || len(r.cfg.SessionCookies) == 0 {
		return false
	}
	name, v, bad := FindCookie(hv, r.cfg.SessionCookies)
	if bad {
		r.malformed(whatCookie)
		r.log.Debug("cookie header has a malformed pair")
	}
	if v == "" {
		return false
	}
	id.Auth = models.AuthCookie
	id.CredFP, id.ClientID = r.cachedFP(KindCookie, strings.ToLower(name)+"="+v, "cookie:")
	return true
}

// cachedFP returns the fingerprint of cred and the client_id idPrefix+fingerprint, from
// the cache when cred was seen before. One kind of credential always comes with the same
// prefix, so the cached client_id is the one asked for.
func (r *Resolver) cachedFP(kind Kind, cred, idPrefix string) (fp, clientID string) {
	if e, ok := r.cache.get(kind, cred); ok && e.clientID != "" {
		return e.fp, e.clientID
	}
	fp = r.Fingerprint(kind, cred)
	clientID = idPrefix + fp
	r.cache.put(kind, cred, &credEntry{fp: fp, clientID: clientID})
	return fp, clientID
}

// Kind is a kind of credential. It is mixed into the fingerprint so that one secret used
// two ways (as a bearer token and as an API key) gives two fingerprints.
type Kind uint8

// Credential kinds.
const (
	KindJWT Kind = iota
	KindBasic
	KindAPIKey
	KindCookie
	numKinds
)

var kindNames = [numKinds]string{"jwt", "basic", "apikey", "cookie"}

// String returns the kind's name as mixed into fingerprints.
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "unknown"
}

// Fingerprint returns the hex of the first 16 bytes of HMAC-SHA256(key, kind 0x00 cred),
// where kind is "jwt", "basic", "apikey" or "cookie". A cookie's cred is its lower-cased
// name, '=', and its value; a Basic credential's is "user:password".
func (r *Resolver) Fingerprint(kind Kind, cred string) string {
	m := r.hmacs.Get().(hash.Hash)
	m.Reset()
	m.Write([]byte(kind.String()))
	m.Write([]byte{0})
	m.Write([]byte(cred))
	var sum [sha256.Size]byte
	m.Sum(sum[:0])
	r.hmacs.Put(m)
	return hex.EncodeToString(sum[:fpBytes])
}

// FingerprintAPIKey is Fingerprint for an API key; exported for tools that must match a
// known key against cred_fp.
func (r *Resolver) FingerprintAPIKey(key string) string { return r.Fingerprint(KindAPIKey, key) }

// traceID returns the W3C traceparent trace id, else a well-formed X-Request-ID.
func (r *Resolver) traceID(h *reqHeaders) string {
	if tp := h.traceparent; tp != "" {
		if t, ok := ParseTraceparent(tp); ok {
			return t
		}
		r.malformed(whatTraceparent)
	}
	if rid := strings.TrimSpace(h.requestID); rid != "" {
		if validRequestID(rid) {
			return strings.Clone(rid)
		}
		r.malformed(whatRequestID)
	}
	return ""
}

// ParseTraceparent returns the trace id of a W3C traceparent header
// ("00-<32 hex>-<16 hex>-<2 hex>"); later versions may append fields.
func ParseTraceparent(v string) (string, bool) {
	v = strings.TrimSpace(v)
	if len(v) < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return "", false
	}
	if !isLowerHex(v[:2]) || v[:2] == "ff" || !isLowerHex(v[3:35]) || !isLowerHex(v[36:52]) || !isLowerHex(v[53:55]) {
		return "", false
	}
	if v[:2] == "00" && len(v) != 55 || len(v) > 55 && v[55] != '-' {
		return "", false
	}
	if strings.Trim(v[3:35], "0") == "" || strings.Trim(v[36:52], "0") == "" {
		return "", false
	}
	return strings.Clone(v[3:35]), true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// maxRequestID bounds an exported X-Request-ID.
const maxRequestID = 128

func validRequestID(s string) bool {
	if len(s) > maxRequestID {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// RedactQuery returns q with the values of API-key and secret parameters replaced by
// Redacted. It returns q itself (no allocation) when nothing needs redacting.
func (r *Resolver) RedactQuery(q string) string {
	if q == "" || !r.hasSecretParam(q) {
		return q
	}
	var b strings.Builder
	b.Grow(len(q))
	rest := q
	for first := true; ; first = false {
		var pair string
		i := strings.IndexByte(rest, '&')
		if i >= 0 {
			pair = rest[:i]
		} else {
			pair = rest
		}
		if !first {
			b.WriteByte('&')
		}
		name, _, hasEq := strings.Cut(pair, "=")
		if hasEq && r.isSecretParam(name) {
			b.WriteString(name)
			b.WriteString("=" + Redacted)
		} else {
			b.WriteString(pair)
		}
		if i < 0 {
			break
		}
		rest = rest[i+1:]
	}
	return b.String()
}

func (r *Resolver) hasSecretParam(q string) bool {
	for q != "" {
		var pair string
		if i := strings.IndexByte(q, '&'); i >= 0 {
			pair, q = q[:i], q[i+1:]
		} else {
			pair, q = q, ""
		}
		if name, _, ok := strings.Cut(pair, "="); ok && r.isSecretParam(name) {
			return true
		}
	}
	return false
}

func (r *Resolver) isSecretParam(name string) bool {
	if strings.IndexByte(name, '%') >= 0 || strings.IndexByte(name, '+') >= 0 {
		if u, err := url.QueryUnescape(name); err == nil {
			name = u
		}
	}
	// Two ASCII strings of different lengths never fold to each other: most parameters
	// are told apart by their length, without a rune-by-rune comparison.
	ascii := isASCII(name)
	if ascii && r.redactOnlyASCII && r.redactLens&(1<<min(len(name), 63)) == 0 {
		return false
	}
	for i, s := range r.redact {
		if ascii && r.redactASCII[i] && len(name) != len(s) {
			continue
		}
		if strings.EqualFold(name, s) {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// queryValue returns the unescaped value of the first parameter named name (compared
// case-insensitively) in the raw query q, or "".
func queryValue(q, name string) string {
	for q != "" {
		var pair string
		if i := strings.IndexByte(q, '&'); i >= 0 {
			pair, q = q[:i], q[i+1:]
		} else {
			pair, q = q, ""
		}
		k, v, ok := strings.Cut(pair, "=")
		// Every rune of a key folding to an ASCII name is at least one byte long: a
		// shorter key cannot match it, and most are told apart without folding.
		if !ok || v == "" || len(k) < len(name) && isASCII(name) || !strings.EqualFold(k, name) {
			continue
		}
		if strings.ContainsAny(v, "%+") {
			if u, err := url.QueryUnescape(v); err == nil {
				return u
			}
		}
		return v
	}
	return ""
}

// splitAuth splits an Authorization value into scheme and credentials.
func splitAuth(v string) (scheme, cred string) {
	v = trimSpace(v)
	i := 0 // the first space or tab (a loop: IndexAny sets up a byte set on every call)
	for i < len(v) && v[i] != ' ' && v[i] != '\t' {
		i++
	}
	if i == len(v) {
		return v, ""
	}
	return v[:i], trimSpace(v[i+1:])
}

// trimSpace is strings.TrimSpace, without a call when s neither starts nor ends with a
// byte that could begin or end white space (header values as sent, almost always).
func trimSpace(s string) string {
	if len(s) > 0 {
		a, z := s[0], s[len(s)-1]
		if ' ' < a && a < utf8.RuneSelf && ' ' < z && z < utf8.RuneSelf {
			return s
		}
	}
	return strings.TrimSpace(s)
}

// escapeID percent-escapes '%' and '|' so a claim cannot forge the client_id separator.
func escapeID(s string) string {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '|') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '%':
			b.WriteString("%25")
		case '|':
			b.WriteString("%7C")
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func (r *Resolver) malformed(what int) { r.m.malformed[what].Inc() }
