package template

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxSpecBytes bounds an OpenAPI file read.
const maxSpecBytes = 64 << 20

// maxMatchSteps bounds the trie nodes visited for one path, so a document with many
// overlapping parameterised segments cannot make matching expensive.
const maxMatchSteps = 256

// Spec is an OpenAPI document compiled for matching.
type Spec struct {
	// Name identifies the document in messages (its file name).
	Name string
	// Servers are the hosts and base paths the document applies to. A server with an
	// empty Host applies to every host that has no document of its own.
	Servers []Server
	paths   []specPath
}

// Server is one place a document's paths are served from.
type Server struct {
	Host string // normalised host name without port; "" for any host
	Base string // base path without trailing slash, "" for none
}

type specPath struct {
	template string
	methods  uint16
}

var methodBits = map[string]uint16{
	"get": 1 << 0, "put": 1 << 1, "post": 1 << 2, "delete": 1 << 3, "options": 1 << 4,
	"head": 1 << 5, "patch": 1 << 6, "trace": 1 << 7,
}

const allMethods = 1<<8 - 1

// methodBit maps a request method (any case) to its bit; 0 for methods OpenAPI cannot
// describe.
func methodBit(m string) uint16 {
	switch m {
	case "GET":
		return 1 << 0
	case "PUT":
		return 1 << 1
	case "POST":
		return 1 << 2
	case "DELETE":
		return 1 << 3
	case "OPTIONS":
		return 1 << 4
	case "HEAD":
		return 1 << 5
	case "PATCH":
		return 1 << 6
	case "TRACE":
		return 1 << 7
	}
	return methodBits[strings.ToLower(m)]
}

// LoadOpenAPI reads an OpenAPI 3 (or Swagger 2) document in JSON or YAML. arg is FILE,
// or HOST=FILE to tie the document to HOST whatever its servers say. Without HOST, the
// document applies to the hosts in servers[].url (Swagger 2: host); a document with no
// absolute server URL applies to every host that has no document of its own. Base paths
// from server URLs (https://api.example.com/v1) prefix the document's paths.
func LoadOpenAPI(arg string) (*Spec, error) {
	host, file := "", arg
	if i := strings.IndexByte(arg, '='); i > 0 && !strings.ContainsAny(arg[:i], `/\`) {
		host, file = arg[:i], arg[i+1:]
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("cannot read OpenAPI document: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, maxSpecBytes+1)); err != nil {
		return nil, fmt.Errorf("cannot read OpenAPI document %s: %w", file, err)
	}
	if buf.Len() > maxSpecBytes {
		return nil, fmt.Errorf("OpenAPI document %s is larger than %d bytes", file, maxSpecBytes)
	}
	s, err := ParseOpenAPI(buf.Bytes(), file)
	if err != nil {
		return nil, err
	}
	if host != "" {
		h := normalizeHost(host)
		seen := map[string]bool{}
		var servers []Server
		for _, sv := range s.Servers {
			if !seen[sv.Base] {
				seen[sv.Base] = true
				servers = append(servers, Server{Host: h, Base: sv.Base})
			}
		}
		s.Servers = servers
	}
	return s, nil
}

type openAPIDoc struct {
	OpenAPI string `json:"openapi" yaml:"openapi"`
	Swagger string `json:"swagger" yaml:"swagger"`
	Host    string `json:"host" yaml:"host"`
	Base    string `json:"basePath" yaml:"basePath"`
	Servers []struct {
		URL string `json:"url" yaml:"url"`
	} `json:"servers" yaml:"servers"`
	Paths map[string]map[string]any `json:"paths" yaml:"paths"`
}

// ParseOpenAPI compiles an OpenAPI document (JSON or YAML). name is used in errors.
func ParseOpenAPI(data []byte, name string) (*Spec, error) {
	var d openAPIDoc
	trimmed := bytes.TrimSpace(data)
	var err error
	if len(trimmed) > 0 && trimmed[0] == '{' {
		err = json.Unmarshal(trimmed, &d)
	} else {
		err = yaml.Unmarshal(data, &d)
	}
	if err != nil {
		return nil, fmt.Errorf("OpenAPI document %s does not parse: %w", name, err)
	}
	if !strings.HasPrefix(d.OpenAPI, "3.") && !strings.HasPrefix(d.Swagger, "2.") {
		return nil, fmt.Errorf("OpenAPI document %s: want openapi 3.x or swagger 2.0", name)
	}
	if len(d.Paths) == 0 {
		return nil, fmt.Errorf("OpenAPI document %s has no paths", name)
	}
	s := &Spec{Name: name}
	for p, item := range d.Paths {
		if !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("OpenAPI document %s: path %q does not start with /", name, p)
		}
		var bits uint16
		for k := range item {
			bits |= methodBits[strings.ToLower(k)]
		}
		if _, ref := item["$ref"]; ref && bits == 0 {
			bits = allMethods // operations live elsewhere: do not call every method shadow
		}
		s.paths = append(s.paths, specPath{template: p, methods: bits})
	}
	sort.Slice(s.paths, func(i, j int) bool { return s.paths[i].template < s.paths[j].template })
	if strings.HasPrefix(d.Swagger, "2.") {
		s.Servers = []Server{{Host: normalizeHost(d.Host), Base: cleanBase(d.Base)}}
		return s, nil
	}
	for _, sv := range d.Servers {
		s.Servers = append(s.Servers, serverFromURL(sv.URL))
	}
	if len(s.Servers) == 0 {
		s.Servers = []Server{{}}
	}
	return s, nil
}

// serverFromURL splits a server URL into host and base path. URLs with variables
// ({scheme}://{host}) cannot name a host and apply to any host.
func serverFromURL(raw string) Server {
	if strings.HasPrefix(raw, "/") {
		if strings.Contains(raw, "{") {
			return Server{}
		}
		return Server{Base: cleanBase(raw)}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || strings.Contains(raw, "{") {
		return Server{}
	}
	return Server{Host: normalizeHost(u.Host), Base: cleanBase(u.Path)}
}

func cleanBase(p string) string {
	p = strings.TrimRight(p, "/")
	if p != "" && p[0] != '/' {
		p = "/" + p
	}
	return p
}

// node is one segment position of a compiled path trie.
type node struct {
	lit   map[string]*node
	pats  []patEdge // segments like {name}.json or {id}:activate, most literal first
	param *node     // a whole-segment parameter
	leaf  *specPath
	full  string // the template with its base, at leaves
}

type patEdge struct {
	prefix, suffix string
	next           *node
}

// specIndex holds one trie per host and one for documents without a host.
type specIndex struct {
	byHost map[string]*node
	anyHst *node
}

func (x *specIndex) any() bool { return x.byHost != nil || x.anyHst != nil }

func (x *specIndex) add(s *Spec) error {
	if len(s.paths) == 0 {
		return errors.New("no paths")
	}
	for _, sv := range s.Servers {
		var root *node
		if sv.Host == "" {
			if x.anyHst == nil {
				x.anyHst = &node{}
			}
			root = x.anyHst
		} else {
			if x.byHost == nil {
				x.byHost = map[string]*node{}
			}
			if x.byHost[sv.Host] == nil {
				x.byHost[sv.Host] = &node{}
			}
			root = x.byHost[sv.Host]
		}
		for i := range s.paths {
			insert(root, sv.Base+s.paths[i].template, &s.paths[i])
		}
	}
	return nil
}

func insert(root *node, full string, sp *specPath) {
	n := root
	for _, seg := range strings.Split(full[1:], "/") {
		open := strings.IndexByte(seg, '{')
		closeAt := strings.LastIndexByte(seg, '}')
		switch {
		case open < 0 || closeAt < open:
			if n.lit == nil {
				n.lit = map[string]*node{}
			}
			if n.lit[seg] == nil {
				n.lit[seg] = &node{}
			}
			n = n.lit[seg]
		case open == 0 && closeAt == len(seg)-1:
			if n.param == nil {
				n.param = &node{}
			}
			n = n.param
		default:
			pre, suf := seg[:open], seg[closeAt+1:]
			var next *node
			for _, e := range n.pats {
				if e.prefix == pre && e.suffix == suf {
					next = e.next
				}
			}
			if next == nil {
				next = &node{}
				n.pats = append(n.pats, patEdge{prefix: pre, suffix: suf, next: next})
				sort.SliceStable(n.pats, func(i, j int) bool {
					return len(n.pats[i].prefix)+len(n.pats[i].suffix) > len(n.pats[j].prefix)+len(n.pats[j].suffix)
				})
			}
			n = next
		}
	}
	if n.leaf == nil { // two documents for one path: the first added wins the template
		n.leaf, n.full = &specPath{template: sp.template, methods: sp.methods}, full
	} else {
		n.leaf.methods |= sp.methods
	}
}

// match looks path up for host. covered reports that some document applies to the host;
// found that a documented path matched (tmpl is its template); methodOK that the matched
// path documents method.
func (x *specIndex) match(host, method, path string) (tmpl string, found, methodOK, covered bool) {
	root := x.byHost[host]
	if root == nil {
		root = x.anyHst
	}
	if root == nil {
		return "", false, false, false
	}
	steps := 0
	n := walk(root, path[1:], &steps)
	if n == nil && len(path) > 1 && path[len(path)-1] == '/' {
		n = walk(root, path[1:len(path)-1], &steps)
	}
	if n == nil {
		return "", false, false, true
	}
	return n.full, true, n.leaf.methods&methodBit(method) != 0, true
}

// walk matches the remaining segments rest below n: literal edges first, then patterned
// segments, then whole-segment parameters, as OpenAPI orders concrete before templated
// paths.
func walk(n *node, rest string, steps *int) *node {
	*steps++
	if *steps > maxMatchSteps {
		return nil
	}
	seg, tail, more := rest, "", false
	if k := strings.IndexByte(rest, '/'); k >= 0 {
		seg, tail, more = rest[:k], rest[k+1:], true
	}
	try := func(next *node) *node {
		if next == nil {
			return nil
		}
		if !more {
			if next.leaf != nil {
				return next
			}
			return nil
		}
		return walk(next, tail, steps)
	}
	if r := try(n.lit[seg]); r != nil {
		return r
	}
	for _, e := range n.pats {
		if len(seg) > len(e.prefix)+len(e.suffix) && strings.HasPrefix(seg, e.prefix) && strings.HasSuffix(seg, e.suffix) {
			if r := try(e.next); r != nil {
				return r
			}
		}
	}
	if seg != "" {
		if r := try(n.param); r != nil {
			return r
		}
	}
	return nil
}
