package ops

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/repops/repops/db"
)

// Restore modes.
const (
	// RestoreAuto is online when another process has the database open,
	// offline otherwise.
	RestoreAuto = "auto"
	// RestoreOnline writes the backup into the live database through the
	// backup API: the service's connections stay valid; its writers wait
	// (busy timeout) for the duration of the copy.
	RestoreOnline = "online"
	// RestoreOffline replaces the file: for a stopped service, or a
	// database too damaged to open.
	RestoreOffline = "offline"
)

// RestoreOptions are Restore's inputs. The operator's confirmation is the
// caller's business: Restore assumes it was given.
type RestoreOptions struct {
	DBPath string // the live database (may be missing: offline only)
	Backup string // path of the backup file (see ResolveBackup)
	Mode   string // RestoreAuto (default), RestoreOnline or RestoreOffline
	// Verified is a verification of Backup the caller has just made (to
	// show it before asking for the confirmation); Restore then uses it
	// instead of reading the whole backup again. Nil: Restore verifies.
	Verified *VerifyResult
	// AcceptFailedVerification restores a backup that fails verification
	// (the operator's explicit choice, for when no sound backup is left).
	// It has nothing to do with the procedure lock: breaking another
	// operator's lock is the caller's BreakLock.
	AcceptFailedVerification bool
	// SafetyDir receives the safety copy of the current database; default
	// the backup's directory.
	SafetyDir string
	StateDir  string
	Actor     Actor
	Lock      *Lock
	Journal   *Journal
	// BusyTimeout is how long the online copy waits for the service's
	// write lock; default 10 s.
	BusyTimeout time.Duration
	Now         func() time.Time
	FreeSpace   func(dir string) (uint64, error)
	// afterStep, in tests, is called after each named step (crash tests).
	afterStep func(step string)
}

// TableLoss is, for one table, what the restore rolled back: rows of the
// replaced database newer than the backup (by rowid), and the newest
// created_at among them.
type TableLoss struct {
	Table        string `json:"table"`
	OldRows      int64  `json:"old_rows"`
	RestoredRows int64  `json:"restored_rows"`
	NewerRows    int64  `json:"newer_rows"`
	NewestLost   string `json:"newest_lost,omitempty"`
	NewestKept   string `json:"newest_kept,omitempty"`
}

// RestoreResult is what Restore did and found.
type RestoreResult struct {
	Mode        string
	Backup      string
	Verify      *VerifyResult
	SafetyCopy  string   // the replaced database, as it was
	SafetyFiles []string // the safety copy's files (-wal, -shm when present)
	Took        time.Duration
	// After the restore, on the live database.
	QuickCheck     []string // problems; empty when ok
	SchemaProblems []string
	Tables         map[string]TableFigures
	// What was lost: per table; LostRows is their sum. LossUnknown says
	// why it could not be measured (a corrupt old database).
	Lost        []TableLoss
	LostRows    int64
	LostWindow  time.Duration // newest lost created_at minus newest kept: the RPO suffered
	LossUnknown string
}

// Restore replaces the database at o.DBPath with the backup o.Backup,
// safely: it verifies the backup (checksum against the manifest,
// integrity_check, schema) and refuses a failing one unless
// o.AcceptFailedVerification; takes a safety copy of the current database first, even a corrupt one;
// then restores offline (temp file in the same dir, fsync, stale -wal,
// -shm, -journal removed, rename, dir fsync; refused while another
// process has the file open) or online (the backup API into the live
// database). Afterwards it runs quick_check, validates the schema,
// counts rows, and measures what was lost against the safety copy. It
// holds the procedure lock and journals the run.
func Restore(ctx context.Context, o RestoreOptions, progress Progress) (res *RestoreResult, err error) {
	start := time.Now()
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	if o.Mode == "" {
		o.Mode = RestoreAuto
	}
	if o.BusyTimeout == 0 {
		o.BusyTimeout = 10 * time.Second
	}
	step := func(s string) {
		if o.afterStep != nil {
			o.afterStep(s)
		}
	}
	switch o.Mode {
	case RestoreAuto, RestoreOnline, RestoreOffline:
	default:
		return nil, fmt.Errorf("restore: mode %q: use online, offline or auto", o.Mode)
	}
	jr, closeJ, err := journalFor(o.StateDir, o.Journal)
	if err != nil {
		return nil, err
	}
	defer closeJ()
	done := journalRun(jr, o.Actor, "restore", o.DBPath, map[string]any{"backup": o.Backup, "mode": o.Mode, "accept_failed_verification": o.AcceptFailedVerification})
	defer func() { done(res.figures(), err) }()

	// The target: a database file, or a missing one in an existing dir.
	exists := true
	if st, serr := os.Stat(o.DBPath); errors.Is(serr, fs.ErrNotExist) {
		exists = false
		if _, derr := os.Stat(filepath.Dir(o.DBPath)); derr != nil {
			return nil, fmt.Errorf("restore: the directory of %s does not exist: %w", o.DBPath, derr)
		}
	} else if serr != nil {
		return nil, fmt.Errorf("restore: %w", serr)
	} else if st.IsDir() {
		return nil, fmt.Errorf("restore: %s is a directory: give the path of the database file", o.DBPath)
	}
	if st, serr := os.Stat(o.Backup); serr != nil {
		return nil, fmt.Errorf("restore: backup %w", serr)
	} else if st.IsDir() {
		return nil, fmt.Errorf("restore: backup %s is a directory", o.Backup)
	}

	res = &RestoreResult{Backup: o.Backup}
	v := o.Verified
	if v == nil || v.Path != o.Backup {
		progress.report(ProgressEvent{Phase: "verify", Message: "verifying the backup " + filepath.Base(o.Backup)})
		if v, err = VerifyBackup(ctx, o.Backup); err != nil {
			return res, fmt.Errorf("restore: %w", err)
		}
	}
	res.Verify = v
	if !v.OK() && !o.AcceptFailedVerification {
		return res, fmt.Errorf("restore: backup %s fails verification (%s): choose another backup ('repops backups'), or --accept-failed-verification to restore it anyway; nothing was changed",
			filepath.Base(o.Backup), strings.Join(v.Problems, "; "))
	}
	step("verified")

	_, release, err := lockFor(o.StateDir, o.Actor, "restore of "+filepath.Base(o.DBPath), o.Lock)
	if err != nil {
		return res, err
	}
	defer release()

	holders := []int(nil)
	if exists {
		holders, _ = OpenFileHolders(o.DBPath)
	}
	mode := o.Mode
	if mode == RestoreAuto {
		mode = RestoreOffline
		if len(holders) > 0 {
			mode = RestoreOnline
		}
	}
	res.Mode = mode
	if mode == RestoreOffline && len(holders) > 0 {
		return res, fmt.Errorf("restore: %s is open in process(es) %s: replacing the file under them would corrupt it (they share the -wal): stop the service, or restore with --online; nothing was changed",
			o.DBPath, joinInts(holders))
	}
	if mode == RestoreOnline {
		if !exists {
			return res, fmt.Errorf("restore: %s does not exist: an online restore needs the live database; use --offline", o.DBPath)
		}
		if cerr := db.CheckFile(o.DBPath); errors.Is(cerr, db.ErrNotSQLite) || errors.Is(cerr, db.ErrEmpty) {
			return res, fmt.Errorf("restore: an online restore cannot write into %s (%v): stop the service and use --offline", o.DBPath, cerr)
		}
	}

	// The safety copy, before anything changes.
	safetyDir := o.SafetyDir
	if safetyDir == "" {
		safetyDir = filepath.Dir(o.Backup)
	}
	if exists {
		progress.report(ProgressEvent{Phase: "safety-copy", Message: "copying the current database aside"})
		if err := checkRoom(o.FreeSpace, safetyDir, o.DBPath); err != nil {
			return res, err
		}
		res.SafetyCopy = freeName(filepath.Join(safetyDir, fmt.Sprintf("%s.pre-restore-%s", filepath.Base(o.DBPath), now().UTC().Format(db.BackupTimeLayout))))
		res.SafetyFiles, err = safetyCopy(ctx, o.DBPath, res.SafetyCopy, mode == RestoreOnline)
		if err != nil {
			return res, err
		}
	}
	step("safety-copy")

	progress.report(ProgressEvent{Phase: "restore", Message: fmt.Sprintf("restoring %s into %s (%s)", filepath.Base(o.Backup), o.DBPath, mode)})
	if mode == RestoreOnline {
		err = restoreOnline(ctx, o.DBPath, o.Backup, o.BusyTimeout)
	} else {
		err = restoreOffline(ctx, o.DBPath, o.Backup, exists, step)
	}
	if err != nil {
		return res, err
	}
	step("restored")

	progress.report(ProgressEvent{Phase: "check", Message: "quick_check, schema and row counts on the restored database"})
	if err := afterRestore(ctx, o.DBPath, res); err != nil {
		return res, err
	}
	res.Took = time.Since(start)
	if len(res.QuickCheck) > 0 {
		return res, fmt.Errorf("restore: the restored database fails quick_check (%s): restore another backup; the replaced database is at %s",
			strings.Join(res.QuickCheck, "; "), res.SafetyCopy)
	}
	progress.report(ProgressEvent{Phase: "done", Message: fmt.Sprintf("restored in %s; %d rows of the replaced database were newer than the backup", res.Took.Round(time.Millisecond), res.LostRows)})
	return res, nil
}

func (r *RestoreResult) figures() map[string]float64 {
	if r == nil {
		return nil
	}
	return map[string]float64{"seconds": r.Took.Seconds(), "lost_rows": float64(r.LostRows), "lost_window_seconds": r.LostWindow.Seconds()}
}

// freeName is path, or path-2, path-3... the first that exists with
// none of its -wal and -shm: two restores in one second keep both safety
// copies.
func freeName(path string) string {
	taken := func(p string) bool {
		for _, s := range []string{"", "-wal", "-shm"} {
			if _, err := os.Lstat(p + s); err == nil {
				return true
			}
		}
		return false
	}
	p := path
	for i := 2; taken(p) && i < 1000; i++ {
		p = fmt.Sprintf("%s-%d", path, i)
	}
	return p
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

// checkRoom refuses when dir has less room than the database at path and
// its WAL need.
func checkRoom(fsFree func(string) (uint64, error), dir, path string) error {
	if fsFree == nil {
		fsFree = freeSpace
	}
	sizes, err := db.StatFiles(path)
	if err != nil {
		return err
	}
	if err := PrepareBackupDir(dir); err != nil {
		return err
	}
	free, err := fsFree(dir)
	if err != nil {
		return fmt.Errorf("measure free space in %s: %w", dir, err)
	}
	if need := uint64(sizes.DB + sizes.WAL + sizes.SHM); free < need {
		return fmt.Errorf("not enough space in %s for a copy of %s: need %s, %s free: free space first; nothing was changed",
			dir, path, db.FormatBytes(int64(need)), db.FormatBytes(int64(free)))
	}
	return nil
}

// OpenFileHolders lists the other processes that have the database at
// path (or its -wal or -shm) open, from /proc/*/fd. An empty list on a
// system without /proc means "unknown", which callers treat as none.
func OpenFileHolders(path string) ([]int, error) {
	abs := absPath(path)
	targets := map[string]bool{abs: true, abs + "-wal": true, abs + "-shm": true}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		targets[r], targets[r+"-wal"], targets[r+"-shm"] = true, true, true
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	var out []int
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == self {
			continue
		}
		fds, err := os.ReadDir(filepath.Join("/proc", p.Name(), "fd"))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			l, err := os.Readlink(filepath.Join("/proc", p.Name(), "fd", fd.Name()))
			if err == nil && targets[l] {
				out = append(out, pid)
				break
			}
		}
	}
	sort.Ints(out)
	return out, nil
}

// safetyCopy keeps the current database at dst. Online (the service
// writing), a consistent backup-API copy is taken when the database can
// be read; otherwise, and always offline, its files are copied byte for
// byte as they are (-wal and -shm too), which works on a corrupt one.
func safetyCopy(ctx context.Context, src, dst string, online bool) ([]string, error) {
	if online {
		tmp := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp")
		removeDBFiles(tmp)
		if _, err := copyLiveToFile(ctx, src, tmp); err == nil {
			if err := os.Rename(tmp, dst); err == nil {
				return []string{dst}, db.SyncDir(filepath.Dir(dst))
			}
		}
		removeDBFiles(tmp)
	}
	var files []string
	for _, suffix := range []string{"", "-wal", "-shm"} {
		ok, err := copyFileSync(src+suffix, dst+suffix)
		if err != nil {
			for _, f := range files {
				os.Remove(f)
			}
			return nil, fmt.Errorf("restore: safety copy of %s to %s: %w; nothing was changed", src+suffix, dst+suffix, err)
		}
		if ok {
			files = append(files, dst+suffix)
		}
	}
	return files, db.SyncDir(filepath.Dir(dst))
}

// restoreOffline replaces the file: the backup is copied to a temp file
// beside the database and fsynced; the old database's WAL is checkpointed
// when it can be (so that removing it loses nothing even if we crash
// before the rename: the safety copy has it all anyway); stale -wal, -shm
// and -journal are removed, the temp file renamed over the database and
// the directory fsynced. A crash leaves either the old database or the
// restored one, never a mix.
func restoreOffline(ctx context.Context, dbPath, backup string, exists bool, step func(string)) error {
	dir := filepath.Dir(dbPath)
	tmp := filepath.Join(dir, "."+filepath.Base(dbPath)+".restore.tmp")
	removeDBFiles(tmp)
	if _, err := copyFileSync(backup, tmp); err != nil {
		removeDBFiles(tmp)
		return fmt.Errorf("restore: copy %s to %s: %w; nothing was changed", backup, tmp, err)
	}
	step("temp-written")
	if exists && db.CheckFile(dbPath) == nil {
		if w, err := db.OpenWrite(ctx, dbPath, db.Options{BusyTimeout: 2 * time.Second}); err == nil {
			_, _ = w.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
			w.Close()
		}
	}
	step("checkpointed")
	for _, s := range []string{"-wal", "-shm", "-journal"} {
		if err := os.Remove(dbPath + s); err != nil && !errors.Is(err, fs.ErrNotExist) {
			removeDBFiles(tmp)
			return fmt.Errorf("restore: remove stale %s: %w", dbPath+s, err)
		}
	}
	step("companions-removed")
	if err := os.Rename(tmp, dbPath); err != nil {
		removeDBFiles(tmp)
		return fmt.Errorf("restore: rename %s over %s: %w", tmp, dbPath, err)
	}
	if err := db.SyncDir(dir); err != nil {
		return err
	}
	step("renamed")
	// Back to WAL, as the service runs it.
	w, err := db.OpenWrite(ctx, dbPath, db.Options{})
	if err != nil {
		return fmt.Errorf("restore: reopen %s: %w", dbPath, err)
	}
	return w.Close()
}

// restoreOnline writes the backup into the live database through the
// backup API (destination: the live database, source: the backup): one
// write transaction on the live database, during which the service's
// writers wait on their busy timeout and its readers go on reading their
// snapshot; their connections stay valid and see the restored data next.
//
// Decision: one step, not Step(N) with pauses. SQLite keeps the
// destination's write lock from the first step to the last, so pauses
// would only lengthen the writers' wait (measured on 505 MB: no insert
// of the writer completed during a 2.6 s chunked restore, against a
// 2.9 s single step), and a half-restored database is never visible
// either way (readers see the old one until the commit). The backup is
// read through mmap. Writing the -wal back in the background while the
// step runs (as Backup does for its copy) did not shorten the writer's
// wait in measures (3.6 to 4.9 s steps against 2.9 to 7 s without, on a
// shared 2-core machine): the wait is the whole step, whatever its fsyncs.
func restoreOnline(ctx context.Context, dbPath, backup string, busy time.Duration) error {
	w, err := db.OpenWrite(ctx, dbPath, db.Options{BusyTimeout: busy})
	if err != nil {
		return fmt.Errorf("restore online: %w", err)
	}
	defer w.Close()
	dc, err := w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("restore online: %w", db.Classify(dbPath, err))
	}
	defer dc.Close()
	src, err := openImmutable(ctx, backup)
	if err != nil {
		return fmt.Errorf("restore online: %w", err)
	}
	defer src.Close()
	sc, err := src.Conn(ctx)
	if err != nil {
		return fmt.Errorf("restore online: %w", err)
	}
	defer sc.Close()
	if _, err := sc.ExecContext(ctx, fmt.Sprintf("PRAGMA mmap_size = %d", copyMmapSize)); err != nil {
		return fmt.Errorf("restore online: %w", err)
	}
	if _, err := backupAPI(ctx, dc, sc); err != nil {
		return fmt.Errorf("restore online into %s: %w", dbPath, db.Classify(dbPath, err))
	}
	// Fold the restored pages back into the file when no reader is in the
	// way; otherwise the service's own checkpoints will.
	_, _ = dc.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
	return nil
}

// afterRestore checks the restored database and measures the loss.
func afterRestore(ctx context.Context, dbPath string, res *RestoreResult) error {
	r, err := db.OpenRead(ctx, dbPath, db.Options{})
	if err != nil {
		return fmt.Errorf("restore: open the restored database: %w", err)
	}
	defer r.Close()
	if res.QuickCheck, err = db.QuickCheck(ctx, r, 20); err != nil {
		return fmt.Errorf("restore: quick_check: %w", err)
	}
	if rep, err := db.Validate(ctx, r); err != nil {
		res.SchemaProblems = append(res.SchemaProblems, err.Error())
	} else {
		for _, p := range rep.Problems {
			res.SchemaProblems = append(res.SchemaProblems, p.String())
		}
	}
	if res.Tables, err = tableFigures(ctx, r); err != nil {
		return fmt.Errorf("restore: count rows: %w", err)
	}
	if res.SafetyCopy == "" {
		res.LossUnknown = "there was no database before the restore"
		return nil
	}
	old, err := openSafetyCopy(ctx, res.SafetyCopy)
	if err != nil {
		res.LossUnknown = "the replaced database cannot be read: " + err.Error()
		return nil
	}
	defer old.Close()
	res.Lost, res.LostWindow, err = measureLoss(ctx, old, res.Tables)
	if err != nil {
		res.LossUnknown = "the replaced database cannot be read: " + err.Error()
		return nil
	}
	for _, l := range res.Lost {
		res.LostRows += l.NewerRows
	}
	return nil
}

// openSafetyCopy opens a safety copy read-only: immutable when it is a
// single file, through its copied -wal otherwise.
func openSafetyCopy(ctx context.Context, path string) (*sql.DB, error) {
	if _, err := os.Stat(path + "-wal"); err == nil {
		return db.OpenRead(ctx, path, db.Options{MaxConns: 1})
	}
	return openImmutable(ctx, path)
}

// measureLoss compares the replaced database (old) with the restored
// figures: per table, the rows whose rowid is beyond the restored max.
func measureLoss(ctx context.Context, old db.Querier, restored map[string]TableFigures) ([]TableLoss, time.Duration, error) {
	oldFigs, err := tableFigures(ctx, old)
	if err != nil {
		return nil, 0, err
	}
	var out []TableLoss
	var window time.Duration
	for _, t := range sortedKeys(oldFigs) {
		of := oldFigs[t]
		nf := restored[t]
		l := TableLoss{Table: t, OldRows: of.Rows, RestoredRows: nf.Rows, NewestKept: nf.NewestCreatedAt}
		quoted := `"` + strings.ReplaceAll(t, `"`, `""`) + `"`
		if err := old.QueryRowContext(ctx, `SELECT count(*) FROM `+quoted+` WHERE rowid > ?`, nf.MaxRowID).Scan(&l.NewerRows); err != nil {
			return nil, 0, err
		}
		if l.NewerRows > 0 && of.NewestCreatedAt > nf.NewestCreatedAt {
			l.NewestLost = of.NewestCreatedAt
			lost, kept := db.ParseTime(of.NewestCreatedAt), db.ParseTime(nf.NewestCreatedAt)
			if !lost.IsZero() && !kept.IsZero() {
				window = max(window, lost.Sub(kept))
			}
		}
		out = append(out, l)
	}
	return out, window, nil
}
