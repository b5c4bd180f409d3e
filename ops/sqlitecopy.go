package ops

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/humanize"
)

// openImmutable opens a finished backup file (or a scratch copy nobody
// else has open) read-only with immutable=1: no locks, no -wal or -shm
// created beside it, so verifying a backup never writes into the backup
// dir and works on a read-only one.
func openImmutable(ctx context.Context, path string) (*sql.DB, error) {
	if err := db.CheckFile(path); err != nil {
		return nil, err
	}
	params := url.Values{}
	params.Set("mode", "ro")
	params.Set("immutable", "1")
	d, err := sql.Open("sqlite3", db.URI(path, params))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	d.SetMaxOpenConns(1)
	var n int
	if err := d.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema`).Scan(&n); err != nil {
		d.Close()
		return nil, db.Classify(path, fmt.Errorf("open %s: %w", path, err))
	}
	return d, nil
}

// openNewFile opens a connection that creates the file at path (or
// fills an empty one), with no rollback journal, no syncs and an
// exclusive lock: it is a temp file that is fsynced as a whole and
// renamed only once complete, so its own journal would only double the
// writes, and nobody else opens it.
func openNewFile(path string) (*sql.DB, error) {
	params := url.Values{}
	params.Set("mode", "rwc")
	params.Set("_journal_mode", "OFF")
	params.Set("_synchronous", "OFF")
	params.Set("_locking_mode", "EXCLUSIVE")
	d, err := sql.Open("sqlite3", db.URI(path, params))
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	d.SetMaxOpenConns(1)
	return d, nil
}

// busyRetry bounds how long a backup step waits for a lock: go-sqlite3's
// Step reports SQLITE_BUSY and SQLITE_LOCKED as "not done" with no error.
const (
	busyRetryMax   = 30 * time.Second
	busyRetryFirst = 5 * time.Millisecond
	busyRetryCap   = 250 * time.Millisecond
)

// backupAPI copies the database behind src into dst with SQLite's online
// backup API in one step (Step(-1)): the whole copy is read in a single
// read transaction on src, a consistent snapshot; in WAL mode the
// service's writers go on writing meanwhile. A chunked backup would
// restart on every write by another connection and, under a busy service,
// never finish. A busy or locked step is retried with backoff, bounded by
// busyRetryMax. It returns the number of pages copied.
func backupAPI(ctx context.Context, dst, src *sql.Conn) (int, error) {
	var pages int
	err := withBackup(dst, src, func(b *sqlite3.SQLiteBackup) error {
		if err := stepToEnd(ctx, b); err != nil {
			return err
		}
		pages = b.PageCount()
		return nil
	})
	return pages, err
}

// withBackup starts SQLite's online backup of src's main database into
// dst's and runs fn with it. The backup is finished after fn: when fn
// fails or panics, Finish rolls back whatever the backup began on dst
// (the error is then fn's); otherwise Finish's error is the result.
func withBackup(dst, src *sql.Conn, fn func(b *sqlite3.SQLiteBackup) error) error {
	return dst.Raw(func(d any) error {
		return src.Raw(func(s any) error {
			dc, ok1 := db.SQLiteConn(d)
			sc, ok2 := db.SQLiteConn(s)
			if !ok1 || !ok2 {
				return fmt.Errorf("start the backup: unexpected driver connections %T, %T", d, s)
			}
			b, err := dc.Backup("main", sc, "main")
			if err != nil {
				return fmt.Errorf("start the backup: %w", err)
			}
			finished := false
			defer func() {
				if !finished {
					b.Finish() // rolls back what the backup began on dst
				}
			}()
			if err := fn(b); err != nil {
				return err
			}
			finished = true
			return b.Finish()
		})
	})
}

// stepToEnd runs b.Step(-1) until done, retrying a busy step with backoff
// (bounded by busyRetryMax).
func stepToEnd(ctx context.Context, b *sqlite3.SQLiteBackup) error {
	return retryBusy(ctx, busyRetryMax, "the database stayed locked", func() (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		return b.Step(-1)
	})
}

// retryBusy calls try until it reports done or fails, waiting between
// tries with backoff (busyRetryFirst doubling up to busyRetryCap) for as
// long as ctx lives and busy has not passed since the first try; then it
// fails with "<locked> for <busy>" wrapping SQLITE_BUSY. go-sqlite3's
// backup Step reports a busy or locked database as "not done", no error.
func retryBusy(ctx context.Context, busy time.Duration, locked string, try func() (bool, error)) error {
	deadline := time.Now().Add(busy)
	wait := busyRetryFirst
	for {
		done, err := try()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s for %s: %w", locked, busy, sqlite3.Error{Code: sqlite3.ErrBusy})
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, busyRetryCap)
	}
}

// FileSHA256 hashes the file at path: a finished backup or a scratch
// copy, never a live database (its descriptor would drop SQLite's locks).
func FileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, f, make([]byte, 1<<20))
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// copyFileSync copies src to dst byte for byte (dst created 0600, must
// not exist) and fsyncs it. A missing src is not an error: ok is false.
func copyFileSync(src, dst string) (ok bool, err error) {
	in, err := os.Open(src)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return false, err
	}
	if _, err := io.CopyBuffer(out, in, make([]byte, 1<<20)); err != nil {
		out.Close()
		os.Remove(dst)
		return false, err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		os.Remove(dst)
		return false, err
	}
	return true, out.Close()
}

// removeDBFiles removes path and its -wal, -shm and -journal companions.
func removeDBFiles(path string) {
	for _, s := range []string{"", "-wal", "-shm", "-journal"} {
		_ = os.Remove(path + s)
	}
}

// TableFigures are one table's figures in a database: its row count, its
// largest rowid and its newest created_at (empty when the table has no
// such column), for comparing a restored database with the one it replaced.
type TableFigures struct {
	Rows            int64  `json:"rows"`
	MaxRowID        int64  `json:"max_rowid"`
	NewestCreatedAt string `json:"newest_created_at,omitempty"`
}

// tableFigures reads exact figures for every table of q's database.
func tableFigures(ctx context.Context, q db.Querier) (map[string]TableFigures, error) {
	names, err := db.TableNames(ctx, q)
	if err != nil {
		return nil, err
	}
	out := make(map[string]TableFigures, len(names))
	for _, n := range names {
		var f TableFigures
		quoted := `"` + strings.ReplaceAll(n, `"`, `""`) + `"`
		if err := q.QueryRowContext(ctx, `SELECT count(*), coalesce(max(rowid), 0) FROM `+quoted).Scan(&f.Rows, &f.MaxRowID); err != nil {
			return nil, fmt.Errorf("count rows of %s: %w", n, err)
		}
		var hasCreated int
		if err := q.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info(?) WHERE name = 'created_at'`, n).Scan(&hasCreated); err != nil {
			return nil, fmt.Errorf("read columns of %s: %w", n, err)
		}
		if hasCreated > 0 {
			var s sql.NullString
			if err := q.QueryRowContext(ctx, `SELECT max(created_at) FROM `+quoted).Scan(&s); err != nil {
				return nil, fmt.Errorf("read newest row of %s: %w", n, err)
			}
			f.NewestCreatedAt = s.String
		}
		out[n] = f
	}
	return out, nil
}

// integrityCheck runs PRAGMA integrity_check (full) or quick_check and
// returns the problems, nil when sound. A database too damaged to check
// is one problem.
func integrityCheck(ctx context.Context, q db.Querier, full bool) ([]string, error) {
	if !full {
		return db.QuickCheck(ctx, q, 100)
	}
	rows, err := q.QueryContext(ctx, "PRAGMA integrity_check(100)")
	if err != nil {
		if isCorrupt(err) {
			return []string{"integrity_check stopped: " + err.Error()}, nil
		}
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			if isCorrupt(err) {
				return append(out, "integrity_check stopped: "+err.Error()), nil
			}
			return nil, err
		}
		if line != "ok" {
			out = append(out, humanize.OneLine(line))
		}
	}
	if err := rows.Err(); err != nil {
		if isCorrupt(err) {
			return append(out, "integrity_check stopped: "+err.Error()), nil
		}
		return nil, err
	}
	return out, nil
}

func isCorrupt(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrCorrupt || se.Code == sqlite3.ErrNotADB) {
		return true
	}
	return strings.Contains(err.Error(), "malformed") || strings.Contains(err.Error(), "not a database")
}
