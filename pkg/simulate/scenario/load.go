package scenario

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

//go:embed builtin/*.yaml
var builtinFS embed.FS

// MaxFileBytes bounds a scenario file; anything larger is refused rather than parsed.
const MaxFileBytes = 4 << 20

// DefaultStart is the capture start when a scenario does not set one.
var DefaultStart = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// Builtins returns the names of the embedded scenarios, sorted.
func Builtins() []string {
	ents, err := builtinFS.ReadDir("builtin")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range ents {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(names)
	return names
}

// Builtin returns the YAML text of an embedded scenario.
func Builtin(name string) ([]byte, error) {
	b, err := builtinFS.ReadFile(path.Join("builtin", name+".yaml"))
	if err != nil {
		return nil, fmt.Errorf("no built-in scenario %q (have %s)", name, strings.Join(Builtins(), ", "))
	}
	return b, nil
}

// Load returns the built-in scenario called nameOrFile or, when no built-in has that
// name, the scenario in that file. Empty means "default".
func Load(nameOrFile string) (*Scenario, error) {
	if nameOrFile == "" {
		nameOrFile = "default"
	}
	if b, err := Builtin(nameOrFile); err == nil {
		return Parse(b)
	}
	f, err := os.Open(nameOrFile)
	if err != nil {
		return nil, fmt.Errorf("scenario %q is neither a built-in (%s) nor a readable file: %w",
			nameOrFile, strings.Join(Builtins(), ", "), err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read scenario %s: %w", nameOrFile, err)
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("scenario %s is larger than %d bytes", nameOrFile, MaxFileBytes)
	}
	s, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", nameOrFile, err)
	}
	return s, nil
}

// Parse decodes a scenario, fills defaults and validates it. Unknown keys are errors so
// a typo does not silently change the world.
func Parse(b []byte) (*Scenario, error) {
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("scenario larger than %d bytes", MaxFileBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var s Scenario
	if err := dec.Decode(&s); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty scenario")
		}
		return nil, fmt.Errorf("decode: %w", err)
	}
	s.fillDefaults()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

func (s *Scenario) fillDefaults() {
	if s.Start.IsZero() {
		s.Start = DefaultStart
	}
	s.Start = s.Start.UTC()
	if s.Clean == 0 {
		s.Clean = 0.4
	}
	if s.Scales == nil {
		s.Scales = map[string]Scale{}
	}
	for name, d := range DefaultScales {
		sc, ok := s.Scales[name]
		if !ok {
			s.Scales[name] = d
			continue
		}
		if sc.Duration == 0 {
			sc.Duration = d.Duration
		}
		if sc.Clients == 0 {
			sc.Clients = d.Clients
		}
		if sc.Attacks == 0 {
			sc.Attacks = d.Attacks
		}
		if sc.AttackCalls == 0 {
			sc.AttackCalls = d.AttackCalls
		}
		s.Scales[name] = sc
	}
	if s.Network.Clients == "" {
		s.Network.Clients = "172.16.0.0/12"
	}
	if len(s.Network.Attackers) == 0 {
		s.Network.Attackers = []string{"198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "192.0.2.0/24"}
	}
	for i := range s.Services {
		sv := &s.Services[i]
		if sv.Port == 0 {
			sv.Port = 80
		}
		if sv.Latency.Zero() {
			sv.Latency = Range{5, 80}
		}
		for j := range sv.Endpoints {
			ep := &sv.Endpoints[j]
			ep.Method = strings.ToUpper(ep.Method)
			if ep.Size.Zero() {
				ep.Size = Range{200, 2000}
			}
			if ep.Role == "" {
				ep.Role = "user"
			}
			if len(ep.Status) == 0 {
				code := 200
				if ep.Method == "POST" {
					code = 201
				}
				ep.Status = map[int]float64{code: 1}
			}
		}
	}
	for i := range s.Clients {
		ck := &s.Clients[i]
		if ck.Credential == "" {
			ck.Credential = CredJWT
			if ck.Kind == KindPartner {
				ck.Credential = CredAPIKey
			}
		}
		if ck.Role == "" {
			switch ck.Kind {
			case KindPartner:
				ck.Role = "partner"
			case KindBatch:
				ck.Role = "internal"
			default:
				ck.Role = "user"
			}
		}
		if ck.SessionCalls.Zero() {
			ck.SessionCalls = Range{5, 40}
		}
		if ck.IPs.Zero() {
			ck.IPs = Range{1, 1}
		}
		if ck.Think.Zero() {
			if ck.Kind == KindUser {
				ck.Think = DurRange{Duration(time.Second), Duration(20 * time.Second)}
			} else {
				ck.Think = DurRange{Duration(100 * time.Millisecond), Duration(2 * time.Second)}
			}
		}
		if ck.Calls.Zero() {
			if ck.Kind == KindBatch {
				ck.Calls = Range{50, 200}
			} else {
				ck.Calls = Range{1, 4}
			}
		}
		if ck.Sessions.Zero() {
			ck.Sessions = Range{2, 6}
		}
		if ck.Every.Zero() {
			if ck.Kind == KindBatch {
				ck.Every = DurRange{Duration(time.Hour), Duration(time.Hour)}
			} else {
				ck.Every = DurRange{Duration(2 * time.Minute), Duration(10 * time.Minute)}
			}
		}
	}
	for i := range s.Attacks {
		a := &s.Attacks[i]
		if a.Count == 0 {
			a.Count = 1
		}
		if a.At.Zero() {
			a.At = Range{s.Clean, 0.9}
		}
	}
}

// Validate checks references and ranges. It is called by Parse; call it again after
// changing a Scenario in code.
func (s *Scenario) Validate() error {
	if s.Name == "" {
		return errors.New("name is required")
	}
	if s.Clean < 0 || s.Clean >= 1 {
		return fmt.Errorf("clean %v: want a capture fraction in [0, 1)", s.Clean)
	}
	for name, sc := range s.Scales {
		if sc.Duration <= 0 || time.Duration(sc.Duration) > 31*24*time.Hour {
			return fmt.Errorf("scale %s: duration %v out of range (0, 744h]", name, time.Duration(sc.Duration))
		}
		if sc.Clients <= 0 || sc.Clients > 1000 || sc.Attacks <= 0 || sc.Attacks > 1000 || sc.AttackCalls <= 0 || sc.AttackCalls > 1000 {
			return fmt.Errorf("scale %s: clients, attacks and attack_calls multipliers must be in (0, 1000]", name)
		}
	}
	if _, err := netip.ParsePrefix(s.Network.Clients); err != nil {
		return fmt.Errorf("network.clients: %w", err)
	}
	for _, p := range s.Network.Attackers {
		if pp, err := netip.ParsePrefix(p); err != nil || !pp.Addr().Is4() {
			return fmt.Errorf("network.attackers %q: want an IPv4 CIDR", p)
		}
	}
	for name, o := range s.Objects {
		switch o.IDs {
		case "", "int", "uuid", "hex", "code":
		default:
			return fmt.Errorf("object %s: ids %q: want int, uuid, hex or code", name, o.IDs)
		}
		if err := o.PerClient.check(0, 10000); err != nil {
			return fmt.Errorf("object %s: per_client: %w", name, err)
		}
		if o.Shared < 0 || o.Shared > 100_000_000 || o.Start < 0 {
			return fmt.Errorf("object %s: shared and start must be in [0, 1e8]", name)
		}
	}
	if len(s.Services) == 0 {
		return errors.New("at least one service is required")
	}
	endpoints := map[string]*Endpoint{}
	svcNames := map[string]bool{}
	for i := range s.Services {
		sv := &s.Services[i]
		if sv.Name == "" || sv.Host == "" {
			return fmt.Errorf("service %d: name and host are required", i)
		}
		if svcNames[sv.Name] {
			return fmt.Errorf("service %s defined twice", sv.Name)
		}
		svcNames[sv.Name] = true
		if a, err := netip.ParseAddr(sv.IP); err != nil || !a.Is4() {
			return fmt.Errorf("service %s: ip %q: want an IPv4 address", sv.Name, sv.IP)
		}
		if sv.Port <= 0 || sv.Port > 65535 {
			return fmt.Errorf("service %s: port %d out of range", sv.Name, sv.Port)
		}
		if err := sv.Latency.check(0, 60000); err != nil {
			return fmt.Errorf("service %s: latency: %w", sv.Name, err)
		}
		if len(sv.Endpoints) == 0 {
			return fmt.Errorf("service %s: no endpoints", sv.Name)
		}
		for j := range sv.Endpoints {
			ep := &sv.Endpoints[j]
			if err := s.checkEndpoint(ep); err != nil {
				return fmt.Errorf("service %s: endpoint %q: %w", sv.Name, ep.Name, err)
			}
			if endpoints[ep.Name] != nil {
				return fmt.Errorf("endpoint name %q used twice", ep.Name)
			}
			endpoints[ep.Name] = ep
		}
	}
	for name, wf := range s.Workflows {
		if len(wf.Start) == 0 {
			return fmt.Errorf("workflow %s: no start", name)
		}
		if err := checkWeights(wf.Start, endpoints, false); err != nil {
			return fmt.Errorf("workflow %s: start: %w", name, err)
		}
		for step, st := range wf.Steps {
			if endpoints[step] == nil {
				return fmt.Errorf("workflow %s: step %q is not an endpoint", name, step)
			}
			if err := checkWeights(st.Next, endpoints, true); err != nil {
				return fmt.Errorf("workflow %s: step %s: %w", name, step, err)
			}
			if err := st.Think.check(); err != nil {
				return fmt.Errorf("workflow %s: step %s: think: %w", name, step, err)
			}
		}
	}
	kinds := map[string]bool{}
	for i := range s.Clients {
		ck := &s.Clients[i]
		switch ck.Kind {
		case KindUser, KindPartner, KindAgent, KindBatch:
		default:
			return fmt.Errorf("client %d: kind %q: want user, partner, agent or batch", i, ck.Kind)
		}
		if ck.Name == "" || kinds[ck.Name] {
			return fmt.Errorf("client %d: name %q missing or used twice", i, ck.Name)
		}
		kinds[ck.Name] = true
		if ck.Count < 0 || ck.Count > 1_000_000 {
			return fmt.Errorf("client %s: count %d out of range", ck.Name, ck.Count)
		}
		if len(ck.Workflows) == 0 {
			return fmt.Errorf("client %s: no workflows", ck.Name)
		}
		sum := 0.0
		for wf, w := range ck.Workflows {
			if _, ok := s.Workflows[wf]; !ok {
				return fmt.Errorf("client %s: unknown workflow %q", ck.Name, wf)
			}
			if w < 0 {
				return fmt.Errorf("client %s: negative weight", ck.Name)
			}
			sum += w
		}
		if sum <= 0 {
			return fmt.Errorf("client %s: workflow weights sum to zero", ck.Name)
		}
		switch ck.Credential {
		case "", CredJWT, CredAPIKey, CredBearerKey, CredBasic, CredCookie:
		default:
			return fmt.Errorf("client %s: credential %q: want jwt, api_key, bearer_key, basic or cookie", ck.Name, ck.Credential)
		}
		if ck.ForUsers > 0 && ck.Credential != "" && ck.Credential != CredJWT {
			return fmt.Errorf("client %s: for_users needs credential jwt (only a token says whom an agent acts for)", ck.Name)
		}
		for _, f := range []float64{ck.ForUsers, ck.Heavy, ck.Late} {
			if f < 0 || f > 1 {
				return fmt.Errorf("client %s: for_users, heavy and late are shares in [0, 1]", ck.Name)
			}
		}
		if err := firstErr(ck.Sessions.check(0, 10000), ck.SessionCalls.check(1, 100000),
			ck.Calls.check(1, 100000), ck.IPs.check(1, 16), ck.Think.check(), ck.Every.check()); err != nil {
			return fmt.Errorf("client %s: %w", ck.Name, err)
		}
		if ck.Every[0] <= 0 {
			return fmt.Errorf("client %s: every must be positive", ck.Name)
		}
	}
	for i, ev := range s.Events {
		if ev.At < 0 || ev.At > 1 {
			return fmt.Errorf("event %d: at %v: want a capture fraction", i, ev.At)
		}
		switch ev.Type {
		case EventDeploy:
			if endpoints[ev.Endpoint] == nil {
				return fmt.Errorf("event %d: deploy of unknown endpoint %q", i, ev.Endpoint)
			}
		case EventOutage:
			if !svcNames[ev.Service] {
				return fmt.Errorf("event %d: outage of unknown service %q", i, ev.Service)
			}
			if ev.Duration <= 0 || ev.Status < 100 || ev.Status > 599 || ev.Share < 0 || ev.Share > 1 {
				return fmt.Errorf("event %d: outage needs duration > 0, status 100-599, share in [0, 1]", i)
			}
		default:
			return fmt.Errorf("event %d: type %q: want deploy or outage", i, ev.Type)
		}
	}
	if len(s.Attacks) > 0 && len(s.Clients) == 0 {
		return errors.New("attacks need at least one client kind to hide among")
	}
	known := map[string]bool{}
	for _, t := range AttackTypes {
		known[t] = true
	}
	for i, a := range s.Attacks {
		if !known[a.Type] {
			return fmt.Errorf("attack %d: unknown type %q (want one of %s)", i, a.Type, strings.Join(AttackTypes, ", "))
		}
		if a.Count < 0 || a.Count > 1000 {
			return fmt.Errorf("attack %d: count out of range", i)
		}
		if a.At[0] < 0 || a.At[1] > 1 || a.At[0] > a.At[1] {
			return fmt.Errorf("attack %d: at %v: want fractions lo <= hi in [0, 1]", i, a.At)
		}
		for _, e := range a.Endpoints {
			if endpoints[e] == nil {
				return fmt.Errorf("attack %d (%s): unknown endpoint %q", i, a.Type, e)
			}
		}
		if a.Service != "" && !svcNames[a.Service] {
			return fmt.Errorf("attack %d (%s): unknown service %q", i, a.Type, a.Service)
		}
		if a.Client != "" && !kinds[a.Client] {
			return fmt.Errorf("attack %d (%s): unknown client kind %q", i, a.Type, a.Client)
		}
		if err := firstErr(a.Calls.check(0, 1_000_000), a.Rate.check(0, 10000), a.Sources.check(0, 60000),
			a.Size.check(0, 1<<30)); err != nil {
			return fmt.Errorf("attack %d (%s): %w", i, a.Type, err)
		}
		if a.Insider != nil && (*a.Insider < 0 || *a.Insider > 1) {
			return fmt.Errorf("attack %d (%s): insider is a probability", i, a.Type)
		}
	}
	return nil
}

func (s *Scenario) checkEndpoint(ep *Endpoint) error {
	if ep.Name == "" || ep.Name == "end" {
		return errors.New("a name other than \"end\" is required")
	}
	switch ep.Method {
	case "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS":
	default:
		return fmt.Errorf("method %q not supported", ep.Method)
	}
	if !strings.HasPrefix(ep.Path, "/") {
		return fmt.Errorf("path %q must start with /", ep.Path)
	}
	for _, seg := range strings.Split(ep.Path[1:], "/") {
		if !strings.HasPrefix(seg, "{") {
			if strings.ContainsAny(seg, "{}?# ") {
				return fmt.Errorf("path segment %q: braces only around a whole segment", seg)
			}
			continue
		}
		if !strings.HasSuffix(seg, "}") {
			return fmt.Errorf("path segment %q: unclosed brace", seg)
		}
		name, typ, hasType := strings.Cut(seg[1:len(seg)-1], ":")
		if hasType {
			if !ParamTypes[typ] {
				return fmt.Errorf("path param %q: type %q unknown", name, typ)
			}
		} else if _, ok := s.Objects[name]; !ok {
			return fmt.Errorf("path param %q is neither an object kind nor typed {name:type}", name)
		}
	}
	for k, v := range ep.Query {
		if k == "" || strings.ContainsAny(k, "&=?# ") {
			return fmt.Errorf("query key %q not allowed", k)
		}
		if err := s.checkGen(v); err != nil {
			return fmt.Errorf("query %s: %w", k, err)
		}
	}
	if err := firstErr(ep.Body.check(0, 1<<24), ep.Size.check(0, 1<<30)); err != nil {
		return err
	}
	for code, w := range ep.Status {
		if code < 100 || code > 599 || w < 0 {
			return fmt.Errorf("status %d: code 100-599 and weight >= 0 required", code)
		}
	}
	if ep.Chunked < 0 || ep.Chunked > 1 {
		return errors.New("chunked is a share in [0, 1]")
	}
	switch ep.Role {
	case "user", "admin", "partner", "internal":
	default:
		return fmt.Errorf("role %q: want user, admin, partner or internal", ep.Role)
	}
	switch ep.Auth {
	case "", "none":
	default:
		return fmt.Errorf("auth %q: want none or leave empty", ep.Auth)
	}
	return nil
}

// ParamTypes are the value types of typed path parameters and query generators.
var ParamTypes = map[string]bool{"int": true, "uuid": true, "hex": true, "date": true, "word": true}

func (s *Scenario) checkGen(v string) error {
	kind, arg, _ := strings.Cut(v, ":")
	switch kind {
	case "int":
		if arg == "" {
			return nil
		}
		lo, hi, ok := strings.Cut(arg, "-")
		a, e1 := strconv.Atoi(lo)
		b, e2 := strconv.Atoi(hi)
		if !ok || e1 != nil || e2 != nil || a > b {
			return fmt.Errorf("%q: want int:LO-HI", v)
		}
	case "enum":
		if arg == "" {
			return fmt.Errorf("%q: enum needs values", v)
		}
	case "obj":
		if _, ok := s.Objects[arg]; !ok {
			return fmt.Errorf("%q: unknown object kind", v)
		}
	}
	if strings.ContainsAny(v, "&#? ") && kind != "enum" {
		return fmt.Errorf("%q: characters & # ? and space are not allowed", v)
	}
	return nil
}

func checkWeights(m map[string]float64, endpoints map[string]*Endpoint, allowEnd bool) error {
	sum := 0.0
	for k, w := range m {
		if w < 0 {
			return fmt.Errorf("negative weight for %s", k)
		}
		sum += w
		if k == "end" && allowEnd {
			continue
		}
		if endpoints[k] == nil {
			return fmt.Errorf("%q is not an endpoint", k)
		}
	}
	if len(m) > 0 && sum <= 0 {
		return errors.New("weights sum to zero")
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// SortedKeys returns a map's keys in order, so nothing downstream depends on map
// iteration order.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Range is a closed interval [lo, hi]. YAML: a number (lo = hi) or [lo, hi].
type Range [2]float64

// Zero reports whether the range is unset.
func (r Range) Zero() bool { return r[0] == 0 && r[1] == 0 }

// UnmarshalYAML accepts a scalar or a two-element sequence.
func (r *Range) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		var f float64
		if err := n.Decode(&f); err != nil {
			return err
		}
		*r = Range{f, f}
		return nil
	case yaml.SequenceNode:
		var fs []float64
		if err := n.Decode(&fs); err != nil {
			return err
		}
		if len(fs) != 2 {
			return fmt.Errorf("line %d: a range has two numbers", n.Line)
		}
		*r = Range{fs[0], fs[1]}
		return nil
	}
	return fmt.Errorf("line %d: want a number or [lo, hi]", n.Line)
}

func (r Range) check(min, max float64) error {
	if r[0] > r[1] || r[0] < min || r[1] > max || r[0] != r[0] || r[1] != r[1] {
		return fmt.Errorf("range [%v, %v] must have lo <= hi within [%v, %v]", r[0], r[1], min, max)
	}
	return nil
}

// Duration is a time.Duration written as "90s", "5m", "2h".
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// DurRange is a duration interval. YAML: "5s" or ["1s", "20s"].
type DurRange [2]Duration

// Zero reports whether the range is unset.
func (r DurRange) Zero() bool { return r[0] == 0 && r[1] == 0 }

// UnmarshalYAML accepts a scalar or a two-element sequence.
func (r *DurRange) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		var d Duration
		if err := d.UnmarshalYAML(n); err != nil {
			return err
		}
		*r = DurRange{d, d}
		return nil
	case yaml.SequenceNode:
		if len(n.Content) != 2 {
			return fmt.Errorf("line %d: a range has two durations", n.Line)
		}
		if err := r[0].UnmarshalYAML(n.Content[0]); err != nil {
			return err
		}
		return r[1].UnmarshalYAML(n.Content[1])
	}
	return fmt.Errorf("line %d: want a duration or [lo, hi]", n.Line)
}

func (r DurRange) check() error {
	if r[0] < 0 || r[0] > r[1] || time.Duration(r[1]) > 31*24*time.Hour {
		return fmt.Errorf("duration range [%v, %v] must have 0 <= lo <= hi <= 744h", time.Duration(r[0]), time.Duration(r[1]))
	}
	return nil
}
