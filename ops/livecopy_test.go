package ops

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/repops/repops/db"
)

// TestCopyLiveToFileFormat proves the direct header write: the copy of a
// WAL database opens as a plain rollback-journal database (read-only and
// read-write), passes integrity_check, holds the snapshot's rows, leaves
// no -wal, and keeps none of the room reserved beyond its end.
func TestCopyLiveToFileFormat(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := newRecoveryDB(t, dir, 300)
	for _, tc := range []struct {
		name string
		wal  bool
	}{{"WAL source", true}, {"rollback-journal source", false}} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.wal {
				w, err := db.OpenWrite(ctx, src, db.Options{})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := w.Exec("PRAGMA journal_mode = DELETE"); err != nil {
					t.Fatal(err)
				}
				w.Close()
			}
			if h := readHeader(t, src); tc.wal && h[18] != 2 {
				t.Fatalf("source header byte 18 = %d, want 2 (WAL)", h[18])
			}
			dst := filepath.Join(t.TempDir(), "copy.db")
			lc, err := copyLiveToFile(ctx, src, dst)
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]string{true: MethodWALCopy, false: MethodBackupAPI}[tc.wal]; lc.Method != want {
				t.Fatalf("method %s (%s), want %s", lc.Method, lc.Fallback, want)
			}
			if h := readHeader(t, dst); h[18] != 1 || h[19] != 1 {
				t.Fatalf("copy header bytes 18, 19 = %d, %d; want 1, 1 (rollback journal)", h[18], h[19])
			}
			st, err := os.Stat(dst)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 || st.Size() != lc.Size || lc.Size != lc.Pages*lc.PageSize {
				t.Fatalf("copy: mode %v size %d, result %+v", st.Mode().Perm(), st.Size(), lc)
			}
			// The blocks reserved for the source's size are given back.
			if used := st.Sys().(*syscall.Stat_t).Blocks * 512; used > st.Size()+64<<10 {
				t.Errorf("the copy uses %d bytes on disk for %d bytes of data", used, st.Size())
			}
			// Read-only, not immutable: a WAL-flagged file would need a -wal.
			p := url.Values{}
			p.Set("mode", "ro")
			r, err := sql.Open("sqlite3", db.URI(dst, p))
			if err != nil {
				t.Fatal(err)
			}
			var n int64
			if err := r.QueryRow("SELECT count(*) FROM appeals").Scan(&n); err != nil || n != 300 {
				t.Fatalf("read-only open: %d rows, %v", n, err)
			}
			r.Close()
			mustIntegrity(t, dst)
			w, err := db.OpenRead(ctx, dst, db.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var mode string
			w.QueryRow("PRAGMA journal_mode").Scan(&mode)
			w.Close()
			if mode != "delete" {
				t.Fatalf("journal_mode of the copy: %s, want delete", mode)
			}
			if _, err := os.Stat(dst + "-wal"); err == nil {
				t.Fatal("reading the copy created a -wal")
			}
			if err := os.WriteFile(dst, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := copyLiveToFile(ctx, src, dst); err == nil {
				t.Fatal("copyLiveToFile overwrote an existing file")
			}
		})
	}
}

func readHeader(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 100)
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return b
}
