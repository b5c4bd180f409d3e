package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/repops/repops/ops"
)

// drillOptions are the flags of 'repops drill'.
type drillOptions struct {
	dir      string
	scratch  string
	scenario string
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
the manifest, measure the restore time (RTO) and the backup's age (RPO).

A drill rehearses one scenario of the guide's table, --scenario (default
database-corruption); its objectives decide the outcome, the other rows are
shown for information:
  database-corruption  RTO 30 min  RPO 5 min
  data-loss            RTO 1 h     RPO 1 h
  complete-failure     RTO 4 h     RPO 1 h
  partial-failure      RTO 15 min  RPO real-time (no backup meets it)

The report (Markdown and JSON) goes to the state dir's drills/; the outcome
to the ops journal. Allowed in read-only mode. Exit status (Nagios):
  0 OK        restored and verified, the scenario's RTO and RPO met
  1 WARNING   restored and verified, an objective missed (the last line
              says which: "objective missed: RPO 5 min, the backup was 2 h old")
  2 CRITICAL  the backup does not restore or verify, or there is no backup
              of the database
  3 UNKNOWN   the drill could not run (scratch or state dir, or it was
              interrupted: Ctrl-C or SIGTERM; journaled as cancelled, the
              last drill record kept)
  64          a NAME that is not a backup in the dir, an unknown --scenario`,
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
	cmd.Flags().StringVar(&o.scratch, "scratch", "", "scratch dir to restore into (default: STATE_DIR/scratch; the copy is removed afterwards, and a killed drill's by the next one)")
	cmd.Flags().StringVar(&o.scenario, "scenario", ops.ScenarioSlug(ops.ScenarioCorruption), "the scenario of the guide's table whose RTO/RPO decide the outcome: database-corruption, data-loss, complete-failure, partial-failure")
	return cmd
}

func runDrill(ctx context.Context, a *app, o *drillOptions, name string) error {
	scenario, err := ops.ObjectiveFor(o.scenario)
	if err != nil {
		return usageError("drill --scenario: %w", err)
	}
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
			ops.JournalNotRun(ops.Procedure{Action: "drill", Target: a.cfg.Database.Path, Params: map[string]any{"backup": ""},
				StateDir: a.cfg.StateDir()}, ops.OutcomeFailed, err.Error())
			return silentExit(exitCritical)
		}
		name = filepath.Base(latest)
	}
	if _, err := ops.ResolveBackup(dir, a.cfg.Database.Path, name); err != nil {
		return usageError("%w", err)
	}
	res, err := ops.Drill(ctx, ops.DrillOptions{DBPath: a.cfg.Database.Path, BackupDir: dir, Backup: name, Scenario: scenario.Scenario,
		ScratchDir: o.scratch, StateDir: a.cfg.StateDir(), Actor: ops.CurrentActor("")}, recoveryProgress(a.err))
	if res == nil && errors.Is(err, ops.ErrDrillInterrupted) {
		return withCode(exitUnknown, errors.New("the drill could not run: interrupted; the last drill record is unchanged"))
	}
	if res == nil && err != nil {
		return withCode(exitUnknown, fmt.Errorf("the drill could not run: %w", err))
	}
	fmt.Fprint(a.out, ops.DrillMarkdown(res))
	if res.ReportMD != "" {
		fmt.Fprintf(a.out, "\nreport: %s\n", res.ReportMD)
	}
	if err != nil {
		return withCode(exitUnknown, fmt.Errorf("the drill ran but its report could not be written: %w", err))
	}
	verdict := ops.DrillVerdict(res)
	switch verdict {
	case "CRITICAL":
		fmt.Fprintf(a.out, "DR drill CRITICAL (%s): %s\n", res.Scenario, strings.Join(res.Problems, "; "))
		return silentExit(exitCritical)
	case "WARNING":
		fmt.Fprintf(a.out, "DR drill WARNING (%s): %s\n", res.Scenario, strings.Join(res.Missed, "; "))
		return silentExit(exitWarning)
	}
	fmt.Fprintf(a.out, "DR drill OK (%s): restored and verified in %s, backup %s old\n", res.Scenario, res.RTO.Round(time.Millisecond), res.RPO.Round(time.Second))
	return nil
}
