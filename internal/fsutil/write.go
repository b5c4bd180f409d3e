// Writing files so that an attacker who can write the directory cannot
// redirect them, and a crash leaves nothing that looks finished: the one
// home of repops' temp files and atomic writes (manifests, state records,
// rule exports), never of a live database's files, which only package db
// touches.
//
// Decisions:
//   - A temp file has a random name, carries the owner's pid
//     (".NAME.PID-RANDOM.tmp"), and is created with O_CREAT|O_EXCL|
//     O_NOFOLLOW, mode 0600: a symlink or file planted under a predictable
//     name in a shared backup dir is never followed or truncated (a root
//     process once truncated a symlink's target through os.WriteFile).
//   - Nothing gets its final name before it is complete and fsynced; the
//     rename is followed by an fsync of the directory.
//   - A temp file whose pid is gone is a leftover of a killed run:
//     RemoveStale deletes it (and its SQLite companions) at the next run.
package fsutil

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// TempName is a fresh temp file name for final, in final's directory:
// ".BASE.PID-RANDOM.tmp".
func TempName(final string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return filepath.Join(filepath.Dir(final), fmt.Sprintf(".%s.%d-%s.tmp", filepath.Base(final), os.Getpid(), hex.EncodeToString(b[:])))
}

// CreateTemp creates a new temp file for final (see TempName), 0600,
// refusing to follow a symlink or reuse an existing file.
func CreateTemp(final string) (*os.File, error) {
	for i := 0; ; i++ {
		p := TempName(final)
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
		if errors.Is(err, fs.ErrExist) && i < 3 {
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := f.Chmod(0o600); err != nil { // whatever the umask
			f.Close()
			os.Remove(p)
			return nil, err
		}
		return f, nil
	}
}

// WriteAtomic writes data to path atomically: a temp file (CreateTemp), fsync,
// chmod to mode, rename over path, fsync of the directory. A reader sees
// the old content or the new, never a part.
func WriteAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := CreateTemp(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Chmod(mode); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir fsyncs the directory dir, so that a rename in it is durable.
func SyncDir(dir string) error { return syncPath(dir, "sync dir") }

// SyncFile fsyncs the file at path (never a live database's: see db).
func SyncFile(path string) error { return syncPath(path, "sync") }

func syncPath(path, what string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, path, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("%s %s: %w", what, path, err)
	}
	return nil
}

// OwnerPid is the pid a temp file name carries, and whether it has one.
func OwnerPid(name string) (int, bool) {
	base := filepath.Base(name)
	for _, s := range []string{"-wal", "-shm", "-journal"} {
		base = strings.TrimSuffix(base, s)
	}
	if !strings.HasPrefix(base, ".") || !strings.HasSuffix(base, ".tmp") {
		return 0, false
	}
	base = strings.TrimSuffix(base, ".tmp")
	dot := strings.LastIndexByte(base, '.')
	if dot < 0 {
		return 0, false
	}
	pidRand := base[dot+1:]
	dash := strings.IndexByte(pidRand, '-')
	if dash <= 0 {
		return 0, false
	}
	pid, err := strconv.Atoi(pidRand[:dash])
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, true
}

// alive reports whether a process with pid exists.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// RemoveStale deletes, in dir, the temp files (and their -wal, -shm,
// -journal) of processes that no longer exist, and returns their names.
// Only names made by TempName qualify; anything else is never touched.
func RemoveStale(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		pid, ok := OwnerPid(e.Name())
		if !ok || alive(pid) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err == nil {
			removed = append(removed, e.Name())
		}
	}
	return removed, nil
}
