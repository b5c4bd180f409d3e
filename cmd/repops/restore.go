package main

import (
	"bufio"
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/repops/repops/ops"
)

// restoreOptions are the flags of 'repops restore'.
type restoreOptions struct {
	dir     string
	latest  bool
	online  bool
	offline bool
	force   bool // break another operator's lock
	// acceptFailed restores a backup that fails verification.
	acceptFailed bool
	yes          bool
}

// newRestoreCmd restores the live database from a backup, safely.
func newRestoreCmd(a *app) *cobra.Command {
	o := &restoreOptions{}
	cmd := &cobra.Command{
		Use:   "restore [NAME|--latest]",
		Short: "Restore the database from a backup: verified, with a safety copy, online or offline",
		Long: `Restore the live database from a backup (a NAME from 'repops backups', or
--latest: the newest backup of this database, by its file name). The backup is verified first (sha256 against its manifest,
integrity_check, schema) and a failing one is refused unless
--accept-failed-verification (for when no sound backup is left). The
current database is copied aside first, even a corrupt one, as
NAME.pre-restore-<UTC> in the backup dir. Then:
  --offline  (service stopped) replace the file: temp file, fsync, stale
             -wal/-shm/-journal removed, rename, fsync the directory; refused
             while another process has the database open;
  --online   (service running) write the backup into the live database
             through SQLite's backup API: the service's connections stay
             valid, its writers wait on their busy timeout meanwhile.
Default: online when another process has the file open, offline otherwise.
Afterwards: quick_check, schema validation, rows per table, and the rows of
the replaced database newer than the backup (what was lost).
Asks for the database's file name to be typed unless --yes; refused in
read-only mode. --force breaks another operator's procedure lock (journaled)
and does nothing else.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			return runRestore(cmd.Context(), a, o, name)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", "", "backup dir (overrides console.backup.dir)")
	f.BoolVar(&o.latest, "latest", false, "restore the newest backup")
	f.BoolVar(&o.online, "online", false, "restore into the live database through the backup API (service running)")
	f.BoolVar(&o.offline, "offline", false, "replace the database file (service stopped)")
	f.BoolVar(&o.force, "force", false, forceUsage)
	f.BoolVar(&o.acceptFailed, "accept-failed-verification", false, "restore the backup even though it fails verification (checksum, integrity_check, schema)")
	f.BoolVar(&o.yes, "yes", false, "do not ask for the typed confirmation")
	return cmd
}

func runRestore(ctx context.Context, a *app, o *restoreOptions, name string) error {
	if a.readOnly {
		return ops.ErrReadOnlyMode
	}
	switch {
	case name == "" && !o.latest:
		return usageError("restore: give a backup NAME (see 'repops backups') or --latest")
	case name != "" && o.latest:
		return usageError("restore: give a NAME or --latest, not both")
	case o.online && o.offline:
		return usageError("restore: --online or --offline, not both")
	}
	dir := o.dir
	if dir == "" {
		dir = a.cfg.BackupDir()
	}
	var (
		backup string
		err    error
	)
	if o.latest {
		if backup, err = ops.LatestBackup(dir, a.cfg.Database.Path); err != nil {
			return fmt.Errorf("restore --latest: %w", err)
		}
	} else {
		if backup, err = ops.ResolveBackup(dir, a.cfg.Database.Path, name); err != nil {
			return usageError("%v", err)
		}
	}
	mode := ops.RestoreAuto
	if o.online {
		mode = ops.RestoreOnline
	} else if o.offline {
		mode = ops.RestoreOffline
	}
	dbPath := a.cfg.Database.Path
	base := filepath.Base(dbPath)
	actor := ops.CurrentActor("")
	if !o.yes {
		fmt.Fprintf(a.err, "This replaces %s with the backup %s (%s mode).\nThe current database is copied aside first.\nType the database's name (%s) to go on, anything else cancels: ", dbPath, filepath.Base(backup), mode, base)
		line, _ := bufio.NewReader(a.in).ReadString('\n')
		if strings.TrimSpace(line) != base {
			fmt.Fprintf(a.err, "\n")
			journalCancel(a, actor, dbPath, backup)
			return withCode(exitFailure, fmt.Errorf("restore cancelled: the answer %q is not %q; nothing was changed", strings.TrimSpace(line), base))
		}
	}
	ro := ops.RestoreOptions{DBPath: dbPath, Backup: backup, Mode: mode, AcceptFailedVerification: o.acceptFailed,
		StateDir: a.cfg.StateDir(), Actor: actor}
	var res *ops.RestoreResult
	err = runBreakingLock(a, actor, o.force, func() error {
		var err error
		res, err = ops.Restore(ctx, ro, recoveryProgress(a.err))
		return err
	})
	if res != nil {
		printRestore(a, res)
	}
	return err
}

func journalCancel(a *app, actor ops.Actor, dbPath, backup string) {
	j, err := ops.OpenJournal(a.cfg.StateDir())
	if err != nil {
		return
	}
	defer j.Close()
	_, _ = j.Append(ops.Entry{Actor: actor, Action: "restore", Target: dbPath, Outcome: ops.OutcomeCancelled,
		Params: map[string]any{"backup": backup}, Message: "confirmation not given"})
}

func printRestore(a *app, r *ops.RestoreResult) {
	if r.Mode == "" {
		return
	}
	fmt.Fprintf(a.out, "restore (%s) from %s\n", r.Mode, r.Backup)
	if r.Verify != nil {
		for _, n := range r.Verify.Notes {
			fmt.Fprintf(a.out, "  note: %s\n", n)
		}
	}
	if r.SafetyCopy != "" {
		fmt.Fprintf(a.out, "  safety copy of the replaced database: %s\n", strings.Join(r.SafetyFiles, ", "))
	}
	if r.Tables == nil {
		return
	}
	qc := "ok"
	if len(r.QuickCheck) > 0 {
		qc = strings.Join(r.QuickCheck, "; ")
	}
	fmt.Fprintf(a.out, "  quick_check %s; schema problems %d; took %s\n", qc, len(r.SchemaProblems), r.Took.Round(1e6))
	for _, p := range r.SchemaProblems {
		fmt.Fprintf(a.out, "  schema: %s\n", p)
	}
	if r.LossUnknown != "" {
		fmt.Fprintf(a.out, "  what was lost: unknown (%s)\n", r.LossUnknown)
		return
	}
	fmt.Fprintf(a.out, "  %-40s %12s %12s %12s  %s\n", "TABLE", "BEFORE", "RESTORED", "LOST", "NEWEST LOST")
	for _, l := range r.Lost {
		fmt.Fprintf(a.out, "  %-40s %12d %12d %12d  %s\n", l.Table, l.OldRows, l.RestoredRows, l.NewerRows, l.NewestLost)
	}
	fmt.Fprintf(a.out, "  %d rows newer than the backup were lost; data-loss window %s\n", r.LostRows, r.LostWindow)
}
