package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/repops/repops/internal/humanize"
	"github.com/repops/repops/ops"
)

// indexesOptions are the flags of 'repops indexes'.
type indexesOptions struct {
	explain bool
	create  string
	yes     bool
	json    bool
}

// newIndexesCmd is the guide's "Indexing Strategy" and "Query
// Optimization".
func newIndexesCmd(a *app) *cobra.Command {
	o := &indexesOptions{}
	cmd := &cobra.Command{
		Use:   "indexes",
		Short: "The guide's critical indexes, duplicates, missing ones (with cost), hot-query plans",
		Long: `Report the database's indexes against the guide's critical indexes and the
migrations': which are present, which are duplicates (same table and columns;
the one to drop is named, with its DROP INDEX, which repops does not run), and
which are missing, with what creating each would cost (write lock, space).

--explain shows EXPLAIN QUERY PLAN of the hot queries (appeal lookups by user
and status, thread retrieval, negotiation duration, predictions by type), each
flagged SCAN where it reads a whole table or index.

--create NAME creates a missing index, only from the catalogue of known
definitions (the migrations' and the guide's), after showing its cost and the
typed confirmation (unless --yes).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runIndexes(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.explain, "explain", false, "EXPLAIN QUERY PLAN of the hot queries")
	f.StringVar(&o.create, "create", "", "create this known index")
	f.BoolVar(&o.yes, "yes", false, "do not ask for the typed confirmation (--create)")
	f.BoolVar(&o.json, "json", false, "print as JSON")
	return cmd
}

func runIndexes(ctx context.Context, a *app, o *indexesOptions) error {
	if o.create != "" && a.readOnly {
		return ops.ErrReadOnlyMode
	}
	r, err := a.openRead(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	rep, err := ops.IndexReport(ctx, r, a.cfg.Database.Path)
	if err != nil {
		return err
	}
	var plans []ops.QueryPlan
	if o.explain {
		if plans, err = ops.ExplainHotQueries(ctx, r); err != nil {
			return err
		}
	}
	r.Close()
	if o.create != "" {
		return createIndexCmd(ctx, a, o, rep)
	}
	if o.json {
		return printMaintJSON(a.out, struct {
			*ops.IndexReportResult
			Plans []ops.QueryPlan `json:"plans,omitempty"`
		}{rep, plans})
	}
	w := a.out
	fmt.Fprintln(w, "critical indexes (operations guide)")
	for _, c := range rep.Critical {
		state := "MISSING"
		if c.Present {
			state = "ok"
			if c.PresentAs != c.Def.Name {
				state = "ok as " + c.PresentAs
			}
		}
		// The purpose on its own line: "ok as <name>" is as long as a name.
		fmt.Fprintf(w, "  %-32s %s\n  %32s for %s\n", c.Def.Name, state, "", c.Def.Purpose)
	}
	fmt.Fprintln(w, "indexes")
	for _, ix := range rep.Indexes {
		fmt.Fprintf(w, "  %-32s %s(%s) %s\n", ix.Name, ix.Table, strings.Join(ix.Columns, ", "), humanize.Bytes(ix.Bytes))
	}
	for _, d := range rep.Duplicates {
		fmt.Fprintf(w, "DUPLICATE %s(%s): keep %s, drop %s\n", d.Table, strings.Join(d.Columns, ", "), d.Keep, strings.Join(d.Drop, ", "))
		for _, s := range d.DropSQL {
			fmt.Fprintf(w, "  %s\n", s)
		}
	}
	for _, m := range rep.Missing {
		fmt.Fprintf(w, "MISSING %s on %s(%s) (%s): create with 'repops indexes --create %s'; write lock ~%s\n",
			m.Def.Name, m.Def.Table, strings.Join(m.Def.Columns, ", "), m.Def.Source, m.Def.Name, m.Cost.LockHold.Round(time.Millisecond))
	}
	for _, p := range plans {
		flag := "ok  "
		if p.FullScan {
			flag = "SCAN"
		}
		fmt.Fprintf(w, "%s %s (%s)\n", flag, p.Query.Name, p.Query.Purpose)
		for _, line := range p.Plan {
			fmt.Fprintf(w, "     %s\n", line)
		}
	}
	return nil
}

func createIndexCmd(ctx context.Context, a *app, o *indexesOptions, rep *ops.IndexReportResult) error {
	for _, m := range rep.Missing {
		if m.Def.Name != o.create {
			continue
		}
		printCost(a.out, m.Cost)
		if m.Cost.SpaceError != "" {
			return withCode(exitFailure, fmt.Errorf("create index %s refused: %s", o.create, m.Cost.SpaceError))
		}
		if !o.yes {
			what := fmt.Sprintf("This creates %s on the live database %s, holding the write lock about %s.", o.create, a.cfg.Database.Path, m.Cost.LockHold.Round(time.Millisecond))
			if err := confirmMaintenance(a, "index.create", map[string]any{"index": o.create}, what); err != nil {
				return err
			}
		}
		break
	}
	res, err := ops.CreateIndex(ctx, ops.CreateIndexOptions{DBPath: a.cfg.Database.Path, DB: a.dbOptions(), Name: o.create,
		Recorder: ops.Recorder{StateDir: a.cfg.StateDir(), Actor: ops.CurrentActor("")}})
	if err != nil {
		return namesUnknown(exitFailure, err)
	}
	fmt.Fprintf(a.out, "created %s in %s\n", res.Def.Name, res.Took.Round(time.Millisecond))
	return nil
}
