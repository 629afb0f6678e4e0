// Package config gives every command-line flag two more sources: a YAML file (--config)
// and APISCOPE_* environment variables. Precedence, highest first: a flag given on the
// command line, the environment variable, the config file, the flag's default.
//
// A key in the file is a flag's long name (`brokers`, `clickhouse`, `log-level`), at the top
// level or under a section named after the command (`sensor:`, `analyzer:`), so one file
// serves the sensor and the analyzer. The variable for flag `alert-min-severity` is
// APISCOPE_ALERT_MIN_SEVERITY.
package config

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// EnvName is the environment variable that sets flag name.
func EnvName(flag string) string {
	return "APISCOPE_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(flag))
}

// File is a config file flattened for one command.
type File struct {
	// Values maps a flag name to its value(s).
	Values map[string][]string
	// fromSection marks keys given under the command's own section: an unknown one is an
	// error, while an unknown top-level key may belong to another command.
	fromSection map[string]bool
}

// LoadFile reads a YAML config file into flat key/value pairs for the command named
// section: top-level scalars and lists, overridden by those under `section:`.
func LoadFile(path, section string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parse config %s: %w", path, err)
	}
	out := &File{Values: map[string][]string{}, fromSection: map[string]bool{}}
	put := func(m map[string]any, nested bool) error {
		for k, v := range m {
			vals, ok, err := scalarValues(v)
			if err != nil {
				return fmt.Errorf("config %s: key %q: %w", path, k, err)
			}
			if !ok {
				if nested {
					return fmt.Errorf("config %s: key %q under %q must be a value or a list", path, k, section)
				}
				continue // a section for another command
			}
			out.Values[k] = vals
			if nested {
				out.fromSection[k] = true
			}
		}
		return nil
	}
	if err := put(doc, false); err != nil {
		return nil, err
	}
	if sec, ok := doc[section].(map[string]any); ok {
		if err := put(sec, true); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func scalarValues(v any) ([]string, bool, error) {
	switch t := v.(type) {
	case nil:
		return nil, true, nil
	case map[string]any:
		return nil, false, nil
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			switch e.(type) {
			case map[string]any, []any:
				return nil, false, fmt.Errorf("lists may hold values only")
			}
			out = append(out, fmt.Sprint(e))
		}
		return out, true, nil
	default:
		return []string{fmt.Sprint(t)}, true, nil
	}
}

// Apply sets every flag of fs not given on the command line from the environment or,
// failing that, from file (may be nil). An unknown key in the command's own section is an
// error naming the key, so a typo stops the program at start; top-level keys that this
// command lacks are left for the commands that have them.
func Apply(fs *pflag.FlagSet, file *File, lookupEnv func(string) (string, bool)) error {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	if file == nil {
		file = &File{}
	}
	var unknown []string
	for k := range file.fromSection {
		if fs.Lookup(k) == nil {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("config: unknown key(s) %s for this command", strings.Join(unknown, ", "))
	}
	var firstErr error
	fs.VisitAll(func(f *pflag.Flag) {
		if firstErr != nil || f.Changed || f.Name == "config" || f.Name == "help" {
			return
		}
		var vals []string
		var src string
		if v, ok := lookupEnv(EnvName(f.Name)); ok {
			src = EnvName(f.Name)
			if isList(f) {
				vals = strings.Split(v, ",")
			} else {
				vals = []string{v}
			}
		} else if v, ok := file.Values[f.Name]; ok {
			src, vals = "config key "+f.Name, v
		} else {
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			if err := sv.Replace(vals); err != nil {
				firstErr = fmt.Errorf("%s: %w", src, err)
			}
			f.Changed = true
			return
		}
		for _, v := range vals {
			if err := fs.Set(f.Name, v); err != nil {
				firstErr = fmt.Errorf("%s: bad value %q for --%s: %w", src, v, f.Name, err)
				return
			}
		}
	})
	return firstErr
}

func isList(f *pflag.Flag) bool {
	_, ok := f.Value.(pflag.SliceValue)
	return ok
}

// Example renders a commented YAML file with every flag of each named flag set under its
// section, defaults filled in, so `apiscope config example` shows every key.
func Example(sections []string, sets map[string]*pflag.FlagSet) string {
	var b strings.Builder
	b.WriteString("# apiscope configuration. Every key is also a command-line flag (--key) and an\n")
	b.WriteString("# environment variable (APISCOPE_KEY, dashes as underscores). Precedence: flag,\n")
	b.WriteString("# then environment, then this file, then the default shown here.\n")
	b.WriteString("# Keys at the top level apply to every command; a section applies to one command.\n\n")
	b.WriteString("log-level: info\n")
	for _, name := range sections {
		fs := sets[name]
		if fs == nil {
			continue
		}
		fmt.Fprintf(&b, "\n%s:\n", name)
		fs.VisitAll(func(f *pflag.Flag) {
			if f.Name == "help" || f.Name == "config" || f.Name == "log-level" {
				return
			}
			fmt.Fprintf(&b, "  # %s\n", strings.ReplaceAll(f.Usage, "\n", " "))
			def := f.DefValue
			if isList(f) {
				def = strings.Trim(def, "[]")
				if def == "" {
					fmt.Fprintf(&b, "  # %s: []\n", f.Name)
				} else {
					fmt.Fprintf(&b, "  %s: [%s]\n", f.Name, def)
				}
				return
			}
			if def == "" {
				fmt.Fprintf(&b, "  # %s: \"\"\n", f.Name)
				return
			}
			fmt.Fprintf(&b, "  %s: %s\n", f.Name, yamlScalar(def))
		})
	}
	return b.String()
}

func yamlScalar(s string) string {
	if s == "" || strings.ContainsAny(s, ":#{}[],&*!|>'\"%@`") || strings.TrimSpace(s) != s {
		return fmt.Sprintf("%q", s)
	}
	return s
}
