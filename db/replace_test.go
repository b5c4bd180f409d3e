package db

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestHelperOpenClose is not a test: it is another process that opens a
// connection on REPOPS_TEST_OPENCLOSE_DB, reads, and closes it, as a
// service that opens a connection per statement does. Its close is the
// last one when this process's locks are gone: it then checkpoints and
// deletes the WAL.
func TestHelperOpenClose(t *testing.T) {
	path := os.Getenv("REPOPS_TEST_OPENCLOSE_DB")
	if path == "" {
		return
	}
	params := url.Values{}
	params.Set("mode", "rw")
	params.Set("_busy_timeout", "5000")
	d, err := sql.Open("sqlite3", URI(path, params))
	if err != nil {
		fmt.Println("failed", err)
		os.Exit(1)
	}
	var n int
	if err := d.QueryRow(`SELECT count(*) FROM appeals`).Scan(&n); err != nil {
		fmt.Println("failed", err)
		os.Exit(1)
	}
	d.Close()
	fmt.Println("ok", n)
	os.Exit(0)
}

func openCloseElsewhere(t *testing.T, path string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperOpenClose$", "-test.count=1")
	cmd.Env = append(os.Environ(), "REPOPS_TEST_OPENCLOSE_DB="+path)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "ok") {
		t.Fatalf("the other process: %v %s", err, out)
	}
}

// walDB is a migrated database with rows in its WAL, and a read
// transaction held on it by this process (as an online restore holds its
// write lock while it copies the database aside).
func walDB(t *testing.T) (path string, tx *sql.Tx) {
	t.Helper()
	path = newMigratedDB(t)
	ctx := context.Background()
	r, err := OpenRead(ctx, path, Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	// Rows committed while r is open stay in the WAL (no last close).
	execOn(t, path, `INSERT INTO appeals (user_id, reason, status, created_at, updated_at) VALUES ('u', 'r', 'pending', datetime('now'), datetime('now'))`)
	tx, err = r.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback() })
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM appeals`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("count %d, %v", n, err)
	}
	if st, err := os.Stat(path + "-wal"); err != nil || st.Size() == 0 {
		t.Fatalf("no WAL to copy: %v", err)
	}
	return path, tx
}

// TestCopyAsideKeepsThisProcessLocks: copying the live database aside
// while this process has it open reads through SQLite's descriptors and
// drops none of its locks: another process that opens and closes a
// connection afterwards is not the last one, and leaves the WAL alone.
// The control shows what the test detects: the old safety copy's
// descriptors of our own on the database, its -wal and its -shm, opened
// and closed, drop the locks (measured: those on the database and on the
// -shm both must go), and the other process's close then checkpoints and
// deletes the WAL under this process's open transaction.
func TestCopyAsideKeepsThisProcessLocks(t *testing.T) {
	ctx := context.Background()
	t.Run("CopyAside", func(t *testing.T) {
		path, tx := walDB(t)
		dst := filepath.Join(t.TempDir(), "aside.db")
		files, err := CopyAside(ctx, path, dst)
		if err != nil {
			t.Fatal(err)
		}
		if len(files) != 3 {
			t.Fatalf("copied %v, want the database, its -wal and its -shm", files)
		}
		openCloseElsewhere(t, path)
		if _, err := os.Stat(path + "-wal"); err != nil {
			t.Fatalf("the WAL is gone after another process closed its connection: this process's locks were dropped (%v)", err)
		}
		var n int
		if err := tx.QueryRow(`SELECT count(*) FROM appeals`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("the open transaction reads %d, %v", n, err)
		}
	})
	t.Run("control: descriptors of our own", func(t *testing.T) {
		path, _ := walDB(t)
		for _, s := range []string{"", "-wal", "-shm"} {
			f, err := os.Open(path + s)
			if err != nil {
				t.Fatal(err)
			}
			f.Close() // releases every POSIX lock this process holds on the file
		}
		openCloseElsewhere(t, path)
		if _, err := os.Stat(path + "-wal"); err == nil {
			t.Fatal("the WAL survived dropped locks: this test cannot tell a copy that keeps them from one that drops them")
		}
	})
}

// TestCopyAsideIsByteForByte: the copies are the files as they are, the
// database, its -wal and its -shm, also when the database is not one.
func TestCopyAsideIsByteForByte(t *testing.T) {
	ctx := context.Background()
	path, _ := walDB(t)
	dst := filepath.Join(t.TempDir(), "aside.db")
	files, err := CopyAside(ctx, path, dst)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range []string{"", "-wal", "-shm"} {
		want, _ := os.ReadFile(path + s)
		got, err := os.ReadFile(files[i])
		if err != nil || files[i] != dst+s || !bytes.Equal(got, want) {
			t.Fatalf("%s: %d bytes, want %d (%v)", files[i], len(got), len(want), err)
		}
		if st, _ := os.Stat(files[i]); st.Mode().Perm() != 0o600 {
			t.Fatalf("%s mode %v", files[i], st.Mode().Perm())
		}
	}
	if _, err := CopyAside(ctx, path, dst); err == nil {
		t.Fatal("CopyAside overwrote an existing copy")
	}

	garbage := filepath.Join(t.TempDir(), "architect.db")
	os.WriteFile(garbage, []byte(strings.Repeat("garbage\n", 100)), 0o600)
	files, err = CopyAside(ctx, garbage, filepath.Join(t.TempDir(), "g.db"))
	if err != nil || len(files) != 1 {
		t.Fatalf("copy of a file that is not a database: %v %v", files, err)
	}
	if got, _ := os.ReadFile(files[0]); string(got) != strings.Repeat("garbage\n", 100) {
		t.Fatal("not byte for byte")
	}
}

// replacement is a database file beside path (a temp file, as a restore
// writes it) with n appeals, in rollback-journal mode, 0600.
func replacement(t *testing.T, path string, n int) string {
	t.Helper()
	src := newMigratedDB(t)
	for i := 0; i < n; i++ {
		execOn(t, src, `INSERT INTO appeals (user_id, reason, status, created_at, updated_at) VALUES ('new', 'r', 'pending', datetime('now'), datetime('now'))`)
	}
	tmp := filepath.Join(filepath.Dir(path), ".new.tmp")
	if err := BackupTo(context.Background(), src, tmp); err != nil {
		t.Fatal(err)
	}
	os.Chmod(tmp, 0o600)
	return tmp
}

func appealsIn(t *testing.T, path string) int {
	t.Helper()
	r, err := OpenRead(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var n int
	if err := r.QueryRow(`SELECT count(*) FROM appeals`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReplaceWithRunsOnlyInsideSwap: outside Swap ReplaceWith refuses and
// changes nothing; inside, it replaces the file in its steps' order,
// removes the old companions, and leaves the new database in WAL mode,
// with a Handle of this process reading it at its next use.
func TestReplaceWithRunsOnlyInsideSwap(t *testing.T) {
	ctx := context.Background()
	path := newMigratedDB(t)
	execOn(t, path, `INSERT INTO appeals (user_id, reason, status, created_at, updated_at) VALUES ('old', 'r', 'pending', datetime('now'), datetime('now'))`)
	tmp := replacement(t, path, 3)
	if err := ReplaceWith(ctx, path, tmp, nil); err == nil || !strings.Contains(err.Error(), "Swap") {
		t.Fatalf("ReplaceWith outside Swap: %v", err)
	}
	if n := appealsIn(t, path); n != 1 {
		t.Fatalf("%d appeals after a refused replacement, want 1", n)
	}
	h := NewHandle(path, false, Options{Owner: "console"})
	defer h.Close()
	if _, err := h.DB(ctx); err != nil {
		t.Fatal(err)
	}
	var steps []string
	err := Swap(ctx, path, func(ctx context.Context) error {
		return ReplaceWith(ctx, path, tmp, func(s string) { steps = append(steps, s) })
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(steps, ",") != "checkpointed,companions-removed,renamed,reopened" {
		t.Fatalf("steps %v", steps)
	}
	if _, err := os.Stat(tmp); err == nil {
		t.Fatal("the temp file is still there")
	}
	p, err := h.DB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var mode string
	p.QueryRow(`SELECT count(*) FROM appeals`).Scan(&n)
	p.QueryRow(`PRAGMA journal_mode`).Scan(&mode)
	if n != 3 || mode != "wal" {
		t.Fatalf("the handle reads %d appeals in journal_mode %s, want 3 in wal", n, mode)
	}
}

// TestReplaceWithKeepsOwnerAndMode: as root, the new file takes the
// replaced file's owner, group and mode, and so do the -wal and -shm it
// is reopened with.
func TestReplaceWithKeepsOwnerAndMode(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to give files to another user")
	}
	ctx := context.Background()
	path := newMigratedDB(t)
	os.Chown(path, 1234, 1234)
	os.Chmod(path, 0o640)
	tmp := replacement(t, path, 1)
	check := func(p string) {
		t.Helper()
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		s := st.Sys().(*syscall.Stat_t)
		if s.Uid != 1234 || s.Gid != 1234 || st.Mode().Perm() != 0o640 {
			t.Errorf("%s is %d:%d %04o, want 1234:1234 0640", filepath.Base(p), s.Uid, s.Gid, st.Mode().Perm())
		}
	}
	err := Swap(ctx, path, func(ctx context.Context) error {
		return ReplaceWith(ctx, path, tmp, func(s string) {
			if s == "reopened" {
				for _, p := range []string{path, path + "-wal", path + "-shm"} {
					check(p)
				}
			}
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	check(path)
}

// TestCopyAsideNeverLeavesAPartialCopy: a copy that fails half way
// leaves no file under the final names (nor its temp files): a partial
// safety copy never looks like a real one.
func TestCopyAsideNeverLeavesAPartialCopy(t *testing.T) {
	ctx := context.Background()
	path := newMigratedDB(t)
	const fill = `WITH RECURSIVE c(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM c WHERE k < 600) INSERT INTO filler SELECT randomblob(4096) FROM c`
	execOn(t, path, `CREATE TABLE filler (x); `+fill)
	// A reader keeps the next rows in the WAL: both files are large.
	r, err := OpenRead(ctx, path, Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tx, err := r.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM filler`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	execOn(t, path, fill)
	for _, failOn := range []string{"", "-wal"} {
		t.Run("fails in the copy of the database"+failOn, func(t *testing.T) {
			dir := t.TempDir()
			dst := filepath.Join(dir, "aside.db")
			var sawTemp bool
			copyAsideHook = func(tmp string, written int64) error {
				if filepath.Base(tmp) == filepath.Base(dst)+failOn {
					t.Fatalf("writing the final name %s directly", tmp)
				}
				if strings.HasSuffix(tmp, ".tmp"+failOn) && written >= 1<<20 {
					sawTemp = true
					return fmt.Errorf("injected failure after %d bytes", written)
				}
				return nil
			}
			defer func() { copyAsideHook = nil }()
			if st, err := os.Stat(path + failOn); err != nil || st.Size() <= 1<<20 {
				t.Skipf("%s too small for a failure half way: %v", path+failOn, err)
			}
			files, err := CopyAside(ctx, path, dst)
			if err == nil || !sawTemp {
				t.Fatalf("the copy did not fail half way: %v %v", files, err)
			}
			left, _ := os.ReadDir(dir)
			if len(left) != 0 {
				t.Fatalf("left after a failed copy: %v", left)
			}
		})
	}
}
