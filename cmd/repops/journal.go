package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/repops/repops/ops"
)

// journalOptions are the flags of 'repops journal'.
type journalOptions struct {
	since  string
	format string
}

// newJournalCmd exports the ops journal: the incident timeline.
func newJournalCmd(a *app) *cobra.Command {
	o := &journalOptions{}
	cmd := &cobra.Command{
		Use:   "journal",
		Short: "Export the ops journal (who did what, when, with what outcome) as Markdown or JSON",
		Long: `Print the ops journal, the append-only record of every procedure run (kept in
the state dir, outside the live database, so a restore never rolls it back):
time, who (user, host, SSH client, session), action, target, parameters,
outcome and figures. --since takes an RFC 3339 time, a date (2026-01-02) or
a duration back from now (90m, 24h).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runJournal(cmd.Context(), a, o)
		},
	}
	cmd.Flags().StringVar(&o.since, "since", "", "only entries at or after this time (RFC 3339, YYYY-MM-DD, or a duration such as 24h)")
	cmd.Flags().StringVar(&o.format, "format", "md", "md or json")
	return cmd
}

// parseSince reads --since.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("--since %q: give an RFC 3339 time, a date (2026-01-02) or a duration (24h)", s)
}

func runJournal(_ context.Context, a *app, o *journalOptions) error {
	since, err := parseSince(o.since, time.Now())
	if err != nil {
		return usageError("%w", err)
	}
	if o.format != "md" && o.format != "json" {
		return usageError("--format %q: use md or json", o.format)
	}
	j, err := ops.OpenJournal(a.cfg.StateDir())
	if err != nil {
		return err
	}
	defer j.Close()
	entries, err := j.Entries(since)
	if err != nil {
		return err
	}
	if o.format == "json" {
		return ops.ExportJSON(a.out, entries)
	}
	return ops.ExportMarkdown(a.out, entries)
}
