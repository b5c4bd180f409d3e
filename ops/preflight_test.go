package ops

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/testsupport"
)

// The pre-flight of every procedure that writes to the live database, and
// the stop on corruption seen while one runs (issue 11).

// untouched records a database's files and later asserts that the main
// file is byte for byte the same with the same mtime, and that no -wal or
// -shm appeared where none was (a WAL-mode file may gain an empty -wal and
// -shm from the pre-flight's read-only connection: SQLite needs them to
// read it; a rollback-mode file gains nothing).
type untouched struct {
	path           string
	main, wal      string
	hadWAL, hadShm bool
	walMode        bool
}

func snapshot(t testing.TB, path string) *untouched {
	t.Helper()
	u := &untouched{path: path, main: testsupport.FileState(t, path), wal: testsupport.FileState(t, path+"-wal")}
	u.hadWAL = u.wal != "absent"
	_, err := os.Stat(path + "-shm")
	u.hadShm = err == nil
	hdr := make([]byte, 20)
	if f, err := os.Open(path); err == nil {
		f.ReadAt(hdr, 0)
		f.Close()
	}
	u.walMode = hdr[18] == 2
	return u
}

func (u *untouched) check(t testing.TB) {
	t.Helper()
	if got := testsupport.FileState(t, u.path); got != u.main {
		t.Errorf("%s changed: %s -> %s", u.path, u.main, got)
	}
	wal := testsupport.FileState(t, u.path+"-wal")
	if u.walMode && (wal == "empty" || wal == "absent") && (u.wal == "empty" || u.wal == "absent") {
		return // an empty -wal and none are the same: no data in either
	}
	switch {
	case u.hadWAL && wal != u.wal:
		t.Errorf("%s-wal changed: %s -> %s", u.path, u.wal, wal)
	case !u.hadWAL && wal != "absent" && (!u.walMode || wal != "empty"):
		t.Errorf("%s-wal was created (%s)", u.path, wal)
	}
	if _, err := os.Stat(u.path + "-shm"); err == nil && !u.hadShm && !u.walMode {
		t.Errorf("%s-shm was created beside a rollback-mode file", u.path)
	}
	if _, err := os.Stat(u.path + "-journal"); err == nil {
		t.Errorf("%s-journal was created", u.path)
	}
}

// checkpointed closes every connection after a TRUNCATE checkpoint, so that
// the file holds everything and a page written over is what SQLite reads.
func checkpointed(t testing.TB, path string) {
	t.Helper()
	w, err := db.OpenWrite(context.Background(), path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	w.Close()
}

// corruptIndexPageDB is a seeded database (WAL mode, checkpointed) whose
// idx_appeals_user_status has a leaf page overwritten with junk: the
// case of an archive run that moved 46,646 rows and said "verified".
func corruptIndexPageDB(t testing.TB) string {
	t.Helper()
	path := testsupport.MigratedDB(t)
	seedAppeals(t, path, seedSpec{Old: 3000, Mid: 600, New: 300})
	checkpointed(t, path)
	r, err := db.OpenRead(context.Background(), path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var pageno, pageSize int64
	err = r.QueryRow(`SELECT pageno FROM dbstat WHERE name = 'idx_appeals_user_status' AND pagetype = 'leaf'
		ORDER BY pageno LIMIT 1 OFFSET (SELECT count(*) / 2 FROM dbstat WHERE name = 'idx_appeals_user_status' AND pagetype = 'leaf')`).Scan(&pageno)
	if err == nil {
		err = r.QueryRow(`PRAGMA page_size`).Scan(&pageSize)
	}
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	junk := []byte(strings.Repeat("\xa5", 96))
	if _, err := f.WriteAt(junk, (pageno-1)*pageSize); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// futureSchemaDB is a seeded database with a goose version above the
// newest this repops carries.
func futureSchemaDB(t testing.TB) string {
	t.Helper()
	path := testsupport.MigratedDB(t)
	seedAppeals(t, path, seedSpec{Old: 300, New: 30})
	w, err := db.OpenWrite(context.Background(), path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Exec(`INSERT INTO goose_db_version (version_id, is_applied, tstamp) VALUES (?, 1, '2026-01-01 00:00:00')`, db.LatestVersion()+1)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// foreignSQLiteDB is another application's SQLite file, in rollback mode
// as the sqlite3 shell makes it: stmts, by default a table t(x) and no
// goose table.
func foreignSQLiteDB(t testing.TB, stmts ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "other.db")
	d, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if len(stmts) == 0 {
		stmts = []string{`CREATE TABLE t(x)`, `INSERT INTO t VALUES (1), (2), (3)`}
	}
	for _, s := range stmts {
		if _, err := d.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// foreignGooseDB is another application that uses goose, versions 1 and 2.
func foreignGooseDB(t testing.TB) string {
	return foreignSQLiteDB(t,
		`CREATE TABLE goose_db_version (id INTEGER PRIMARY KEY AUTOINCREMENT, version_id INTEGER NOT NULL, is_applied INTEGER NOT NULL, tstamp TIMESTAMP DEFAULT (datetime('now')))`,
		`INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, 1), (1, 1), (2, 1)`,
		`CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)`, `INSERT INTO users (name) VALUES ('a'), ('b')`)
}

type badFixture struct {
	name string
	make func(t testing.TB) string
	kind error
}

func badFixtures() []badFixture {
	return []badFixture{
		{"corrupt index page", corruptIndexPageDB, db.ErrCorrupt},
		{"future schema", futureSchemaDB, db.ErrSchemaTooNew},
		{"foreign file t(x)", func(t testing.TB) string { return foreignSQLiteDB(t) }, db.ErrNotReputation},
		{"foreign goose database", foreignGooseDB, db.ErrNotReputation},
	}
}

// writingProc is one procedure that writes to the live database, run on
// path with its journal in stateDir.
type writingProc struct {
	name   string
	action string // its journal action
	run    func(ctx context.Context, path string, rec Recorder) error
}

func writingProcs() []writingProc {
	procs := []writingProc{
		{"archive", "archive", func(ctx context.Context, path string, rec Recorder) error {
			o := ArchiveOptions{DBPath: path, AppealsBefore: testNow.Add(-365 * 24 * time.Hour), MessagesBefore: testNow.Add(-182 * 24 * time.Hour),
				BatchRows: 2000, BatchPause: time.Millisecond, Recorder: rec, Now: func() time.Time { return testNow }}
			_, err := Archive(ctx, o, nil)
			return err
		}},
		{"archive to a separate file", "archive", func(ctx context.Context, path string, rec Recorder) error {
			o := ArchiveOptions{DBPath: path, ArchiveFile: filepath.Join(filepath.Dir(rec.StateDir), "archive.db"),
				AppealsBefore: testNow.Add(-365 * 24 * time.Hour), BatchRows: 2000, BatchPause: time.Millisecond, Recorder: rec,
				Now: func() time.Time { return testNow }}
			_, err := Archive(ctx, o, nil)
			return err
		}},
		{"indexes --create", "index.create", func(ctx context.Context, path string, rec Recorder) error {
			_, err := CreateIndex(ctx, CreateIndexOptions{DBPath: path, Name: "idx_messages_appeal_timestamps", Recorder: rec})
			return err
		}},
	}
	for _, op := range OptimizeOps() {
		procs = append(procs, writingProc{"optimize " + string(op), "optimize." + string(op), func(ctx context.Context, path string, rec Recorder) error {
			_, err := Optimize(ctx, OptimizeOptions{DBPath: path, Op: op, Recorder: rec}, nil)
			return err
		}})
	}
	return procs
}

// TestWritesNeedPreflight runs every procedure that writes to the live
// database on each bad file: each refuses with a one-line error naming
// the file, journals the refusal, and changes nothing. The one exception
// is a checkpoint on a damaged file: its pre-flight checks the schema only
// (its cost line says so), and checkpointing an empty WAL writes nothing.
func TestWritesNeedPreflight(t *testing.T) {
	for _, fx := range badFixtures() {
		for _, p := range writingProcs() {
			t.Run(fx.name+"/"+p.name, func(t *testing.T) {
				ctx := context.Background()
				path := fx.make(t)
				snap := snapshot(t, path)
				stateDir := filepath.Join(t.TempDir(), "state")
				err := p.run(ctx, path, Recorder{StateDir: stateDir, Actor: Actor{User: "test", Host: "host"}})
				if p.name == "optimize checkpoint" && fx.kind == db.ErrCorrupt {
					if err != nil {
						t.Fatalf("checkpoint (schema-only pre-flight) on a file with a damaged index page: %v", err)
					}
					snap.check(t)
					return
				}
				if !errors.Is(err, fx.kind) {
					t.Fatalf("err = %v, want %v", err, fx.kind)
				}
				msg := err.Error()
				if strings.Contains(msg, "\n") || !strings.Contains(msg, path) || !strings.Contains(msg, "nothing was written") {
					t.Errorf("not one line naming the file and saying nothing was written: %q", msg)
				}
				if fx.kind == db.ErrCorrupt && !strings.Contains(msg, "repops runbook show database-corruption") {
					t.Errorf("a corruption error that does not point at the runbook: %q", msg)
				}
				snap.check(t)
				if _, err := os.Stat(filepath.Join(filepath.Dir(stateDir), "archive.db")); err == nil {
					t.Errorf("the archive file was created for a refused run")
				}
				entries := journalEntries(t, stateDir)
				if len(entries) != 1 || entries[0].Action != p.action || entries[0].Outcome != OutcomeFailed ||
					!strings.Contains(entries[0].Message, "refused by the pre-flight") {
					t.Errorf("journal: %+v", entries)
				}
			})
		}
	}
}

// TestOptimizeCostStatesPreflight: the cost says which pre-flight runs.
func TestOptimizeCostStatesPreflight(t *testing.T) {
	path := testsupport.MigratedDB(t)
	for _, op := range OptimizeOps() {
		if op == OpIncrementalVacuum {
			continue // refused without incremental auto_vacuum
		}
		c, err := EstimateCost(context.Background(), OptimizeOptions{DBPath: path, Op: op})
		if err != nil {
			t.Fatal(err)
		}
		want := "then PRAGMA quick_check: reads "
		if op == OpCheckpoint {
			want = "no quick_check"
		}
		if !strings.Contains(c.Preflight, want) {
			t.Errorf("%s: pre-flight %q, want %q", op, c.Preflight, want)
		}
	}
}

// staleIndexEntriesDB is a seeded database in which the first five
// appeals (old and final: archival's first batch) have an entry in
// idx_appeals_user_status that does not match the row (the user_id
// changed while the index was not maintained). quick_check counts an
// index's entries but does not compare them with the rows, so the
// pre-flight passes; SQLite reports the corruption (SQLITE_CORRUPT_INDEX)
// when the archive run deletes those rows and finds no entry to delete.
func staleIndexEntriesDB(t testing.TB) string {
	t.Helper()
	path := testsupport.MigratedDB(t)
	seedAppeals(t, path, seedSpec{Old: 300, New: 30})
	ctx := context.Background()
	exec := func(stmts ...string) {
		t.Helper()
		testsupport.ExecSQL(t, path, stmts...)
	}
	var def string
	r, err := db.OpenRead(ctx, path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = r.QueryRow(`SELECT sql FROM sqlite_schema WHERE name = 'idx_appeals_user_status'`).Scan(&def)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The index made partial (WHERE 0) while five rows change, then
	// restored; each connection reads the schema afresh.
	exec(`PRAGMA writable_schema = ON`,
		`UPDATE sqlite_schema SET sql = '`+def+` WHERE 0' WHERE name = 'idx_appeals_user_status'`)
	exec(`UPDATE appeals SET user_id = user_id || '-changed' WHERE id <= 5`)
	exec(`PRAGMA writable_schema = ON`,
		`UPDATE sqlite_schema SET sql = '`+def+`' WHERE name = 'idx_appeals_user_status'`)
	checkpointed(t, path)
	if err := db.PreflightFile(ctx, path, db.Options{}, db.PreflightQuickCheck); err != nil {
		t.Fatalf("the fixture must pass the pre-flight: %v", err)
	}
	return path
}

// TestArchiveStopsOnCorruption: corruption SQLite reports while archival
// runs stops it at once, with nothing moved from the failing batch on,
// the error and its journal entry pointing at the database-corruption
// runbook, and the file left as it was.
func TestArchiveStopsOnCorruption(t *testing.T) {
	path := staleIndexEntriesDB(t)
	before := countRows(t, path, "")
	snap := snapshot(t, path)
	o := archiveOpts(path, t)
	var events []ProgressEvent
	res, err := Archive(context.Background(), o, func(e ProgressEvent) { events = append(events, e) })
	if !errors.Is(err, db.ErrCorrupt) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.Contains(msg, path) || !strings.Contains(msg, "repops runbook show database-corruption") {
		t.Errorf("error %q: want one line naming the file and the runbook", msg)
	}
	t.Log(msg)
	if res == nil || res.Batches != 0 || res.Verified {
		t.Errorf("result %+v: want no batch done and not verified", res)
	}
	for _, e := range events {
		if strings.HasPrefix(e.Message, "batch ") {
			t.Errorf("a batch was reported done: %q", e.Message)
		}
	}
	if after := countRows(t, path, ""); after != before {
		t.Errorf("rows moved: before %+v, after %+v", before, after)
	}
	snap.check(t)
	entries := journalEntries(t, o.Recorder.StateDir)
	last := entries[len(entries)-1]
	if last.Action != "archive" || last.Outcome != OutcomeFailed || last.Figures["corrupt"] != 1 ||
		!strings.Contains(last.Message, "repops runbook show database-corruption") {
		t.Errorf("journal's last entry: %+v", last)
	}
}

// fakeArchiver is an archiver for loop alone: no database.
func fakeArchiver() *archiver {
	return &archiver{o: ArchiveOptions{BatchRows: 20000, BatchTime: 40 * time.Millisecond}, res: &ArchiveResult{},
		byTable: map[string]*ArchiveTableResult{}, rows: 256, ckpt: &checkpointer{kicks: make(chan struct{}, 1)}}
}

// TestArchiveLoopMakesProgressOrStops forces the cases where a run stopped
// advancing (it was once seen printing "appeals: batch 51956: ids
// 70037-77905, 68 rows" for ever under a foreign writer): the same range
// again, a batch that moves nothing, a batch always cut short, a batch
// whose rows always change. Each stops, bounded, with an error naming the
// range.
func TestArchiveLoopMakesProgressOrStops(t *testing.T) {
	ctx := context.Background()
	same := batchRange{lo: 70037, hi: 77905, n: 68}
	tests := []struct {
		name    string
		next    func(after int64) batchRange
		move    func(b batchRange) (int64, error)
		want    error
		text    string
		maxMove int // most calls of move allowed
	}{
		{"the same range again", func(int64) batchRange { return same },
			func(b batchRange) (int64, error) { return b.n, nil }, ErrNoProgress,
			"ids 70037-77905 (68 rows), is not beyond the last one done (ids up to 77905)", 1},
		{"a range below the last one", func(after int64) batchRange {
			if after == 0 {
				return same
			}
			return batchRange{lo: 100, hi: 200, n: 5}
		}, func(b batchRange) (int64, error) { return b.n, nil }, ErrNoProgress, "ids 100-200", 1},
		{"a batch that moves nothing", func(int64) batchRange { return same },
			func(batchRange) (int64, error) { return 0, nil }, ErrNoProgress,
			"batch of ids 70037-77905 (68 candidates) moved no row", 1},
		{"a batch always cut short", func(int64) batchRange { return same },
			func(batchRange) (int64, error) { return 0, errBatchTooLong }, errBatchTooLong,
			"batch of ids 70037-77905 cut short", 20},
		{"a batch whose rows always change", func(int64) batchRange { return same },
			func(batchRange) (int64, error) { return 0, errBatchChanged }, errBatchChanged,
			"batch of ids 70037-77905", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := fakeArchiver()
			moves := 0
			done := make(chan error, 1)
			go func() {
				done <- a.loop(ctx, "appeals", 1000,
					func(_ context.Context, after int64, _ int) (batchRange, error) { return tt.next(after), nil },
					func(_ context.Context, b batchRange) (int64, error) { moves++; return tt.move(b) })
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the loop did not stop")
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("err = %v, want %v naming %q", err, tt.want, tt.text)
			}
			if moves > tt.maxMove {
				t.Errorf("move called %d times, at most %d", moves, tt.maxMove)
			}
			t.Log(err)
		})
	}
	// The cut-short bound: enough to halve from the largest batch to the
	// smallest.
	a := fakeArchiver()
	if n := a.maxCuts(); 20000>>uint(n-2) > minBatchRows*2 || n > 20 {
		t.Errorf("maxCuts %d for batches of 20000 rows down to %d", n, minBatchRows)
	}
}

// TestIncrementalVacuumStopsWithoutProgress: incremental vacuum that has
// nothing left to free ends (the service reused the free pages) instead of
// stepping through the rest of its count.
func TestIncrementalVacuumStopsWithoutProgress(t *testing.T) {
	path := testsupport.MigratedDB(t)
	seedAppeals(t, path, seedSpec{Old: 2000, New: 10})
	ctx := context.Background()
	state := filepath.Join(t.TempDir(), "state")
	if _, err := Optimize(ctx, OptimizeOptions{DBPath: path, Op: OpEnableIncremental, Recorder: Recorder{StateDir: state}}, nil); err != nil {
		t.Fatal(err)
	}
	w, err := db.OpenWrite(ctx, path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Exec(`DELETE FROM appeal_negotiation_messages`); err != nil {
		t.Fatal(err)
	}
	conn, err := w.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var free, pageSize int64
	conn.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&free)
	conn.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&pageSize)
	if free < 8 {
		t.Fatalf("only %d free pages", free)
	}
	// The cost claims twice the steps there are pages for: the run ends
	// when the free list is empty.
	o := OptimizeOptions{DBPath: path, Op: OpIncrementalVacuum, IncrementalPages: 4, IncrementalPause: time.Microsecond}
	cost := Cost{WorkBytes: free * pageSize, Steps: 2 * ((free + 3) / 4)}
	res := &OptimizeResult{}
	if err := incrementalVacuum(ctx, conn, o, cost, res, nil); err != nil {
		t.Fatal(err)
	}
	var left int64
	conn.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&left)
	if want := fmt.Sprintf("incremental vacuum: %d steps,", (free+3)/4); left != 0 || !strings.HasPrefix(res.Message, want) {
		t.Errorf("%d pages left; %q, want %q", left, res.Message, want)
	}
}
