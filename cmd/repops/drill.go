package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/repops/repops/config"
	"github.com/repops/repops/ops"
	"github.com/repops/repops/replicate"
)

// Every drill this program runs (the command, the runbooks' drill action,
// the console) can restore from the replica: package ops cannot import
// replicate (replicate imports ops), so the program hands it replicate's
// restore.
func init() { ops.SetReplicaRestorer(replicaRestorer{}) }

// replicaRestorer is ops.ReplicaRestorer through replicate.RestoreTo:
// 'litestream restore' (its own process) of the newest replica state into
// <state dir>/scratch, with a manifest beside it.
type replicaRestorer struct{}

func (replicaRestorer) Ready() error {
	_, err := replicate.Binary()
	return err
}

func (replicaRestorer) RestoreNewest(ctx context.Context, configPath, dbPath, stateDir string) (*ops.ReplicaRestore, error) {
	r, err := replicate.RestoreTo(ctx, replicate.RestoreOptions{ConfigPath: configPath, DBPath: dbPath, StateDir: stateDir})
	if err != nil {
		return nil, err
	}
	if len(r.QuickCheck) > 0 {
		// The manifest is not written for a damaged restore: the drill's
		// manifest step fails on it; say why here too.
		replicate.Remove(r.Path)
		return nil, fmt.Errorf("the replica's newest state (txid %s) fails quick_check: %s", r.TXID, strings.Join(r.QuickCheck, "; "))
	}
	return &ops.ReplicaRestore{Path: r.Path, TXID: r.TXID, TXIDTime: r.TXIDTime, Newest: r.Newest}, nil
}

func (replicaRestorer) Remove(path string) { replicate.Remove(path) }

// DrillReplication is the drill options' replication part from the
// config: Litestream's config when replicas are configured, and the sync
// interval as what counts as a real-time RPO.
func drillReplication(cfg *config.Config, o *ops.DrillOptions) {
	rp := cfg.Console.Replication
	if len(rp.Replicas) == 0 {
		return
	}
	o.LitestreamConfig = cfg.LitestreamConfig()
	o.RealTime = max(rp.SyncInterval, ops.DrillRealTime)
}

// drillOptions are the flags of 'repops drill'.
type drillOptions struct {
	dir      string
	scratch  string
	scenario string
	source   string
}

// newDrillCmd runs a DR drill: restore a backup into scratch and measure.
func newDrillCmd(a *app) *cobra.Command {
	o := &drillOptions{}
	cmd := &cobra.Command{
		Use:   "drill [NAME] [--source auto|backup|replica]",
		Short: "DR drill: restore the replica or a backup into scratch, verify it, measure RTO/RPO against the guide",
		Long: `The guide's "Testing Recovery", made real: restore the newest backup of the
database (found by its file name), or NAME, into a scratch directory (never
the live database), verify its checksum, integrity, schema and rows against
the manifest, measure the restore time (RTO) and the backup's age (RPO).

With replication configured (console.replication.replicas and Litestream's
config, 'repops replicate config'), the drill restores the replica's newest
state instead (--source auto, the default; --source backup or replica to
choose), through 'litestream restore' into <state dir>/scratch, verifies it
the same way, and measures the RPO end to end by heartbeat: before
restoring, the live database's newest committed created_at (appeals,
messages, predictions; read-only, nothing is written) and rows at T0; after,
the rows committed before T0 that the restore lacks, and the RPO = the time
between the newest row restored and the newest row committed before T0 (0
when the restore holds them all). Real-time (partial-failure) counts as one
sync interval (at least 1 s).

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
  64          a NAME that is not a backup in the dir, an unknown --scenario
              or --source, --source replica without replication`,
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
	cmd.Flags().StringVar(&o.source, "source", ops.DrillSourceAuto, "restore from: auto (the replica when replication is configured, else the newest backup), backup, replica")
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
	source, err := ops.ParseDrillSource(o.source)
	if err != nil {
		return usageError("drill --source: %w", err)
	}
	do := ops.DrillOptions{DBPath: a.cfg.Database.Path, BackupDir: dir, Backup: name, Scenario: scenario.Scenario, Source: source,
		ScratchDir: o.scratch, StateDir: a.cfg.StateDir(), Actor: ops.CurrentActor("")}
	drillReplication(a.cfg, &do)
	if source, _, err = ops.DrillSourceFor(do); err != nil {
		return usageError("drill --source %s: %w", o.source, err)
	}
	if source == ops.DrillSourceReplica {
		return finishDrill(ctx, a, do)
	}
	do.Source = ops.DrillSourceBackup
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
	do.Backup = name
	return finishDrill(ctx, a, do)
}

// finishDrill runs the drill and reports it, with its exit status.
func finishDrill(ctx context.Context, a *app, do ops.DrillOptions) error {
	res, err := ops.Drill(ctx, do, recoveryProgress(a.err))
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
	if res.Source == ops.DrillSourceReplica {
		missing := ""
		if hb := res.Heartbeat; hb != nil && hb.Measured {
			missing = fmt.Sprintf(", %d rows committed before the drill missing", hb.Missing)
		}
		fmt.Fprintf(a.out, "DR drill OK (%s): the replica (txid %s) restored and verified in %s, RPO %s by %s%s\n", res.Scenario, res.ReplicaTXID,
			res.RTO.Round(time.Millisecond), res.RPO.Round(time.Millisecond), res.RPOBy, missing)
		return nil
	}
	fmt.Fprintf(a.out, "DR drill OK (%s): restored and verified in %s, backup %s old\n", res.Scenario, res.RTO.Round(time.Millisecond), res.RPO.Round(time.Second))
	return nil
}
