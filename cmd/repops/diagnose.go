package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/repops/repops/ops"
)

// diagnoseOptions are the flags of 'repops diagnose'.
type diagnoseOptions struct {
	limit int
	json  bool
}

// newDiagnoseCmd runs the guide's troubleshooting queries, read-only.
func newDiagnoseCmd(a *app) *cobra.Command {
	o := &diagnoseOptions{}
	cmd := &cobra.Command{
		Use:   "diagnose threads|predictions|counts",
		Short: "The guide's diagnosis queries: large threads, prediction performance, table row counts",
		Long: `Run one of the troubleshooting section's queries, read-only:

  threads      "High Negotiation Latency": the appeals with the most messages
  predictions  "ML Prediction Timeouts": count and average confidence by type
  counts       "Database Growing Too Fast": row counts of every table`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"threads", "predictions", "counts"},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDiagnose(cmd.Context(), a, o, args[0])
		},
	}
	cmd.Flags().IntVar(&o.limit, "limit", 10, "threads: how many")
	cmd.Flags().BoolVar(&o.json, "json", false, "print as JSON")
	return cmd
}

func runDiagnose(ctx context.Context, a *app, o *diagnoseOptions, what string) error {
	if what != "threads" && what != "predictions" && what != "counts" {
		return usageError("diagnose %q: choose threads, predictions or counts", what)
	}
	if o.limit < 1 {
		return usageError("diagnose --limit %d: want at least 1 (the number of threads to list)", o.limit)
	}
	r, err := a.openRead(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	var v any
	switch what {
	case "threads":
		v, err = ops.LargeThreads(ctx, r, o.limit)
	case "predictions":
		v, err = ops.PredictionPerformance(ctx, r)
	case "counts":
		v, err = ops.TableCounts(ctx, r)
	}
	if err != nil {
		return err
	}
	if o.json {
		return printMaintJSON(a.out, v)
	}
	switch rows := v.(type) {
	case []ops.ThreadSize:
		fmt.Fprintf(a.out, "%10s %10s\n", "appeal_id", "messages")
		for _, t := range rows {
			fmt.Fprintf(a.out, "%10d %10d\n", t.AppealID, t.Messages)
		}
	case []ops.PredictionStat:
		fmt.Fprintf(a.out, "%-24s %10s %14s %14s\n", "prediction_type", "count", "avg_confidence", "avg_latency_ms")
		for _, p := range rows {
			fmt.Fprintf(a.out, "%-24s %10d %14.3f %14.1f\n", p.Type, p.Count, p.AvgConfidence, p.AvgLatencyMs)
		}
	case []ops.TableCount:
		for _, c := range rows {
			fmt.Fprintf(a.out, "%-40s %12d\n", c.Table, c.Rows)
		}
	}
	return nil
}
