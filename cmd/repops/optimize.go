package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/repops/repops/internal/humanize"
	"github.com/repops/repops/ops"
	"github.com/repops/repops/replicate"
)

// optimizeOptions are the flags of 'repops optimize'.
type optimizeOptions struct {
	target        string
	estimate      bool
	yes           bool
	force         bool // break another operator's lock
	allowLongLock bool // run a step whose lock hold exceeds the busy timeout
	json          bool
	analysisLimit int
	stepPages     int
	maxPages      int64
}

// newOptimizeCmd is the guide's "Database Optimization", made safe on a
// live database: the cost first, a typed confirmation for the operations
// that hold the write lock for long, the lock and the journal.
func newOptimizeCmd(a *app) *cobra.Command {
	o := &optimizeOptions{}
	var opNames []string
	for _, op := range ops.OptimizeOps() {
		opNames = append(opNames, string(op))
	}
	cmd := &cobra.Command{
		Use:   "optimize OPERATION",
		Short: "ANALYZE, PRAGMA optimize, REINDEX, VACUUM, WAL checkpoint, incremental vacuum; cost shown first",
		Long: `Run one of the guide's database optimisations on the live database:

  analyze                    ANALYZE (with analysis_limit on a database over 256 MiB)
  optimize                   PRAGMA optimize: analyzes only what needs it
  reindex                    REINDEX everything, a table or an index (--target)
  vacuum                     VACUUM: rewrites the file, returns its free pages
  checkpoint                 PRAGMA wal_checkpoint(TRUNCATE): empties the WAL
  enable-incremental-vacuum  auto_vacuum = INCREMENTAL (needs one VACUUM)
  incremental-vacuum         frees pages in short steps (a few ms of lock each)

Before it runs it shows what it costs: how long it holds the write lock (the
service's writers wait that long), the space it needs and where (VACUUM: up to
twice the database in the temp dir, $SQLITE_TMPDIR), and the cheaper way when
there is one. It refuses when the free space is not enough. vacuum, reindex and
enable-incremental-vacuum ask for the database's file name to be typed unless
--yes. --estimate shows the cost only.`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: opNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runOptimize(cmd.Context(), a, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.target, "target", "", "table or index for analyze and reindex (default: all)")
	f.BoolVar(&o.estimate, "estimate", false, "show the cost and change nothing")
	f.BoolVar(&o.yes, "yes", false, "do not ask for the typed confirmation")
	f.BoolVar(&o.force, "force", false, forceUsage)
	f.BoolVar(&o.allowLongLock, "allow-long-lock", false, "run a step whose estimated write-lock hold exceeds the service's busy timeout (5 s): its writers may fail meanwhile")
	f.BoolVar(&o.json, "json", false, "print the cost and result as JSON")
	f.IntVar(&o.analysisLimit, "analysis-limit", 0, "PRAGMA analysis_limit for analyze (0: 1000 over 256 MiB; -1: none)")
	f.IntVar(&o.stepPages, "step-pages", 0, "pages freed per incremental-vacuum step (default 256)")
	f.Int64Var(&o.maxPages, "max-pages", 0, "stop incremental-vacuum after this many pages (default: all free pages)")
	return cmd
}

// optimizeNeedsConfirm says which optimisations that ask for a typed confirmation.
func optimizeNeedsConfirm(op ops.OptimizeOp) bool {
	return op == ops.OpVacuum || op == ops.OpReindex || op == ops.OpEnableIncremental
}

func runOptimize(ctx context.Context, a *app, o *optimizeOptions, op string) error {
	if err := checkOptimizeFlags(o); err != nil {
		return err
	}
	oo := ops.OptimizeOptions{DBPath: a.cfg.Database.Path, DB: a.dbOptions(), Op: ops.OptimizeOp(op), Target: o.target,
		AnalysisLimit: o.analysisLimit, IncrementalPages: o.stepPages, MaxIncrementalPages: o.maxPages,
		AllowLongLock: o.allowLongLock,
		Recorder:      ops.Recorder{StateDir: a.cfg.StateDir(), Actor: ops.CurrentActor("")}}
	if !o.estimate && a.readOnly {
		return ops.ErrReadOnlyMode
	}
	if ops.OptimizeOp(op) == ops.OpCheckpoint && !o.estimate {
		if err := replicate.RefuseCheckpoint(ctx, a.cfg.Database.Path); err != nil {
			return withCode(exitFailure, err)
		}
	}
	if a.readOnly {
		// The estimate's write sample goes to SQLite's temp dir, not
		// beside the database.
		oo.Measure = ops.MeasureFileIOIn(ops.SQLiteTempDir())
	}
	cost, err := ops.EstimateCost(ctx, oo)
	if err != nil {
		return namesUnknown(exitFailure, err)
	}
	if o.json && o.estimate {
		return printMaintJSON(a.out, cost)
	}
	if !o.json {
		printCost(a.out, cost)
	}
	if o.estimate {
		return nil
	}
	if cost.SpaceError != "" {
		return withCode(exitFailure, fmt.Errorf("optimize %s refused: %s", op, cost.SpaceError))
	}
	if cost.LockError != "" {
		return withCode(exitFailure, fmt.Errorf("optimize %s refused: %s", op, cost.LockError))
	}
	if optimizeNeedsConfirm(oo.Op) && !o.yes {
		what := fmt.Sprintf("This runs %s on the live database %s, holding the write lock about %s.", op, oo.DBPath, cost.LockHold.Round(time.Millisecond))
		if err := confirmMaintenance(a, "optimize."+op, map[string]any{"target": o.target}, what); err != nil {
			return err
		}
	}
	var res *ops.OptimizeResult
	err = runBreakingLock(a, oo.Recorder.Actor, o.force, func() error {
		var err error
		res, err = ops.Optimize(ctx, oo, func(e ops.ProgressEvent) {
			if e.Message != "" && !o.json {
				fmt.Fprintln(a.err, phaseLine(e.Phase, e.Message))
			}
		})
		return err
	})
	if o.json && res != nil {
		if jerr := printMaintJSON(a.out, res); jerr != nil {
			return jerr
		}
	} else if res != nil {
		fmt.Fprintf(a.out, "%s\n", res.Message)
		took := fmt.Sprintf("took %s; ", res.Took.Round(time.Millisecond))
		if strings.Contains(res.Message, " done in ") {
			took = "" // the message said it
		}
		fmt.Fprintf(a.out, "  %sfile %s -> %s, WAL %s -> %s\n", took,
			humanize.Bytes(res.Before.DB), humanize.Bytes(res.After.DB), humanize.Bytes(res.Before.WAL), humanize.Bytes(res.After.WAL))
	}
	if err == nil && res != nil && res.Busy {
		return withCode(exitWarning, fmt.Errorf("%s", res.Message))
	}
	return err
}

// maxPageCount is SQLite's largest page count (SQLITE_MAX_PAGE_COUNT).
const maxPageCount = 4294967294

// checkOptimizeFlags refuses, before anything is opened, the numbers that
// the procedure would otherwise take silently for something else: below
// their meaningful range (a negative step or page count would mean "the
// default" or "all free pages") or above what SQLite takes (it keeps 31
// bits of analysis_limit and of incremental_vacuum's page count, and a
// database has at most 4294967294 pages).
func checkOptimizeFlags(o *optimizeOptions) error {
	switch {
	case o.analysisLimit < -1 || o.analysisLimit > math.MaxInt32:
		return usageError("optimize --analysis-limit %d: want -1 (no limit), 0 (the default) or rows per index up to %d", o.analysisLimit, math.MaxInt32)
	case o.stepPages < 0 || o.stepPages > math.MaxInt32:
		return usageError("optimize --step-pages %d: want pages per step from 1 to %d, or 0 for the default (256)", o.stepPages, math.MaxInt32)
	case o.maxPages < 0 || o.maxPages > maxPageCount:
		return usageError("optimize --max-pages %d: want pages from 1 to %d, or 0 for all free pages", o.maxPages, int64(maxPageCount))
	}
	return nil
}

// printCost writes a cost estimate in a few lines.
func printCost(w io.Writer, c ops.Cost) {
	target := ""
	if c.Target != "" {
		target = " " + c.Target
	}
	fmt.Fprintf(w, "%s%s: cost before it runs\n", c.Op, target)
	fmt.Fprintf(w, "  database   %s (%s in use, %s free pages; auto_vacuum %s)\n",
		humanize.Bytes(c.DBBytes), humanize.Bytes(c.InUseBytes), humanize.Bytes(c.FreeBytes), c.AutoVacuum)
	switch {
	case !c.BlocksWriters:
		fmt.Fprintf(w, "  write lock none\n")
	case c.Steps > 0:
		fmt.Fprintf(w, "  write lock ~%s per step, %d steps, ~%s in all: writers wait at most one step\n",
			c.LockHold.Round(time.Millisecond), c.Steps, c.Total.Round(time.Millisecond))
	default:
		fmt.Fprintf(w, "  write lock ~%s in one hold: the service's writers wait that long\n", c.LockHold.Round(time.Millisecond))
	}
	for _, s := range c.Space {
		fmt.Fprintf(w, "  space      %s in %s: %s\n", humanize.Bytes(s.Bytes), s.Dir, s.What)
	}
	seen := map[string]bool{}
	for _, f := range c.Free {
		if !seen[f.Dir] {
			seen[f.Dir] = true
			fmt.Fprintf(w, "  free       %s in %s\n", humanize.Bytes(f.Free), f.Dir)
		}
	}
	if c.SpaceError != "" {
		fmt.Fprintf(w, "  REFUSED    %s\n", c.SpaceError)
	}
	if c.LockError != "" {
		fmt.Fprintf(w, "  REFUSED    %s\n", c.LockError)
	}
	if c.Cheaper != "" {
		fmt.Fprintf(w, "  cheaper    %s\n", c.Cheaper)
	}
	if c.Preflight != "" {
		fmt.Fprintf(w, "  pre-flight %s\n", c.Preflight)
	}
	fmt.Fprintf(w, "  estimate   %s\n", c.Basis)
}

// confirmMaintenance asks for the database's file name to be typed; the
// default, and anything else, cancels. A cancellation is journaled as
// action (with params), as restore's is: the incident timeline shows
// what an operator decided not to do.
func confirmMaintenance(a *app, action string, params map[string]any, what string) error {
	target := a.cfg.Database.Path
	if abs, err := filepath.Abs(target); err == nil {
		target = abs // as the procedure's own entries name it
	}
	return a.confirmDatabase(what, ops.Procedure{Action: action, Target: target, Params: params, StateDir: a.cfg.StateDir()}, "cancelled")
}

// printMaintJSON writes v indented.
func printMaintJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
