package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/apiscope/apiscope/pkg/config"
)

// No Docker engine runs where the tests run, so the compose file is checked against the
// CLI instead: every apiscope command, flag and APISCOPE_* variable it passes must exist.
func TestComposeFileMatchesCLI(t *testing.T) {
	b, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			CapAdd      []string          `yaml:"cap_add"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	seen := 0
	for name, svc := range doc.Services {
		if !strings.HasPrefix(svc.Image, "apiscope") {
			continue
		}
		seen++
		cmd, rest, err := rootCmd.Find(svc.Command)
		if err != nil || cmd == rootCmd {
			t.Errorf("service %s: command %v is not an apiscope command (%v)", name, svc.Command, err)
			continue
		}
		for _, arg := range rest {
			if !strings.HasPrefix(arg, "--") {
				continue
			}
			flag := strings.SplitN(strings.TrimPrefix(arg, "--"), "=", 2)[0]
			if lookupFlag(cmd, flag) == nil {
				t.Errorf("service %s: apiscope %s has no flag --%s", name, cmd.Name(), flag)
			}
		}
		for env := range svc.Environment {
			if !strings.HasPrefix(env, "APISCOPE_") || env == "APISCOPE_FP_KEY" {
				continue
			}
			if !hasEnvFlag(cmd, env) {
				t.Errorf("service %s: %s matches no flag of apiscope %s", name, env, cmd.Name())
			}
		}
		if name == "sensor" {
			for _, c := range svc.CapAdd {
				if c != "NET_RAW" && c != "NET_ADMIN" {
					t.Errorf("sensor gets capability %s; it needs only NET_RAW and NET_ADMIN", c)
				}
			}
		}
	}
	if seen < 3 {
		t.Fatalf("found %d apiscope services; want schema, analyzer and sensor", seen)
	}
	// ${VAR} references in commands must be APISCOPE_* variables the sensor reads.
	for _, m := range regexp.MustCompile(`\$\{(APISCOPE_[A-Z_]+)`).FindAllStringSubmatch(string(b), -1) {
		if m[1] != "APISCOPE_INTERFACE" && m[1] != "APISCOPE_FP_KEY" && m[1] != "APISCOPE_LOG_LEVEL" {
			t.Errorf("compose file uses %s, which nothing reads", m[1])
		}
	}
}

func lookupFlag(cmd *cobra.Command, name string) *pflag.Flag {
	if f := cmd.Flags().Lookup(name); f != nil {
		return f
	}
	return cmd.InheritedFlags().Lookup(name)
}

func hasEnvFlag(cmd *cobra.Command, env string) bool {
	found := false
	for _, fs := range []*pflag.FlagSet{cmd.Flags(), cmd.InheritedFlags()} {
		fs.VisitAll(func(f *pflag.Flag) {
			if config.EnvName(f.Name) == env {
				found = true
			}
		})
	}
	return found
}
