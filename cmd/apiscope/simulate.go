package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/apiscope/apiscope/pkg/simulate"
	"github.com/apiscope/apiscope/pkg/simulate/scenario"
)

func init() {
	var o simulate.Options
	var printScenario bool
	cmd := &cobra.Command{
		Use:   "simulate --out DIR",
		Short: "Write a labelled synthetic capture (pcap, truth.jsonl, labels.json)",
		Long: "simulate runs a scenario's world of clients and attackers and writes DIR/traffic.pcap,\n" +
			"DIR/truth.jsonl (every call), DIR/labels.json (incidents and benign clients) and\n" +
			"DIR/openapi/<service>.json (the documented API, without its shadow endpoints).\n" +
			"The same seed, scenario and scale always give the same bytes. Built-in scenarios: " +
			strings.Join(scenario.Builtins(), ", ") + ".",
		Example: "  apiscope simulate --out /tmp/sim --scale small --seed 7\n" +
			"  apiscope simulate --out /tmp/sim --scenario clinic --scale medium\n" +
			"  apiscope simulate --out /tmp/sim --scenario ./my-api.yaml\n" +
			"  apiscope simulate --scenario clinic --print-scenario > my-api.yaml",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if printScenario {
				b, err := scenario.Builtin(o.Scenario)
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(b)
				return err
			}
			if o.OutDir == "" {
				return fmt.Errorf("--out is required")
			}
			if !slices.Contains(simulate.Scales, o.Scale) {
				return fmt.Errorf("bad --scale %q: want small, medium or large", o.Scale)
			}
			o.Log = log
			res, err := simulate.Generate(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "scenario=%s scale=%s calls=%d packets=%d bytes=%d incidents=%d elapsed=%.1fs\n%s\n%s\n%s\n",
				res.Scenario, res.Scale, res.Calls, res.Packets, res.Bytes, res.Incidents, res.Elapsed.Seconds(),
				res.PcapPath, res.TruthPath, res.LabelsPath)
			for _, p := range res.OpenAPIPaths {
				fmt.Fprintln(cmd.OutOrStdout(), p)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.OutDir, "out", "", "output directory (created if missing)")
	cmd.Flags().Uint64Var(&o.Seed, "seed", 1, "random seed; the same seed gives the same bytes")
	cmd.Flags().StringVar(&o.Scenario, "scenario", "default", "built-in scenario name or YAML file")
	cmd.Flags().StringVar(&o.Scale, "scale", "medium", "small, medium or large")
	cmd.Flags().BoolVar(&printScenario, "print-scenario", false, "print the built-in scenario's YAML (a starting point for your own) and exit")
	rootCmd.AddCommand(cmd)
}
