package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

func newSet() (*pflag.FlagSet, *string, *int, *[]string) {
	fs := pflag.NewFlagSet("sensor", pflag.ContinueOnError)
	brokers := fs.StringSlice("brokers", nil, "Kafka brokers")
	workers := fs.Int("workers", 2, "worker count")
	out := fs.String("out", "", "output file")
	return fs, out, workers, brokers
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "apiscope.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrecedence(t *testing.T) {
	p := writeFile(t, "workers: 3\nout: top.jsonl\nsensor:\n  out: file.jsonl\n  brokers: [a:9092, b:9092]\nanalyzer:\n  group: g\n")
	tests := []struct {
		name        string
		args        []string
		env         map[string]string
		wantOut     string
		wantWorkers int
		wantBrokers string
	}{
		{"file only, section wins over top level", nil, nil, "file.jsonl", 3, "a:9092,b:9092"},
		{"env beats file", nil, map[string]string{"APISCOPE_WORKERS": "5", "APISCOPE_BROKERS": "x:1,y:2"}, "file.jsonl", 5, "x:1,y:2"},
		{"flag beats env", []string{"--workers=7", "--out=-"}, map[string]string{"APISCOPE_WORKERS": "5"}, "-", 7, "a:9092,b:9092"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, out, workers, brokers := newSet()
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			file, err := LoadFile(p, "sensor")
			if err != nil {
				t.Fatal(err)
			}
			env := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			if err := Apply(fs, file, env); err != nil {
				t.Fatal(err)
			}
			if *out != tt.wantOut || *workers != tt.wantWorkers || strings.Join(*brokers, ",") != tt.wantBrokers {
				t.Fatalf("out=%q workers=%d brokers=%v; want %q %d %s", *out, *workers, *brokers, tt.wantOut, tt.wantWorkers, tt.wantBrokers)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name, body, want string
		env              map[string]string
	}{
		{"unknown key", "sensor:\n  wrokers: 3\n", "unknown key(s) wrokers", nil},
		{"bad value", "workers: many\n", "bad value \"many\" for --workers", nil},
		{"bad env", "", "APISCOPE_WORKERS", map[string]string{"APISCOPE_WORKERS": "x"}},
		{"not yaml", "workers: [\n", "parse config", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, _, _, _ := newSet()
			_ = fs.Parse(nil)
			file, err := LoadFile(writeFile(t, tt.body), "sensor")
			if err == nil {
				env := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
				err = Apply(fs, file, env)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v; want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestExampleIsValidAndComplete(t *testing.T) {
	fs, _, _, _ := newSet()
	ex := Example([]string{"sensor"}, map[string]*pflag.FlagSet{"sensor": fs})
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(ex), &doc); err != nil {
		t.Fatalf("example is not YAML: %v\n%s", err, ex)
	}
	for _, k := range []string{"brokers", "workers", "out"} {
		if !strings.Contains(ex, k) {
			t.Errorf("example lacks key %q", k)
		}
	}
	// The example must load back without unknown keys.
	p := writeFile(t, ex)
	file, err := LoadFile(p, "sensor")
	if err != nil {
		t.Fatal(err)
	}
	fs2, _, workers, _ := newSet()
	_ = fs2.Parse(nil)
	if err := Apply(fs2, file, func(string) (string, bool) { return "", false }); err != nil {
		t.Fatal(err)
	}
	if *workers != 2 {
		t.Fatalf("workers = %d; want default 2", *workers)
	}
}

func TestTopLevelKeyOfAnotherCommandIsIgnored(t *testing.T) {
	fs, _, _, _ := newSet()
	_ = fs.Parse(nil)
	file, err := LoadFile(writeFile(t, "clickhouse: clickhouse://x\n"), "sensor")
	if err != nil {
		t.Fatal(err)
	}
	if err := Apply(fs, file, func(string) (string, bool) { return "", false }); err != nil {
		t.Fatalf("top-level key for another command: %v", err)
	}
}

func TestEnvName(t *testing.T) {
	if got := EnvName("alert-min-severity"); got != "APISCOPE_ALERT_MIN_SEVERITY" {
		t.Fatalf("EnvName = %q", got)
	}
}
