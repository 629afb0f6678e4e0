package main

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestIdentityFlags(t *testing.T) {
	fs := pflag.NewFlagSet("sensor", pflag.ContinueOnError)
	get := identityFlags(fs)
	err := fs.Parse([]string{
		"--fp-key-file", "/etc/apiscope/fp.key", "--api-key-header", "X-Token", "--api-key-header", "X-Key",
		"--session-cookie", "sid,auth", "--trusted-proxy", "10.0.0.0/8", "--trusted-proxy", "192.0.2.7",
		"--openapi", "api.example.com=spec,v1.yaml", "--openapi", "other.yaml", "--templates-file", "t.json",
		"--template-threshold", "50",
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := get()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Key.File != "/etc/apiscope/fp.key" || cfg.TemplatesFile != "t.json" || cfg.Template.Threshold != 50 {
		t.Errorf("config %+v", cfg)
	}
	if !slices.Equal(cfg.Identity.APIKeyHeaders, []string{"X-Token", "X-Key"}) || !slices.Equal(cfg.Identity.SessionCookies, []string{"sid", "auth"}) {
		t.Errorf("names %v %v", cfg.Identity.APIKeyHeaders, cfg.Identity.SessionCookies)
	}
	if cfg.Identity.APIKeyParams != nil {
		t.Errorf("unset --api-key-param should keep the defaults (nil), got %v", cfg.Identity.APIKeyParams)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32")}
	if !slices.Equal(cfg.Identity.TrustedProxies, want) {
		t.Errorf("proxies %v", cfg.Identity.TrustedProxies)
	}
	if !slices.Equal(cfg.OpenAPI, []string{"api.example.com=spec,v1.yaml", "other.yaml"}) {
		t.Errorf("openapi %v", cfg.OpenAPI)
	}
}

func TestIdentityFlagsErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--trusted-proxy", "10.0.0.0/33"},
		{"--trusted-proxy", "proxy.example"},
		{"--template-threshold", "-2"},
	} {
		fs := pflag.NewFlagSet("sensor", pflag.ContinueOnError)
		get := identityFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		if _, err := get(); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %v; want one line", args, err)
		}
	}
	// An empty name disables the rule instead of restoring the defaults.
	fs := pflag.NewFlagSet("sensor", pflag.ContinueOnError)
	get := identityFlags(fs)
	if err := fs.Parse([]string{"--session-cookie", ""}); err != nil {
		t.Fatal(err)
	}
	if cfg, _ := get(); cfg.Identity.SessionCookies == nil || len(cfg.Identity.SessionCookies) != 0 {
		t.Errorf("--session-cookie '' gave %#v", cfg.Identity.SessionCookies)
	}
}
