// Package testsupport holds the helpers that the tests of several packages
// share: a migrated database in a temporary directory, statements run on a
// database file, a snapshot of a database's files to assert that nothing
// changed them, a dead process's pid, an output buffer safe for concurrent
// use, a capture of os.Stderr and a directory's names.
//
// Only tests import it. It imports db and the standard library and nothing
// else, so that the tests of every package but db can use it; db's own
// (package db) tests keep their copies, since importing this package from
// them would be an import cycle.
package testsupport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/repops/repops/db"
)

// OpenMigrated creates the database at path, applies every migration and
// returns the open write connection, for a caller that seeds rows; the
// caller closes it.
func OpenMigrated(t testing.TB, path string) *sql.DB {
	t.Helper()
	ctx := context.Background()
	w, err := db.OpenWrite(ctx, path, db.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(ctx, w, path); err != nil {
		w.Close()
		t.Fatal(err)
	}
	return w
}

// CreateMigrated creates the database at path with every migration applied
// and no rows, and closes it.
func CreateMigrated(t testing.TB, path string) {
	t.Helper()
	OpenMigrated(t, path).Close()
}

// MigratedDB creates architect.db in a new t.TempDir() with every
// migration applied and no rows, and returns its path.
func MigratedDB(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "architect.db")
	CreateMigrated(t, path)
	return path
}

// ExecSQL runs statements, in order, on the database at path through a
// write connection, then closes it (which checkpoints the WAL into the
// file). A failing statement fails the test.
func ExecSQL(t testing.TB, path string, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	w, err := db.OpenWrite(ctx, path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, s := range stmts {
		if _, err := w.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// CountRows returns count(*) of table in the database at path, read
// through a read-only connection.
func CountRows(t testing.TB, path, table string) int {
	t.Helper()
	r, err := db.OpenRead(context.Background(), path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var n int
	if err := r.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// FileState is one file's sha256 and mtime, or "absent" or "empty".
func FileState(t testing.TB, path string) string {
	t.Helper()
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "absent"
	case err != nil:
		t.Fatal(err)
	case st.Size() == 0:
		return "empty"
	}
	return hashAndMtime(t, path, st)
}

func hashAndMtime(t testing.TB, path string, st os.FileInfo) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]) + " " + st.ModTime().String()
}

// Files is what "no change to any file" compares: the content hash and
// modification time of a database and of its -wal, by path.
type Files map[string]string

// SnapshotFiles records the database at path and its -wal. A missing -wal
// and an empty one are the same state: SQLite creates an empty -wal (and
// -shm) when it opens a WAL database read-only, and neither holds data.
// A directory is recorded by its mtime.
func SnapshotFiles(t testing.TB, path string) Files {
	t.Helper()
	st := Files{}
	for _, p := range []string{path, path + "-wal"} {
		info, err := os.Stat(p)
		switch {
		case err != nil, p != path && !info.IsDir() && info.Size() == 0:
			st[p] = "absent or empty"
		case info.IsDir():
			st[p] = "dir " + info.ModTime().String()
		default:
			st[p] = hashAndMtime(t, p, info)
		}
	}
	return st
}

// AssertUnchanged fails the test (without stopping it) for every file of
// before that SnapshotFiles now sees in another state.
func (before Files) AssertUnchanged(t testing.TB, path string) {
	t.Helper()
	after := SnapshotFiles(t, path)
	for p, b := range before {
		if after[p] != b {
			t.Errorf("%s changed: before %s, after %s", p, b, after[p])
		}
	}
}

// DeadPID is the pid of a process that has run and exited.
func DeadPID(t testing.TB) int {
	t.Helper()
	c := exec.Command("true")
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	return c.Process.Pid
}

// Buffer is a bytes.Buffer safe for a writer goroutine (a command's
// output) and a reader (the test) at once.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// CaptureStderr runs fn with os.Stderr going to a pipe and returns what
// was written there.
func CaptureStderr(t testing.TB, fn func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = w
	got := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		got <- string(b)
	}()
	defer func() { os.Stderr = old }()
	fn()
	os.Stderr = old
	w.Close()
	s := <-got
	r.Close()
	return s
}

// DirNames lists the names in dir, sorted (as os.ReadDir returns them).
// A dir that cannot be read fails the test.
func DirNames(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}
