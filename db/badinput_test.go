package db

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corruptedDemoDB builds a demo database (checkpointed: no WAL) and
// overwrites the header and cell pointers of a leaf page in the middle of
// the messages table's b-tree.
func corruptedDemoDB(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	path := newFilledDB(t, 2000)
	r, err := OpenRead(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var pageno, pageSize int64
	err = r.QueryRowContext(ctx, `SELECT pageno FROM dbstat WHERE name = 'appeal_negotiation_messages' AND pagetype = 'leaf'
		ORDER BY pageno LIMIT 1 OFFSET (SELECT count(*) / 2 FROM dbstat WHERE name = 'appeal_negotiation_messages' AND pagetype = 'leaf')`).Scan(&pageno)
	if err == nil {
		err = r.QueryRowContext(ctx, "PRAGMA page_size").Scan(&pageSize)
	}
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path + "-wal"); err == nil && st.Size() > 0 {
		t.Fatal("the demo database has a WAL; the corruption would not reach the file")
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, 96)
	for i := range junk {
		junk[i] = 0xA5
	}
	if _, err := f.WriteAt(junk, (pageno-1)*pageSize); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// truncatedDB is a migrated demo database cut in half.
func truncatedDB(t *testing.T) string {
	t.Helper()
	path := newFilledDB(t, 500)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, st.Size()/2); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOpenRefusesBadFiles(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		make  func(t *testing.T) string
		write bool // open for writing rather than reading
		kind  error
	}{
		{"missing file", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope.db") }, false, ErrNotFound},
		{"zero-byte file", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "empty.db")
			os.WriteFile(p, nil, 0o644)
			return p
		}, false, ErrEmpty},
		{"text file named .db", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "notes.db")
			os.WriteFile(p, []byte("these are not the rows you are looking for\n"), 0o644)
			return p
		}, false, ErrNotSQLite},
		{"directory", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "dir.db")
			os.Mkdir(p, 0o755)
			return p
		}, false, ErrIsDirectory},
		{"truncated database", truncatedDB, false, ErrCorrupt},
		{"read-only file opened for writing", func(t *testing.T) string {
			p := newMigratedDB(t)
			os.Chmod(p, 0o444)
			return p
		}, true, ErrReadOnly},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.make(t)
			before := snapshotFiles(t, path)
			var err error
			if tt.write {
				_, err = OpenWrite(ctx, path, Options{})
			} else {
				_, err = OpenRead(ctx, path, Options{})
			}
			if !errors.Is(err, tt.kind) {
				t.Fatalf("err = %v, want %v", err, tt.kind)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, path) {
				t.Errorf("message not one line naming the file: %q", msg)
			}
			before.assertUnchanged(t, path)
		})
	}
}

func TestSchemaNewerThanBinaryIsRefused(t *testing.T) {
	ctx := context.Background()
	path := newMigratedDB(t)
	execOn(t, path, "INSERT INTO goose_db_version (version_id, is_applied, tstamp) VALUES (99, 1, '2026-01-01 00:00:00')")
	before := snapshotFiles(t, path)
	r, err := OpenRead(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = RequireSchema(ctx, r, path)
	r.Close()
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("RequireSchema: %v, want ErrSchemaTooNew", err)
	}
	w, err := OpenWrite(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Migrate(ctx, w, path)
	w.Close()
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Migrate: %v, want ErrSchemaTooNew", err)
	}
	before.assertUnchanged(t, path)
}

func TestReadConnectionCannotWrite(t *testing.T) {
	ctx := context.Background()
	path := newMigratedDB(t)
	before := snapshotFiles(t, path)
	r, err := OpenRead(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, stmt := range []string{
		"INSERT INTO appeals (user_id, reason, status, created_at, updated_at) VALUES ('u', 'r', 'pending', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
		"CREATE TABLE intruder (x)",
		"DROP INDEX idx_appeals_created",
	} {
		if _, err := r.ExecContext(ctx, stmt); err == nil {
			t.Errorf("%s through the read connection succeeded", stmt)
		}
	}
	before.assertUnchanged(t, path)

	// ATTACH would open another file read-write (creating it): refused.
	other := filepath.Join(t.TempDir(), "other.db")
	if _, err := r.ExecContext(ctx, "ATTACH ? AS other", other); err == nil {
		t.Error("ATTACH through the read connection succeeded")
	}
	if _, err := os.Stat(other); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ATTACH through the read connection created %s", other)
	}
}
