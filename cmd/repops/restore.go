package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/repops/repops/internal/humanize"
	"github.com/repops/repops/ops"
	"github.com/repops/repops/replicate"
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
	// to and txid restore a point in time from the Litestream replica
	// (replicate.RestoreTo into scratch), then as a backup.
	to   string
	txid string
}

// newRestoreCmd restores the live database from a backup, safely.
func newRestoreCmd(a *app) *cobra.Command {
	o := &restoreOptions{}
	cmd := &cobra.Command{
		Use:   "restore [NAME|--latest|--to TIME|--txid N]",
		Short: "Restore the database from a backup: verified, with a safety copy, online or offline",
		Long: `Restore the live database from a backup (a NAME from 'repops backups', or
--latest: the newest backup of this database, by its file name). The
backup is verified first (sha256 against its manifest, integrity_check,
schema, rows) and the result shown before the typed name is asked for; a
failing one is refused before any question unless
--accept-failed-verification (for when no sound backup is left). The
current database is kept aside as NAME.pre-restore-<UTC> in the backup
dir, exactly as the restore replaces it. Then:
  --offline  (service stopped) replace the file: the backup to a temp file
             (fsync), then, with this repops's own connections to the
             database closed (they reopen on the new file): the current
             files copied aside byte for byte (a corrupt one too), the
             temp file given the replaced file's owner, group and mode,
             stale -wal/-shm/-journal removed, rename, fsync the
             directory; refused, naming them, while other processes have
             the database open;
  --online   (service running) write the backup into the live database
             through SQLite's backup API, the safety copy taken under the
             same write lock (no write falls between the two): the
             service's connections stay valid, its writers wait on their
             busy timeout meanwhile.
Default: online when another process, or a part of this repops (the
console, the simulator), has the file open; offline otherwise.
Afterwards: quick_check, schema validation, rows per table, and what was
lost, between the safety copy and the backup: per table the rows newer
than the backup, the newest of them, and the data-loss window (newest
lost minus newest kept).
--to TIME (RFC 3339) or --txid N restore a point in time from the
Litestream replica instead of a backup: 'litestream restore' writes it
into <state dir>/scratch, repops checks it (quick_check; the last
transaction kept; the live database's newer rows, counted read-only),
then restores it as above (verified, typed confirmation, safety copy into
the backup dir, online or offline) and removes the scratch file. A time in
the future or before the replica's first position is refused, one line,
nothing changed.
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
	f.StringVar(&o.dir, "dir", "", "backup dir (overrides console.backup.dir; with --to/--txid, where the safety copy goes)")
	f.BoolVar(&o.latest, "latest", false, "restore the newest backup")
	f.BoolVar(&o.online, "online", false, "restore into the live database through the backup API (service running)")
	f.BoolVar(&o.offline, "offline", false, "replace the database file (service stopped)")
	f.BoolVar(&o.force, "force", false, forceUsage)
	f.BoolVar(&o.acceptFailed, "accept-failed-verification", false, "restore the backup even though it fails verification (checksum, integrity_check, schema)")
	f.BoolVar(&o.yes, "yes", false, "do not ask for the typed confirmation")
	f.StringVar(&o.to, "to", "", "restore the point in time TIME (RFC 3339, e.g. 2026-12-04T14:03:17Z) from the Litestream replica: the newest transaction committed before it")
	f.StringVar(&o.txid, "txid", "", "restore up to the transaction N (Litestream's 16 hex digits, 0x<hex> or decimal) from the Litestream replica")
	return cmd
}

func runRestore(ctx context.Context, a *app, o *restoreOptions, name string) error {
	if a.readOnly {
		return ops.ErrReadOnlyMode
	}
	pitr := o.to != "" || o.txid != ""
	switch {
	case pitr && (name != "" || o.latest):
		return usageError("restore: --to/--txid restore from the replica: give no backup NAME nor --latest")
	case o.to != "" && o.txid != "":
		return usageError("restore: --to or --txid, not both")
	case name == "" && !o.latest && !pitr:
		return usageError("restore: give a backup NAME (see 'repops backups') or --latest")
	case name != "" && o.latest:
		return usageError("restore: give a NAME or --latest, not both")
	case o.online && o.offline:
		return usageError("restore: --online or --offline, not both")
	}
	if err := replicate.RefuseRestore(ctx, a.cfg.Database.Path); err != nil {
		return withCode(exitFailure, err)
	}
	dir := o.dir
	if dir == "" {
		dir = a.cfg.BackupDir()
	}
	var (
		backup string
		err    error
		point  *replicate.Result
	)
	if pitr {
		if err := ops.PrepareBackupDir(dir); err != nil {
			return fmt.Errorf("restore: the safety copy's dir: %w; nothing was changed", err)
		}
		if point, err = restorePoint(ctx, a, o); err != nil {
			return err
		}
		defer replicate.Remove(point.Path)
		backup = point.Path
	} else if o.latest {
		if backup, err = ops.LatestBackup(dir, a.cfg.Database.Path); err != nil {
			return fmt.Errorf("restore --latest: %w", err)
		}
	} else {
		if backup, err = ops.ResolveBackup(dir, a.cfg.Database.Path, name); err != nil {
			return usageError("%w", err)
		}
	}
	mode := ops.RestoreAuto
	if o.online {
		mode = ops.RestoreOnline
	} else if o.offline {
		mode = ops.RestoreOffline
	}
	dbPath := a.cfg.Database.Path
	actor := ops.CurrentActor("")
	// A restore that stops before ops.Restore runs (refused or cancelled)
	// is journaled as this one entry, so the timeline shows it.
	notRun := ops.Procedure{Action: "restore", Target: dbPath, Params: map[string]any{"backup": backup}, StateDir: a.cfg.StateDir(), Actor: actor}
	if point != nil {
		notRun.Params["point"], notRun.Params["txid"] = point.Target, point.TXID
	}
	// Verify first and show it: the operator confirms knowing what the
	// backup holds, and a failing one is refused before any question.
	fmt.Fprintf(a.err, "verifying %s (checksum, integrity_check, schema, rows)...\n", filepath.Base(backup))
	v, err := ops.VerifyBackup(ctx, backup)
	if err != nil {
		ops.JournalNotRun(notRun, ops.OutcomeFailed, "the backup could not be verified: "+err.Error())
		return fmt.Errorf("restore: %w; nothing was changed", err)
	}
	writeVerification(a.out, v, time.Now())
	if !v.OK() && !o.acceptFailed {
		ops.JournalNotRun(notRun, ops.OutcomeFailed, "refused: the backup fails verification: "+strings.Join(v.Problems, "; "))
		return withCode(exitFailure, fmt.Errorf("restore: backup %s fails verification (%s): choose another backup ('repops backups'), or --accept-failed-verification to restore it anyway; nothing was changed",
			filepath.Base(backup), strings.Join(v.Problems, "; ")))
	}
	if !o.yes {
		what := fmt.Sprintf("This replaces %s with the backup %s (%s mode).\nThe current database is copied aside first.", dbPath, filepath.Base(backup), mode)
		if point != nil {
			lost := fmt.Sprintf("%d rows of the live database are newer and will be lost", point.LostRows)
			if !point.LostMeasured {
				lost = "what the live database has beyond it is unknown"
			}
			what = fmt.Sprintf("This replaces %s with the replica's state at %s (%s mode): %s.\nThe current database is copied aside first.", dbPath, point.Target, mode, lost)
		}
		if err := a.confirmDatabase(what, notRun, "restore cancelled"); err != nil {
			return err
		}
	}
	ro := ops.RestoreOptions{DBPath: dbPath, Backup: backup, Mode: mode, AcceptFailedVerification: o.acceptFailed, Verified: v,
		StateDir: a.cfg.StateDir(), Actor: actor}
	if point != nil {
		// The safety copy goes to the backup dir, as for a backup, not
		// into scratch with the restored file.
		ro.SafetyDir = dir
	}
	var res *ops.RestoreResult
	err = runBreakingLock(a, actor, o.force, func() error {
		var err error
		res, err = ops.Restore(ctx, ro, recoveryProgress(a.err))
		return err
	})
	if res != nil {
		printRestore(a, res)
		if point != nil && res.Tables != nil {
			fmt.Fprintf(a.out, "restored the point in time %s: last transaction kept txid %s", point.Target, orNone(point.TXID))
			if point.LastTable != "" {
				fmt.Fprintf(a.out, ", newest row %s #%d created_at %s", point.LastTable, point.LastRowID, point.LastCreatedAt)
			}
			fmt.Fprintf(a.out, "; %d rows newer than it were lost (kept in the safety copy)\n", res.LostRows)
		}
	}
	return err
}

// restorePoint restores the point in time --to or --txid asks for from
// the Litestream replica into scratch (replicate.RestoreTo), shows it,
// and returns it; it is then restored as a backup. A point the replica
// cannot give is one line and changes nothing.
func restorePoint(ctx context.Context, a *app, o *restoreOptions) (*replicate.Result, error) {
	ro := replicate.RestoreOptions{ConfigPath: a.cfg.LitestreamConfig(), DBPath: a.cfg.Database.Path, StateDir: a.cfg.StateDir()}
	if o.to != "" {
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(o.to))
		if err != nil {
			return nil, usageError("restore: --to %q: give an RFC 3339 time, e.g. 2026-12-04T14:03:17Z", o.to)
		}
		ro.Timestamp = t
	} else {
		n, err := replicate.ParseTXID(o.txid)
		if err != nil {
			return nil, usageError("restore: --%w", err)
		}
		ro.TXID = n
	}
	// The live database, read-only, to say what this point loses; closed
	// before the restore (an open pool would make it online).
	if live, err := a.openRead(ctx); err == nil {
		ro.Live = live
		defer live.Close()
	}
	fmt.Fprintf(a.err, "restoring %s from the Litestream replica into scratch (litestream restore)...\n", pointName(ro))
	res, err := replicate.RestoreTo(ctx, ro)
	if err != nil {
		return nil, withCode(exitFailure, fmt.Errorf("restore: %w", err))
	}
	if live, ok := ro.Live.(*sql.DB); ok {
		live.Close()
	}
	printPoint(a.out, res)
	if len(res.QuickCheck) > 0 {
		replicate.Remove(res.Path)
		return nil, withCode(exitFailure, fmt.Errorf("restore: the replica's state at %s fails quick_check (%s); nothing was changed", res.Target, strings.Join(res.QuickCheck, "; ")))
	}
	return res, nil
}

func pointName(o replicate.RestoreOptions) string {
	if o.TXID != 0 {
		return "txid " + replicate.FormatTXID(o.TXID)
	}
	return o.Timestamp.UTC().Format(time.RFC3339Nano)
}

// printPoint states the point restored from the replica: the last
// transaction kept and what the live database has beyond it.
func printPoint(w io.Writer, r *replicate.Result) {
	fmt.Fprintf(w, "point in time %s from the Litestream replica (its range %s to %s; restored in %s)\n", r.Target,
		r.First.UTC().Format(time.RFC3339), r.Newest.UTC().Format(time.RFC3339), r.RestoreTook.Round(time.Millisecond))
	txid := r.TXID
	if txid == "" {
		txid = "unknown"
	} else if !r.TXIDTime.IsZero() {
		txid += " (" + r.TXIDTime.UTC().Format(time.RFC3339) + ")"
	}
	fmt.Fprintf(w, "  last transaction kept: txid %s", txid)
	if r.LastTable != "" {
		fmt.Fprintf(w, "; newest row %s #%d created_at %s", r.LastTable, r.LastRowID, r.LastCreatedAt)
	}
	fmt.Fprintln(w)
	if !r.LostMeasured {
		why := r.LostUnknown
		if why == "" {
			why = "the live database could not be opened"
		}
		fmt.Fprintf(w, "  what is lost: unknown (%s)\n", why)
		return
	}
	for _, t := range r.Tables {
		if t.LostRows == 0 {
			continue
		}
		newest := ""
		if t.NewestLost != "" {
			newest = ", newest " + t.NewestLost
		}
		fmt.Fprintf(w, "  lost: %s %d rows after #%d%s\n", t.Table, t.LostRows, t.MaxRowID, newest)
	}
	fmt.Fprintf(w, "  %d rows of the live database are newer than this point\n", r.LostRows)
}

// writeVerification shows a backup's verification, one line per check
// (checksum, integrity, schema, rows) and its age, then the verdict.
func writeVerification(w io.Writer, v *ops.VerifyResult, now time.Time) {
	fmt.Fprintf(w, "backup %s\n", v.Path)
	problems := func(prefixes ...string) []string {
		var out []string
		for _, p := range v.Problems {
			for _, pre := range prefixes {
				if strings.HasPrefix(p, pre+": ") {
					out = append(out, strings.TrimPrefix(p, pre+": "))
				}
			}
		}
		return out
	}
	line := func(what string, probs []string, ok string) {
		if len(probs) > 0 {
			fmt.Fprintf(w, "  %-10s FAILED: %s\n", what, strings.Join(probs, "; "))
		} else {
			fmt.Fprintf(w, "  %-10s %s\n", what, ok)
		}
	}
	if m := v.Manifest; m != nil {
		fmt.Fprintf(w, "  %-10s taken %s, %s old\n", "age", m.Created.UTC().Format("2006-01-02 15:04:05Z"), humanize.Age(now.Sub(m.Created)))
	} else {
		line("manifest", problems("manifest"), "")
	}
	line("checksum", problems("checksum", "size"), "ok: sha256 "+shortSum(v.SHA256)+" matches the manifest")
	integrity := problems("integrity_check", "open")
	line("integrity", integrity, "ok: integrity_check")
	switch {
	case len(integrity) > 0:
		fmt.Fprintf(w, "  %-10s not checked (the file is damaged)\n", "schema")
		fmt.Fprintf(w, "  %-10s not checked (the file is damaged)\n", "rows")
	default:
		line("schema", problems("schema"), fmt.Sprintf("ok: version %d", v.SchemaVersion))
		var total int64
		for _, f := range v.Tables {
			total += f.Rows
		}
		line("rows", problems("rows"), fmt.Sprintf("ok: %d in %d tables, as the manifest", total, len(v.Tables)))
	}
	for _, n := range v.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	if v.OK() {
		fmt.Fprintf(w, "verification: OK (%s)\n", v.Took.Round(time.Millisecond))
	} else {
		fmt.Fprintf(w, "verification: FAILED, %d problem(s)\n", len(v.Problems))
	}
}

func shortSum(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func printRestore(a *app, r *ops.RestoreResult) {
	if r.Mode == "" {
		return
	}
	fmt.Fprintf(a.out, "restore (%s) from %s\n", r.Mode, r.Backup)
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
	fmt.Fprintf(a.out, "  %-36s %10s %10s %8s  %s\n", "TABLE", "BEFORE", "BACKUP", "LOST", "NEWEST LOST (ID, CREATED_AT, WINDOW)")
	for _, l := range r.Lost {
		newest := ""
		if l.NewerRows > 0 {
			newest = fmt.Sprintf("#%d", l.NewestLostID)
			if l.NewestLost != "" {
				newest += " " + l.NewestLost
				if l.NewestKept != "" {
					newest += ", " + l.Window.String()
				}
			}
		}
		fmt.Fprintln(a.out, strings.TrimRight(fmt.Sprintf("  %-36s %10d %10d %8d  %s", l.Table, l.OldRows, l.RestoredRows, l.NewerRows, newest), " "))
	}
	fmt.Fprintf(a.out, "  %d rows newer than the backup were lost (kept in the safety copy); data-loss window %s\n", r.LostRows, r.LostWindow)
}
