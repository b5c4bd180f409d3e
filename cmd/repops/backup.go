package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/humanize"
	"github.com/repops/repops/ops"
)

// backupOptions are the flags of 'repops backup'.
type backupOptions struct {
	dir   string
	force bool // break another operator's lock
}

// newBackupCmd takes an online backup of the live database.
//
// Decision: backup and drill are allowed in read-only mode: they only
// read the live database (the backup API's read transaction) and write
// into the backup dir and the state dir, never into the database.
// Restore is refused in read-only mode.
func newBackupCmd(a *app) *cobra.Command {
	o := &backupOptions{}
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Online, consistent backup of the live database, with a manifest and retention",
		Long: `Copy the live database with SQLite's online backup API while the service goes
on writing, into the backup dir (console.backup.dir; default "backups" beside
the database) as architect_<UTC>.db with a manifest NAME.json (size, pages,
sha256, schema version, rows per table, quick_check). The copy is written
under a temporary name and renamed only when complete. Then the retention
(console.backup.keep_last, keep_within) removes older backups. Allowed in
read-only mode: the live database is only read. --force breaks another
operator's procedure lock (journaled).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBackup(cmd.Context(), a, o)
		},
	}
	cmd.Flags().StringVar(&o.dir, "dir", "", "backup dir (overrides console.backup.dir)")
	cmd.Flags().BoolVar(&o.force, "force", false, forceUsage)
	return cmd
}

func runBackup(ctx context.Context, a *app, o *backupOptions) error {
	if a.readOnly {
		return ops.ErrReadOnlyBackup
	}
	dir := o.dir
	if dir == "" {
		dir = a.cfg.BackupDir()
	}
	if note := db.ImmutableNote(a.cfg.Database.Path); note != "" {
		fmt.Fprintln(a.err, "note:", note)
	}
	actor := ops.CurrentActor("")
	var res *ops.BackupResult
	err := runBreakingLock(a, actor, o.force, func() error {
		var err error
		res, err = ops.Backup(ctx, ops.BackupOptions{
			DBPath: a.cfg.Database.Path, Dir: dir, StateDir: a.cfg.StateDir(),
			KeepLast: a.cfg.Console.Backup.KeepLast, KeepWithin: a.cfg.Console.Backup.KeepWithin,
			Actor: actor,
		}, recoveryProgress(a.err))
		return err
	})
	if res != nil {
		m := res.Manifest
		fmt.Fprintf(a.out, "backup %s\n", res.Path)
		fmt.Fprintf(a.out, "  size %s, %d pages, schema version %d, sha256 %s\n", humanize.Bytes(m.Size), m.PageCount, m.SchemaVersion, m.SHA256)
		for _, t := range sortedTableNames(m.Tables) {
			fmt.Fprintf(a.out, "  %-40s %12d rows\n", t, m.Tables[t].Rows)
		}
		fmt.Fprintf(a.out, "  quick_check %s; copy %s (%s), total %s\n", m.QuickCheck, res.CopyTook.Round(time.Millisecond), res.Method, res.Took.Round(time.Millisecond))
		if res.Fallback != "" {
			fmt.Fprintf(a.out, "  the WAL-aware file copy was not used: %s\n", res.Fallback)
		}
		for _, r := range res.Removed {
			fmt.Fprintf(a.out, "  retention removed %s\n", r)
		}
	}
	return err
}

// recoveryProgress prints a procedure's phases on w, one line each.
func recoveryProgress(w io.Writer) ops.Progress {
	return func(e ops.ProgressEvent) {
		if e.Message != "" {
			fmt.Fprintln(w, phaseLine(e.Phase, e.Message))
		}
	}
}

// phaseLine is "phase: message", without saying the phase twice when the
// message already starts with it ("analyze: holds the write lock...").
func phaseLine(phase, msg string) string {
	if phase == "" || strings.HasPrefix(msg, phase+":") || strings.HasPrefix(msg, phase+" ") {
		return msg
	}
	return phase + ": " + msg
}

func sortedTableNames(m map[string]ops.TableFigures) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	for i := 1; i < len(names); i++ {
		for j := i; j > 0 && names[j] < names[j-1]; j-- {
			names[j], names[j-1] = names[j-1], names[j]
		}
	}
	return names
}
