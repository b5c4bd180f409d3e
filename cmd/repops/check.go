package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/repops/repops/db"
	"github.com/repops/repops/ops"
)

// checkOptions are the flags of 'repops check'.
type checkOptions struct {
	full bool
	json bool
}

// newCheckCmd verifies the live database read-only.
func newCheckCmd(a *app) *cobra.Command {
	o := &checkOptions{}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Integrity, foreign keys and schema: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
		Long: `Check the database read-only (safe while the service writes): PRAGMA
quick_check, or integrity_check with --full; foreign_key_check; schema
validation. One line per problem. Exit codes for scripts (Nagios convention):
  0 OK        no problem
  1 WARNING   foreign-key or schema problems (the data is readable)
  2 CRITICAL  corruption: restore from a backup ('repops restore')
  3 UNKNOWN   the database could not be checked (missing, unreadable, or
              the config is bad: 'repops config check' says why)`,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{nagiosExitCodes: "true"},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCheck(cmd.Context(), a, o)
		},
	}
	cmd.Flags().BoolVar(&o.full, "full", false, "integrity_check instead of quick_check (slower)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON")
	return cmd
}

func runCheck(ctx context.Context, a *app, o *checkOptions) error {
	if note := db.ImmutableNote(a.cfg.Database.Path); note != "" {
		fmt.Fprintln(a.err, "note:", note)
	}
	res, err := ops.Check(ctx, ops.CheckOptions{DBPath: a.cfg.Database.Path, Full: o.full, StateDir: a.cfg.StateDir()})
	if err != nil {
		fmt.Fprintf(a.out, "UNKNOWN %s: %v\n", a.cfg.Database.Path, err)
		return silentExit(exitUnknown)
	}
	if o.json {
		enc := json.NewEncoder(a.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"database": res.Database, "mode": res.Mode, "status": ops.StatusName(res.Status),
			"problems": res.Problems(), "seconds": res.Took.Seconds()}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(a.out, "%s %s: %s check, %d problems (%s)\n", ops.StatusName(res.Status), res.Database, res.Mode,
			len(res.Problems()), res.Took.Round(time.Millisecond))
		for _, p := range res.Problems() {
			fmt.Fprintln(a.out, p)
		}
	}
	if res.Status != ops.CheckOK {
		return silentExit(res.Status)
	}
	return nil
}
