// Package state is the format of what repops keeps in its state dir and
// backup dir, outside the live database: the backup catalogue (a backup's
// file name, which backups are a database's own, the list of them, newest
// first) and the records of the last integrity check and the last DR
// drill. The procedures (ops) write them and the figures (metrics) read
// them; metrics may not import ops, so the format lives here, below both.
//
// Decision: it is its own package rather than part of db, which opens and
// measures databases: nothing here opens a database, and so state imports
// nothing of repops but internal/fsutil, and anything may import it.
package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/repops/repops/internal/fsutil"
)

// The state dir (config.Config.StateDir) holds what repops knows that the
// live database must not: a restore would roll it back.

// BackupTimeLayout is the UTC timestamp in a backup's file name:
// architect_20261129T044500Z.db.
const BackupTimeLayout = "20060102T150405Z"

// backupName matches a finished backup's file name. Files being written
// have another name (a leading dot and a .tmp suffix) and never match.
var backupName = regexp.MustCompile(`^([A-Za-z0-9_.-]+)_(\d{8}T\d{6}Z)\.db$`)

// BackupFile is a finished backup found in the backup dir.
type BackupFile struct {
	Name string // base name
	Path string
	Time time.Time // from the name: when the backup was taken
	Size int64
}

// BackupFileName is the name of a backup of the database named base (for
// example "architect.db") taken at t.
func BackupFileName(base string, t time.Time) string {
	stem := base
	if ext := filepath.Ext(stem); ext != "" {
		stem = stem[:len(stem)-len(ext)]
	}
	return fmt.Sprintf("%s_%s.db", stem, t.UTC().Format(BackupTimeLayout))
}

// IsBackupOf reports whether the backup file b is a backup of the database
// at dbPath: its name is BackupFileName of the database's own file name.
// This is the one rule for "this database's backups". Decision: a backup
// dir may be shared by several databases (or hold a renamed one's
// backups); retention, "latest", the drill and the backup age must never
// take another database's backup for this one's.
func IsBackupOf(b BackupFile, dbPath string) bool {
	return b.Name == BackupFileName(filepath.Base(dbPath), b.Time)
}

// ListBackupsOf lists the finished backups in dir of the database at
// dbPath (see IsBackupOf), newest first, and the others' count.
func ListBackupsOf(dir, dbPath string) (own []BackupFile, others []BackupFile, err error) {
	list, err := ListBackups(dir)
	if err != nil {
		return nil, nil, err
	}
	for _, b := range list {
		if IsBackupOf(b, dbPath) {
			own = append(own, b)
		} else {
			others = append(others, b)
		}
	}
	return own, others, nil
}

// ListBackups lists the finished backups in dir, newest first. A missing
// dir has none (no error).
func ListBackups(dir string) ([]BackupFile, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list backups in %s: %w", dir, err)
	}
	var out []BackupFile
	for _, e := range entries {
		m := backupName.FindStringSubmatch(e.Name())
		if m == nil || !e.Type().IsRegular() {
			continue
		}
		t, err := time.Parse(BackupTimeLayout, m[2])
		if err != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, BackupFile{Name: e.Name(), Path: filepath.Join(dir, e.Name()), Time: t, Size: info.Size()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	return out, nil
}

// CheckRecord is the outcome of the last integrity check of a database.
type CheckRecord struct {
	Time     time.Time `json:"time"`
	Database string    `json:"database"`
	// File is the database file's identity when it was checked (see
	// FileID); records written before it existed have none.
	File     *FileID  `json:"file,omitempty"`
	Mode     string   `json:"mode"` // "quick" or "full"
	OK       bool     `json:"ok"`
	Problems []string `json:"problems,omitempty"`
}

// DrillRecord is the outcome of the last DR drill.
type DrillRecord struct {
	Time time.Time `json:"time"`
	// Database is the absolute path of the database whose backup was
	// drilled. Records written before it existed have none: of an
	// unknown database, they count for none (IsOf).
	Database string  `json:"database,omitempty"`
	File     *FileID `json:"file,omitempty"` // see CheckRecord.File
	Backup   string  `json:"backup"`
	// OK: the backup restored and verified. Verdict is the drill's
	// outcome in Nagios words: OK, WARNING (restored and verified, an
	// objective of the rehearsed scenario missed: Missed says which) or
	// CRITICAL; records written before it existed have none (then OK
	// alone says it).
	OK         bool          `json:"ok"`
	Verdict    string        `json:"verdict,omitempty"`
	Missed     []string      `json:"objectives_missed,omitempty"`
	RTO        time.Duration `json:"rto_ns"`       // measured restore time
	RPO        time.Duration `json:"rpo_ns"`       // age of the backup restored
	RTOLimit   time.Duration `json:"rto_limit_ns"` // the guide's objective compared against
	RPOLimit   time.Duration `json:"rpo_limit_ns"`
	ReportPath string        `json:"report_path,omitempty"`
}

// FileID is a database file's identity on its host: the device and inode
// numbers stat(2) reports. Two paths with one FileID are one file (a hard
// link, a bind mount, a symlinked directory).
type FileID struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
}

// FileIDOf is the identity of the file at path, nil when it cannot be
// stat'ed. It stats the path and opens nothing: safe on a live database
// (a descriptor of the live file must never be opened and closed beside
// SQLite's, see DESIGN.md).
func FileIDOf(path string) *FileID {
	if path == "" {
		return nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	return &FileID{Dev: uint64(sys.Dev), Ino: uint64(sys.Ino)}
}

// CanonicalPath is path absolute, cleaned, with its symlinks resolved
// when it resolves (lstat calls only; nothing is opened). It is the key
// of a database's records.
func CanonicalPath(path string) string {
	if path == "" {
		return ""
	}
	p, err := filepath.Abs(path)
	if err != nil {
		p = filepath.Clean(path)
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	// A path that does not exist (yet, or any more): its directory's
	// symlinks still resolve.
	if d, err := filepath.EvalSymlinks(filepath.Dir(p)); err == nil {
		return filepath.Join(d, filepath.Base(p))
	}
	return p
}

// SameDatabase reports whether the paths a and b name the same database
// file: equal when made absolute and cleaned (a relative path is taken
// from the working directory), equal with their symlinks resolved, or two
// names of one existing file (same device and inode: a hard link, a bind
// mount). An empty path names no database. It stats and opens nothing.
func SameDatabase(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	abs := func(p string) string {
		if q, err := filepath.Abs(p); err == nil {
			return q
		}
		return filepath.Clean(p)
	}
	if abs(a) == abs(b) || CanonicalPath(a) == CanonicalPath(b) {
		return true
	}
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// isOf is the records' one rule: the record of database recDB (file id
// recFile when it was recorded) is of the database at dbPath when the two
// paths name the same database (SameDatabase), or when the recorded path
// is gone and the recorded identity is dbPath's file.
func isOf(recDB string, recFile *FileID, dbPath string) bool {
	if SameDatabase(recDB, dbPath) {
		return true
	}
	if recFile == nil || recDB == "" {
		return false
	}
	if _, err := os.Stat(recDB); err == nil {
		return false // the recorded path is another file, which exists
	}
	id := FileIDOf(dbPath)
	return id != nil && *id == *recFile
}

// IsOf reports whether the check was of the database at dbPath. The state
// dir is shared by every database the config names: a check of another
// says nothing of this one.
func (r CheckRecord) IsOf(dbPath string) bool { return isOf(r.Database, r.File, dbPath) }

// IsOf reports whether the drill was of the database at dbPath; a record
// naming no database (written before DrillRecord.Database existed) is of
// none.
func (r DrillRecord) IsOf(dbPath string) bool { return isOf(r.Database, r.File, dbPath) }

// DrillVerdict is the record's verdict: Verdict, or for a record written
// before it existed, OK or CRITICAL from OK.
func (r DrillRecord) DrillVerdict() string {
	switch {
	case r.Verdict != "":
		return r.Verdict
	case r.OK:
		return "OK"
	}
	return "CRITICAL"
}

// The records are kept per database, so that checking or drilling one
// database (a copy, a restored scratch file, another service's) never
// replaces another's record: <state dir>/records/check-<key>.json and
// drill-<key>.json, where the key is the database's file name and a hash
// of its canonical path (CanonicalPath). A reader of one database's record
// (ReadCheckOf, ReadDrillOf) takes the newest record that IsOf it, among
// the keyed files and the single last_check.json / last_drill.json that
// repops wrote before (an old-format record of the same path counts).
//
// Decision: keyed by path, with the file's identity recorded beside it,
// rather than keyed by identity: a restore replaces the live file (a new
// inode) and a check of the database before the restore is still the last
// check of that database as the console names it. The application_id is
// not part of the key: a copy has the same one.
const (
	lastCheckFile = "last_check.json" // the old format: one record of any database
	lastDrillFile = "last_drill.json"
	recordsDir    = "records"
	// maxRecordFile bounds the read of one record.
	maxRecordFile = 1 << 20
)

// RecordKey is the key of the records of the database at dbPath: its file
// name (sanitised) and 16 hex digits of the SHA-256 of its canonical path.
func RecordKey(dbPath string) string {
	canon := CanonicalPath(dbPath)
	sum := sha256.Sum256([]byte(canon))
	base := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, filepath.Base(canon))
	if len(base) > 64 {
		base = base[:64]
	}
	return base + "-" + hex.EncodeToString(sum[:8])
}

func recordPath(stateDir, kind, dbPath string) string {
	return filepath.Join(stateDir, recordsDir, kind+"-"+RecordKey(dbPath)+".json")
}

// CheckRecordPath is the file that holds the last check of the database at
// dbPath.
func CheckRecordPath(stateDir, dbPath string) string { return recordPath(stateDir, "check", dbPath) }

// DrillRecordPath is the file that holds the last drill of the database at
// dbPath.
func DrillRecordPath(stateDir, dbPath string) string { return recordPath(stateDir, "drill", dbPath) }

// WriteLastCheck records rec in stateDir as the last check of the
// database rec.Database, atomically, leaving every other database's
// record as it is. rec.File is filled in when empty.
func WriteLastCheck(stateDir string, rec CheckRecord) error {
	if rec.File == nil && rec.Database != "" {
		rec.File = FileIDOf(rec.Database)
	}
	return writeJSONAtomic(recordFile(stateDir, "check", lastCheckFile, rec.Database), rec)
}

// ReadCheckOf reads the last check of the database at dbPath; ok is false
// when none was recorded. A damaged record of this database is an error;
// another database's is skipped.
func ReadCheckOf(stateDir, dbPath string) (CheckRecord, bool, error) {
	return readNewest[CheckRecord](stateDir, "check", lastCheckFile, dbPath)
}

// ReadLastCheck reads the newest check of any database; ok is false when
// none was recorded.
//
// Deprecated: the state dir holds a record per database; a reader wants
// its own database's, ReadCheckOf. This one is what the single record
// was before: the last check, of whatever database was checked last.
func ReadLastCheck(stateDir string) (CheckRecord, bool, error) {
	return readNewest[CheckRecord](stateDir, "check", lastCheckFile, "")
}

// WriteLastDrill records rec in stateDir as the last drill of the
// database rec.Database, atomically, leaving every other database's
// record as it is. rec.File is filled in when empty.
func WriteLastDrill(stateDir string, rec DrillRecord) error {
	if rec.File == nil && rec.Database != "" {
		rec.File = FileIDOf(rec.Database)
	}
	return writeJSONAtomic(recordFile(stateDir, "drill", lastDrillFile, rec.Database), rec)
}

// ReadDrillOf reads the last drill of the database at dbPath; ok is false
// when none was recorded. A damaged record of this database is an error;
// another database's is skipped.
func ReadDrillOf(stateDir, dbPath string) (DrillRecord, bool, error) {
	return readNewest[DrillRecord](stateDir, "drill", lastDrillFile, dbPath)
}

// ReadLastDrill reads the newest drill of any database; ok is false when
// none was recorded.
//
// Deprecated: use ReadDrillOf, as ReadLastCheck's ReadCheckOf.
func ReadLastDrill(stateDir string) (DrillRecord, bool, error) {
	return readNewest[DrillRecord](stateDir, "drill", lastDrillFile, "")
}

// recordFile is where the record of kind of database goes: its own file,
// or the old single file (legacy) for a record of no database, which
// counts for none.
func recordFile(stateDir, kind, legacy, database string) string {
	if database == "" {
		return filepath.Join(stateDir, legacy)
	}
	return recordPath(stateDir, kind, database)
}

// dbRecord is a check or a drill record.
type dbRecord interface {
	CheckRecord | DrillRecord
	IsOf(dbPath string) bool
	when() time.Time
}

func (r CheckRecord) when() time.Time { return r.Time }
func (r DrillRecord) when() time.Time { return r.Time }

// readNewest reads the newest record of kind of the database at dbPath
// (of any database when dbPath is empty).
func readNewest[R dbRecord](stateDir, kind, legacy, dbPath string) (rec R, ok bool, err error) {
	err = readNewestOf(stateDir, kind, legacy, dbPath, func(b []byte) (time.Time, bool, error) {
		var r R
		if err := json.Unmarshal(b, &r); err != nil {
			return time.Time{}, false, err
		}
		if (dbPath != "" && !r.IsOf(dbPath)) || (ok && !r.when().After(rec.when())) {
			return r.when(), false, nil
		}
		rec, ok = r, true
		return r.when(), true, nil
	})
	return rec, ok, err
}

// readNewestOf hands take every record of kind in stateDir: the old
// single file, then the keyed ones. A damaged file is an error when it is
// the old one or dbPath's own keyed file (or dbPath is "": every file
// counts), and is skipped otherwise.
func readNewestOf(stateDir, kind, legacy, dbPath string, take func([]byte) (time.Time, bool, error)) error {
	paths := []string{filepath.Join(stateDir, legacy)}
	entries, err := os.ReadDir(filepath.Join(stateDir, recordsDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s records: %w", kind, err)
	}
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, kind+"-") && strings.HasSuffix(n, ".json") && e.Type().IsRegular() {
			paths = append(paths, filepath.Join(stateDir, recordsDir, n))
		}
	}
	own := ""
	if dbPath != "" {
		own = recordPath(stateDir, kind, dbPath)
	}
	for i, p := range paths {
		b, err := fsutil.ReadRegularFile(context.Background(), p, maxRecordFile)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		mine := i == 0 || dbPath == "" || p == own
		if err == nil {
			_, _, err = take(b)
			if err != nil {
				err = fmt.Errorf("%w (delete the file; the next run rewrites it)", err)
			}
		}
		if err != nil && mine {
			return fmt.Errorf("read %s: %w", p, err)
		}
	}
	return nil
}

// writeJSONAtomic writes v to path through a temp file, fsync and rename,
// so a reader never sees half a record. The dir is created 0700.
func writeJSONAtomic(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create state dir %s: %w", filepath.Dir(path), err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return fsutil.WriteAtomic(path, append(b, '\n'), 0o600)
}
