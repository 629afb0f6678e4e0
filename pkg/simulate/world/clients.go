package world

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"

	"github.com/apiscope/apiscope/pkg/simulate/scenario"
)

// Client is one simulated API client (benign or attacker) with a stable identity.
type Client struct {
	// ID is the simulator's name for it: web-0007, attacker-0002.
	ID string
	// Index numbers owners of objects; objects are laid out by it.
	Index int
	// Kind is user, partner, agent or batch; Group the scenario client kind's name.
	Kind  string
	Group string
	Role  string
	// Principal is the JWT sub (empty for API-key clients); Actor the agent (act.sub or
	// azp) when an agent makes the calls.
	Principal string
	Actor     string
	azp       string
	IPs       []netip.Addr
	UA        string
	APIKey    string
	// cred is how the client authenticates (scenario.Cred*); secret is its long-lived
	// credential value for bearer_key, basic and cookie.
	cred   string
	secret string
	// token is the bearer token of the current session.
	token string
	iss   string
	scope string
	// Benign is false once the client is an attacker or turns abusive.
	Benign bool
	Heavy  bool
	Late   bool
	// closeConns makes the client ask for Connection: close on every call.
	closeConns bool
	rttUS      int64
	mss        int
	seed       uint64
	ownCache   map[string]int
	spec       *scenario.ClientKind
}

func (c *Client) owns(o *Object) int {
	if n, ok := c.ownCache[o.Name]; ok {
		return n
	}
	lo, hi := int(o.perClient[0]), int(o.perClient[1])
	n := lo
	if hi > lo {
		n = lo + int(hash64(c.seed, c.ID, o.Name)%uint64(hi-lo+1))
	}
	if n < 1 {
		n = 1
	}
	if c.ownCache == nil {
		c.ownCache = map[string]int{}
	}
	c.ownCache[o.Name] = n
	return n
}

var userAgents = map[string][]string{
	"web": {
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
		"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	},
	"ios":     {"%sApp/5.%d.%d (iPhone; iOS 17.%d; Scale/3.00)", "%sApp/5.%d.%d (iPad; iOS 17.%d; Scale/2.00)"},
	"android": {"%sApp/5.%d.%d (Android 14; Pixel %d)", "%sApp/5.%d.%d (Android 13; SM-S91%d)", "okhttp/4.12.0"},
	"python":  {"python-requests/2.31.0", "python-httpx/0.27.0", "aiohttp/3.9.1"},
	"java":    {"Java/17.0.9", "Apache-HttpClient/5.2.1 (Java/17.0.9)", "okhttp/4.11.0"},
	"go":      {"Go-http-client/1.1", "%s-sync/1.%d.%d go/1.22"},
	"node":    {"axios/1.6.2", "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", "undici"},
	"agent": {
		"%sAssistant/2.%d.%d (agent; tools)",
		"langchain-python/0.%d.%d httpx/0.27.0",
		"openai-agents/0.%d.%d (+tools)",
	},
}

// attackerUAs are what abusive tooling sends; some hide behind a browser string.
var attackerUAs = []string{
	"python-requests/2.32.3", "curl/8.5.0", "Go-http-client/1.1", "Wget/1.21.4",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/122.0.0.0 Safari/537.36",
	"okhttp/3.14.9", "python-urllib3/1.26.18", "Scrapy/2.11.0 (+https://scrapy.org)", "aiohttp/3.8.6",
}

func pickUA(rng *rand.Rand, app, brand string) string {
	list := userAgents[app]
	if len(list) == 0 {
		list = userAgents["python"]
	}
	f := list[rng.IntN(len(list))]
	if !strings.Contains(f, "%") {
		return f
	}
	n := strings.Count(f, "%d")
	args := []any{}
	if strings.Contains(f, "%s") {
		args = append(args, brand)
	}
	for i := 0; i < n; i++ {
		args = append(args, 1+rng.IntN(20))
	}
	return fmt.Sprintf(f, args...)
}

var mssChoices = []int{1460, 1460, 1448, 1440, 1380, 1360}

// newClient builds a client of kind ck with its identity.
func (w *World) newClient(ck *scenario.ClientKind, n int, rng *rand.Rand) *Client {
	c := &Client{
		ID:     fmt.Sprintf("%s-%04d", ck.Name, n),
		Index:  len(w.byIndex),
		Kind:   ck.Kind,
		Group:  ck.Name,
		Role:   ck.Role,
		Benign: true,
		seed:   w.seed,
		spec:   ck,
		iss:    w.issuer,
		cred:   ck.Credential,
	}
	if c.cred == "" {
		c.cred = scenario.CredJWT
		if ck.Kind == scenario.KindPartner {
			c.cred = scenario.CredAPIKey
		}
	}
	w.byIndex = append(w.byIndex, c)
	nips := intIn(rng, ck.IPs)
	// Partners call from their own public addresses, and some people from carrier or
	// home ranges, which share the pools attackers come from: an address range alone
	// must not give an attacker away.
	public := ck.Kind == scenario.KindPartner || (ck.Kind == scenario.KindUser && rng.IntN(10) == 0)
	for i := 0; i < nips; i++ {
		if public {
			c.IPs = append(c.IPs, w.nextAttackerIP())
		} else {
			c.IPs = append(c.IPs, w.nextClientIP())
		}
	}
	c.UA = pickUA(rng, ck.App, w.brand)
	c.mss = mssChoices[rng.IntN(len(mssChoices))]
	switch ck.Kind {
	case scenario.KindUser:
		c.rttUS = int64(logUniform(rng, scenario.Range{4000, 90000}))
		c.Principal = w.userPrincipal(c.Index)
		c.scope = "openid profile orders:read orders:write payments"
	case scenario.KindPartner:
		c.rttUS = int64(logUniform(rng, scenario.Range{8000, 40000}))
		c.closeConns = rng.IntN(3) == 0
	case scenario.KindAgent:
		c.rttUS = int64(logUniform(rng, scenario.Range{2000, 30000}))
		c.azp = ck.Name + "-app"
		c.Actor = fmt.Sprintf("agent-%s-%04d", ck.Name, n)
		c.scope = "tools:read tools:write"
	case scenario.KindBatch:
		c.rttUS = int64(logUniform(rng, scenario.Range{300, 2000}))
		c.Principal = "svc-" + c.ID
		c.azp = ck.Name
		// A sensor takes azp as the actor when there is no act claim.
		c.Actor = c.azp
		c.scope = "internal"
		c.closeConns = rng.IntN(2) == 0
	}
	c.setCredential(w.seed)
	return c
}

// setCredential gives c the long-lived credential its kind presents and keeps Principal
// and Actor to what a sensor can read from it. It draws no randomness, so choosing a
// credential does not change the rest of the scenario.
func (c *Client) setCredential(seed uint64) {
	switch c.cred {
	case scenario.CredJWT:
		if c.Kind == scenario.KindPartner {
			c.Principal = "svc-" + c.ID
		}
		return
	case scenario.CredAPIKey:
		c.APIKey = "pk_live_" + token62(hash64(seed, c.ID, "key"), 32)
	case scenario.CredBearerKey:
		c.secret = "sk_live_" + token62(hash64(seed, c.ID, "key"), 40)
	case scenario.CredBasic:
		login := c.Principal
		if login == "" {
			login = c.ID
		}
		c.secret = base64.StdEncoding.EncodeToString([]byte(login + ":" + token62(hash64(seed, c.ID, "password"), 20)))
		c.Principal, c.Actor, c.azp = login, "", ""
		return
	case scenario.CredCookie:
		c.secret = token62(hash64(seed, c.ID, "cookie"), 32)
	}
	c.Principal, c.Actor, c.azp = "", "", ""
}

// userPrincipal derives a user's JWT sub from its index: a bijection onto 800000 ids
// (7919 is coprime with 800000), so no two clients share one and attackers' accounts
// look like everyone else's.
func (w *World) userPrincipal(index int) string {
	off := hash64(w.seed, w.sc.Name) % 800000
	return fmt.Sprintf("u-%06d", 100000+(uint64(index)*7919+off)%800000)
}

// forUser makes agent c act for user u: sub = u's principal, act.sub = the agent.
func (c *Client) forUser(u *Client) { c.Principal = u.Principal }

// agentOwnPrincipal gives an agent acting on its own behalf a service principal. Only a
// token carries one; agents with other credentials keep what setCredential left.
func (c *Client) agentOwnPrincipal() {
	if c.cred == scenario.CredJWT {
		c.Principal = "svc-" + c.Actor
		c.Actor = c.azp
	}
}

// newToken mints the bearer token of a session starting at t.
func (w *World) newToken(c *Client, t int64, rng *rand.Rand) {
	if c.cred != scenario.CredJWT {
		return
	}
	iat := t / usPerSec
	var p []byte
	p = append(p, `{"iss":"`...)
	p = append(p, c.iss...)
	p = append(p, `","sub":"`...)
	p = append(p, c.Principal...)
	p = append(p, `","aud":"api","iat":`...)
	p = strconv.AppendInt(p, iat, 10)
	p = append(p, `,"exp":`...)
	p = strconv.AppendInt(p, iat+3600, 10)
	if c.azp != "" {
		p = append(p, `,"azp":"`...)
		p = append(p, c.azp...)
		p = append(p, '"')
	}
	if c.Kind == scenario.KindAgent && c.Actor != c.azp {
		p = append(p, `,"act":{"sub":"`...)
		p = append(p, c.Actor...)
		p = append(p, `"}`...)
	}
	p = append(p, `,"scope":"`...)
	p = append(p, c.scope...)
	p = append(p, `","jti":"`...)
	p = append(p, token62(rng.Uint64(), 16)...)
	p = append(p, `"}`...)
	sig := make([]byte, 64)
	for i := 0; i < len(sig); i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8; j++ {
			sig[i+j] = byte(v >> (8 * j))
		}
	}
	c.token = jwtHeader + "." + base64.RawURLEncoding.EncodeToString(p) + "." + base64.RawURLEncoding.EncodeToString(sig)
}

var jwtHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"k-2026-01","typ":"JWT"}`))

const alphabet62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func token62(seed uint64, n int) string {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet62[rng.IntN(62)]
	}
	return string(b)
}

// addrAt returns the n-th address of the pools, spread over them by a multiplicative
// permutation so neighbours in allocation order are not neighbours on the wire.
func addrAt(pools []netip.Prefix, n int) netip.Addr {
	total := uint64(0)
	for _, p := range pools {
		total += 1 << (32 - p.Bits())
	}
	for ; ; n++ {
		k := (uint64(n) * 2654435761) % total
		for _, p := range pools {
			size := uint64(1) << (32 - p.Bits())
			if k >= size {
				k -= size
				continue
			}
			b := p.Masked().Addr().As4()
			v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
			v += uint32(k)
			if last := byte(v); last > 1 && last < 255 {
				return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
			}
			break
		}
	}
}

// poolSize is the number of addresses in pools.
func poolSize(pools []netip.Prefix) int {
	n := 0
	for _, p := range pools {
		n += 1 << (32 - p.Bits())
	}
	return n
}

// nextIP allocates the next unused address of pools, or reports that they are full.
func (w *World) nextIP(pools []netip.Prefix, next *int) (netip.Addr, bool) {
	size := poolSize(pools)
	for tries := 0; tries < size; tries++ {
		a := addrAt(pools, *next)
		*next++
		if !w.usedIP[a] {
			w.usedIP[a] = true
			return a, true
		}
	}
	return netip.Addr{}, false
}

// nextClientIP allocates a client address; when the client pool is full it takes one
// from the public pools, and the other way round, so allocation always ends.
func (w *World) nextClientIP() netip.Addr {
	if a, ok := w.nextIP([]netip.Prefix{w.clientNet}, &w.nClientIP); ok {
		return a
	}
	if a, ok := w.nextIP(w.attackerNets, &w.nAttackerIP); ok {
		return a
	}
	return w.lastResortIP()
}

func (w *World) nextAttackerIP() netip.Addr {
	if a, ok := w.nextIP(w.attackerNets, &w.nAttackerIP); ok {
		return a
	}
	if a, ok := w.nextIP([]netip.Prefix{w.clientNet}, &w.nClientIP); ok {
		return a
	}
	return w.lastResortIP()
}

// lastResortIP hands out addresses from 10.128.0.0/9 once every configured pool is full
// (MaxClients keeps this from running out).
func (w *World) lastResortIP() netip.Addr {
	pool := []netip.Prefix{netip.MustParsePrefix("10.128.0.0/9")}
	a, _ := w.nextIP(pool, &w.nSpareIP)
	return a
}
