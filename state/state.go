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
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
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
	Mode     string    `json:"mode"` // "quick" or "full"
	OK       bool      `json:"ok"`
	Problems []string  `json:"problems,omitempty"`
}

// DrillRecord is the outcome of the last DR drill.
type DrillRecord struct {
	Time time.Time `json:"time"`
	// Database is the absolute path of the database whose backup was
	// drilled. Records written before it existed have none: of an
	// unknown database, they count for none (IsOf).
	Database   string        `json:"database,omitempty"`
	Backup     string        `json:"backup"`
	OK         bool          `json:"ok"`
	RTO        time.Duration `json:"rto_ns"`       // measured restore time
	RPO        time.Duration `json:"rpo_ns"`       // age of the backup restored
	RTOLimit   time.Duration `json:"rto_limit_ns"` // the guide's objective compared against
	RPOLimit   time.Duration `json:"rpo_limit_ns"`
	ReportPath string        `json:"report_path,omitempty"`
}

// SameDatabase reports whether the paths a and b name the same database
// file, compared absolute and cleaned (a relative path is taken from the
// working directory). An empty path names no database.
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
	return abs(a) == abs(b)
}

// IsOf reports whether the check was of the database at dbPath. The state
// dir is shared by every database the config names: a check of another
// says nothing of this one.
func (r CheckRecord) IsOf(dbPath string) bool { return SameDatabase(r.Database, dbPath) }

// IsOf reports whether the drill was of the database at dbPath; a record
// naming no database (written before DrillRecord.Database existed) is of
// none.
func (r DrillRecord) IsOf(dbPath string) bool { return SameDatabase(r.Database, dbPath) }

const (
	lastCheckFile = "last_check.json"
	lastDrillFile = "last_drill.json"
)

// WriteLastCheck records rec in stateDir, atomically.
func WriteLastCheck(stateDir string, rec CheckRecord) error {
	return writeJSONAtomic(filepath.Join(stateDir, lastCheckFile), rec)
}

// ReadLastCheck reads the last check; ok is false when none was recorded.
func ReadLastCheck(stateDir string) (rec CheckRecord, ok bool, err error) {
	ok, err = readJSON(filepath.Join(stateDir, lastCheckFile), &rec)
	return rec, ok, err
}

// WriteLastDrill records rec in stateDir, atomically.
func WriteLastDrill(stateDir string, rec DrillRecord) error {
	return writeJSONAtomic(filepath.Join(stateDir, lastDrillFile), rec)
}

// ReadLastDrill reads the last drill; ok is false when none was recorded.
func ReadLastDrill(stateDir string) (rec DrillRecord, ok bool, err error) {
	ok, err = readJSON(filepath.Join(stateDir, lastDrillFile), &rec)
	return rec, ok, err
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

func readJSON(path string, v any) (bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("read %s: %w (delete the file; the next run rewrites it)", path, err)
	}
	return true, nil
}
