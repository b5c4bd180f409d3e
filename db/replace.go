package db

// The file-level half of a restore: copying a live database aside byte for
// byte, and replacing it with another file. Both keep the rules of
// live.go ("The live file has one owner"): every read of a live file goes
// through SQLite's own descriptor when this process has one, or through
// one of ours opened and closed with the file's gate held; the
// replacement runs only inside Swap.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repops/repops/internal/fsutil"
)

// CopyAside copies the database at path and its -wal and -shm, byte for
// byte as they are, to dst, dst+"-wal" and dst+"-shm": new files (created
// 0600; none may exist), each fsynced, then dst's directory. A missing
// companion is skipped; the files written are returned. It works on a
// file SQLite cannot open (a corrupt database, or not one at all), which
// is why a restore keeps this copy of what it replaces.
//
// Each file is read through SQLite's own descriptor when this process has
// one open (withDescriptor), so the copy never closes a descriptor of the
// live file; the caller then holds a transaction on a connection of its
// own for the length of the copy (an online restore holds the write
// lock), or calls it inside Swap, where no connection of this process is
// open and a descriptor of our own is opened with the gate held.
//
// The copy is the database as it is when nothing commits meanwhile:
// inside Swap with no other process on the file, or under the database's
// write lock. (In WAL mode a checkpoint by another process may still
// write into the database file then, but only pages whose frames the
// -wal keeps, and the first connection to open the copy alone discards
// the copied -shm and rebuilds it from the -wal, reading those pages
// from their frames.)
func CopyAside(ctx context.Context, path, dst string) (files []string, err error) {
	defer func() {
		if err != nil {
			for _, f := range files {
				_ = os.Remove(f)
			}
			files = nil
		}
	}()
	// Each file is written under a pid-tagged temp name (a killed run's
	// are removed by the next, fsutil.RemoveStale) and renamed to its
	// final name only once all are complete and fsynced: the -wal and
	// -shm first, the database last, so that no partial copy is ever
	// under a name that looks finished.
	for _, s := range []string{"", "-wal", "-shm"} {
		if _, err := os.Lstat(dst + s); err == nil {
			return nil, fmt.Errorf("copy %s to %s: %w", path+s, dst+s, fs.ErrExist)
		}
	}
	tmp := fsutil.TempName(dst)
	var temps []string
	defer func() {
		for _, f := range temps {
			_ = os.Remove(f)
		}
	}()
	var suffixes []string
	for _, s := range []string{"", "-wal", "-shm"} {
		ok, err := copyAsideFile(ctx, path, path+s, tmp+s)
		if err != nil {
			return files, fmt.Errorf("copy %s to %s: %w", path+s, dst+s, err)
		}
		if ok {
			temps = append(temps, tmp+s)
			suffixes = append(suffixes, s)
		}
	}
	for i := len(suffixes) - 1; i >= 0; i-- {
		s := suffixes[i]
		if _, err := os.Lstat(dst + s); err == nil {
			return files, fmt.Errorf("copy %s to %s: %w", path+s, dst+s, fs.ErrExist)
		}
		if err := os.Rename(tmp+s, dst+s); err != nil {
			return files, fmt.Errorf("copy %s to %s: %w", path+s, dst+s, err)
		}
		files = append(files, dst+s)
	}
	temps = nil
	slices.Reverse(files)
	return files, SyncDir(filepath.Dir(dst))
}

// copyAsideHook, in tests, runs after each piece copyAsideFile writes
// (the temp file and the bytes written so far); an error fails the copy.
var copyAsideHook func(tmp string, written int64) error

// copyAsideFile copies file (the database at dbPath or one of its
// companions) to dst, a new file, and fsyncs it. A missing file is not an
// error: ok is false.
func copyAsideFile(ctx context.Context, dbPath, file, dst string) (ok bool, err error) {
	if _, err := os.Lstat(file); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return false, err
	}
	defer func() {
		if err != nil || !ok {
			out.Close()
			_ = os.Remove(dst)
		}
	}()
	err = withDescriptor(ctx, dbPath, file, false, func(fd int) error {
		buf := make([]byte, 1<<20)
		for off := int64(0); ; {
			if err := ctx.Err(); err != nil {
				return err
			}
			n, err := unix.Pread(fd, buf, off)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				return err
			}
			if n == 0 {
				return nil
			}
			if _, err := out.Write(buf[:n]); err != nil {
				return err
			}
			off += int64(n)
			if copyAsideHook != nil {
				if err := copyAsideHook(dst, off); err != nil {
					return err
				}
			}
		}
	})
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // removed between the Lstat and the copy (SQLite deletes its -wal)
	}
	if err != nil {
		return false, err
	}
	if err := out.Sync(); err != nil {
		return false, err
	}
	if err := out.Close(); err != nil {
		return false, err
	}
	return true, nil
}

// ReplaceWith replaces the database at path with newFile, a complete
// database file in the same directory, already fsynced (it is renamed,
// not copied). It runs only inside Swap(ctx, path, fn), with the ctx fn
// is given: no connection of this process is open on the file then, and
// none opens until fn returns but those opened here. Whether another
// process has the file open is the caller's to check (just before: an
// open file cannot be replaced safely under its holder). In order, each
// step reported to afterStep (nil: none) once done:
//
//   - newFile gets the owner, group and permission bits of the file it
//     replaces, so that a service running as another user than the
//     restore can open it; when that is not possible (not root, not the
//     owner) it refuses, and nothing was changed;
//   - "checkpointed": the old database's WAL is checkpointed into it when
//     the old file opens as a database (so that the old file, should a
//     crash come before the rename, is whole without its -wal);
//   - "companions-removed": the old -wal, -shm and -journal are removed
//     (left beside the new file, SQLite would apply the old WAL to it);
//   - "renamed": newFile is renamed over path and the directory fsynced;
//   - "reopened": the new database is switched to WAL mode, as the service
//     runs it, with its new -wal and -shm given the same owner, group
//     and mode (the connection is still open when afterStep runs); it is
//     closed before ReplaceWith returns.
//
// A crash at any point leaves either the old database or the new one,
// never a mix.
func ReplaceWith(ctx context.Context, path, newFile string, afterStep func(step string)) error {
	f := fileFor(path)
	if ctx.Value(gateKey{f}) == nil {
		return fmt.Errorf("replace %s: not inside Swap: only Swap may replace a database's file", path)
	}
	if held := Holders(path); len(held) > 0 {
		names := make([]string, len(held))
		for i, h := range held {
			names[i] = h.String()
		}
		return &FileError{Path: path, Kind: ErrHeld, Detail: strings.Join(names, ", "),
			Hint: "a connection was opened inside the replacement and not closed; nothing was changed"}
	}
	step := func(s string) {
		if afterStep != nil {
			afterStep(s)
		}
	}
	dir := filepath.Dir(path)
	if filepath.Dir(newFile) != dir {
		return fmt.Errorf("replace %s: %s is not in the same directory (a rename must not cross filesystems)", path, newFile)
	}

	// The replaced file's owner, group and mode, kept.
	var old unix.Stat_t
	exists := true
	if err := unix.Stat(path, &old); errors.Is(err, unix.ENOENT) {
		exists = false
	} else if err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	if exists {
		if err := matchOwnerMode(newFile, &old); err != nil {
			return fmt.Errorf("replace %s: give %s the owner %d:%d and mode %04o of the file it replaces: %w: run the restore as root or as the database's owner; nothing was changed",
				path, newFile, old.Uid, old.Gid, old.Mode&0o777, err)
		}
	}

	if exists {
		// A file that is not a database (or too damaged to open) is not
		// checkpointed: OpenWrite refuses it, and the safety copy has it.
		if w, err := OpenWrite(ctx, path, Options{Owner: "restore", BusyTimeout: 2 * time.Second}); err == nil {
			_, _ = w.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
			w.Close()
		}
	}
	step("checkpointed")

	for _, s := range []string{"-wal", "-shm", "-journal"} {
		if err := os.Remove(path + s); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("replace %s: remove stale %s: %w", path, path+s, err)
		}
	}
	step("companions-removed")

	if err := os.Rename(newFile, path); err != nil {
		return fmt.Errorf("replace %s: rename %s over it: %w", path, newFile, err)
	}
	if err := SyncDir(dir); err != nil {
		return err
	}
	step("renamed")

	// Back to WAL, as the service runs it.
	w, err := OpenWrite(ctx, path, Options{Owner: "restore"})
	if err != nil {
		return fmt.Errorf("replace %s: reopen the new database: %w", path, err)
	}
	defer w.Close()
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("replace %s: reopen the new database: %w", path, Classify(path, err))
	}
	if mode != "wal" {
		return fmt.Errorf("replace %s: the new database stays in journal_mode %s, not wal", path, mode)
	}
	var now unix.Stat_t
	if err := unix.Stat(path, &now); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	for _, s := range []string{"-wal", "-shm"} {
		if err := matchOwnerMode(path+s, &now); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("replace %s: give %s the database's owner and mode: %w", path, path+s, err)
		}
	}
	step("reopened")
	return w.Close()
}

// matchOwnerMode gives the file at path (not followed if a symlink) the
// owner, group and permission bits of want, changing only what differs,
// the owner first (chown may clear mode bits).
func matchOwnerMode(path string, want *unix.Stat_t) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Uid != want.Uid || st.Gid != want.Gid {
		if err := os.Lchown(path, int(want.Uid), int(want.Gid)); err != nil {
			return err
		}
	}
	if st.Mode&0o777 != want.Mode&0o777 {
		if err := os.Chmod(path, fs.FileMode(want.Mode&0o777)); err != nil {
			return err
		}
	}
	return nil
}
