package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/repops/repops/db"
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
}

// newDemoCmd builds 'repops demo': a demo database, generated once and
// reused, and a summary of it.
func newDemoCmd(a *app) *cobra.Command {
	o := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Create a demo database (or reuse it) and summarise it",
		Long: `Create a demo database with seeded, realistic data: appeals over the last
two years in every status, negotiation threads with a long tail, ML
predictions. It is kept at ` + defaultDemoPath + ` (or --db) and reused on the
next run; --fresh builds it again. repops never overwrites a database it
did not build as a demo.`,
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
	f.IntVar(&o.appeals, "appeals", db.DefaultDemoAppeals, "appeals to generate (1000000 takes well under a minute)")
	f.Int64Var(&o.seed, "seed", 1, "seed of the generator: the same seed gives the same data")
	f.BoolVar(&o.summary, "summary", false, "print the summary and exit (what the demo does for now)")
	f.BoolVar(&o.fresh, "fresh", false, "build the demo database again even if one exists")
	return cmd
}

func runDemo(ctx context.Context, a *app, o *demoOptions) error {
	if o.appeals <= 0 {
		return usageError("--appeals must be positive, got %d", o.appeals)
	}
	_, statErr := os.Lstat(o.path)
	exists := statErr == nil
	if exists {
		demo, err := db.IsDemo(o.path)
		if err != nil {
			return err
		}
		if !demo {
			return fmt.Errorf("refusing to use %s for the demo: it exists and is not a demo database; give another path with --db", o.path)
		}
		if o.fresh {
			if a.readOnly {
				return errReadOnlyMode
			}
			for _, p := range []string{o.path, o.path + "-wal", o.path + "-shm"} {
				if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
					return fmt.Errorf("remove the old demo database %s: %w", p, err)
				}
			}
			exists = false
		}
	}
	if exists {
		fmt.Fprintf(a.out, "using the demo database %s (--fresh builds it again)\n", o.path)
	} else {
		if a.readOnly {
			return errReadOnlyMode
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
		sum, err := db.GenerateDemo(ctx, o.path, db.DemoOptions{Appeals: o.appeals, Seed: o.seed, Now: time.Now()}, progress)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.out, "generated in %.1fs: %s appeals, %s negotiation messages (%s threads of %d or more, the largest %s), %s ML predictions\n",
			sum.Took.Seconds(), db.FormatCount(sum.Appeals), db.FormatCount(sum.Messages), db.FormatCount(sum.LargeThreads),
			db.LargeThreadMessages, db.FormatCount(sum.LargestThread), db.FormatCount(sum.Predictions))
	}
	return runDemoSummary(ctx, a, o.path)
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
