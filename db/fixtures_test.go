package db

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testNow is the fixed "now" of every demo database the tests build.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newMigratedDB creates a database with every migration applied and no rows.
func newMigratedDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "architect.db")
	ctx := context.Background()
	w, err := OpenWrite(ctx, path, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := Migrate(ctx, w, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// newDemoDB generates a small demo database.
func newDemoDB(t *testing.T, appeals int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "architect.db")
	if _, err := GenerateDemo(context.Background(), path, DemoOptions{Appeals: appeals, Seed: 7, Now: testNow}, nil); err != nil {
		t.Fatal(err)
	}
	return path
}

// execOn runs statements on the database at path through a write
// connection, then closes it (which checkpoints the WAL into the file).
func execOn(t *testing.T, path string, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	w, err := OpenWrite(ctx, path, Options{})
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

// fileState is what "no change to any file" compares: content hash and
// modification time of a database and its -wal. A missing -wal and an
// empty one are the same state: SQLite creates an empty -wal (and -shm)
// when it opens a WAL database read-only, and neither holds data.
type fileState map[string]string

func snapshotFiles(t *testing.T, path string) fileState {
	t.Helper()
	st := fileState{}
	for _, p := range []string{path, path + "-wal"} {
		info, err := os.Stat(p)
		if err != nil || (!info.IsDir() && info.Size() == 0 && p != path) {
			st[p] = "absent or empty"
			continue
		}
		if info.IsDir() {
			st[p] = "dir " + info.ModTime().String()
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		st[p] = hex.EncodeToString(sum[:]) + " " + info.ModTime().String()
	}
	return st
}

func (before fileState) assertUnchanged(t *testing.T, path string) {
	t.Helper()
	after := snapshotFiles(t, path)
	for p, b := range before {
		if after[p] != b {
			t.Errorf("%s changed: before %s, after %s", p, b, after[p])
		}
	}
}
