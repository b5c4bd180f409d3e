package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/repops/repops/config"
	"github.com/repops/repops/db"
	"github.com/repops/repops/ops"
	"github.com/repops/repops/sim"
	"github.com/repops/repops/state"
)

// defaultDemoPath is where 'repops demo' keeps its database unless --db
// says otherwise: never the service's database path from the config or
// DATABASE_PATH.
const defaultDemoPath = "data/demo/architect.db"

// demoOptions are the flags of 'repops demo'.
type demoOptions struct {
	path    string
	appeals int
	seed    int64
	summary bool
	fresh   bool
	// The simulated service and the console.
	listen   string
	speed    float64
	scenario string
	refresh  time.Duration
}

// newDemoCmd builds 'repops demo': a demo database, generated once and
// reused, and a summary of it.
func newDemoCmd(a *app) *cobra.Command {
	o := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "The demo: a demo database, the simulated service on loopback, and the console on them",
		Long: `Create a demo database with seeded, realistic data: appeals over the last
two years in every status, negotiation threads with a long tail, ML
predictions. It is kept at ` + defaultDemoPath + ` (or --db) and reused on the
next run; --fresh builds it again. repops never overwrites a database it
did not build as a demo.

Then the simulated reputation service runs in-process on loopback (a free
port unless --listen), writing to the demo database and serving its
/metrics, and the console opens on both, with the journal, the lock and
the backups beside the demo database (` + "`data/demo/state`, `data/demo/backups`" + `)
unless the config names them. Before the console opens, the demo database
is brought to the state of a well-run system, so that the console starts
healthy: a backup (unless one under 30 minutes old is there), a quick
integrity check and a DR drill (unless one passed within 92 days), journaled
as their commands do. When the litestream binary is found, Litestream
replicates the demo database (its own process) into replica/ beside it
while the console runs, so the replication panel is live; without it the
demo says how to install it. In the console, F1..F9 (or S then a number)
switch the simulator's scenarios, to rehearse each incident, and
':scenario ` + ScenarioReplicationStopped + `' stops Litestream to show the lag alert. --summary prints the
summary of the database instead and exits, and does none of these.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.path = defaultDemoPath
			if f := cmd.Flags().Lookup("db"); f != nil && f.Changed {
				o.path = f.Value.String()
			}
			return runDemo(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.appeals, "appeals", sim.DefaultDemoAppeals, "appeals to generate (1000000 takes well under a minute)")
	f.Int64Var(&o.seed, "seed", 1, "seed of the generator: the same seed gives the same data")
	f.BoolVar(&o.summary, "summary", false, "print the database's summary and exit instead of opening the console")
	f.BoolVar(&o.fresh, "fresh", false, "build the demo database again even if one exists")
	f.StringVar(&o.listen, "listen", "127.0.0.1:0", "address of the simulated service's /metrics (loopback; port 0 picks a free one)")
	f.Float64Var(&o.speed, "speed", 1, "time compression of the simulated service: seconds of traffic per second")
	f.StringVar(&o.scenario, "scenario", sim.ScenarioNormal, "the simulator's first scenario: "+strings.Join(sim.ScenarioNames(), ", "))
	f.DurationVar(&o.refresh, "refresh", 0, "the console's refresh interval (default console.refresh_interval, 1s)")
	return cmd
}

func runDemo(ctx context.Context, a *app, o *demoOptions) error {
	if o.appeals <= 0 {
		return usageError("--appeals must be positive, got %d", o.appeals)
	}
	if o.scenario == ScenarioReplicationStopped && !o.summary {
		// Stopped before any sync was seen, the lag would be unknown and
		// its alert could not fire: the scenario is switched to in the console.
		return usageError("--scenario %s: switch to it in the console (:scenario %s) once Litestream has synced; --scenario takes one of %s", o.scenario, o.scenario, strings.Join(sim.ScenarioNames(), ", "))
	}
	if a.readOnly {
		// The demo is a writer by nature: its simulated service writes to
		// the demo database, and it takes a backup to start healthy.
		return fmt.Errorf("%w (the demo runs a simulated service that writes to its database; to look at the demo database read-only: repops --read-only --db %s)", ops.ErrReadOnlyMode, o.path)
	}
	_, statErr := os.Lstat(o.path)
	exists := statErr == nil
	if exists {
		demo, err := sim.IsDemo(o.path)
		if err != nil {
			return err
		}
		if !demo {
			return fmt.Errorf("refusing to use %s for the demo: it exists and is not a demo database; give another path with --db", o.path)
		}
		if o.fresh {
			if a.readOnly {
				return ops.ErrReadOnlyMode
			}
			for _, p := range []string{o.path, o.path + "-wal", o.path + "-shm"} {
				if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
					return fmt.Errorf("remove the old demo database %s: %w", p, err)
				}
			}
			// The old database's replication: a new database must not
			// continue its Litestream state or its replica.
			if err := removeDemoReplication(o.path); err != nil {
				return err
			}
			exists = false
		}
	}
	if exists {
		fmt.Fprintf(a.out, "using the demo database %s (--fresh builds it again)\n", o.path)
	} else {
		if a.readOnly {
			return ops.ErrReadOnlyMode
		}
		if err := os.MkdirAll(filepath.Dir(o.path), 0o755); err != nil {
			return fmt.Errorf("create the demo directory: %w", err)
		}
		fmt.Fprintf(a.out, "generating the demo database %s: %s appeals, seed %d\n", o.path, db.FormatCount(int64(o.appeals)), o.seed)
		// A big demo takes a while: a line on stderr at each quarter.
		next := 0
		progress := func(done, total int) {
			if total < 200_000 {
				return
			}
			for next < 4 && done*4 >= total*(next+1) {
				next++
				fmt.Fprintf(a.err, "  %d%% (%s appeals)\n", next*25, db.FormatCount(int64(done)))
			}
		}
		sum, err := sim.GenerateDemo(ctx, o.path, sim.DemoOptions{Appeals: o.appeals, Seed: o.seed, Now: time.Now()}, progress)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.out, "generated in %.1fs: %s appeals, %s negotiation messages (%s threads of %d or more, the largest %s), %s ML predictions\n",
			sum.Took.Seconds(), db.FormatCount(sum.Appeals), db.FormatCount(sum.Messages), db.FormatCount(sum.LargeThreads),
			sim.LargeThreadMessages, db.FormatCount(sum.LargestThread), db.FormatCount(sum.Predictions))
	}
	if o.summary {
		return runDemoSummary(ctx, a, o.path)
	}
	return runDemoConsole(ctx, a, o)
}

// runDemoConsole runs the simulated service in-process on the demo
// database and opens the console on both. The console's sources, state
// dir and backup dir are pointed at the demo unless the config names them,
// so the demo never writes into an operator's real journal.
func runDemoConsole(ctx context.Context, a *app, o *demoOptions) error {
	cfg := demoConfig(a.cfg, o.path)
	if o.refresh > 0 {
		cfg.Console.RefreshInterval = o.refresh
	}
	if err := prepareDemo(ctx, a, &cfg, time.Now()); err != nil {
		return err
	}
	var s *sim.Sim
	s, err := sim.New(sim.Options{
		DBPath: o.path, DB: a.dbOptions(), Listen: o.listen, Speed: o.speed, Scenario: o.scenario,
		MaxConnections: cfg.Database.MaxConnections, Logger: slog.New(slog.DiscardHandler),
		OnScenario: scenarioJournal(cfg.StateDir(), func() string { return s.ControlURL() }, a.err),
	})
	if err != nil {
		return err
	}
	// Litestream replicates the demo database (a child process) while the
	// console runs, and is stopped cleanly when it closes, however it
	// closes (quit, Ctrl-C, an error).
	ls, stopLitestream := startDemoLitestream(a, &cfg)
	defer stopLitestream()
	cfg.Console.Sources.MetricsURL = s.MetricsURL()
	cfg.Console.Sources.PrometheusURL = ""
	demoApp := *a
	demoApp.cfg = &cfg
	if ls != nil {
		// The replica is verified as the exporter would (its panels and
		// rules are on the dashboard: without it they stay unknown), 20 s
		// after Litestream started, when the replica holds the database;
		// its one-line outcomes would land on the console's screen, so
		// they go nowhere: the outcome is recorded in the state dir.
		quiet := demoApp
		quiet.err = io.Discard
		defer startReplicaVerifier(ctx, &quiet, 0, time.Now().Add(demoFirstVerify))()
	}

	simCtx, stopSim := context.WithCancel(ctx)
	simDone := make(chan error, 1)
	go func() { simDone <- s.Run(simCtx) }()
	defer announceDemoService(a, s, o.path, cfg.StateDir(), a.cfg.StateDir())()
	err = runConsole(ctx, &demoApp, consoleOptions{sim: demoSim{s: s, ls: ls}})
	stopSim()
	if serr := <-simDone; serr != nil && err == nil {
		err = serr
	}
	return err
}

// announceDemoService says where the demo's simulated service listens: a
// line on stderr, and the service file (sim.ServiceFileName) in the demo's
// state dir and in the state dir the config names without the demo, where
// 'repops status', the console and the exporter run from another terminal
// look for it. The returned func removes the files again.
func announceDemoService(a *app, s *sim.Sim, dbPath string, dirs ...string) func() {
	info := sim.ServiceInfo{MetricsURL: s.MetricsURL(), ControlURL: s.ControlURL(), Database: dbPath, Pid: os.Getpid(), Started: time.Now().UTC()}
	if abs, err := filepath.Abs(info.Database); err == nil {
		info.Database = abs
	}
	var written []string
	for _, d := range dirs {
		if slices.Contains(written, d) {
			continue
		}
		if _, err := sim.WriteServiceFile(d, info); err != nil {
			fmt.Fprintf(a.err, "demo: could not record the service's address: %v\n", err)
			continue
		}
		written = append(written, d)
	}
	fmt.Fprintf(a.err, "demo: the simulated service's metrics are at %s (from another terminal: repops --db %s status)\n", info.MetricsURL, info.Database)
	return func() {
		for _, d := range written {
			sim.RemoveServiceFile(d, info.Pid)
		}
	}
}

// demoConfig is the configuration the demo runs with: the demo database,
// and the state dir and backup dir beside it unless the config names them.
// demoFirstVerify is how long after Litestream starts the demo verifies
// its replica the first time.
const demoFirstVerify = 20 * time.Second

func demoConfig(base *config.Config, path string) config.Config {
	cfg := *base
	cfg.Database.Path = path
	dir := filepath.Dir(path)
	if cfg.Console.StateDir == "" {
		cfg.Console.StateDir = filepath.Join(dir, "state")
	}
	if cfg.Console.Backup.Dir == "" {
		cfg.Console.Backup.Dir = filepath.Join(dir, "backups")
	}
	return cfg
}

// What the demo's preparation counts as recent.
const (
	demoBackupFresh = 30 * time.Minute    // younger: reused
	demoCheckFresh  = 24 * time.Hour      // an OK check younger: not run again
	demoDrillFresh  = 92 * 24 * time.Hour // the guide's quarterly drill
)

// prepareDemo brings the demo database to the state of a well-run system
// before the console opens, so that the console starts healthy and its
// scenarios are the only incidents: a backup (unless one younger than 30
// minutes is there), a quick integrity check (unless an OK one of this
// database is under a day old) and a DR drill of the backup (unless one
// passed within the guide's quarter), journaled as their commands do. It
// says what it did in one line on stderr. Only a demo database is
// prepared, and only into a backup dir that holds no other database's
// backups (the config may name the service's own). A step that fails is
// reported and skipped: the console shows what is missing.
func prepareDemo(ctx context.Context, a *app, cfg *config.Config, now time.Time) error {
	path := cfg.Database.Path
	if demo, err := sim.IsDemo(path); err != nil || !demo {
		return err
	}
	start := time.Now()
	stateDir, backupDir := cfg.StateDir(), cfg.BackupDir()
	actor := ops.CurrentActor("")
	var did, notes []string
	fail := func(what string, err error) {
		notes = append(notes, fmt.Sprintf("could not %s: %v", what, err))
	}

	backups, err := state.ListBackups(backupDir)
	if err != nil {
		fail("list the backups", err)
	}
	canBackup := err == nil
	for _, b := range backups {
		if demo, _ := sim.IsDemo(b.Path); !demo {
			canBackup = false
			notes = append(notes, fmt.Sprintf("took no backup: %s holds backups of another database (%s); the demo keeps out of it", backupDir, b.Name))
			break
		}
	}
	haveBackup := canBackup && len(backups) > 0 && now.Sub(backups[0].Time) < demoBackupFresh
	switch {
	case haveBackup:
		did = append(did, fmt.Sprintf("reused the backup taken %d min ago", int(now.Sub(backups[0].Time).Minutes())))
	case canBackup:
		_, err := ops.Backup(ctx, ops.BackupOptions{DBPath: path, Dir: backupDir, StateDir: stateDir,
			KeepLast: cfg.Console.Backup.KeepLast, KeepWithin: cfg.Console.Backup.KeepWithin, Actor: actor}, nil)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			fail("take a backup", err)
		} else {
			haveBackup = true
			did = append(did, "took a backup")
		}
	}

	last, ok, _ := state.ReadCheckOf(stateDir, path)
	if !ok || !last.OK || now.Sub(last.Time) >= demoCheckFresh {
		res, err := ops.Check(ctx, ops.CheckOptions{DBPath: path, StateDir: stateDir})
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			fail("check integrity", err)
		case res.Status != ops.CheckOK:
			notes = append(notes, fmt.Sprintf("the integrity check found %d problems (repops --db %s check)", len(res.Problems()), path))
		default:
			did = append(did, "checked integrity")
		}
	}

	drill, ok, _ := state.ReadDrillOf(stateDir, path)
	if haveBackup && (!ok || !drill.OK || now.Sub(drill.Time) >= demoDrillFresh) {
		res, err := ops.Drill(ctx, ops.DrillOptions{DBPath: path, BackupDir: backupDir, StateDir: stateDir, Actor: actor}, nil)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			fail("run a DR drill", err)
		case !res.OK:
			notes = append(notes, fmt.Sprintf("the DR drill found problems: %s", strings.Join(res.Problems, "; ")))
		default:
			did = append(did, "ran a DR drill")
		}
	}

	for _, n := range notes {
		fmt.Fprintf(a.err, "demo: %s\n", n)
	}
	took := time.Since(start).Seconds()
	switch {
	case len(did) > 0 && len(notes) == 0:
		fmt.Fprintf(a.err, "demo: %s so the demo starts healthy (%.1fs); press S to rehearse an incident\n", joinAnd(did), took)
	case len(did) > 0:
		fmt.Fprintf(a.err, "demo: %s (%.1fs); press S to rehearse an incident\n", joinAnd(did), took)
	case len(notes) == 0:
		fmt.Fprintln(a.err, "demo: the backup, integrity check and DR drill are recent, so the demo starts healthy; press S to rehearse an incident")
	}
	return nil
}

// joinAnd joins "a", "b" and "c" as "a, b and c".
func joinAnd(items []string) string {
	if len(items) <= 1 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// runDemoSummary prints the one-shot summary of the database at path:
// schema version, validation result and table sizes. A schema problem
// makes it fail (exit 1) after printing.
func runDemoSummary(ctx context.Context, a *app, path string) error {
	r, err := db.OpenRead(ctx, path, a.dbOptions())
	if err != nil {
		return err
	}
	defer r.Close()
	version, err := db.RequireSchema(ctx, r, path)
	if err != nil {
		return err
	}
	rep, err := migrateValidation(ctx, r, path, false)
	if err != nil {
		return err
	}
	sizes, err := db.TableSizes(ctx, r, path, db.SizeOptions{})
	if err != nil {
		return db.Classify(path, err)
	}
	fmt.Fprintf(a.out, "\nschema version %d (this repops knows up to %d)\n", version, db.LatestVersion())
	if rep.OK() {
		fmt.Fprintln(a.out, schemaValidLine(rep))
	} else {
		for _, p := range rep.Problems {
			fmt.Fprintln(a.out, p.String())
		}
	}
	fmt.Fprintln(a.out)
	writeSizeTable(a.out, sizes)
	fmt.Fprintf(a.out, "\nnext: repops --db %s migrate status | validate | report\n", path)
	if !rep.OK() {
		return silentExit(exitFailure)
	}
	return nil
}
