package ops

// archive_schema.go holds the tables of a separate archive file
// (ArchiveOptions.ArchiveFile): they are built from the embedded
// migrations' own archive tables (db.ArchiveSchema), never from a copy of
// their SQL, so that the archive file and the live database's archive
// tables cannot drift apart.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"github.com/repops/repops/db"
)

// prepareArchiveFile creates the separate archive file and its tables,
// those the migrations give the live database, each one unless it exists,
// in one transaction.
func prepareArchiveFile(ctx context.Context, path string) error {
	schema, err := archiveFileSchema(ctx)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	// The file holds users' appeals and message bodies: a new one is
	// created 0600, whatever the umask, and SQLite gives its -wal and
	// -shm the database file's mode.
	if f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600); err == nil {
		if err := f.Close(); err != nil {
			return fmt.Errorf("archive: create the archive file: %w", err)
		}
	} else if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("archive: create the archive file: %w", err)
	}
	a, err := db.OpenWrite(ctx, path, db.Options{Create: true})
	if err != nil {
		return fmt.Errorf("archive: open the archive file: %w", err)
	}
	defer a.Close()
	err = db.Tx(ctx, a, func(tx *sql.Tx) error {
		for _, stmt := range schema {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("archive: create the archive tables in %s: %w", path, db.Classify(path, err))
	}
	return nil
}

// archiveFileSchema is db.ArchiveSchema made idempotent: each CREATE with
// IF NOT EXISTS, so that an existing archive file keeps its tables.
func archiveFileSchema(ctx context.Context) ([]string, error) {
	schema, err := db.ArchiveSchema(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(schema))
	for i, stmt := range schema {
		if out[i], err = ifNotExists(stmt); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ifNotExists adds IF NOT EXISTS to a CREATE statement as sqlite_schema
// holds it (its first keywords upper case, one space apart, and no IF NOT
// EXISTS).
func ifNotExists(stmt string) (string, error) {
	for _, kind := range []string{"CREATE TABLE ", "CREATE INDEX ", "CREATE UNIQUE INDEX ", "CREATE TRIGGER ", "CREATE VIEW "} {
		if len(stmt) > len(kind) && strings.EqualFold(stmt[:len(kind)], kind) {
			return kind + "IF NOT EXISTS " + stmt[len(kind):], nil
		}
	}
	return "", fmt.Errorf("the archive schema holds an unexpected statement: %.60q", stmt)
}
