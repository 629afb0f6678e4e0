package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/apiscope/apiscope/pkg/store"
)

func init() {
	schema := &cobra.Command{
		Use:   "schema",
		Short: "Create, migrate and prune the ClickHouse schema",
		Long: `Create, migrate and prune the ClickHouse tables: api_calls, findings, endpoints (with
endpoints_mv and the endpoint_inventory view), client_profiles and schema_version.
The schema runs on ClickHouse 18.16 and every later release.`,
	}

	var applyDSN string
	apply := &cobra.Command{
		Use:   "apply",
		Short: "Create or migrate the tables to this build's schema version (idempotent)",
		Example: `  apiscope schema apply --clickhouse clickhouse://127.0.0.1:9000/apiscope
  APISCOPE_CLICKHOUSE=clickhouse://ch:9000/apiscope apiscope schema apply`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openStore(cmd, applyDSN)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.ApplySchema(cmd.Context()); err != nil {
				return err
			}
			v, err := st.SchemaVersion(cmd.Context())
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "database %s: schema version %d\n", st.Database(), v)
			return err
		},
	}
	apply.Flags().StringVar(&applyDSN, "clickhouse", "", "ClickHouse DSN, native protocol: clickhouse://host:9000/db")

	var (
		retDSN  string
		retDays int
	)
	retention := &cobra.Command{
		Use:   "retention",
		Short: "Drop api_calls and client_profiles partitions older than --days days",
		Long: `Drop the daily partitions of api_calls and client_profiles older than --days days before
today (UTC). findings and the endpoint inventory are kept. Run it daily (cron) or let the
analyzer run it.`,
		Example: `  apiscope schema retention --clickhouse clickhouse://127.0.0.1:9000/apiscope --days 30`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if retDays < 1 {
				return fmt.Errorf("bad --days %d: want at least 1", retDays)
			}
			st, err := openStore(cmd, retDSN)
			if err != nil {
				return err
			}
			defer st.Close()
			dropped, err := st.ApplyRetention(cmd.Context(), retDays)
			if err != nil {
				return err
			}
			if len(dropped) == 0 {
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "database %s: nothing older than %d days\n", st.Database(), retDays)
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "database %s: dropped %d partitions: %s\n", st.Database(), len(dropped), strings.Join(dropped, ", "))
			return err
		},
	}
	retention.Flags().StringVar(&retDSN, "clickhouse", "", "ClickHouse DSN, native protocol: clickhouse://host:9000/db")
	retention.Flags().IntVar(&retDays, "days", 0, "keep this many days before today (UTC); at least 1")

	schema.AddCommand(apply, retention)
	rootCmd.AddCommand(schema)
}

// openStore checks the --clickhouse flag and connects.
func openStore(cmd *cobra.Command, dsn string) (*store.Store, error) {
	if dsn == "" {
		return nil, fmt.Errorf("missing --clickhouse DSN (for example clickhouse://127.0.0.1:9000/apiscope)")
	}
	return store.Open(cmd.Context(), dsn, log)
}
