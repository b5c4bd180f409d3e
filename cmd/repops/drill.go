package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/repops/repops/ops"
)

// drillOptions are the flags of 'repops drill'.
type drillOptions struct {
	dir     string
	scratch string
}

// newDrillCmd runs a DR drill: restore a backup into scratch and measure.
func newDrillCmd(a *app) *cobra.Command {
	o := &drillOptions{}
	cmd := &cobra.Command{
		Use:   "drill [NAME]",
		Short: "DR drill: restore a backup into scratch, verify it, measure RTO/RPO against the guide",
		Long: `The guide's "Testing Recovery", made real: restore the newest backup of the
database (found by its file name), or NAME, into a scratch directory (never
the live database), verify its checksum, integrity, schema and rows against
the manifest, measure the restore time
(RTO) and the backup's age (RPO), and compare them with the guide's table
(Database Corruption 30 min / 5 min, Data Loss 1 h / 1 h, Complete Failure
4 h / 1 h, Partial Failure 15 min / real-time). The report (Markdown and
JSON) goes to the state dir's drills/; the outcome to the ops journal.
Allowed in read-only mode. Exit 0 when the drill passes, 2 when it fails
(no backup of the database to restore included), 64 for a NAME that is not
a backup in the dir.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			return runDrill(cmd.Context(), a, o, name)
		},
	}
	cmd.Flags().StringVar(&o.dir, "dir", "", "backup dir (overrides console.backup.dir)")
	cmd.Flags().StringVar(&o.scratch, "scratch", "", "scratch dir to restore into (default: a temporary dir, removed afterwards)")
	return cmd
}

func runDrill(ctx context.Context, a *app, o *drillOptions, name string) error {
	dir := o.dir
	if dir == "" {
		dir = a.cfg.BackupDir()
	}
	if name == "" {
		latest, err := ops.LatestBackup(dir, a.cfg.Database.Path)
		if err != nil {
			// Nothing to recover from: the drill fails, as it would in
			// a disaster.
			fmt.Fprintf(a.out, "DR drill FAILED: %v\n", err)
			if j, jerr := ops.OpenJournal(a.cfg.StateDir()); jerr == nil {
				_, _ = j.Append(ops.Entry{Actor: ops.CurrentActor(""), Action: "drill", Target: a.cfg.Database.Path,
					Params: map[string]any{"backup": ""}, Outcome: ops.OutcomeFailed, Message: err.Error()})
				j.Close()
			}
			return silentExit(exitCritical)
		}
		name = filepath.Base(latest)
	}
	if _, err := ops.ResolveBackup(dir, a.cfg.Database.Path, name); err != nil {
		return usageError("%v", err)
	}
	res, err := ops.Drill(ctx, ops.DrillOptions{DBPath: a.cfg.Database.Path, BackupDir: dir, Backup: name,
		ScratchDir: o.scratch, StateDir: a.cfg.StateDir(), Actor: ops.CurrentActor("")}, recoveryProgress(a.err))
	if err != nil {
		return err
	}
	fmt.Fprint(a.out, ops.DrillMarkdown(res))
	if res.ReportMD != "" {
		fmt.Fprintf(a.out, "\nreport: %s\n", res.ReportMD)
	}
	if !res.OK {
		return silentExit(exitCritical)
	}
	return nil
}
