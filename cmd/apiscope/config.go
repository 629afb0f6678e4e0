package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/apiscope/apiscope/pkg/config"
)

func init() {
	cfg := &cobra.Command{
		Use:   "config",
		Short: "Configuration helpers",
	}
	cfg.AddCommand(&cobra.Command{
		Use:     "example",
		Short:   "Print a commented config file with every key and its default",
		Example: "  apiscope config example > apiscope.yaml\n  apiscope sensor --config apiscope.yaml --interface eth1",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var names []string
			sets := map[string]*pflag.FlagSet{}
			for _, c := range rootCmd.Commands() {
				if c.Flags().HasFlags() && c.Name() != "help" && c.Name() != "completion" && c.Name() != "config" {
					names = append(names, c.Name())
					sets[c.Name()] = c.LocalFlags()
				}
			}
			_, err := fmt.Fprint(cmd.OutOrStdout(), config.Example(names, sets))
			return err
		},
	})
	rootCmd.AddCommand(cfg)
}
