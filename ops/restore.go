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

	"github.com/mattn/go-sqlite3"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/fsutil"
	"github.com/repops/repops/internal/humanize"
	"github.com/repops/repops/state"
)

// Restore modes.
const (
	// RestoreAuto is online when another process, or a component of this
	// one (the console, the simulator, the exporter: db.Holders), has the
	// database open, offline otherwise.
	RestoreAuto = "auto"
	// RestoreOnline writes the backup into the live database through the
	// backup API, the safety copy taken under the same write lock: the
	// service's connections stay valid; its writers wait (busy timeout)
	// for the duration of the safety copy and the restore.
	RestoreOnline = "online"
	// RestoreOffline replaces the file (db.Swap): for a stopped service, or
	// a database too damaged to open. Refused while another process has
	// the file open; this process's Handles are closed for the swap and
	// reopen on the new file.
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

// TableLoss is, for one table, what the restore rolled back, measured
// between the safety copy (the database exactly as it was when the
// restore replaced it) and the backup: the rows of the safety copy whose
// rowid is beyond the backup's largest (inserts the backup does not
// have; rows updated or deleted since the backup are not counted), the
// newest of them, and how much newer it is than the newest row the
// backup kept.
type TableLoss struct {
	Table        string `json:"table"`
	OldRows      int64  `json:"old_rows"`      // rows of the replaced database (the safety copy)
	RestoredRows int64  `json:"restored_rows"` // rows of the backup, as restored
	NewerRows    int64  `json:"newer_rows"`    // rows of the replaced database beyond the backup's max rowid: lost
	// The newest lost row (by created_at, then rowid; by rowid in a
	// table without created_at): its rowid and created_at.
	NewestLostID int64  `json:"newest_lost_id,omitempty"`
	NewestLost   string `json:"newest_lost,omitempty"`
	NewestKept   string `json:"newest_kept,omitempty"` // newest created_at in the backup
	// Window is NewestLost minus NewestKept (zero when either is unknown
	// or the lost row is not newer).
	Window time.Duration `json:"window_ns,omitempty"`
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
	// What was lost, between the safety copy and the backup: per table;
	// LostRows is their sum. LossUnknown says why it could not be measured
	// (a corrupt old database).
	Lost        []TableLoss
	LostRows    int64
	LostWindow  time.Duration // the largest table's Window: the RPO suffered
	LossUnknown string
}

// Restore replaces the database at o.DBPath with the backup o.Backup,
// safely: it verifies the backup (checksum against the manifest,
// integrity_check, schema) and refuses a failing one unless
// o.AcceptFailedVerification. Then, online (the backup API into the live
// database, see restoreOnline), the safety copy of the current database
// and the restore are one step under the database's write lock, so the
// safety copy is exactly what the restore replaced; offline (see
// restoreOffline: refused while another process has the file open), the
// backup is copied to a temp file, and inside db.Swap the current files
// are copied aside byte for byte (a corrupt database too) and the temp
// file replaces them (db.ReplaceWith). Afterwards it runs quick_check,
// validates the schema, counts rows, and measures what was lost between
// the safety copy and the backup. It holds the procedure lock from the
// start and journals the run (Run): it writes to the live database, so it
// is refused without a state dir. Only package db touches the live
// database's files.
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
	p := Procedure{Action: "restore", Target: o.DBPath, Purpose: "restore of " + filepath.Base(o.DBPath),
		Params:   map[string]any{"backup": o.Backup, "mode": o.Mode, "accept_failed_verification": o.AcceptFailedVerification},
		StateDir: o.StateDir, Actor: o.Actor, Lock: o.Lock, Journal: o.Journal, Writes: true, Progress: progress}
	err = Run(ctx, p, func(ctx context.Context, _ *Running) (map[string]float64, error) {
		var err error
		res, err = restoreLocked(ctx, o, progress, start, now, step)
		return res.figures(), err
	})
	return res, err
}

// restoreLocked is Restore's work, under the lock.
func restoreLocked(ctx context.Context, o RestoreOptions, progress Progress, start time.Time, now func() time.Time, step func(string)) (res *RestoreResult, err error) {
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

	// Who has the file open: other processes (from /proc), and the
	// components of this one (the console, the simulator...: db.Holders;
	// the restore itself has nothing open on it at this point).
	var others []FileHolder
	var inProcess []db.Holder
	if exists {
		inProcess = db.Holders(o.DBPath)
		// Online needs no watch; nor does auto with a component of this
		// process on the file (online already).
		if o.Mode == RestoreOffline || (o.Mode == RestoreAuto && len(inProcess) == 0) {
			others = watchHolders(o.DBPath, holderWatch)
		}
	}
	mode := o.Mode
	if mode == RestoreAuto {
		mode = RestoreOffline
		if len(others) > 0 || len(inProcess) > 0 {
			mode = RestoreOnline
		}
	}
	res.Mode = mode
	if mode == RestoreOffline && len(others) > 0 {
		return res, refuseOffline(o.DBPath, others)
	}
	if mode == RestoreOnline {
		if !exists {
			return res, fmt.Errorf("restore: %s does not exist: an online restore needs the live database; use --offline", o.DBPath)
		}
		if cerr := db.CheckFile(o.DBPath); errors.Is(cerr, db.ErrNotSQLite) || errors.Is(cerr, db.ErrEmpty) {
			return res, fmt.Errorf("restore: an online restore cannot write into %s (%w): stop the service and use --offline", o.DBPath, cerr)
		}
	}

	safetyDir := o.SafetyDir
	if safetyDir == "" {
		safetyDir = filepath.Dir(o.Backup)
	}
	if exists {
		// Safety copies a killed restore left under their temp names (their
		// pid is gone) go now; complete ones have their final names.
		_, _ = fsutil.RemoveStale(safetyDir)
		if err := checkRoom(o.FreeSpace, safetyDir, o.DBPath); err != nil {
			return res, err
		}
		res.SafetyCopy = freeName(filepath.Join(safetyDir, fmt.Sprintf("%s.pre-restore-%s", filepath.Base(o.DBPath), now().UTC().Format(state.BackupTimeLayout))))
	}

	if mode == RestoreOnline {
		progress.report(ProgressEvent{Phase: "restore", Message: fmt.Sprintf("restoring %s into %s (online): the safety copy, then the restore, under one write lock; the service's writes wait meanwhile", filepath.Base(o.Backup), o.DBPath)})
		res.SafetyFiles, err = restoreOnline(ctx, o.DBPath, o.Backup, res.SafetyCopy, o.BusyTimeout, step)
	} else {
		progress.report(ProgressEvent{Phase: "restore", Message: fmt.Sprintf("restoring %s into %s (offline): the current files copied aside, then replaced", filepath.Base(o.Backup), o.DBPath)})
		res.SafetyFiles, err = restoreOffline(ctx, o.DBPath, o.Backup, res.SafetyCopy, step)
		var held *heldByOthers
		if errors.As(err, &held) && o.Mode == RestoreAuto {
			// A process opened the file after the first look (a service
			// that opens a connection per statement is not always seen):
			// nothing was touched; online is the safe way.
			res.Mode = RestoreOnline
			progress.report(ProgressEvent{Phase: "restore", Message: fmt.Sprintf("%s opened %s: restoring online instead; the service's writes wait meanwhile", held.names(), o.DBPath)})
			res.SafetyFiles, err = restoreOnline(ctx, o.DBPath, o.Backup, res.SafetyCopy, o.BusyTimeout, step)
		}
	}
	if err != nil {
		if len(res.SafetyFiles) == 0 {
			res.SafetyCopy = ""
		}
		return res, err
	}
	step("restored")

	progress.report(ProgressEvent{Phase: "check", Message: "quick_check, schema and row counts on the restored database; the loss, between the safety copy and the backup"})
	if err := afterRestore(ctx, o.DBPath, o.Backup, res); err != nil {
		return res, err
	}
	res.Took = time.Since(start)
	if len(res.QuickCheck) > 0 {
		return res, fmt.Errorf("restore: the restored database fails quick_check (%s): restore another backup; the replaced database is at %s",
			strings.Join(res.QuickCheck, "; "), res.SafetyCopy)
	}
	progress.report(ProgressEvent{Phase: "done", Message: fmt.Sprintf("restored in %s; %d rows of the replaced database were newer than the backup (kept in the safety copy)", res.Took.Round(time.Millisecond), res.LostRows)})
	return res, nil
}

// heldByOthers is the refusal of an offline restore while other
// processes have the file open, naming them.
type heldByOthers struct {
	path   string
	others []FileHolder
}

func (e *heldByOthers) names() string {
	names := make([]string, len(e.others))
	for i, h := range e.others {
		names[i] = h.String()
	}
	return strings.Join(names, ", ")
}

func (e *heldByOthers) Error() string {
	return fmt.Sprintf("restore: %s is open in %s: replacing the file under them would corrupt it (they share the -wal) and lose what they write: stop the service, or restore with --online; nothing was changed",
		e.path, e.names())
}

func refuseOffline(path string, others []FileHolder) error {
	return &heldByOthers{path: path, others: others}
}

// holderWatch is how long Restore looks for other processes with the
// database open before it restores offline (auto mode, or refusing an
// explicit offline): a service that opens a connection per statement
// has the file open only part of the time, and one look at /proc misses
// it about once in ten at full speed (measured with the tests' writer);
// looking again for this long, every millisecond or so, does not.
var holderWatch = 250 * time.Millisecond

// watchHolders looks for other processes with the database at path open
// for up to window, and returns those of the first look that finds any
// (nil: none seen).
func watchHolders(path string, window time.Duration) []FileHolder {
	deadline := time.Now().Add(window)
	for {
		if hs, _ := OpenFileHolders(path); len(hs) > 0 {
			return hs
		}
		if time.Now().After(deadline) {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
}

// figures are the journal's: the duration, the loss (rows and window),
// and per table the rows lost and, where some were, the newest lost row
// (rowid, created_at as Unix seconds) and the table's window.
func (r *RestoreResult) figures() map[string]float64 {
	if r == nil {
		return nil
	}
	f := map[string]float64{"seconds": r.Took.Seconds(), "lost_rows": float64(r.LostRows), "lost_window_seconds": r.LostWindow.Seconds()}
	for _, l := range r.Lost {
		f[l.Table+"_lost_rows"] = float64(l.NewerRows)
		if l.NewerRows == 0 {
			continue
		}
		f[l.Table+"_newest_lost_id"] = float64(l.NewestLostID)
		if t := db.ParseTime(l.NewestLost); !t.IsZero() {
			f[l.Table+"_newest_lost_unix"] = float64(t.Unix())
		}
		f[l.Table+"_lost_window_seconds"] = l.Window.Seconds()
	}
	return f
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
			dir, path, humanize.Bytes(int64(need)), humanize.Bytes(int64(free)))
	}
	return nil
}

// FileHolder is another process that has a database file open.
type FileHolder struct {
	PID     int
	Command string // /proc/PID/comm; "?" when it could not be read
}

func (h FileHolder) String() string { return fmt.Sprintf("pid %d (%s)", h.PID, h.Command) }

// OpenFileHolders lists the other processes that have the database at
// path (or its -wal or -shm) open, from /proc/*/fd (links only: nothing
// is opened), each with its command name. This process is not listed:
// its own components are db.Holders. An empty list on a system without
// /proc means "unknown", which callers treat as none.
func OpenFileHolders(path string) ([]FileHolder, error) {
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
	var out []FileHolder
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
				out = append(out, FileHolder{PID: pid, Command: procComm(pid)})
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out, nil
}

// procComm is the command name of process pid, "?" when unknown.
func procComm(pid int) string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	if s := strings.TrimSpace(string(b)); err == nil && s != "" {
		return s
	}
	return "?"
}

// restoreOffline replaces the file. The backup is copied to a temp file
// beside the database and fsynced first (the live files are not touched
// yet); then, inside db.Swap (every Handle of this process closed, no
// connection of it open, none opening meanwhile): a last check that no
// other process has opened the file (else a *heldByOthers error, nothing
// touched), the safety copy of the current
// database, -wal and -shm byte for byte (db.CopyAside: a corrupt one
// too), and the replacement (db.ReplaceWith: the temp file gets the old
// file's owner, group and mode; the old WAL is checkpointed when it can
// be; stale -wal, -shm and -journal removed; rename; directory fsynced;
// reopened into WAL mode). Nothing of this process writes between the
// safety copy and the rename, and no other process has the file open,
// so the safety copy is exactly what was replaced. A crash leaves either
// the old database or the restored one, never a mix. It returns the
// safety copy's files.
func restoreOffline(ctx context.Context, dbPath, backup, safety string, step func(string)) ([]string, error) {
	// The backup is copied beside the database under a pid-tagged temp
	// name; what a killed restore left there goes first.
	_, _ = fsutil.RemoveStale(filepath.Dir(dbPath))
	tmp := fsutil.TempName(dbPath)
	if _, err := copyFileSync(backup, tmp); err != nil {
		removeDBFiles(tmp)
		return nil, fmt.Errorf("restore: copy %s to %s: %w; nothing was changed", backup, tmp, err)
	}
	step("temp-written")
	var files []string
	err := db.Swap(ctx, dbPath, func(ctx context.Context) error {
		if others, _ := OpenFileHolders(dbPath); len(others) > 0 {
			return refuseOffline(dbPath, others)
		}
		if safety != "" {
			var err error
			if files, err = db.CopyAside(ctx, dbPath, safety); err != nil {
				return fmt.Errorf("restore: safety copy of %s: %w; nothing was changed", dbPath, err)
			}
		}
		step("safety-copy")
		if err := db.ReplaceWith(ctx, dbPath, tmp, step); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		return nil
	})
	if err != nil {
		removeDBFiles(tmp)
		return files, err
	}
	return files, nil
}

// restoreOnline writes the backup into the live database through the
// backup API (destination: a write connection to the live database,
// source: the backup), with the safety copy of the live database taken in
// the same write transaction, and returns the safety copy's files:
//
//  1. Step(0) begins the destination's write transaction and copies
//     nothing: sqlite3_backup_step locks the destination (bDestLocked,
//     sqlite3BtreeBeginTrans(pDest, 2), waiting on the busy timeout for
//     the service's writer) before its page loop, which runs zero times,
//     and keeps that transaction until the backup is done or finished.
//     In WAL mode that is the WAL's write lock: readers go on, no other
//     connection, of any process, can commit. go-sqlite3's Step reports
//     a busy destination as "not done" with no error like a success, so
//     the lock is known to be held by the page count SQLite sets only on
//     success (sqlite3_backup_pagecount > 0).
//  2. While it is held, the safety copy is taken from another connection
//     of this process: in WAL mode the WAL-aware copy (copyLiveToFile), a
//     read transaction that sees the last commit, which no one can follow;
//     so it is exactly the database the restore replaces. (In rollback
//     journal mode the lock is EXCLUSIVE and no other connection can
//     read: the file is copied through SQLite's descriptor, db.CopyAside,
//     and is the whole database as nobody can write to it.) Should the
//     WAL-aware copy fail, db.CopyAside takes the files byte for byte,
//     under the same lock.
//  3. Step(-1) copies every page and commits; Finish. A failure before
//     (the safety copy, a cancellation) finishes the backup unstepped,
//     which rolls the empty transaction back: nothing was changed.
//
// So no commit falls between the safety copy and the restore: what the
// restore rolls back is all in the safety copy (TestRestoreOnlineExact
// proves it with a writer in another process). The price is that the
// service's writers wait for the safety copy as well as for the restore.
//
// Decision: the restore is one step, not Step(N) with pauses. SQLite
// keeps the destination's write lock from the first step to the last, so
// pauses would only lengthen the writers' wait (measured on 505 MB: no
// insert of the writer completed during a 2.6 s chunked restore, against
// a 2.9 s single step), and a half-restored database is never visible
// either way (readers see the old one until the commit). The backup is
// read through mmap. Writing the -wal back in the background while the
// step runs (as Backup does for its copy) did not shorten the writer's
// wait in measures (3.6 to 4.9 s steps against 2.9 to 7 s without, on a
// shared 2-core machine): the wait is the whole step, whatever its fsyncs.
// Step(0) adds no wait of its own: it only takes the lock the single step
// took anyway, earlier, by the length of the safety copy.
func restoreOnline(ctx context.Context, dbPath, backup, safety string, busy time.Duration, step func(string)) (files []string, err error) {
	w, err := db.OpenWrite(ctx, dbPath, db.Options{BusyTimeout: busy, Owner: "restore"})
	if err != nil {
		return nil, fmt.Errorf("restore online: %w", err)
	}
	defer w.Close()
	dc, err := w.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("restore online: %w", db.Classify(dbPath, err))
	}
	defer dc.Close()
	var journal string
	if err := dc.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&journal); err != nil {
		return nil, fmt.Errorf("restore online: %w", db.Classify(dbPath, err))
	}
	src, err := openImmutable(ctx, backup)
	if err != nil {
		return nil, fmt.Errorf("restore online: %w", err)
	}
	defer src.Close()
	sc, err := src.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("restore online: %w", err)
	}
	defer sc.Close()
	if _, err := sc.ExecContext(ctx, fmt.Sprintf("PRAGMA mmap_size = %d", copyMmapSize)); err != nil {
		return nil, fmt.Errorf("restore online: %w", err)
	}
	// On an error withBackup's Finish rolls back the untouched write
	// transaction.
	err = withBackup(dc, sc, func(b *sqlite3.SQLiteBackup) error {
		if err := lockDestination(ctx, b, busy); err != nil {
			return err
		}
		step("locked")
		if safety != "" {
			var err error
			if files, err = safetyCopyLocked(ctx, dbPath, safety, journal == "wal"); err != nil {
				return err
			}
		}
		step("safety-copy")
		return stepToEnd(ctx, b)
	})
	if err != nil {
		// Finish rolled the restore's transaction back: the live database
		// is as it was (a safety copy already taken stays, named as such).
		return files, fmt.Errorf("restore online into %s: %w; nothing was changed", dbPath, db.Classify(dbPath, err))
	}
	// Fold the restored pages back into the file when no reader is in the
	// way; otherwise the service's own checkpoints will.
	_, _ = dc.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
	return files, nil
}

// lockDestination calls b.Step(0) until it holds the destination's write
// lock (see restoreOnline), retrying a busy destination until busy has
// passed since the first try, with backoff.
func lockDestination(ctx context.Context, b *sqlite3.SQLiteBackup, busy time.Duration) error {
	return retryBusy(ctx, busy, "the service held the write lock", func() (bool, error) {
		if _, err := b.Step(0); err != nil {
			return false, err
		}
		return b.PageCount() > 0, nil
	})
}

// safetyCopyHook, in tests, runs on the WAL-aware safety copy's temp file
// before its rename; an error fails that copy.
var safetyCopyHook func(tmp string) error

// safetyCopyLocked takes the safety copy of the live database at src into
// dst while the caller holds its write lock (see restoreOnline): in WAL
// mode the WAL-aware copy, into a temp file renamed into place; otherwise,
// or should that fail, its files byte for byte (db.CopyAside).
func safetyCopyLocked(ctx context.Context, src, dst string, wal bool) ([]string, error) {
	var why error
	if wal {
		// A pid-tagged temp name (fsutil.TempName), renamed only once
		// complete and fsynced: a killed restore's is removed by the next.
		tmp := fsutil.TempName(dst)
		_, why = copyLiveToFile(ctx, src, tmp)
		if why == nil && safetyCopyHook != nil {
			why = safetyCopyHook(tmp)
		}
		if why == nil {
			if why = os.Rename(tmp, dst); why == nil {
				return []string{dst}, db.SyncDir(filepath.Dir(dst))
			}
		}
		removeDBFiles(tmp)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	files, err := db.CopyAside(ctx, src, dst)
	if err != nil {
		if why != nil {
			err = fmt.Errorf("%w (the WAL-aware copy failed first: %w)", err, why)
		}
		return nil, fmt.Errorf("safety copy of %s to %s: %w", src, dst, err)
	}
	return files, nil
}

// afterRestore checks the restored database and measures the loss between
// the safety copy and the backup.
func afterRestore(ctx context.Context, dbPath, backup string, res *RestoreResult) error {
	r, err := db.OpenRead(ctx, dbPath, db.Options{Owner: "restore"})
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
	bak, err := openImmutable(ctx, backup)
	if err != nil {
		res.LossUnknown = "the backup cannot be read: " + err.Error()
		return nil
	}
	defer bak.Close()
	res.Lost, res.LostWindow, err = measureLoss(ctx, old, bak)
	if err != nil {
		res.LossUnknown = "the replaced database cannot be compared with the backup: " + err.Error()
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
		return db.OpenRead(ctx, path, db.Options{MaxConns: 1, Owner: "restore"})
	}
	return openImmutable(ctx, path)
}

// measureLoss compares the replaced database (old: the safety copy) with
// the backup it was replaced by (bak), table by table: see TableLoss.
// Both are files no one writes, so the figures are exact; the live
// database, where the service has written again since (reusing the lost
// rowids), is not used. The window is the largest table's.
func measureLoss(ctx context.Context, old, bak db.Querier) ([]TableLoss, time.Duration, error) {
	oldFigs, err := tableFigures(ctx, old)
	if err != nil {
		return nil, 0, err
	}
	bakFigs, err := tableFigures(ctx, bak)
	if err != nil {
		return nil, 0, fmt.Errorf("the backup: %w", err)
	}
	var out []TableLoss
	var window time.Duration
	for _, t := range sortedKeys(oldFigs) {
		of, bf := oldFigs[t], bakFigs[t]
		l := TableLoss{Table: t, OldRows: of.Rows, RestoredRows: bf.Rows, NewestKept: bf.NewestCreatedAt}
		quoted := `"` + strings.ReplaceAll(t, `"`, `""`) + `"`
		if err := old.QueryRowContext(ctx, `SELECT count(*) FROM `+quoted+` WHERE rowid > ?`, bf.MaxRowID).Scan(&l.NewerRows); err != nil {
			return nil, 0, err
		}
		if l.NewerRows > 0 {
			var hasCreated int
			if err := old.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info(?) WHERE name = 'created_at'`, t).Scan(&hasCreated); err != nil {
				return nil, 0, err
			}
			if hasCreated > 0 {
				var created sql.NullString
				if err := old.QueryRowContext(ctx, `SELECT rowid, created_at FROM `+quoted+` WHERE rowid > ? ORDER BY created_at DESC, rowid DESC LIMIT 1`, bf.MaxRowID).Scan(&l.NewestLostID, &created); err != nil {
					return nil, 0, err
				}
				l.NewestLost = created.String
			} else if err := old.QueryRowContext(ctx, `SELECT max(rowid) FROM `+quoted).Scan(&l.NewestLostID); err != nil {
				return nil, 0, err
			}
			lost, kept := db.ParseTime(l.NewestLost), db.ParseTime(l.NewestKept)
			if !lost.IsZero() && !kept.IsZero() && lost.After(kept) {
				l.Window = lost.Sub(kept)
				window = max(window, l.Window)
			}
		}
		out = append(out, l)
	}
	return out, window, nil
}
