package main

import (
	"fmt"
	"math"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/repops/repops/metrics"

	"github.com/repops/repops/internal/fsutil"
)

// rulesOptions are the flags of 'repops rules'.
type rulesOptions struct {
	out string // export: file to write, "" or "-" for stdout
}

// newRulesCmd lists the alert rules and exports them for Prometheus.
func newRulesCmd(a *app) *cobra.Command {
	o := &rulesOptions{}
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "The alert rules: list them, export them as Prometheus rules",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "The rules the console evaluates (defaults with the config's overrides)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRulesList(a)
		},
	})
	export := &cobra.Command{
		Use:   "export",
		Short: "Write the rules as Prometheus recording and alerting rules",
		Long: `Write the console's rules (the guide's key metrics, backups, disk, integrity
checks; with the config's overrides) as a Prometheus rule file, so that the
guide's Prometheus and Alertmanager judge the same thresholds, for durations
and severities as the console. The repops_* series come from 'repops exporter';
the service's scrape job must be named "reputation". Check the file with
'promtool check rules FILE'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRulesExport(a, o)
		},
	}
	export.Flags().StringVarP(&o.out, "out", "o", "", "file to write (default: standard output)")
	cmd.AddCommand(export)
	return cmd
}

func effectiveRules(a *app) ([]metrics.Rule, error) {
	eo, err := metrics.OptionsFromConfig(a.cfg)
	if err != nil {
		return nil, withCode(exitUsage, fmt.Errorf("rules from config %s: %w", a.configFile, err))
	}
	return eo.Rules, nil
}

func runRulesList(a *app) error {
	rules, err := effectiveRules(a)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	// TARGET is where the value must stay (outside it: warning), with the
	// panel it is judged on when that is not the alert's; ALERT is where
	// it turns critical once it has stayed there FOR. The guide's table
	// reads the same way ("< 100/min", "> 100/min").
	fmt.Fprintln(tw, "RULE\tPANEL\tTARGET\tALERT\tFOR\tSEVERITY\tRUNBOOK")
	for _, r := range rules {
		target := threshold(r, r.Target, true)
		if r.HasTarget() && r.TargetOn() != r.Panel {
			target += " (" + r.TargetOn() + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Panel, target, threshold(r, r.Alert, false), r.For, r.Severity, r.Runbook)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(a.out, "TARGET: within it the rule is ok, outside it warning; ALERT: beyond it pending, critical after FOR; unknown without data")
	return nil
}

// threshold writes a rule's bound as a condition on the value, as the
// console judges it: the target as where the value stays (the guide's
// strict "< 8", or the rule's inclusive ">= 20 %"), the alert as where it
// fires (strictly beyond: "> 5 %").
func threshold(r metrics.Rule, v float64, target bool) string {
	if math.IsNaN(v) {
		return "-"
	}
	op, unit := r.AlertOp(), r.Unit
	if target {
		op, unit = r.TargetOp(), r.TargetUnit()
	}
	return op + " " + metrics.FormatValue(metrics.Known(v), unit)
}

func runRulesExport(a *app, o *rulesOptions) error {
	rules, err := effectiveRules(a)
	if err != nil {
		return err
	}
	b, err := metrics.ExportRules(rules, time.Now())
	if err != nil {
		return fmt.Errorf("export rules: %w", err)
	}
	if o.out == "" || o.out == "-" {
		_, err := a.out.Write(b)
		return err
	}
	// Write through a temp file and rename, so Prometheus never reloads a
	// half-written file.
	if err := fsutil.WriteAtomic(o.out, b, 0o644); err != nil {
		return fmt.Errorf("export rules to %s: %w (check the directory exists and is writable)", o.out, err)
	}
	fmt.Fprintf(a.err, "wrote the %d console rules as Prometheus rules to %s; check with: promtool check rules %s\n", len(rules), o.out, o.out)
	return nil
}
