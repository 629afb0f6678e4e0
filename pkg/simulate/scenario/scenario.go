package scenario

import (
	"time"
)

// Scenario is one simulated world. Field names match the YAML keys.
type Scenario struct {
	// Name identifies the scenario (the built-in name or the file's own name).
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Start is the capture's first instant. Zero means 2026-01-05T00:00:00Z.
	Start time.Time `yaml:"start"`
	// Scales sets duration and client multiplier per scale; missing scales take
	// DefaultScales.
	Scales map[string]Scale `yaml:"scales"`
	// Clean is the share of the capture before the first attack may start. Zero means 0.4.
	Clean float64 `yaml:"clean"`
	// Network gives the address pools. Zero values mean 172.16.0.0/12 for clients and
	// 198.18.0.0/15, 198.51.100.0/24, 203.0.113.0/24 and 192.0.2.0/24 for public
	// addresses (attackers' fresh sources, partners, some people).
	Network Network `yaml:"network"`

	Objects   map[string]Object   `yaml:"objects"`
	Services  []Service           `yaml:"services"`
	Workflows map[string]Workflow `yaml:"workflows"`
	Clients   []ClientKind        `yaml:"clients"`
	Events    []Event             `yaml:"events"`
	Attacks   []Attack            `yaml:"attacks"`
}

// Scale is the size of one run.
type Scale struct {
	// Duration is the capture length.
	Duration Duration `yaml:"duration"`
	// Clients multiplies every client kind's count (at least one client per kind stays).
	Clients float64 `yaml:"clients"`
	// Attacks multiplies every attack's count (rounded, at least one).
	Attacks float64 `yaml:"attacks"`
	// AttackCalls multiplies every attack's number of calls, so short captures are not
	// dominated by attacks.
	AttackCalls float64 `yaml:"attack_calls"`
}

// DefaultScales apply when a scenario does not set a scale.
var DefaultScales = map[string]Scale{
	"small":  {Duration: Duration(2 * time.Hour), Clients: 0.08, Attacks: 1, AttackCalls: 0.4},
	"medium": {Duration: Duration(8 * time.Hour), Clients: 1, Attacks: 1, AttackCalls: 1},
	"large":  {Duration: Duration(24 * time.Hour), Clients: 2.5, Attacks: 2, AttackCalls: 1},
}

// Network holds address pools in CIDR notation.
type Network struct {
	Clients   string   `yaml:"clients"`
	Attackers []string `yaml:"attackers"`
}

// Object is a kind of business object whose ids appear in paths and queries.
type Object struct {
	// IDs is the id format: int (default), uuid, hex or code (letters and digits).
	IDs string `yaml:"ids"`
	// PerClient is how many objects of this kind each client owns. Zero means a shared
	// catalogue (Shared ids, readable by everyone).
	PerClient Range `yaml:"per_client"`
	// Shared is the size of a shared catalogue. Zero means 10000 when PerClient is zero.
	Shared int `yaml:"shared"`
	// Start is the first int id. Zero means 1000.
	Start int `yaml:"start"`
}

// Service is one API host.
type Service struct {
	Name string `yaml:"name"`
	// Host is the Host header value.
	Host string `yaml:"host"`
	// IP and Port are the server end. Port zero means 80.
	IP   string `yaml:"ip"`
	Port int    `yaml:"port"`
	// Server is the Server response header. Empty means none.
	Server string `yaml:"server"`
	// Latency is the usual time to first response byte in milliseconds. Zero means [5, 80].
	Latency   Range      `yaml:"latency"`
	Endpoints []Endpoint `yaml:"endpoints"`
}

// Endpoint is one operation of a service.
type Endpoint struct {
	// Name is unique across the scenario; workflows and attacks refer to it.
	Name   string `yaml:"name"`
	Method string `yaml:"method"`
	// Path is a template: literal segments and {param} segments. A param named after an
	// object kind takes one of that kind's ids (the caller's own, for owned kinds); a
	// param written {name:type} takes a value of type int, uuid, hex, date or word.
	Path string `yaml:"path"`
	// Query maps query parameters to value generators: "int:1-50", "enum:a,b,c",
	// "date", "uuid", "word", an object kind ("obj:order"), or a literal.
	Query map[string]string `yaml:"query"`
	// Body is the JSON request body size range in bytes (POST, PUT, PATCH).
	Body Range `yaml:"body"`
	// Size is the response body size range in bytes (drawn log-uniformly). Zero means
	// [200, 2000].
	Size Range `yaml:"size"`
	// Status maps status codes to weights. Empty means 200 (201 for POST).
	Status map[int]float64 `yaml:"status"`
	// Chunked is the share of responses sent with Transfer-Encoding: chunked.
	Chunked float64 `yaml:"chunked"`
	// Role is who may call it: user (default), admin, partner, internal. Calls by
	// other roles get 403 unless the endpoint is broken (Vulnerable).
	Role string `yaml:"role"`
	// Vulnerable means the authorisation check is missing: foreign objects and other
	// roles get 200, which is what makes BOLA and BFLA damaging.
	Vulnerable bool `yaml:"vulnerable"`
	// Login marks a credential-checking endpoint (no bearer token; 401 on failure).
	Login bool `yaml:"login"`
	// Shadow marks an undocumented endpoint that only attacks use.
	Shadow bool `yaml:"shadow"`
	// Auth overrides how callers authenticate: none for public endpoints.
	Auth string `yaml:"auth"`
}

// Workflow is a Markov chain over endpoint names. "end" as a next step ends the session.
type Workflow struct {
	// Start maps first steps to weights.
	Start map[string]float64 `yaml:"start"`
	// Steps maps an endpoint name to its transitions and think time.
	Steps map[string]Step `yaml:"steps"`
}

// Step is one state of a workflow.
type Step struct {
	// Next maps following endpoint names (or "end") to weights.
	Next map[string]float64 `yaml:"next"`
	// Think is the pause after this call. Zero means the client kind's default.
	Think DurRange `yaml:"think"`
}

// Client kinds.
const (
	KindUser    = "user"
	KindPartner = "partner"
	KindAgent   = "agent"
	KindBatch   = "batch"
)

// ClientKind is a population of similar clients.
type ClientKind struct {
	// Kind is user, partner, agent or batch.
	Kind string `yaml:"kind"`
	// Name prefixes client ids (web-0007) and must be unique.
	Name string `yaml:"name"`
	// Count is the number of clients at scale medium.
	Count int `yaml:"count"`
	// App chooses the user-agent family: web, ios, android, python, java, go, node, agent.
	App string `yaml:"app"`
	// Role is the authorisation role of these clients: user, admin, partner, internal.
	Role string `yaml:"role"`
	// Workflows maps workflow names to weights.
	Workflows map[string]float64 `yaml:"workflows"`
	// Think is the default pause between calls. Zero means [1s, 20s] for users and
	// [100ms, 2s] for others.
	Think DurRange `yaml:"think"`
	// Sessions is the number of sessions (users), bursts (agents) per day.
	Sessions Range `yaml:"sessions"`
	// SessionCalls caps the calls of one session or burst. Zero means [5, 40].
	SessionCalls Range `yaml:"session_calls"`
	// Every is the polling interval of partners and the period of batch jobs.
	Every DurRange `yaml:"every"`
	// Calls is the number of calls of one batch run or poll. Zero means [1, 4] for
	// partners and [50, 200] for batch jobs.
	Calls Range `yaml:"calls"`
	// ForUsers is the share of agents acting for a user (sub = user, act.sub = agent).
	ForUsers float64 `yaml:"for_users"`
	// Heavy is the share of clients far busier than the rest (benign).
	Heavy float64 `yaml:"heavy"`
	// Late is the share of clients that first appear after the clean period (benign).
	Late float64 `yaml:"late"`
	// IPs is how many stable source addresses each client uses. Zero means 1.
	IPs Range `yaml:"ips"`
	// Credential is how these clients authenticate (Cred* constants). Empty means jwt
	// for users, agents and batch jobs and api_key for partners.
	Credential string `yaml:"credential"`
}

// Credentials a client kind can present.
const (
	// CredJWT is a bearer JWT minted per session (sub, and act/azp for agents).
	CredJWT = "jwt"
	// CredAPIKey is a long-lived key in an X-API-Key header.
	CredAPIKey = "api_key"
	// CredBearerKey is a long-lived opaque key sent as a bearer token.
	CredBearerKey = "bearer_key"
	// CredBasic is HTTP Basic; the user name is the principal.
	CredBasic = "basic"
	// CredCookie is a long-lived session cookie (remember-me web sessions).
	CredCookie = "cookie"
)

// Event types.
const (
	EventDeploy = "deploy"
	EventOutage = "outage"
)

// Event is a benign happening that changes everyone's traffic.
type Event struct {
	// Type is deploy (Endpoint becomes callable at At and workflows use it from then)
	// or outage (Service answers Status to a Share of calls from At for Duration,
	// and clients retry).
	Type     string   `yaml:"type"`
	At       float64  `yaml:"at"`
	Endpoint string   `yaml:"endpoint"`
	Service  string   `yaml:"service"`
	Duration Duration `yaml:"duration"`
	Status   int      `yaml:"status"`
	Share    float64  `yaml:"share"`
}

// Attack types. Labels use them as incident types.
const (
	AttackBOLA           = "bola_enumeration"
	AttackScraping       = "scraping"
	AttackStuffing       = "credential_stuffing"
	AttackStuffingSpread = "credential_stuffing_distributed"
	AttackBFLA           = "bfla"
	AttackScopeDrift     = "scope_drift"
	AttackFlowAbuse      = "flow_abuse"
	AttackExfiltration   = "exfiltration"
	AttackTokenReplay    = "token_replay"
	AttackRetryStorm     = "retry_storm"
	AttackInjection      = "injection_probe"
	AttackFuzzing        = "endpoint_fuzzing"
	AttackShadow         = "shadow_endpoint"
)

// AttackTypes lists every attack type in a fixed order.
var AttackTypes = []string{
	AttackBOLA, AttackScraping, AttackStuffing, AttackStuffingSpread, AttackBFLA,
	AttackScopeDrift, AttackFlowAbuse, AttackExfiltration, AttackTokenReplay,
	AttackRetryStorm, AttackInjection, AttackFuzzing, AttackShadow,
}

// Attack is one kind of abuse and its timing. Unset numbers take per-type defaults
// (docs/SCENARIOS.md lists them).
type Attack struct {
	Type string `yaml:"type"`
	// Count is how many incidents of this type (at scale medium). Zero means 1.
	Count int `yaml:"count"`
	// At is the range of start times as capture fractions. Zero means [Clean, 0.9].
	At Range `yaml:"at"`
	// Endpoints are the endpoint names the attack uses (type-specific meaning).
	Endpoints []string `yaml:"endpoints"`
	// Service is the target service for fuzzing. Empty means the first service.
	Service string `yaml:"service"`
	// Client is the client kind name the attacker hides among or hijacks. Empty means the
	// first kind that fits.
	Client string `yaml:"client"`
	// Calls is the number of attack calls.
	Calls Range `yaml:"calls"`
	// Rate is calls per second while active; low values make it low-and-slow.
	Rate Range `yaml:"rate"`
	// Sources is the number of source IPs (distributed attacks).
	Sources Range `yaml:"sources"`
	// Size is the response size range for exfiltration.
	Size Range `yaml:"size"`
	// Insider is the probability that an existing client turns abusive instead of a new
	// account doing it.
	Insider *float64 `yaml:"insider"`
}
