package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	"github.com/mattn/go-sqlite3"
)

// BackupTo copies the database at srcPath to dstPath with SQLite's online
// backup API, which reads a consistent snapshot while the service goes on
// writing (a cp of a WAL database can lose the newest commits or tear).
// The copy is written under a temporary name beside dstPath (".name.tmp"),
// fsynced, then renamed into place and the directory fsynced, so dstPath
// is either absent or a whole backup. It refuses to overwrite dstPath.
// The source is opened read-only and is not changed.
func BackupTo(ctx context.Context, srcPath, dstPath string) error {
	if _, err := os.Lstat(dstPath); err == nil {
		return fmt.Errorf("back up %s: %s already exists: choose another name", srcPath, dstPath)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("back up %s to %s: %w", srcPath, dstPath, err)
	}
	dir := filepath.Dir(dstPath)
	tmp := filepath.Join(dir, "."+filepath.Base(dstPath)+".tmp")
	removeDBFiles(tmp) // a leftover of an interrupted backup: ours by its name
	if err := backupCopy(ctx, srcPath, tmp); err != nil {
		removeDBFiles(tmp)
		return err
	}
	if err := syncFile(tmp); err != nil {
		removeDBFiles(tmp)
		return fmt.Errorf("back up %s: %w", srcPath, err)
	}
	if err := os.Rename(tmp, dstPath); err != nil {
		removeDBFiles(tmp)
		return fmt.Errorf("back up %s: %w", srcPath, err)
	}
	return SyncDir(dir)
}

// backupCopy runs the backup API from srcPath into a new file at dst.
func backupCopy(ctx context.Context, srcPath, dst string) error {
	src, err := OpenRead(ctx, srcPath, Options{MaxConns: 1})
	if err != nil {
		return err
	}
	defer src.Close()
	srcConn, err := src.Conn(ctx)
	if err != nil {
		return Classify(srcPath, fmt.Errorf("back up %s: %w", srcPath, err))
	}
	defer srcConn.Close()

	params := url.Values{}
	params.Set("mode", "rwc")
	dstDB := sql.OpenDB(&connector{dsn: URI(dst, params), drv: &sqlite3.SQLiteDriver{}})
	defer dstDB.Close()
	dstDB.SetMaxOpenConns(1)
	dstConn, err := dstDB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("back up %s: create %s: %w", srcPath, dst, err)
	}
	defer dstConn.Close()

	if err := ctx.Err(); err != nil {
		return err
	}
	err = dstConn.Raw(func(d any) error {
		return srcConn.Raw(func(s any) error {
			dc, ok1 := SQLiteConn(d)
			sc, ok2 := SQLiteConn(s)
			if !ok1 || !ok2 {
				return fmt.Errorf("start the backup: unexpected driver connections %T, %T", d, s)
			}
			b, err := dc.Backup("main", sc, "main")
			if err != nil {
				return err
			}
			done, err := b.Step(-1)
			if ferr := b.Finish(); err == nil {
				err = ferr
			}
			if err == nil && !done {
				err = errors.New("the backup did not complete (the source was locked): retry")
			}
			return err
		})
	})
	if err != nil {
		return Classify(srcPath, fmt.Errorf("back up %s to %s: %w", srcPath, dst, err))
	}
	if err := dstConn.Close(); err != nil {
		return fmt.Errorf("back up %s: close %s: %w", srcPath, dst, err)
	}
	return dstDB.Close()
}
