package db

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/mattn/go-sqlite3"
	"golang.org/x/sys/unix"

	"github.com/repops/repops/internal/fsutil"
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
	RemoveDBFiles(tmp) // a leftover of an interrupted backup: ours by its name
	if err := backupCopy(ctx, srcPath, tmp); err != nil {
		RemoveDBFiles(tmp)
		return err
	}
	if err := PublishFile(tmp, dstPath); err != nil {
		RemoveDBFiles(tmp)
		return fmt.Errorf("back up %s: %w", srcPath, err)
	}
	return nil
}

// PublishFile puts a finished database file of the caller's own (tmp, a
// temp file that nobody else opens: a backup's, the demo's) in place at
// final: it fsyncs tmp, renames it to final and fsyncs the directory, so
// that final is either absent or whole after a crash. tmp is left on an
// error before the rename, for the caller to remove.
func PublishFile(tmp, final string) error {
	if err := fsutil.SyncFile(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(final))
}

// ApplicationID reads PRAGMA application_id from the header of the SQLite
// file at path without opening it as a database; ok is false for a missing
// file or one that is not SQLite (no error). The read goes through
// SQLite's descriptor when this process has the file open, as CheckFile's,
// so it never drops a lock.
func ApplicationID(path string) (id uint32, ok bool, err error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hdr := make([]byte, 100)
	n := 0
	err = withDescriptor(ctx, path, path, false, func(fd int) error {
		for n < len(hdr) {
			k, err := unix.Pread(fd, hdr[n:], int64(n))
			if err != nil {
				return err
			}
			if k == 0 {
				break
			}
			n += k
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read header of %s: %w", path, err)
	}
	if n < len(hdr) || !bytes.Equal(hdr[:len(sqliteMagic)], sqliteMagic) {
		return 0, false, nil
	}
	return binary.BigEndian.Uint32(hdr[68:72]), true, nil
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

// RemoveDBFiles removes a database file and its -wal, -shm and -journal
// companions, ignoring errors: for temp files of this process's own (an
// unfinished copy, a leftover of an interrupted run), never a live database.
func RemoveDBFiles(path string) {
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		_ = os.Remove(p)
	}
}
