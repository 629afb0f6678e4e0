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
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/apiscope/apiscope/pkg/logging"
)

// rootCmd is the apiscope command; subcommands add themselves in init().
var rootCmd = &cobra.Command{
	Use:           "apiscope",
	Short:         "Passive behavioural anomaly detection for HTTP APIs",
	SilenceUsage:  true,
	SilenceErrors: true,
	PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
		l, err := logging.New(logLevel)
		if err != nil {
			return err
		}
		log = l
		return nil
	},
}

var (
	logLevel string
	// log is the process logger, set before any subcommand runs.
	log = zap.NewNop()
)

func init() {
	rootCmd.PersistentFlags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := rootCmd.ExecuteContext(ctx)
	stop()
	_ = log.Sync()
	if err != nil {
		fmt.Fprintf(os.Stderr, "apiscope: %v\n", err)
		os.Exit(1)
	}
}
