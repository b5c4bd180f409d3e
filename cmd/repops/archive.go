package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/humanize"
	"github.com/repops/repops/ops"
)

// archiveOptions are the flags of 'repops archive'.
type archiveOptions struct {
	dryRun            bool
	olderThan         string
	messagesOlderThan string
	tables            []string
	archiveFile       string
	batchRows         int
	batchTime         time.Duration
	batchPause        time.Duration
	yes               bool
	force             bool // break another operator's lock
	json              bool
}

// newArchiveCmd is the guide's "Data Archival", made safe: batches that
// leave the service writing, resumable, verified.
func newArchiveCmd(a *app) *cobra.Command {
	o := &archiveOptions{}
	cmd := &cobra.Command{
		Use:   "archive",
		Short: "Move old settled appeals and messages to the archive, in short batches, verified",
		Long: `Move what the retention policy (console.archive) says out of the live tables:
appeals in a final status (approved, denied, expired) older than
appeals_older_than (default one year) with all their negotiation messages, and
negotiation messages older than messages_older_than (default six months) of
appeals in a final status. They go to the archive tables (appeals_archive,
appeal_negotiation_messages_archive) or, with --archive-file (console.archive.file),
to a separate SQLite file, so that the live file can shrink afterwards
('repops optimize incremental-vacuum' or vacuum).

The move runs in short IMMEDIATE transactions (about --batch-time each) with a
pause between them, until the service has written (at most --batch-pause, or
by default the retry gap of SQLite's busy handler), so that the service's
writers are never held up for long; each batch's row counts are checked, and at the end the
moved rows are verified in the archive (count and checksum) and none is left
behind. A run that is stopped, even killed, is resumed by running it again.

It first shows what would move (rows and bytes); --dry-run stops there.
Then it asks for the database's file name to be typed, unless --yes.
Ages: 8760h, 365d, 26w, 6mo, 1y; or a UTC date: 2025-01-31.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runArchive(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.dryRun, "dry-run", false, "report the rows and bytes that would move; change nothing")
	f.StringVar(&o.olderThan, "older-than", "", "appeals cutoff: age or UTC date (default console.archive.appeals_older_than)")
	f.StringVar(&o.messagesOlderThan, "messages-older-than", "", "messages cutoff (default console.archive.messages_older_than)")
	f.StringSliceVar(&o.tables, "table", nil, "restrict to appeals and/or appeal_negotiation_messages (default both)")
	f.StringVar(&o.archiveFile, "archive-file", "", "separate archive database file (default console.archive.file; none: archive tables in the live database)")
	f.IntVar(&o.batchRows, "batch-rows", 0, "most rows per batch (default console.archive.batch_rows)")
	f.DurationVar(&o.batchTime, "batch-time", 0, "aim for one write transaction (default 40ms)")
	f.DurationVar(&o.batchPause, "batch-pause", 0, "longest pause between write transactions (default console.archive.batch_pause; 0: until the service has written, at most its busy-handler retry gap)")
	f.BoolVar(&o.yes, "yes", false, "do not ask for the typed confirmation")
	f.BoolVar(&o.force, "force", false, forceUsage)
	f.BoolVar(&o.json, "json", false, "print the result as JSON")
	return cmd
}

func runArchive(ctx context.Context, a *app, o *archiveOptions) error {
	if err := checkArchiveFlags(o); err != nil {
		return err
	}
	now := time.Now()
	pol := a.cfg.Console.Archive
	ao := ops.ArchiveOptions{DBPath: a.cfg.Database.Path, DB: a.dbOptions(), ArchiveFile: pol.File, Tables: o.tables,
		BatchRows: pol.BatchRows, BatchPause: pol.BatchPause, BatchTime: o.batchTime,
		Recorder: ops.Recorder{StateDir: a.cfg.StateDir(), Actor: ops.CurrentActor("")}}
	ao.DB.Synchronous = "" // archival picks its own (see ops.ArchiveOptions)
	if o.archiveFile != "" {
		ao.ArchiveFile = o.archiveFile
	}
	if o.batchRows > 0 {
		ao.BatchRows = o.batchRows
	}
	if o.batchPause > 0 {
		ao.BatchPause = o.batchPause
	}
	var err error
	switch {
	case o.olderThan != "":
		if ao.AppealsBefore, err = ops.ParseCutoff(o.olderThan, now); err != nil {
			return usageError("archive --older-than: %w", err)
		}
	case pol.AppealsOlderThan > 0:
		ao.AppealsBefore = now.Add(-pol.AppealsOlderThan)
	}
	switch {
	case o.messagesOlderThan != "":
		if ao.MessagesBefore, err = ops.ParseCutoff(o.messagesOlderThan, now); err != nil {
			return usageError("archive --messages-older-than: %w", err)
		}
	case pol.MessagesOlderThan > 0:
		ao.MessagesBefore = now.Add(-pol.MessagesOlderThan)
	}
	if !o.dryRun && a.readOnly {
		return ops.ErrReadOnlyMode
	}
	dry := ao
	dry.DryRun = true
	plan, err := ops.Archive(ctx, dry, nil)
	if err != nil {
		return namesUnknown(exitFailure, err)
	}
	if o.dryRun {
		if o.json {
			return printMaintJSON(a.out, plan)
		}
		printArchive(a.out, plan)
		return nil
	}
	if !o.json {
		printArchive(a.out, plan)
	}
	if plan.Rows() == 0 {
		fmt.Fprintln(a.out, "nothing to archive")
		return nil
	}
	if !o.yes {
		what := fmt.Sprintf("This moves %d rows (%s) out of the live database %s.", plan.Rows(), humanize.Bytes(plan.Bytes()), ao.DBPath)
		if err := confirmMaintenance(a, "archive", map[string]any{"rows": plan.Rows(), "archive_file": ao.ArchiveFile}, what); err != nil {
			return err
		}
	}
	var res *ops.ArchiveResult
	err = runBreakingLock(a, ao.Recorder.Actor, o.force, func() error {
		var err error
		res, err = ops.Archive(ctx, ao, func(e ops.ProgressEvent) {
			if !o.json && e.Message != "" && (e.Total == 0 || e.Done == 0 || e.Done == e.Total || e.Done%20000 < 2000) {
				fmt.Fprintln(a.err, phaseLine(e.Phase, e.Message))
			}
		})
		return err
	})
	if res != nil {
		if o.json {
			if jerr := printMaintJSON(a.out, res); jerr != nil {
				return jerr
			}
		} else {
			printArchive(a.out, res)
		}
	}
	return err
}

// checkArchiveFlags refuses, before anything is opened, a negative batch
// size, time or pause (which the procedure would otherwise take for "the
// default" without a word) and an age too large for a duration
// (99999999999999999y would wrap round to some date in the past).
func checkArchiveFlags(o *archiveOptions) error {
	if o.batchRows < 0 {
		return usageError("archive --batch-rows %d: cannot be negative: give the most rows per batch (at least 1), or leave it out for console.archive.batch_rows", o.batchRows)
	}
	if err := checkNotNegative("archive --batch-time", o.batchTime, "aim for a write transaction of about this long (leave it out for 40ms)"); err != nil {
		return err
	}
	if err := checkNotNegative("archive --batch-pause", o.batchPause, "the longest pause between write transactions (0, or leave it out: until the service has written)"); err != nil {
		return err
	}
	if err := checkAgeRange("archive --older-than", o.olderThan); err != nil {
		return err
	}
	return checkAgeRange("archive --messages-older-than", o.messagesOlderThan)
}

// checkNotNegative refuses a negative duration given to flag; want says
// what the flag takes.
func checkNotNegative(flag string, d time.Duration, want string) error {
	if d < 0 {
		return usageError("%s %s: cannot be negative: give %s", flag, d, want)
	}
	return nil
}

// ageUnits are the units an archive age takes beyond Go's durations, as
// ops.ParseCutoff reads them.
var ageUnits = []struct {
	suffix string
	d      time.Duration
}{{"mo", 30 * 24 * time.Hour}, {"d", 24 * time.Hour}, {"w", 7 * 24 * time.Hour}, {"y", 365 * 24 * time.Hour}}

// checkAgeRange refuses an age in days, weeks, months or years whose
// number does not fit a duration (about 292 years), before
// ops.ParseCutoff multiplies it out and wraps round. A Go duration that
// does not fit (9999999h) is already refused by ParseCutoff.
func checkAgeRange(flag, s string) error {
	s = strings.TrimSpace(s)
	for _, u := range ageUnits {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok || num == "" || strings.Trim(num, "+-0123456789") != "" {
			continue
		}
		most := int64(math.MaxInt64 / u.d)
		if n, err := strconv.ParseInt(num, 10, 64); err != nil || n > most || n < -most {
			return usageError("%s %q: out of range: an age is at most %d%s (about 292 years)", flag, s, most, u.suffix)
		}
		return nil
	}
	return nil
}

// printArchive writes an archival plan or result.
func printArchive(w io.Writer, r *ops.ArchiveResult) {
	verb := "moved"
	if r.DryRun {
		verb = "would move"
	}
	dest := "the archive tables in the live database"
	if r.ArchiveFile != "" {
		dest = r.ArchiveFile
	}
	fmt.Fprintf(w, "archive %s -> %s\n", r.Database, dest)
	if !r.AppealsBefore.IsZero() {
		fmt.Fprintf(w, "  appeals in a final status created before %s, with their messages\n", db.FormatTime(r.AppealsBefore))
	}
	if !r.MessagesBefore.IsZero() {
		fmt.Fprintf(w, "  messages created before %s of appeals in a final status\n", db.FormatTime(r.MessagesBefore))
	}
	for _, t := range r.Tables {
		fmt.Fprintf(w, "  %-28s %s %10d rows  ~%s\n", t.Table, verb, t.Rows, humanize.Bytes(t.Bytes))
	}
	for _, k := range r.Kept {
		fmt.Fprintf(w, "  kept %s\n", k)
	}
	if r.DryRun {
		return
	}
	fmt.Fprintf(w, "  %d batches in %s; longest write transaction %s (lock held %s in all)\n", r.Batches,
		r.Duration.Round(time.Millisecond), r.LongestTx.Round(time.Millisecond), r.TxTime.Round(time.Millisecond))
	fmt.Fprintf(w, "  freed %s inside the file (%s free now: 'repops optimize incremental-vacuum' returns it to the disk)\n",
		humanize.Bytes(r.Freed), humanize.Bytes(r.FreePagesBytes))
	if r.Verified {
		fmt.Fprintf(w, "  verified: every moved row is in the archive (count and checksum), none left behind\n")
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  PROBLEM %s\n", p)
	}
}
