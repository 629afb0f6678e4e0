package template

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// FileFormat is the version of the saved-templates JSON. Load refuses other versions.
const FileFormat = 1

// SavedTemplates is the JSON written by Save:
//
//	{"format":1,"generation":7,"hosts":{"api.example.com":{"GET":["/users/{param}"]}}}
//
// Each entry is a learned position written as its prefix plus "/{param}"; every {param}
// in an entry marks the position after the prefix before it as learned.
type SavedTemplates struct {
	Format     int                            `json:"format"`
	Generation uint64                         `json:"generation"`
	Hosts      map[string]map[string][]string `json:"hosts"`
}

// Save writes the positions learned so far (including loaded ones), sorted, as JSON.
func (t *Templater) Save(w io.Writer) error {
	out := SavedTemplates{Format: FileFormat, Hosts: map[string]map[string][]string{}}
	if l := t.learn; l != nil {
		out.Generation = l.generation.Load()
		l.mu.RLock()
		for host, h := range l.hosts {
			for i := range h.stripes {
				s := &h.stripes[i]
				s.mu.Lock()
				for key, p := range s.keys {
					if p.crossAt == notFull {
						continue
					}
					method, prefix, _ := strings.Cut(key, "\x00")
					if out.Hosts[host] == nil {
						out.Hosts[host] = map[string][]string{}
					}
					out.Hosts[host][method] = append(out.Hosts[host][method], prefix+"/"+Param)
				}
				s.mu.Unlock()
			}
		}
		l.mu.RUnlock()
	}
	for _, byMethod := range out.Hosts {
		for _, list := range byMethod {
			sort.Strings(list)
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&out); err != nil {
		return fmt.Errorf("cannot write templates: %w", err)
	}
	return nil
}

// Load adds saved learned positions; they apply at every capture time. It may be called
// before or while templating.
func (t *Templater) Load(r io.Reader) error {
	var in SavedTemplates
	dec := json.NewDecoder(r)
	if err := dec.Decode(&in); err != nil {
		return fmt.Errorf("cannot read templates: %w", err)
	}
	if in.Format != FileFormat {
		return fmt.Errorf("templates file format %d, want %d", in.Format, FileFormat)
	}
	if t.learn == nil {
		return errors.New("templates given but learning is disabled")
	}
	l := t.learn
	for host, byMethod := range in.Hosts {
		h := l.host(normalizeHost(host))
		if h == nil {
			return fmt.Errorf("templates file has more hosts than the cap of %d", l.maxHosts)
		}
		for method, list := range byMethod {
			for _, tmpl := range list {
				if !strings.HasPrefix(tmpl, "/") {
					return fmt.Errorf("templates file: %q does not start with /", tmpl)
				}
				for i := 0; ; {
					k := strings.Index(tmpl[i:], "/"+Param)
					if k < 0 {
						break
					}
					end := i + k + len("/"+Param)
					if end < len(tmpl) && tmpl[end] != '/' {
						i = end
						continue
					}
					l.markMerged(h, method+"\x00"+tmpl[:i+k])
					i = end
				}
			}
		}
	}
	for {
		g := l.generation.Load()
		if in.Generation <= g || l.generation.CompareAndSwap(g, in.Generation) {
			break
		}
	}
	return nil
}
