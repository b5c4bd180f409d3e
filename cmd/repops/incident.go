package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/fsutil"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/repops/repops/incident"
	"github.com/repops/repops/ops"
)

// incidentOptions are the flags of 'repops incident ...'.
type incidentOptions struct {
	title, summary string
	mitigated      bool
	id, since      string
	format, output string
	force          bool
}

// newIncidentCmd marks incidents in the ops journal and writes their
// postmortem.
//
// Decision: the markers are allowed in --read-only mode. They write the
// ops journal in the state dir, never the database, and an on-call
// engineer who may only look still has to say what they saw.
func newIncidentCmd(a *app) *cobra.Command {
	o := &incidentOptions{}
	cmd := &cobra.Command{
		Use:   "incident",
		Short: "Mark an incident in the ops journal (start, note, end) and write its postmortem (report)",
		Long: `Mark an incident in the ops journal and write its postmortem from it.

  repops incident start --title 'Appeals failing'
  repops incident note 'error rate 25 %, database is locked in the logs'
  repops incident note --mitigated 'rolled the deploy back'
  repops incident end --summary 'a bad deploy held the write lock'
  repops incident report --format md -o postmortem.md

One incident is open at a time. The report (Markdown or JSON) has the
summary, the impact (each alert's worst value and how long it was beyond
its threshold), TTD, TTA, TTM and TTR to the second, a timeline with one
row per event (alert, operator, runbook step, procedure, scenario) and the
commands to replay it from a shell. The collector (the exporter, the
console) journals the alerts' transitions; the definitions of the times
are in the report's footer and the README.`,
	}
	start := &cobra.Command{
		Use: "start", Short: "Start an incident (one open at a time)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runIncidentStart(a, o, time.Now()) },
	}
	start.Flags().StringVar(&o.title, "title", "", "what is happening, in a few words")
	note := &cobra.Command{
		Use: "note TEXT", Short: "Add a note to the open incident", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runIncidentNote(a, o, strings.Join(args, " "), time.Now())
		},
	}
	note.Flags().BoolVar(&o.mitigated, "mitigated", false, "the impact stopped now (the report's TTM)")
	end := &cobra.Command{
		Use: "end", Short: "End the open incident", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runIncidentEnd(a, o, time.Now()) },
	}
	end.Flags().StringVar(&o.summary, "summary", "", "what happened and why, for the report")
	report := &cobra.Command{
		Use: "report", Short: "Write an incident's postmortem (Markdown or JSON) from the ops journal", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runIncidentReport(cmd.Context(), a, o, time.Now())
		},
	}
	rf := report.Flags()
	rf.StringVar(&o.id, "id", "", "the incident (default: the open one, else the newest)")
	rf.StringVar(&o.since, "since", "", "no incident marked: report on the journal from this time (a duration such as 2h, or a time) to now")
	rf.StringVar(&o.format, "format", "md", "md or json")
	rf.StringVarP(&o.output, "output", "o", "", "write to this file instead of standard output")
	rf.BoolVar(&o.force, "force", false, "with -o, replace an existing file")
	cmd.AddCommand(start, note, end, report)
	return cmd
}

func openIncidentJournal(a *app) (*ops.Journal, error) {
	return ops.OpenJournal(a.cfg.StateDir())
}

func runIncidentStart(a *app, o *incidentOptions, now time.Time) error {
	j, err := openIncidentJournal(a)
	if err != nil {
		return err
	}
	defer j.Close()
	w, err := incident.Start(j, ops.CurrentActor(""), o.title, now)
	if errors.Is(err, incident.ErrOpen) {
		return usageError("incident start: %w", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(a.out, "incident %s started at %s UTC: %s\n", w.ID, w.Start.Format("15:04:05"), w.Title)
	return nil
}

func runIncidentNote(a *app, o *incidentOptions, text string, now time.Time) error {
	j, err := openIncidentJournal(a)
	if err != nil {
		return err
	}
	defer j.Close()
	w, err := incident.Note(j, ops.CurrentActor(""), text, o.mitigated, now)
	if err != nil {
		return usageError("incident note: %w", err)
	}
	what := "note"
	if o.mitigated {
		what = "mitigation"
	}
	fmt.Fprintf(a.out, "%s added to incident %s\n", what, w.ID)
	return nil
}

func runIncidentEnd(a *app, o *incidentOptions, now time.Time) error {
	j, err := openIncidentJournal(a)
	if err != nil {
		return err
	}
	defer j.Close()
	w, err := incident.End(j, ops.CurrentActor(""), o.summary, now)
	if err != nil {
		return usageError("incident end: %w", err)
	}
	fmt.Fprintf(a.out, "incident %s ended after %s: 'repops incident report --id %s' writes its postmortem\n", w.ID, w.End.Sub(w.Start).Round(time.Second), w.ID)
	return nil
}

func runIncidentReport(_ context.Context, a *app, o *incidentOptions, now time.Time) error {
	if o.format != "md" && o.format != "json" {
		return usageError("--format %q: use md or json", o.format)
	}
	if o.since != "" && o.id != "" {
		return usageError("--since and --id: give one (--id reports on a marked incident, --since on a window of time)")
	}
	var since time.Time
	if o.since != "" {
		var err error
		if since, err = parseSince(o.since, now); err != nil {
			return usageError("%w", err)
		}
	}
	if o.output != "" {
		if err := reportTargetOK(o.output, o.force); err != nil {
			return err
		}
	}
	j, err := openIncidentJournal(a)
	if err != nil {
		return err
	}
	defer j.Close()
	entries, err := j.Entries(time.Time{})
	if err != nil {
		return err
	}
	var w incident.Window
	if o.since != "" {
		w = incident.Since(since, now)
	} else if w, err = incident.Find(entries, o.id, now); err != nil {
		return usageError("incident report: %w", err)
	}
	r := incident.Build(entries, w, now)
	var b bytes.Buffer
	if o.format == "json" {
		err = incident.WriteJSON(&b, r)
	} else {
		err = incident.WriteMarkdown(&b, r)
	}
	if err != nil {
		return err
	}
	if o.output == "" {
		_, err = a.out.Write(b.Bytes())
		return err
	}
	return writeReportFile(o.output, b.Bytes())
}

// reportTargetOK refuses a report's -o file that exists (unless force),
// and, even with force, one that is an SQLite database or a database's
// companion (-wal, -shm, -journal): a report never replaces a database.
func reportTargetOK(path string, force bool) error {
	if _, err := os.Lstat(path); err != nil {
		return nil
	}
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if strings.HasSuffix(path, suffix) {
			return usageError("incident report: %s is an SQLite database's %s file: a report never replaces one; choose another file", path, strings.TrimPrefix(suffix, "-"))
		}
	}
	if db.CheckFile(path) == nil {
		return usageError("incident report: %s is an SQLite database: a report never replaces one; choose another file", path)
	}
	if !force {
		return usageError("incident report: %s exists: choose another file, or replace it with --force", path)
	}
	return nil
}

// writeReportFile writes the report atomically: a reader sees the old
// file or the whole report.
func writeReportFile(path string, data []byte) error {
	return fsutil.WriteAtomic(path, data, 0o644)
}
