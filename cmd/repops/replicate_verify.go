package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/repops/repops/replicate"
)

func init() { replicateSubcommands = append(replicateSubcommands, newReplicateVerifyCmd) }

// newReplicateVerifyCmd is 'repops replicate verify': the replica's
// newest state restored into scratch and checked against the live
// database.
func newReplicateVerifyCmd(a *app) *cobra.Command {
	var full, asJSON bool
	cmd := &cobra.Command{
		Use:   "verify [--full] [--json]",
		Short: "Restore the replica's newest state into scratch, check it and compare it with the live database",
		Long: `Restore the newest state of the database's Litestream replica (the first
replica of Litestream's config, see 'repops replicate config') into
<state dir>/scratch through 'litestream restore', run quick_check on it
(integrity_check with --full), and compare each table's rows with the live
database at that position: the rows created before the newest created_at
restored (rowid up to the restored largest, in a table without
created_at), counted on both sides, the live database read-only. The
scratch file is removed; the outcome is recorded in the state dir
(records/replica-verify-*.json) with the time of the last success.
Exit 0 OK, 2 CRITICAL (the replica is damaged or differs from the live
database), 3 UNKNOWN (it could not run: no litestream, no config, an
empty or unreadable replica).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runReplicateVerify(cmd.Context(), a, full, asJSON)
		},
	}
	cmd.Flags().BoolVar(&full, "full", false, "integrity_check instead of quick_check (reads every page)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the record as JSON")
	return cmd
}

func runReplicateVerify(ctx context.Context, a *app, full, asJSON bool) error {
	if ctx == nil {
		ctx = context.Background()
	}
	stateDir := a.cfg.StateDir()
	live, err := a.openRead(ctx)
	var rec *replicate.VerifyRecord
	if err != nil {
		rec = &replicate.VerifyRecord{Database: a.cfg.Database.Path, Time: time.Now().UTC(), Status: replicate.VerifyUnknown,
			Problems: []string{"the live database cannot be read: " + err.Error()}}
		_ = replicate.WriteVerify(stateDir, rec)
	} else {
		rec, _ = replicate.Verify(ctx, replicate.VerifyOptions{ConfigPath: a.cfg.LitestreamConfig(), DBPath: a.cfg.Database.Path,
			StateDir: stateDir, Full: full, Live: live})
		live.Close()
	}
	if asJSON {
		b, err := json.MarshalIndent(rec, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(a.out, string(b))
	} else {
		fmt.Fprintln(a.out, rec.Summary())
		if rec.Status != replicate.VerifyUnknown {
			fmt.Fprintf(a.out, "  restored txid %s in %.2fs; %s; took %.2fs\n", orNone(rec.TXID), rec.Restore, rec.Check, rec.Took)
			for _, t := range rec.Tables {
				fmt.Fprintf(a.out, "  %-36s replica %10d  live %10d  (%s)\n", t.Table, t.Replica, t.Live, t.By)
			}
		}
		if !rec.LastSuccess.IsZero() {
			fmt.Fprintf(a.out, "  last success %s\n", rec.LastSuccess.UTC().Format(time.RFC3339))
		} else {
			fmt.Fprintln(a.out, "  no successful verification recorded")
		}
	}
	switch rec.Status {
	case replicate.VerifyOK:
		return nil
	case replicate.VerifyCritical:
		return silentExit(exitCritical)
	default:
		return silentExit(exitUnknown)
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
