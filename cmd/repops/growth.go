package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/repops/repops/internal/humanize"
	"github.com/repops/repops/ops"
)

// growthOptions are the flags of 'repops growth'.
type growthOptions struct {
	snapshot bool
	json     bool
}

// newGrowthCmd is the guide's capacity planning: growth trends.
func newGrowthCmd(a *app) *cobra.Command {
	o := &growthOptions{}
	cmd := &cobra.Command{
		Use:   "growth",
		Short: "Table sizes over time, growth per day, days until the disk is full",
		Long: `Show the database's growth from the snapshots kept in the state dir
(growth.jsonl, the newest 2000): each table's rows and bytes and their growth
per day, and the days until the database's filesystem is full at the current
rate. --snapshot takes a snapshot first (read-only on the database); run it
from cron, hourly, to build the history:

  0 * * * * repops growth --snapshot >/dev/null`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGrowth(cmd.Context(), a, o)
		},
	}
	cmd.Flags().BoolVar(&o.snapshot, "snapshot", false, "take a snapshot now")
	cmd.Flags().BoolVar(&o.json, "json", false, "print as JSON")
	return cmd
}

func runGrowth(ctx context.Context, a *app, o *growthOptions) error {
	path, state := a.cfg.Database.Path, a.cfg.StateDir()
	if o.snapshot {
		if _, err := ops.Snapshot(ctx, path, state); err != nil {
			return err
		}
	}
	snaps, err := ops.ReadSnapshots(state, path)
	if err != nil {
		return err
	}
	g := ops.Growth(snaps)
	if o.json {
		return printMaintJSON(a.out, g)
	}
	w := a.out
	if g.Snapshots == 0 {
		fmt.Fprintln(w, g.Note)
		return nil
	}
	fmt.Fprintf(w, "%d snapshots from %s to %s\n", g.Snapshots, g.From.Format(time.RFC3339), g.To.Format(time.RFC3339))
	fmt.Fprintf(w, "%-36s %12s %10s %12s %10s\n", "table", "rows", "bytes", "rows/day", "bytes/day")
	estimated := false
	for _, t := range g.Tables {
		rows, perDay := strconv.FormatInt(t.Rows, 10), fmt.Sprintf("%.0f", t.RowsPerDay)
		if t.Estimated {
			rows, perDay, estimated = "~"+rows, "~"+perDay, true
		}
		fmt.Fprintf(w, "%-36s %12s %10s %12s %10s\n", t.Table, rows, humanize.Bytes(t.Bytes), perDay, humanize.Bytes(int64(t.BytesPerDay)))
	}
	if estimated {
		fmt.Fprintln(w, "~ estimated: the rowid bounds of a table over a million rows (an upper bound that moves with every insert)")
	}
	fmt.Fprintf(w, "file %s, growing %s/day; %s free on its disk\n", humanize.Bytes(g.FileBytes), humanize.Bytes(int64(g.FileBytesPerDay)), humanize.Bytes(g.DiskFree))
	if g.DaysUntilFull >= 0 {
		fmt.Fprintf(w, "disk full in %.0f days at this rate\n", g.DaysUntilFull)
	}
	if g.Note != "" {
		fmt.Fprintln(w, g.Note)
	}
	return nil
}
