package main

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/apiscope/apiscope/sensor"
	"github.com/apiscope/apiscope/sensor/call"
	"github.com/apiscope/apiscope/sensor/identity"
)

func init() {
	get := identityFlags(sensorCmd.Flags())
	sensorCmd.Example += `
  apiscope sensor --pcap trace.pcap --out - --trusted-proxy 10.0.0.0/8 --openapi api.example.com=openapi.yaml
  APISCOPE_FP_KEY=$(cat /etc/apiscope/fp.key) apiscope sensor -i eth1 --templates-file /var/lib/apiscope/templates.json`
	sensorBuilderHook = func(*cobra.Command) (sensor.CallBuilder, error) {
		cfg, err := get()
		if err != nil {
			return nil, err
		}
		// The sensor command wraps its sink with b.WrapSink (learning in output order) and
		// closes b at the end (saving --templates-file).
		return call.NewBuilder(cfg, log)
	}
}

// identityFlags registers the identity and template flags on fs and returns a func that,
// once flags are parsed, turns them into a call.Config (or a one-line error).
func identityFlags(fs *pflag.FlagSet) func() (call.Config, error) {
	var (
		keyFile, stateFile, templatesFile string
		apiKeyHeaders, apiKeyParams       []string
		cookies, proxies                  []string
		openapi                           []string
		threshold                         int
	)
	fs.StringVar(&keyFile, "fp-key-file", "", "file holding the fingerprint (cred_fp) key; else $"+identity.KeyEnv+", else a generated key in --fp-state-file")
	fs.StringVar(&stateFile, "fp-state-file", "", "where a generated fingerprint key is kept (default $XDG_STATE_HOME/apiscope/fp.key or ~/.local/state/apiscope/fp.key)")
	fs.StringSliceVar(&apiKeyHeaders, "api-key-header", nil, "header carrying an API key, repeatable (default X-API-Key, Api-Key)")
	fs.StringSliceVar(&apiKeyParams, "api-key-param", nil, "query parameter carrying an API key, repeatable (default api_key)")
	fs.StringSliceVar(&cookies, "session-cookie", nil, "session cookie name, repeatable (default session, sessionid, JSESSIONID, PHPSESSID, connect.sid, ...)")
	fs.StringSliceVar(&proxies, "trusted-proxy", nil, "network (CIDR or address) of proxies whose X-Forwarded-For/Forwarded is believed, repeatable")
	fs.StringArrayVar(&openapi, "openapi", nil, "OpenAPI 3 document (JSON or YAML) as FILE or HOST=FILE, repeatable: exact templates, shadow outside it")
	fs.StringVar(&templatesFile, "templates-file", "", "load learned templates from FILE at start and save them there at exit")
	fs.IntVar(&threshold, "template-threshold", 0, "distinct values before a path position is learned as {param} (0 = 32, -1 = no learning)")
	return func() (call.Config, error) {
		var cfg call.Config
		cfg.Key = identity.KeySource{File: keyFile, StateFile: stateFile}
		if fs.Changed("api-key-header") {
			cfg.Identity.APIKeyHeaders = nonEmpty(apiKeyHeaders)
		}
		if fs.Changed("api-key-param") {
			cfg.Identity.APIKeyParams = nonEmpty(apiKeyParams)
		}
		if fs.Changed("session-cookie") {
			cfg.Identity.SessionCookies = nonEmpty(cookies)
		}
		for _, p := range proxies {
			pfx, err := parseNetwork(p)
			if err != nil {
				return call.Config{}, err
			}
			cfg.Identity.TrustedProxies = append(cfg.Identity.TrustedProxies, pfx)
		}
		if threshold < -1 {
			return call.Config{}, fmt.Errorf("--template-threshold must be -1 or more, got %d", threshold)
		}
		cfg.Template.Threshold = threshold
		cfg.OpenAPI = openapi
		cfg.TemplatesFile = templatesFile
		return cfg, nil
	}
}

// parseNetwork accepts a CIDR or a single address.
func parseNetwork(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.Prefix{}, fmt.Errorf("bad --trusted-proxy %q: want a CIDR (10.0.0.0/8) or an address", s)
}

// nonEmpty drops empty names, keeping the slice non-nil: a flag given as "" disables the
// rule rather than restoring the defaults.
func nonEmpty(names []string) []string {
	out := []string{}
	for _, n := range names {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}
