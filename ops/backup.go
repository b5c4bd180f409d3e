package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/fsutil"
	"github.com/repops/repops/internal/humanize"
	"github.com/repops/repops/state"
)

// ManifestVersion is the format of the manifests this repops writes.
const ManifestVersion = 1

// Manifest is written beside every backup (NAME.json): what the backup
// holds, measured on the backup copy itself, so that it can be verified
// later and a restore can say what it brings back.
type Manifest struct {
	ManifestVersion int                     `json:"manifest_version"`
	Name            string                  `json:"name"`
	Source          string                  `json:"source"`
	Created         time.Time               `json:"created"`
	Size            int64                   `json:"size"`
	PageSize        int64                   `json:"page_size"`
	PageCount       int64                   `json:"page_count"`
	SHA256          string                  `json:"sha256"`
	SchemaVersion   int64                   `json:"schema_version"`
	Tables          map[string]TableFigures `json:"tables"`
	QuickCheck      string                  `json:"quick_check"` // "ok" or the first problems
	// Method is how the copy was made: MethodWALCopy or MethodBackupAPI.
	Method string `json:"method,omitempty"`
	// Fallback says why the WAL-aware copy was not used.
	Fallback        string  `json:"fallback,omitempty"`
	DurationSeconds float64 `json:"duration_seconds"`
	Actor           Actor   `json:"actor"`
}

// Rows is the row count of each table.
func (m *Manifest) Rows() map[string]int64 {
	out := make(map[string]int64, len(m.Tables))
	for t, f := range m.Tables {
		out[t] = f.Rows
	}
	return out
}

// ManifestPath is the manifest of the backup at path.
func ManifestPath(backupPath string) string {
	return strings.TrimSuffix(backupPath, ".db") + ".json"
}

// MaxManifestSize is the largest manifest ReadManifest reads: a real one
// is a few KiB (a line per table), so anything over 4 MiB is not one.
const MaxManifestSize = 4 << 20

// ReadManifest reads the manifest of the backup at path. Only a regular
// file of at most MaxManifestSize is read: a named pipe, a device or a
// huge file in the backup dir is refused at once, never read without end.
func ReadManifest(backupPath string) (*Manifest, error) {
	p := ManifestPath(backupPath)
	b, err := fsutil.ReadRegularFile(context.Background(), p, MaxManifestSize)
	if errors.Is(err, fsutil.ErrNotRegular) || errors.Is(err, fsutil.ErrTooLarge) {
		return nil, fmt.Errorf("read manifest %s: %w: it is not a manifest (verify the backup with 'repops backups verify %s')", p, err, filepath.Base(backupPath))
	}
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", p, &fs.PathError{Op: "open", Path: p, Err: err})
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("read manifest %s: %w (truncated or edited: verify the backup with 'repops backups verify %s')", p, err, filepath.Base(backupPath))
	}
	if m.SHA256 == "" || m.Size == 0 {
		return nil, fmt.Errorf("read manifest %s: no checksum or size (truncated or edited)", p)
	}
	return &m, nil
}

// BackupOptions are Backup's inputs.
type BackupOptions struct {
	DBPath string // the live database
	Dir    string // the backup dir; created 0700 when its parent exists
	// StateDir holds the lock and the journal; empty: the backup, which
	// only reads the live database, runs without either and says so
	// (Run), unless Lock and Journal are the caller's.
	StateDir string
	// KeepLast and KeepWithin are the retention (config.Console.Backup):
	// after a successful backup, a backup is kept when it is one of the
	// last KeepLast or newer than KeepWithin. Both zero keeps all.
	KeepLast   int
	KeepWithin time.Duration
	Actor      Actor
	// Lock, when set, is a lock the caller already holds (a runbook run);
	// otherwise Backup takes the lock in StateDir.
	Lock *Lock
	// Journal, when set, receives the entries; otherwise the journal in
	// StateDir is opened.
	Journal *Journal
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// FreeSpace reports the bytes free for an unprivileged writer in dir;
	// statfs when nil. Tests inject a full disk with it.
	FreeSpace func(dir string) (uint64, error)
	// afterStep, in tests, is called after each named step (crash tests).
	afterStep func(step string)
	// copyHooks, in tests, act at points of the live copy.
	copyHooks copyHooks
}

// BackupResult is what Backup made.
type BackupResult struct {
	Path     string
	Manifest Manifest
	// Method is how the copy was made (MethodWALCopy or MethodBackupAPI),
	// and Fallback why the WAL-aware copy was not used; both are in the
	// manifest too.
	Method   string
	Fallback string
	// WALFrames is how many WAL frames the WAL-aware copy applied (none
	// when the database file alone was the snapshot).
	WALFrames int
	// CopyTook is from the start to the copy being on disk: lock, journal
	// and checks before, the consistent copy and its fsync.
	CopyTook time.Duration
	Took     time.Duration // everything, with checksum, checks, rename and retention
	Phases   BackupPhases
	Removed  []string // backups deleted by retention
}

// BackupPhases is where a backup's time went.
type BackupPhases struct {
	Prepare time.Duration // journal, lock, file and free-space checks
	Copy    time.Duration // the consistent copy (WAL-aware file copy or backup API), with writeback
	Sync    time.Duration // header fix and the final fsync
	// Checks is the wall time of the checksum and the SQLite checks, run
	// side by side; Checksum, QuickCheck and Rows are each one's own time.
	Checks     time.Duration
	Checksum   time.Duration
	QuickCheck time.Duration
	Rows       time.Duration
	Finish     time.Duration // manifest, rename, directory fsync, retention
}

// freeSpace is statfs's bytes available to unprivileged users.
func freeSpace(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// PrepareBackupDir makes sure dir exists (creating it 0700 when its
// parent exists) and is writable, and returns a clear error otherwise.
func PrepareBackupDir(dir string) error {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, perr := os.Stat(filepath.Dir(dir)); perr != nil {
			return fmt.Errorf("backup dir %s does not exist, nor its parent: create it (mkdir -p -m 0700 %s) or set console.backup.dir", dir, dir)
		}
		if err := os.Mkdir(dir, 0o700); err != nil {
			return fmt.Errorf("create backup dir %s: %w", dir, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("backup dir %s: %w", dir, err)
	case !st.IsDir():
		return fmt.Errorf("backup dir %s is not a directory: set console.backup.dir to a directory", dir)
	}
	// Mode bits too: as root, access(2) says yes to anything.
	if st.Mode().Perm()&0o200 == 0 || unix.Access(dir, unix.W_OK) != nil {
		return fmt.Errorf("backup dir %s is not writable (mode %04o): fix its permissions or set console.backup.dir", dir, st.Mode().Perm())
	}
	return nil
}

// Backup copies the live database at o.DBPath into o.Dir, online and
// consistent while the service writes (a WAL-aware file copy, or SQLite's
// backup API in one step when that cannot be used; see copyLive), as
// state.BackupFileName(base, now): written under a
// temporary name that state.ListBackups never matches, fsynced, renamed,
// the directory fsynced; file 0600, dir 0700. It then hashes and checks
// the copy, writes its manifest (NAME.json), and applies the retention.
// It refuses to start when the backup dir lacks room for the database
// and its WAL. It holds the procedure lock and journals the run. The live
// database is only read.
//
// It runs as a Procedure (Run) that only reads the live database: without
// a state dir it runs without lock and journal, and says so.
func Backup(ctx context.Context, o BackupOptions, progress Progress) (res *BackupResult, err error) {
	start := time.Now()
	p := Procedure{Action: "backup", Target: o.DBPath, Purpose: "backup of " + filepath.Base(o.DBPath),
		Params:   map[string]any{"dir": o.Dir, "keep_last": o.KeepLast, "keep_within": o.KeepWithin.String()},
		StateDir: o.StateDir, Actor: o.Actor, Lock: o.Lock, Journal: o.Journal, Progress: progress}
	err = Run(ctx, p, func(ctx context.Context, _ *Running) (map[string]float64, error) {
		var err error
		res, err = backupLocked(ctx, o, progress, start)
		return res.figures(), err
	})
	return res, err
}

// backupLocked is Backup's work, under the lock; start is when Backup
// was called.
func backupLocked(ctx context.Context, o BackupOptions, progress Progress, start time.Time) (res *BackupResult, err error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	if err := db.CheckFile(o.DBPath); err != nil {
		return nil, fmt.Errorf("back up: %w", err)
	}
	if err := PrepareBackupDir(o.Dir); err != nil {
		return nil, err
	}
	sizes, err := db.StatFiles(o.DBPath)
	if err != nil {
		return nil, err
	}
	need := uint64(sizes.DB + sizes.WAL)
	fsFree := o.FreeSpace
	if fsFree == nil {
		fsFree = freeSpace
	}
	free, err := fsFree(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("back up: measure free space in %s: %w", o.Dir, err)
	}
	if free < need {
		return nil, fmt.Errorf("back up: not enough space in %s: the copy of %s needs up to %s, %s free: free space or set console.backup.dir to another filesystem; nothing was written",
			o.Dir, o.DBPath, humanize.Bytes(int64(need)), humanize.Bytes(int64(free)))
	}

	// Leftovers of a killed backup (its pid is gone) go now.
	_, _ = fsutil.RemoveStale(o.Dir)
	// A backup's name is the second it was taken: a second backup in the
	// same second (repops backup && repops migrate apply) waits for the
	// next one rather than fail.
	var t time.Time
	var name, final string
	for try := 0; ; try++ {
		t = now().UTC()
		name = state.BackupFileName(filepath.Base(o.DBPath), t)
		final = filepath.Join(o.Dir, name)
		if _, err := os.Lstat(final); err != nil {
			break
		}
		if try == 2 {
			return nil, fmt.Errorf("back up: %s already exists: another backup is being named in this second; retry", final)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Until(t.Truncate(time.Second).Add(time.Second))):
		}
	}
	tmp := fsutil.TempName(final)
	defer func() {
		if err != nil {
			removeDBFiles(tmp)
		}
	}()

	progress.report(ProgressEvent{Phase: "copy", Total: sizes.DB, Unit: "bytes", Message: fmt.Sprintf("copying %s (%s) and its WAL's committed frames", o.DBPath, humanize.Bytes(sizes.DB))})
	phases := BackupPhases{Prepare: time.Since(start)}
	lc, err := copyLive(ctx, o.DBPath, tmp, liveCopyOptions{hooks: o.copyHooks})
	if err != nil {
		return nil, err
	}
	if o.copyHooks.afterCopy != nil {
		o.copyHooks.afterCopy(tmp)
	}
	phases.Copy, phases.Sync = lc.Step, lc.Sync
	copyTook := time.Since(start)
	o.step("copied")

	// Measure the copy (not the live database, which has moved on).
	progress.report(ProgressEvent{Phase: "verify", Message: "sha256, quick_check and row counts on the copy"})
	m := Manifest{ManifestVersion: ManifestVersion, Name: name, Source: absPath(o.DBPath), Created: t, Actor: o.Actor}
	checkErr, err := measureCopy(ctx, tmp, lc, &m, &phases)
	if err != nil {
		return nil, err
	}
	if lc.Method == MethodWALCopy && (checkErr != nil || m.QuickCheck != "ok") {
		// Not expected of a sound database: the backup API decides.
		why := m.QuickCheck
		if checkErr != nil {
			why = checkErr.Error()
		}
		removeDBFiles(tmp)
		progress.report(ProgressEvent{Phase: "copy", Message: "the file copy failed its checks (" + why + "): copying again with the online backup API"})
		s := time.Now()
		lc, err = copyLive(ctx, o.DBPath, tmp, liveCopyOptions{backupAPIOnly: true})
		if err != nil {
			return nil, err
		}
		lc.Fallback = "the WAL-aware copy failed its checks: " + why
		phases.Copy, phases.Sync = phases.Copy+lc.Step, phases.Sync+lc.Sync
		copyTook += time.Since(s)
		m = Manifest{ManifestVersion: ManifestVersion, Name: name, Source: absPath(o.DBPath), Created: t, Actor: o.Actor}
		if checkErr, err = measureCopy(ctx, tmp, lc, &m, &phases); err != nil {
			return nil, err
		}
	}
	if checkErr != nil {
		return nil, fmt.Errorf("back up: check the copy: %w", checkErr)
	}
	if m.QuickCheck != "ok" {
		return nil, fmt.Errorf("back up: the copy fails quick_check (%s): the live database %s is probably damaged: run 'repops check --full'", m.QuickCheck, o.DBPath)
	}
	o.step("checked")
	// The manifest first: a backup is never listed without its manifest.
	m.DurationSeconds = time.Since(start).Seconds()
	if err := writeManifest(final, &m); err != nil {
		return nil, err
	}
	o.step("manifest")
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(ManifestPath(final))
		return nil, fmt.Errorf("back up: rename %s: %w", tmp, err)
	}
	if err := db.SyncDir(o.Dir); err != nil {
		return nil, err
	}
	o.step("renamed")
	res = &BackupResult{Path: final, Manifest: m, Method: m.Method, Fallback: m.Fallback, WALFrames: lc.WALFrames, CopyTook: copyTook, Phases: phases}
	finishStart := time.Now()

	if o.KeepLast > 0 || o.KeepWithin > 0 {
		progress.report(ProgressEvent{Phase: "retention", Message: "applying the retention"})
		removed, rerr := applyRetention(o.Dir, o.DBPath, final, o.KeepLast, o.KeepWithin, now())
		res.Removed = removed
		if rerr != nil {
			res.Phases.Finish = time.Since(finishStart)
			err = fmt.Errorf("backup %s is complete, but retention failed: %w", final, rerr)
			return res, err
		}
	}
	res.Phases.Finish = time.Since(finishStart)
	res.Took = time.Since(start)
	progress.report(ProgressEvent{Phase: "done", Message: fmt.Sprintf("backup %s: %s in %s (%s)", name, humanize.Bytes(m.Size), res.Took.Round(time.Millisecond), m.Method)})
	return res, nil
}

func (o *BackupOptions) step(s string) {
	if o.afterStep != nil {
		o.afterStep(s)
	}
}

func (r *BackupResult) figures() map[string]float64 {
	if r == nil {
		return nil
	}
	return map[string]float64{"bytes": float64(r.Manifest.Size), "copy_seconds": r.CopyTook.Seconds(),
		"seconds": r.Took.Seconds(), "removed": float64(len(r.Removed))}
}

// measureCopy fills m from the copy at path that lc made: size, pages,
// method, sha256 (checked against the size written), and what
// describeCopy reads, the checksum and the SQLite checks side by side
// (both read the same file, from the page cache). checkErr is a failure
// of the SQLite checks, which a fallback may cure; err is any other.
func measureCopy(ctx context.Context, path string, lc *liveCopy, m *Manifest, ph *BackupPhases) (checkErr, err error) {
	m.Size, m.PageSize, m.PageCount = lc.Size, lc.PageSize, lc.Pages
	m.Method, m.Fallback = lc.Method, lc.Fallback
	checkStart := time.Now()
	var (
		sum     string
		size    int64
		sumErr  error
		sumTook time.Duration
		wg      sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := time.Now()
		sum, size, sumErr = FileSHA256(path)
		sumTook = time.Since(s)
	}()
	checkErr = describeCopy(ctx, path, m, ph)
	wg.Wait()
	ph.Checksum, ph.Checks = sumTook, time.Since(checkStart)
	if sumErr != nil {
		return checkErr, fmt.Errorf("back up: checksum %s: %w", path, sumErr)
	}
	if size != lc.Size {
		return checkErr, fmt.Errorf("back up: %s has %d bytes after the copy, %d were written: is something else writing into %s?", path, size, lc.Size, filepath.Dir(path))
	}
	m.SHA256 = sum
	return checkErr, nil
}

// describeCopy fills m's schema version, table figures and quick_check
// from the database file at path (a backup copy nobody else has open),
// and ph's QuickCheck and Rows.
func describeCopy(ctx context.Context, path string, m *Manifest, ph *BackupPhases) error {
	d, err := openImmutable(ctx, path)
	if err != nil {
		return err
	}
	defer d.Close()
	qs := time.Now()
	problems, err := db.QuickCheck(ctx, d, 10)
	ph.QuickCheck = time.Since(qs)
	if err != nil {
		return err
	}
	m.QuickCheck = "ok"
	if len(problems) > 0 {
		m.QuickCheck = strings.Join(problems, "; ")
		return nil
	}
	if m.SchemaVersion, err = db.SchemaVersion(ctx, d); err != nil {
		return err
	}
	if m.PageCount == 0 {
		_ = d.QueryRowContext(ctx, "PRAGMA page_count").Scan(&m.PageCount)
		_ = d.QueryRowContext(ctx, "PRAGMA page_size").Scan(&m.PageSize)
	}
	rs := time.Now()
	m.Tables, err = tableFigures(ctx, d)
	ph.Rows = time.Since(rs)
	return err
}

// writeManifest writes m beside the backup, atomically, 0600, through a
// temp file no planted symlink can redirect (fsutil).
func writeManifest(backupPath string, m *Manifest) error {
	p := ManifestPath(backupPath)
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := fsutil.WriteAtomic(p, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return nil
}

// applyRetention deletes the backups in dir of the database at dbPath
// (state.IsBackupOf) that are neither among its last keepLast nor newer than
// keepWithin, never keep (the one just made). Nothing else in dir is ever
// touched: other databases' backups, safety copies, foreign files.
func applyRetention(dir, dbPath, keep string, keepLast int, keepWithin time.Duration, now time.Time) ([]string, error) {
	list, _, err := state.ListBackupsOf(dir, dbPath)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for i, b := range list {
		if b.Path == keep || i < keepLast || (keepWithin > 0 && now.Sub(b.Time) < keepWithin) {
			continue
		}
		if err := os.Remove(b.Path); err != nil {
			errs = append(errs, err)
			continue
		}
		_ = os.Remove(ManifestPath(b.Path))
		removed = append(removed, b.Name)
	}
	if len(removed) > 0 {
		_ = db.SyncDir(dir)
	}
	return removed, errors.Join(errs...)
}

// Verification states of a listed backup.
const (
	BackupOK          = "ok"          // manifest present, size matches, quick_check was ok
	BackupNoManifest  = "no-manifest" // made by another tool, or the manifest was lost
	BackupBadManifest = "bad-manifest"
	BackupSizeChanged = "size-mismatch"
)

// BackupEntry is one backup in the list.
type BackupEntry struct {
	state.BackupFile
	Age      time.Duration
	Manifest *Manifest // nil when missing or unreadable
	State    string    // one of the Backup... states
	Detail   string
}

// ListBackups lists the finished backups in dir, newest first, with age,
// size and verification state as far as the manifest tells without
// reading the backup (VerifyBackup reads it).
func ListBackups(dir string, now time.Time) ([]BackupEntry, error) {
	files, err := state.ListBackups(dir)
	if err != nil {
		return nil, err
	}
	out := make([]BackupEntry, 0, len(files))
	for _, f := range files {
		e := BackupEntry{BackupFile: f, Age: now.Sub(f.Time)}
		m, err := ReadManifest(f.Path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			e.State = BackupNoManifest
		case err != nil:
			e.State, e.Detail = BackupBadManifest, err.Error()
		case m.Size != f.Size:
			e.Manifest, e.State = m, BackupSizeChanged
			e.Detail = fmt.Sprintf("file is %d bytes, the manifest says %d", f.Size, m.Size)
		case m.QuickCheck != "ok":
			e.Manifest, e.State, e.Detail = m, BackupBadManifest, "quick_check at backup time: "+m.QuickCheck
		default:
			e.Manifest, e.State = m, BackupOK
		}
		out = append(out, e)
	}
	return out, nil
}

// ResolveBackup turns the name an operator typed into the path of a
// finished backup in dir. It refuses path separators and "..", so a name
// never leaves the backup dir; "latest" (or "") is the newest backup of
// the database at dbPath (LatestBackup), never another database's.
func ResolveBackup(dir, dbPath, name string) (string, error) {
	if name == "" || name == "latest" {
		return LatestBackup(dir, dbPath)
	}
	if strings.ContainsAny(name, `/\`) || strings.Contains(name, "..") || name != filepath.Base(name) {
		return "", fmt.Errorf("backup name %q is refused: give a name from 'repops backups' (no path separators or '..')", name)
	}
	if !strings.HasSuffix(name, ".db") {
		name += ".db"
	}
	list, err := state.ListBackups(dir)
	if err != nil {
		return "", err
	}
	for _, b := range list {
		if b.Name == name {
			return b.Path, nil
		}
	}
	return "", fmt.Errorf("no backup named %s in %s: see 'repops backups'", name, dir)
}

// LatestBackup is the path of the newest backup in dir of the database at
// dbPath (state.IsBackupOf). With none of its own it fails, naming the newest
// backup of another database when there is one: an operator who means it
// names it.
func LatestBackup(dir, dbPath string) (string, error) {
	if dbPath == "" {
		return "", fmt.Errorf("the latest backup in %s: no database given to take it of", dir)
	}
	own, others, err := state.ListBackupsOf(dir, dbPath)
	if err != nil {
		return "", err
	}
	if len(own) > 0 {
		return own[0].Path, nil
	}
	base := filepath.Base(dbPath)
	if len(others) == 0 {
		return "", fmt.Errorf("no backup in %s: take one with 'repops backup'", dir)
	}
	return "", fmt.Errorf("no backup of %s in %s, only of other databases (newest %s): name one to use it for %s, or take one with 'repops backup'",
		base, dir, others[0].Name, base)
}

// VerifyResult is what VerifyBackup found.
type VerifyResult struct {
	Path          string
	Manifest      *Manifest // nil when missing or unreadable
	SHA256        string    // computed now
	SchemaVersion int64
	Tables        map[string]TableFigures
	Problems      []string
	// Notes are what the operator should know that is no problem: a
	// schema at an older version of the migrations.
	Notes []string
	Took  time.Duration
}

// OK reports whether the backup passed every check.
func (r *VerifyResult) OK() bool { return len(r.Problems) == 0 }

// VerifyBackup re-checks the backup at path: its checksum and size
// against the manifest, integrity_check, the schema (db.RequireSchema and
// db.Validate) and the row counts against the manifest. Problems are
// listed in the result; an error means it could not be checked at all.
// It opens the backup immutable: nothing is written beside it.
func VerifyBackup(ctx context.Context, path string) (*VerifyResult, error) {
	start := time.Now()
	r := &VerifyResult{Path: path}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("verify backup: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("verify backup: %s is a directory", path)
	}
	m, merr := ReadManifest(path)
	if merr != nil {
		r.Problems = append(r.Problems, "manifest: "+merr.Error())
	} else {
		r.Manifest = m
	}
	sum, size, err := FileSHA256(path)
	if err != nil {
		return nil, fmt.Errorf("verify backup: checksum %s: %w", path, err)
	}
	r.SHA256 = sum
	if m != nil {
		if size != m.Size {
			r.Problems = append(r.Problems, fmt.Sprintf("size: %d bytes, the manifest says %d", size, m.Size))
		}
		if sum != m.SHA256 {
			r.Problems = append(r.Problems, fmt.Sprintf("checksum: sha256 %s, the manifest says %s: the file changed since the backup", short(sum), short(m.SHA256)))
		}
	}
	d, err := openImmutable(ctx, path)
	if err != nil {
		r.Problems = append(r.Problems, "open: "+err.Error())
		r.Took = time.Since(start)
		return r, nil
	}
	defer d.Close()
	problems, err := integrityCheck(ctx, d, true)
	if err != nil {
		r.Problems = append(r.Problems, "integrity_check: "+db.Classify(path, err).Error())
	}
	for _, p := range problems {
		r.Problems = append(r.Problems, "integrity_check: "+p)
	}
	if len(problems) > 0 || err != nil {
		r.Took = time.Since(start)
		return r, nil
	}
	v, schemaProblems, note := checkBackupSchema(ctx, d, path)
	r.SchemaVersion = v
	for _, p := range schemaProblems {
		r.Problems = append(r.Problems, "schema: "+p)
	}
	if note != "" {
		r.Notes = append(r.Notes, note)
	}
	if len(schemaProblems) == 0 && m != nil && m.SchemaVersion != v {
		r.Problems = append(r.Problems, fmt.Sprintf("schema: version %d, the manifest says %d", v, m.SchemaVersion))
	}
	r.Tables, err = tableFigures(ctx, d)
	if err != nil {
		r.Problems = append(r.Problems, "rows: "+err.Error())
	} else if m != nil {
		r.Problems = append(r.Problems, compareTables(m.Tables, r.Tables)...)
	}
	r.Took = time.Since(start)
	return r, nil
}

// checkBackupSchema judges the schema of a backup (or of its restored
// copy) open on d: its version (db.RequireSchema: none, or one newer than
// this repops, is a problem) and db.Validate's problems. Decision: an
// older version of the migrations is not damage: a backup taken before a
// migration must restore to roll that migration back. Pending migrations
// newer than every applied one are therefore no problem but a note
// (restoring it needs 'repops migrate apply' afterwards); every object of
// the applied migrations must still be there, and a pending migration
// older than an applied one (a gap), an unknown version, checksum drift
// or a missing table, column or index stay problems. Duplicate indexes
// are not a reason to refuse a backup (a warning on the live database).
func checkBackupSchema(ctx context.Context, d db.Querier, path string) (version int64, problems []string, note string) {
	v, err := db.RequireSchema(ctx, d, path)
	if err != nil {
		return v, []string{err.Error()}, ""
	}
	rep, err := db.Validate(ctx, d)
	if err != nil {
		return v, []string{err.Error()}, ""
	}
	versionOf := map[string]int64{}
	for _, m := range db.Migrations() {
		versionOf[m.Name] = m.Version
	}
	older := false
	for _, p := range rep.Problems {
		switch {
		case p.Kind == db.ProblemDuplicateIndex:
			continue
		case p.Kind == db.ProblemPendingMigration && versionOf[p.Object] > rep.Version:
			older = true
			continue
		}
		problems = append(problems, p.String())
	}
	if older {
		note = fmt.Sprintf("schema version %d, older than this repops's %d: restoring it then needs 'repops migrate apply'", v, rep.Latest)
	}
	return v, problems, note
}

// compareTables lists the differences in row counts between want (a
// manifest) and have.
func compareTables(want, have map[string]TableFigures) []string {
	var out []string
	for _, t := range sortedKeys(want) {
		h, ok := have[t]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("rows: table %s is missing (the manifest has %d rows)", t, want[t].Rows))
		case h.Rows != want[t].Rows:
			out = append(out, fmt.Sprintf("rows: table %s has %d rows, the manifest says %d", t, h.Rows, want[t].Rows))
		}
	}
	return out
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
