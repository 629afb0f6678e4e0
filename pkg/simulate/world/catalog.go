package world

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/apiscope/apiscope/pkg/simulate/scenario"
)

// Service is one API host of the world.
type Service struct {
	Name      string
	Host      string
	IP        netip.Addr
	Port      uint16
	Server    string
	latency   scenario.Range
	Endpoints []*Endpoint
	outages   []outage
}

type outage struct {
	from, to int64
	status   int
	share    float64
}

// Endpoint is one compiled operation.
type Endpoint struct {
	Name    string
	Method  string
	Service *Service
	// Template is the path with parameter names: /v1/orders/{order}.
	Template string
	spec     *scenario.Endpoint
	segs     []pathSeg
	query    []queryGen
	status   statusTable
	deployAt int64
	// ownedParam is set when a path parameter (or, without an object in the path, a query
	// parameter) takes the caller's own objects.
	ownedParam bool
}

type pathSeg struct {
	lit string
	obj *Object // object kind parameter
	typ string  // typed parameter
}

type queryGen struct {
	key  string
	kind string // int, enum, date, uuid, word, obj, lit
	lo   int
	hi   int
	enum []string
	obj  *Object
	lit  string
}

// Object is a kind of business object.
type Object struct {
	Name      string
	ids       string
	perClient scenario.Range
	shared    int
	start     int
	owned     bool
	seed      uint64
}

func compileObjects(sc *scenario.Scenario, seed uint64) map[string]*Object {
	out := map[string]*Object{}
	for _, name := range scenario.SortedKeys(sc.Objects) {
		o := sc.Objects[name]
		obj := &Object{Name: name, ids: o.IDs, perClient: o.PerClient, shared: o.Shared, start: o.Start, seed: seed}
		if obj.ids == "" {
			obj.ids = "int"
		}
		if obj.start == 0 {
			obj.start = 1000
		}
		obj.owned = !o.PerClient.Zero()
		if !obj.owned && obj.shared == 0 {
			obj.shared = 10000
		}
		out[name] = obj
	}
	return out
}

// format renders the object in slot s as its public id.
func (o *Object) format(s int) string {
	switch o.ids {
	case "uuid":
		h1 := hash64(o.seed, o.Name, "a", strconv.Itoa(s))
		h2 := hash64(o.seed, o.Name, "b", strconv.Itoa(s))
		var b [16]byte
		for i := 0; i < 8; i++ {
			b[i] = byte(h1 >> (8 * i))
			b[8+i] = byte(h2 >> (8 * i))
		}
		b[6] = b[6]&0x0f | 0x40
		b[8] = b[8]&0x3f | 0x80
		x := hex.EncodeToString(b[:])
		return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
	case "hex":
		h1 := hash64(o.seed, o.Name, "h", strconv.Itoa(s))
		h2 := hash64(o.seed, o.Name, "i", strconv.Itoa(s))
		return fmt.Sprintf("%016x%08x", h1, uint32(h2))
	case "code":
		h := hash64(o.seed, o.Name, "c", strconv.Itoa(s))
		c := strings.ToUpper(strconv.FormatUint(h, 36))
		for len(c) < 10 {
			c = "0" + c
		}
		return c[:10]
	}
	return strconv.Itoa(s)
}

func compileServices(sc *scenario.Scenario, objs map[string]*Object, w *World) ([]*Service, map[string]*Endpoint, error) {
	byName := map[string]*Endpoint{}
	var svcs []*Service
	for i := range sc.Services {
		ss := &sc.Services[i]
		ip, _ := netip.ParseAddr(ss.IP)
		sv := &Service{Name: ss.Name, Host: ss.Host, IP: ip, Port: uint16(ss.Port), Server: ss.Server, latency: ss.Latency}
		for j := range ss.Endpoints {
			es := &ss.Endpoints[j]
			ep := &Endpoint{Name: es.Name, Method: es.Method, Service: sv, spec: es, status: newStatusTable(es.Status)}
			var tmpl strings.Builder
			for _, seg := range strings.Split(es.Path[1:], "/") {
				tmpl.WriteByte('/')
				if !strings.HasPrefix(seg, "{") {
					ep.segs = append(ep.segs, pathSeg{lit: seg})
					tmpl.WriteString(seg)
					continue
				}
				name, typ, typed := strings.Cut(seg[1:len(seg)-1], ":")
				tmpl.WriteString("{" + name + "}")
				if typed {
					ep.segs = append(ep.segs, pathSeg{typ: typ})
					continue
				}
				o := objs[name]
				if o == nil {
					return nil, nil, fmt.Errorf("endpoint %s: unknown object %s", es.Name, name)
				}
				if o.owned {
					ep.ownedParam = true
				}
				ep.segs = append(ep.segs, pathSeg{obj: o})
			}
			if es.Path == "/" {
				ep.segs = []pathSeg{{lit: ""}}
			}
			ep.Template = tmpl.String()
			for _, k := range scenario.SortedKeys(es.Query) {
				q := compileQuery(k, es.Query[k], objs)
				// An RPC-style endpoint (/getOrder.do?orderId=) takes the caller's own
				// objects in its query.
				if q.obj != nil && q.obj.owned && firstPathObject(ep) == nil {
					ep.ownedParam = true
				}
				ep.query = append(ep.query, q)
			}
			sv.Endpoints = append(sv.Endpoints, ep)
			byName[ep.Name] = ep
		}
		svcs = append(svcs, sv)
	}
	for _, ev := range sc.Events {
		switch ev.Type {
		case scenario.EventDeploy:
			byName[ev.Endpoint].deployAt = w.at(ev.At)
		case scenario.EventOutage:
			for _, sv := range svcs {
				if sv.Name == ev.Service {
					from := w.at(ev.At)
					sv.outages = append(sv.outages, outage{from: from, to: from + int64(ev.Duration)/1000, status: ev.Status, share: ev.Share})
				}
			}
		}
	}
	return svcs, byName, nil
}

func compileQuery(key, v string, objs map[string]*Object) queryGen {
	q := queryGen{key: key}
	kind, arg, _ := strings.Cut(v, ":")
	switch kind {
	case "int":
		q.kind, q.lo, q.hi = "int", 1, 100
		if lo, hi, ok := strings.Cut(arg, "-"); ok {
			q.lo, _ = strconv.Atoi(lo)
			q.hi, _ = strconv.Atoi(hi)
		}
	case "enum":
		q.kind, q.enum = "enum", strings.Split(arg, ",")
	case "date", "uuid", "word", "hex":
		q.kind = kind
	case "obj":
		q.kind, q.obj = "obj", objs[arg]
	default:
		q.kind, q.lit = "lit", v
	}
	return q
}

var words = []string{
	"alpha", "blue", "cable", "delta", "eagle", "forest", "garden", "harbor", "island", "jacket",
	"kettle", "lemon", "marble", "nickel", "orange", "pepper", "quartz", "river", "silver", "tiger",
	"umbrella", "velvet", "winter", "yellow", "zephyr", "amber", "breeze", "copper", "dune", "ember",
	"falcon", "glacier", "hazel", "iris", "jade", "koala", "lotus", "meadow", "nova", "olive",
}

func (w *World) typedValue(rng *rand.Rand, typ string, t int64) string {
	switch typ {
	case "int":
		return strconv.Itoa(1 + rng.IntN(99999))
	case "uuid":
		o := Object{Name: "uuid", ids: "uuid", seed: w.seed}
		return o.format(rng.IntN(1 << 30))
	case "hex":
		return fmt.Sprintf("%016x", rng.Uint64())
	case "date":
		d := time.UnixMicro(t).UTC().AddDate(0, 0, -rng.IntN(60))
		return d.Format("2006-01-02")
	case "word":
		return words[rng.IntN(len(words))]
	}
	return "x"
}

func (w *World) queryValue(rng *rand.Rand, c *Client, q *queryGen, t int64) string {
	switch q.kind {
	case "int":
		if q.hi <= q.lo {
			return strconv.Itoa(q.lo)
		}
		return strconv.Itoa(q.lo + rng.IntN(q.hi-q.lo+1))
	case "enum":
		return q.enum[rng.IntN(len(q.enum))]
	case "obj":
		return q.obj.format(w.objectSlot(rng, c, q.obj))
	case "lit":
		return q.lit
	}
	return w.typedValue(rng, q.kind, t)
}

// objectSlot picks one of c's own objects of kind o, or a catalogue entry for shared kinds.
func (w *World) objectSlot(rng *rand.Rand, c *Client, o *Object) int {
	if !o.owned {
		return o.start + rng.IntN(o.shared)
	}
	n := c.owns(o)
	return o.start + rng.IntN(n)*w.owners + c.Index
}

// objectExists reports whether slot s of kind o belongs to a client.
func (w *World) objectExists(o *Object, s int) bool {
	if !o.owned {
		return s >= o.start && s < o.start+o.shared
	}
	if s < o.start {
		return false
	}
	idx := (s - o.start) % w.owners
	j := (s - o.start) / w.owners
	if idx >= len(w.byIndex) {
		return false
	}
	return j < w.byIndex[idx].owns(o)
}

// buildURI appends the request-target for ep to dst. override, when >= 0, is the slot
// used for the first object parameter (enumeration and scraping attacks).
func (w *World) buildURI(dst []byte, rng *rand.Rand, c *Client, ep *Endpoint, t int64, override int) []byte {
	used := false
	for _, s := range ep.segs {
		dst = append(dst, '/')
		switch {
		case s.obj != nil:
			slot := -1
			if override >= 0 && !used {
				slot, used = override, true
			} else {
				slot = w.objectSlot(rng, c, s.obj)
			}
			dst = append(dst, s.obj.format(slot)...)
		case s.typ != "":
			dst = append(dst, w.typedValue(rng, s.typ, t)...)
		default:
			dst = append(dst, s.lit...)
		}
	}
	sep := byte('?')
	for i := range ep.query {
		q := &ep.query[i]
		// An endpoint without an object in its path names it in the query
		// (/getOrder.do?orderId=7): the override goes to its first object parameter, which
		// is then always sent. The same random draws are made as without an override, so
		// the rest of the capture does not change.
		take := override >= 0 && !used && q.kind == "obj"
		// Optional parameters are left out now and then, as clients do.
		if q.kind != "lit" && rng.IntN(4) == 0 && !take {
			continue
		}
		dst = append(dst, sep)
		sep = '&'
		dst = append(dst, q.key...)
		dst = append(dst, '=')
		v := w.queryValue(rng, c, q, t)
		if take {
			v, used = q.obj.format(override), true
		}
		dst = append(dst, v...)
	}
	return dst
}

func (sv *Service) outageAt(t int64) *outage {
	for i := range sv.outages {
		if t >= sv.outages[i].from && t < sv.outages[i].to {
			return &sv.outages[i]
		}
	}
	return nil
}

// Shadow reports whether the endpoint is undocumented (left out of OpenAPI documents).
func (ep *Endpoint) Shadow() bool { return ep.spec.Shadow }
