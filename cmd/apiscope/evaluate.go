package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/evaluate"
	"github.com/apiscope/apiscope/pkg/simulate/truth"
)

func init() {
	var labels, findings, calls, truthFile, jsonOut, minSev string
	cmd := &cobra.Command{
		Use:   "evaluate --labels FILE --findings FILE | --calls FILE --truth FILE",
		Short: "Score findings against labels, or a sensor's calls against truth",
		Long: "With --labels and --findings: an incident counts as detected when a finding of severity\n" +
			"medium or above has ts in [start, end + 300 s] and names one of the incident's principals,\n" +
			"or its client_ip or a related_ip is one of the incident's IPs. Prints recall per attack\n" +
			"type, false-alert benign clients, entity-level precision and F1, detection delays, and a\n" +
			"last line recall=... precision=... f1=... false_alert_clients=N/M median_delay_s=...\n\n" +
			"With --calls and --truth: the share of truth calls the sensor found, status agreement and\n" +
			"extra calls.",
		Example: "  apiscope evaluate --labels /tmp/sim/labels.json --findings findings.jsonl\n" +
			"  apiscope evaluate --labels /tmp/sim/labels.json --findings findings.jsonl --json report.json\n" +
			"  apiscope evaluate --calls calls.jsonl --truth /tmp/sim/truth.jsonl",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case calls != "" || truthFile != "":
				if calls == "" || truthFile == "" || labels != "" || findings != "" {
					return errors.New("--calls and --truth go together, without --labels/--findings")
				}
				return runCompareCalls(cmd, calls, truthFile, jsonOut)
			case labels != "" && findings != "":
			default:
				return errors.New("give --labels and --findings, or --calls and --truth")
			}
			if _, err := models.ParseSeverity(minSev); err != nil {
				return fmt.Errorf("bad --min-severity: %w", err)
			}
			l, err := truth.ReadLabels(labels)
			if err != nil {
				return err
			}
			f, err := os.Open(findings)
			if err != nil {
				return fmt.Errorf("open findings: %w", err)
			}
			defer f.Close()
			fs, bad, err := evaluate.ReadFindings(f)
			if err != nil {
				return err
			}
			if bad > 0 {
				log.Warn("unparsable findings lines skipped", zap.Int("lines", bad))
			}
			rep := evaluate.Score(l, fs, evaluate.Options{MinSeverity: minSev})
			rep.BadLines = bad
			if jsonOut != "" {
				if err := writeJSONFile(jsonOut, rep.WriteJSON); err != nil {
					return err
				}
			}
			return rep.WriteText(cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&labels, "labels", "", "labels.json written by apiscope simulate")
	cmd.Flags().StringVar(&findings, "findings", "", "findings (models.Finding JSON Lines)")
	cmd.Flags().StringVar(&calls, "calls", "", "a sensor's calls (models.APICall JSON Lines)")
	cmd.Flags().StringVar(&truthFile, "truth", "", "truth.jsonl written by apiscope simulate")
	cmd.Flags().StringVar(&jsonOut, "json", "", "also write the report as JSON to this file")
	cmd.Flags().StringVar(&minSev, "min-severity", models.SeverityMedium, "lowest finding severity that counts")
	rootCmd.AddCommand(cmd)
}

func runCompareCalls(cmd *cobra.Command, calls, truthFile, jsonOut string) error {
	tf, err := os.Open(truthFile)
	if err != nil {
		return fmt.Errorf("open truth: %w", err)
	}
	defer tf.Close()
	cf, err := os.Open(calls)
	if err != nil {
		return fmt.Errorf("open calls: %w", err)
	}
	defer cf.Close()
	rep, err := evaluate.CompareCalls(tf, cf)
	if err != nil {
		return err
	}
	if jsonOut != "" {
		enc := func(w io.Writer) error {
			e := json.NewEncoder(w)
			e.SetIndent("", "  ")
			return e.Encode(&rep)
		}
		if err := writeJSONFile(jsonOut, enc); err != nil {
			return err
		}
	}
	return rep.WriteText(cmd.OutOrStdout())
}

func writeJSONFile(path string, write func(w io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
