package ops

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/fsutil"
	"github.com/repops/repops/internal/humanize"
)

// Shared by the maintenance procedures (optimize, indexes, archive, growth):
// schema look-ups that keep identifiers out of reach of input, free-space
// checks and the row checksum function. The lock and the journal are
// Run's (procedure.go).

// ErrUnknownObject is what a table or index name that is not in the
// database's schema meets. Names from input are looked up in sqlite_schema
// first and only ever quoted into SQL after they were found there.
var ErrUnknownObject = errors.New("not in the database's schema")

// ErrNoSpace is what a procedure meets when a filesystem it needs has not
// enough free space; nothing was changed.
var ErrNoSpace = errors.New("not enough free space")

// SchemaObject is one table or index of the schema.
type SchemaObject struct {
	Type  string // "table" or "index"
	Name  string
	Table string // the table an index belongs to; the table itself for a table
	SQL   string // CREATE statement; empty for automatic indexes
}

// lookupSchemaObject finds name among the tables and indexes of the main
// schema (case-insensitively, as SQLite does). Internal sqlite_ objects
// are not offered.
func lookupSchemaObject(ctx context.Context, q db.Querier, name string) (SchemaObject, error) {
	var o SchemaObject
	var sqlText sql.NullString
	err := q.QueryRowContext(ctx, `SELECT type, name, tbl_name, sql FROM main.sqlite_schema
		WHERE type IN ('table','index') AND name = ? COLLATE NOCASE AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`, name).
		Scan(&o.Type, &o.Name, &o.Table, &sqlText)
	if errors.Is(err, sql.ErrNoRows) {
		return o, fmt.Errorf("%q: %w (list them with 'repops indexes')", name, ErrUnknownObject)
	}
	if err != nil {
		return o, fmt.Errorf("look up %q in the schema: %w", name, err)
	}
	o.SQL = sqlText.String
	return o, nil
}

// quoteSchemaName quotes an identifier that came from sqlite_schema (never
// from input directly) for use in SQL.
func quoteSchemaName(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// DiskSpace is what statfs says of one filesystem.
type DiskSpace struct {
	Dir   string // the directory asked about
	Free  int64  // bytes available to an unprivileged user
	Total int64
	FS    string // filesystem id: two dirs with the same FS share their space
}

// StatFS reports the free space of the filesystem holding dir. Procedures
// take one in their options so that tests can simulate a full disk.
type StatFS func(dir string) (DiskSpace, error)

// SystemStatFS is StatFS by statfs(2).
func SystemStatFS(dir string) (DiskSpace, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return DiskSpace{Dir: dir}, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return DiskSpace{
		Dir:   dir,
		Free:  int64(st.Bavail) * int64(st.Bsize),
		Total: int64(st.Blocks) * int64(st.Bsize),
		FS:    fmt.Sprintf("%x:%x", st.Fsid.Val[0], st.Fsid.Val[1]),
	}, nil
}

// SQLiteTempDir is where SQLite on Unix puts its temporary files (VACUUM's
// copy of the database among them): $SQLITE_TMPDIR, $TMPDIR, /var/tmp,
// /usr/tmp, /tmp, in that order, the first that is a writable directory.
func SQLiteTempDir() string {
	for _, d := range []string{os.Getenv("SQLITE_TMPDIR"), os.Getenv("TMPDIR"), "/var/tmp", "/usr/tmp", "/tmp"} {
		if d == "" {
			continue
		}
		if st, err := os.Stat(d); err == nil && st.IsDir() && unix.Access(d, unix.W_OK|unix.X_OK) == nil {
			return d
		}
	}
	return os.TempDir()
}

// spaceNeed is room a procedure needs in one directory.
type spaceNeed struct {
	Dir  string
	What string // what the space is for, for the operator
	Need int64
}

// checkSpace checks each need against statfs; needs on the same
// filesystem add up. It returns the space found for display and an
// ErrNoSpace error naming the first short filesystem.
func checkSpace(statfs StatFS, needs []spaceNeed) ([]DiskSpace, error) {
	if statfs == nil {
		statfs = SystemStatFS
	}
	type fsTotal struct {
		space DiskSpace
		need  int64
		what  []string
	}
	var order []string
	byFS := map[string]*fsTotal{}
	var spaces []DiskSpace
	for _, n := range needs {
		s, err := statfs(n.Dir)
		if err != nil {
			return nil, fmt.Errorf("check free space: %w", err)
		}
		spaces = append(spaces, s)
		key := s.FS
		if key == "" {
			key = s.Dir
		}
		t, ok := byFS[key]
		if !ok {
			t = &fsTotal{space: s}
			byFS[key] = t
			order = append(order, key)
		}
		t.need += n.Need
		t.what = append(t.what, fmt.Sprintf("%s for %s", humanize.Bytes(n.Need), n.What))
	}
	for _, k := range order {
		t := byFS[k]
		if t.space.Free < t.need {
			return spaces, fmt.Errorf("%w in %s: needs %s (%s), has %s free: free space there, or point SQLITE_TMPDIR at a larger filesystem, and retry; nothing was changed",
				ErrNoSpace, t.space.Dir, humanize.Bytes(t.need), strings.Join(t.what, " + "), humanize.Bytes(t.space.Free))
		}
	}
	return spaces, nil
}

// rowsHashFunc is the SQL name of the checksum function registered on the
// archival connection. repops_rows_hash(text) takes rows written as text
// (archiveSpec.rowLiteral), joined by char(30), and returns the sum, modulo
// 2^64, of each row's 64-bit hash (rowHash). The sum depends neither on the
// order of the rows nor on how they are grouped into calls, so that the
// checksum of a batch taken as it moves equals the one the final
// verification computes over any partition of the moved rows. (A value
// that contains char(30) is hashed as two pieces, on both sides alike.) One
// call per group of rows, not per row: a call from SQLite into Go costs
// microseconds, several times the rest of the checksum.
const rowsHashFunc = "repops_rows_hash"

// rowSep separates the rows given to repops_rows_hash.
const rowSep = 0x1e

// rowsHash is repops_rows_hash (see rowsHashFunc). No rows hash to 0.
func rowsHash(s []byte) int64 {
	if len(s) == 0 {
		return 0
	}
	var sum uint64
	for {
		i := bytes.IndexByte(s, rowSep)
		if i < 0 {
			return int64(sum + rowHash(s))
		}
		sum += rowHash(s[:i])
		s = s[i+1:]
	}
}

// rowHash is one row's 64-bit hash: its bytes taken eight at a time, each
// word mixed in by a multiply and a rotation, the length in the last
// word, and a final avalanche (as in MurmurHash3's finalizer), so that
// any change of a byte changes about half of the bits. It detects damage,
// not tampering, and takes a multiply per eight bytes where FNV-1a took
// one per byte.
func rowHash(b []byte) uint64 {
	const p1, p2 = 0x9e3779b97f4a7c15, 0xc2b2ae3d27d4eb4f
	h := uint64(0xcbf29ce484222325)
	for ; len(b) >= 8; b = b[8:] {
		h = bits.RotateLeft64((h^binary.LittleEndian.Uint64(b))*p1, 31) * p2
	}
	var w uint64
	for i, c := range b {
		w |= uint64(c) << (8 * i)
	}
	h = bits.RotateLeft64((h^w^uint64(len(b))<<59)*p1, 31) * p2
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// registerRowsHash makes repops_rows_hash available on conn.
func registerRowsHash(ctx context.Context, conn *sql.Conn) error {
	return conn.Raw(func(dc any) error {
		sc, ok := db.SQLiteConn(dc)
		if !ok {
			return fmt.Errorf("register %s: unexpected driver connection %T", rowsHashFunc, dc)
		}
		return sc.RegisterFunc(rowsHashFunc, rowsHash, true)
	})
}

// preflight is the pre-flight of a procedure about to write to the live
// database at path (db.PreflightFile: schema, and quick_check at
// db.PreflightQuickCheck, through a read-only connection closed before the
// procedure opens its write connection). A refusal is journaled under
// action (JournalRefusal).
func preflight(ctx context.Context, rec Recorder, action, path string, o db.Options, level db.PreflightLevel, params map[string]any) error {
	err := db.PreflightFile(ctx, path, o, level)
	if err != nil {
		JournalRefusal(rec, action, path, params, err)
	}
	return err
}

// PreflightRefused reports whether err is a pre-flight's refusal of the
// file's content (damaged, not the reputation database, a schema newer
// than this repops, none, or tables missing), as opposed to a wrong path.
func PreflightRefused(err error) bool {
	for _, k := range []error{db.ErrCorrupt, db.ErrNotReputation, db.ErrSchemaTooNew, db.ErrNoSchema, db.ErrSchemaInvalid} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}

// JournalRefusal records in rec's journal that the pre-flight refused
// action on the database at path, when err is such a refusal
// (PreflightRefused) and rec has a state dir: the incident timeline shows
// that someone tried to write to a damaged or foreign file, and that
// nothing was written. It takes no lock (nothing runs) and cannot fail
// the caller.
func JournalRefusal(rec Recorder, action, path string, params map[string]any, err error) {
	if rec.StateDir == "" || !PreflightRefused(err) {
		return
	}
	if rec.Actor.User == "" {
		rec.Actor = CurrentActor("")
	}
	j, jerr := OpenJournal(rec.StateDir)
	if jerr != nil {
		return
	}
	defer j.Close()
	_, _ = j.Append(Entry{Actor: rec.Actor, Action: action, Target: absPath(path), Params: params, Outcome: OutcomeFailed,
		Figures: map[string]float64{"corrupt": boolFigure(db.IsCorrupt(err))},
		Message: "refused by the pre-flight, nothing written: " + err.Error()})
}

// stopOnCorrupt is db.StopOnCorrupt for a procedure's error about the
// database at path: corruption seen while it ran stops it, with the
// database-corruption runbook in the error (and so in its journal entry).
func stopOnCorrupt(path string, err error) error {
	if err == nil || !db.IsCorrupt(err) {
		return err
	}
	return db.StopOnCorrupt(path, err)
}

// stopBeforeRun is stopOnCorrupt for an error met after the pre-flight
// passed but before the run took its lock and journaled its start:
// corruption seen then is journaled as the pre-flight's refusal would be.
func stopBeforeRun(rec Recorder, action, path string, params map[string]any, err error) error {
	err = stopOnCorrupt(path, err)
	if db.IsCorrupt(err) {
		JournalRefusal(rec, action, path, params, err)
	}
	return err
}

// absPath is path made absolute, or path itself when that fails.
func absPath(path string) string {
	if a, err := filepath.Abs(path); err == nil {
		return a
	}
	return path
}

// IORates is a measurement of this machine and this file: how fast the
// database's pages read through SQLite, and how fast the same amount
// writes and fsyncs in the database's directory. The lock-time estimates
// come from it (lockHold), not from figures of another host.
type IORates struct {
	ReadMiBps      float64 `json:"read_mib_per_s"`
	WriteSyncMiBps float64 `json:"write_fsync_mib_per_s"`
	SampleBytes    int64   `json:"sample_bytes"`
	// WriteDir is where the write sample went when not beside the
	// database (read-only mode); empty otherwise.
	WriteDir string `json:"write_dir,omitempty"`
}

// MeasureIO measures the IORates of the database at dbPath.
type MeasureIO func(ctx context.Context, dbPath string) (IORates, error)

// measureSampleMax bounds the sample read and written: a few hundred ms
// on a slow disk, and enough to get past the caches' first pages.
const measureSampleMax = 16 << 20

// measurePrefix names the measurement's temp file in the database's
// directory (fsutil.TempName of it: pid-tagged).
const measurePrefix = ".repops-measure"

// MeasureFileIO is MeasureIO on the real file: it reads a bounded sample
// of the database's pages (dbstat, one row per page visited, in b-tree
// order, up to measureSampleMax) through a read-only connection of its
// own, then writes the same number of bytes into a new temp file in the
// database's directory (fsutil.CreateTemp, never the live file), fsyncs
// it and removes it. Both are timed; the rates are MiB/s. It is what the
// service's writers see now: a busy host measures slow.
func MeasureFileIO(ctx context.Context, dbPath string) (IORates, error) {
	return measureIO(ctx, dbPath, filepath.Dir(absPath(dbPath)))
}

// MeasureFileIOIn is MeasureFileIO with the write sample in dir instead of
// beside the database: read-only mode writes nothing there, so its
// estimate takes the write rate of SQLite's temp dir (where VACUUM writes
// its copy anyway), and says so.
func MeasureFileIOIn(dir string) MeasureIO {
	return func(ctx context.Context, dbPath string) (IORates, error) {
		m, err := measureIO(ctx, dbPath, dir)
		m.WriteDir = dir
		return m, err
	}
}

func measureIO(ctx context.Context, dbPath, dir string) (IORates, error) {
	removeStaleMeasures(dir)
	r, err := db.OpenRead(ctx, dbPath, db.Options{MaxConns: 1})
	if err != nil {
		return IORates{}, fmt.Errorf("measure: %w", err)
	}
	defer r.Close()
	var pageSize int64
	if err := r.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&pageSize); err != nil {
		return IORates{}, fmt.Errorf("measure: %w", db.Classify(dbPath, err))
	}
	t0 := time.Now()
	var pages, read int64
	if err := r.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(pgsize), 0) FROM (SELECT pgsize FROM dbstat('main') LIMIT ?)`,
		measureSampleMax/pageSize).Scan(&pages, &read); err != nil {
		return IORates{}, fmt.Errorf("measure: read a sample of pages: %w", db.Classify(dbPath, err))
	}
	readTook := time.Since(t0)
	if read <= 0 {
		read = pageSize
	}
	f, err := fsutil.CreateTemp(filepath.Join(dir, measurePrefix))
	if err != nil {
		return IORates{}, fmt.Errorf("measure: write a sample in %s: %w", dir, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, min(read, 1<<20))
	for i := range buf {
		buf[i] = byte(i * 131) // not zeros: no filesystem shortcut
	}
	t0 = time.Now()
	for left := read; left > 0; {
		if err := ctx.Err(); err != nil {
			return IORates{}, err
		}
		n := min(left, int64(len(buf)))
		if _, err := f.Write(buf[:n]); err != nil {
			return IORates{}, fmt.Errorf("measure: write a sample in %s: %w", dir, err)
		}
		left -= n
	}
	if err := f.Sync(); err != nil {
		return IORates{}, fmt.Errorf("measure: fsync a sample in %s: %w", dir, err)
	}
	writeTook := time.Since(t0)
	return IORates{ReadMiBps: mibPerSec(read, readTook), WriteSyncMiBps: mibPerSec(read, writeTook), SampleBytes: read}, nil
}

// mibPerSec is n bytes in d, in MiB/s (d at least a microsecond).
func mibPerSec(n int64, d time.Duration) float64 {
	return float64(n) / (1 << 20) / max(d, time.Microsecond).Seconds()
}

// removeStaleMeasures removes, in dir, the measurement temp files of
// processes that are gone (a killed estimate's), and nothing else.
func removeStaleMeasures(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), "."+measurePrefix+".") {
			continue
		}
		if pid, ok := fsutil.OwnerPid(e.Name()); ok && unix.Kill(pid, 0) == unix.ESRCH {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// lockHold is the time to read read bytes and write and fsync written
// bytes at the measured rates.
func (m IORates) lockHold(read, written int64) time.Duration {
	secs := 0.0
	if m.ReadMiBps > 0 {
		secs += float64(read) / (1 << 20) / m.ReadMiBps
	}
	if m.WriteSyncMiBps > 0 {
		secs += float64(written) / (1 << 20) / m.WriteSyncMiBps
	}
	return time.Duration(secs * float64(time.Second))
}

// basis is the Cost's Basis line for a measurement.
func (m IORates) basis() string {
	if m.WriteDir != "" {
		return fmt.Sprintf("measured on this file: read %.0f MiB/s; write+fsync %.0f MiB/s measured in %s, since read-only mode writes nothing beside the database (a %s sample); the lock hold is the bytes read and rewritten at these rates, a floor: sorting and a busy service add to it",
			m.ReadMiBps, m.WriteSyncMiBps, m.WriteDir, humanize.Bytes(m.SampleBytes))
	}
	return fmt.Sprintf("measured on this file: read %.0f MiB/s, write+fsync %.0f MiB/s (a %s sample); the lock hold is the bytes read and rewritten at these rates, a floor: sorting and a busy service add to it",
		m.ReadMiBps, m.WriteSyncMiBps, humanize.Bytes(m.SampleBytes))
}
