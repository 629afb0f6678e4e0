// Command apiscope is a passive behavioural anomaly detector for HTTP APIs: a sensor
// rebuilds API calls from mirrored packets, an analyzer learns each client's baseline and
// reports explained deviations. Every subcommand lives in its own file and registers
// itself on the root command.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/apiscope/apiscope/pkg/config"
	"github.com/apiscope/apiscope/pkg/logging"
	"github.com/apiscope/apiscope/pkg/metrics"
)

// rootCmd is the apiscope command; subcommands add themselves in init().
var rootCmd = &cobra.Command{
	Use:   "apiscope",
	Short: "Passive behavioural anomaly detection for HTTP APIs",
	Long: `apiscope rebuilds HTTP API calls from mirrored packets (sensor), learns each client's
baseline and reports explained deviations (analyzer), stores calls and findings in
ClickHouse and streams alerts to the SOC.

Every flag can also come from a YAML file (--config) or an APISCOPE_* environment variable;
precedence: flag, environment, file, default. See 'apiscope config example'.`,
	SilenceUsage:  true,
	SilenceErrors: true,
}

var (
	logLevel    string
	configFile  string
	metricsAddr string
	cpuProfile  string
	// stopProfile ends the CPU profile started by --cpu-profile, if any.
	stopProfile = func() error { return nil }
	// log is the process logger, set before any subcommand runs.
	log = zap.NewNop()
)

func init() {
	rootCmd.PersistentPreRunE = setup
	pf := rootCmd.PersistentFlags()
	pf.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	pf.StringVar(&configFile, "config", "", "YAML config file (keys are flag names; a section per command)")
	pf.StringVar(&metricsAddr, "metrics-addr", "", "serve Prometheus /metrics, /healthz and /readyz on this address (e.g. :9108)")
	pf.StringVar(&cpuProfile, "cpu-profile", "", "write a CPU profile of the command to this file (pprof format; scripts/pgo.sh makes the build's profile with it)")
}

// startProfile starts the CPU profile of --cpu-profile; main stops it when the command ends.
func startProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("cpu profile: %w", err)
	}
	stopProfile = func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		return nil
	}
	return nil
}

// setup runs before every subcommand: config file and environment into flags, then the
// logger, then the metrics endpoint.
func setup(cmd *cobra.Command, _ []string) error {
	if configFile == "" {
		configFile = os.Getenv(config.EnvName("config"))
	}
	var file *config.File
	if configFile != "" {
		var err error
		if file, err = config.LoadFile(configFile, sectionOf(cmd)); err != nil {
			return err
		}
	}
	if err := config.Apply(cmd.Flags(), file, nil); err != nil {
		return err
	}
	l, err := logging.New(logLevel)
	if err != nil {
		return err
	}
	log = l
	if cpuProfile != "" {
		if err := startProfile(cpuProfile); err != nil {
			return err
		}
	}
	if metricsAddr != "" {
		addr, err := metrics.Serve(cmd.Context(), metricsAddr, metrics.Default, metrics.DefaultReadiness)
		if err != nil {
			return err
		}
		log.Info("metrics endpoint listening", zap.String("addr", addr.String()))
	}
	return nil
}

// sectionOf names the config-file section of a command: its first word under the root
// (`schema apply` reads the `schema` section).
func sectionOf(cmd *cobra.Command) string {
	for cmd.HasParent() && cmd.Parent() != rootCmd {
		cmd = cmd.Parent()
	}
	return cmd.Name()
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := rootCmd.ExecuteContext(ctx)
	stop()
	if perr := stopProfile(); err == nil {
		err = perr
	}
	_ = log.Sync()
	if err != nil {
		fmt.Fprintf(os.Stderr, "apiscope: %v\n", err)
		os.Exit(1)
	}
}
