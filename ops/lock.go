package ops

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repops/repops/db"
)

// LockFile is the lock's file name in the state dir.
const LockFile = "repops.lock"

// ErrLockHeld is what AcquireLock's *LockedError matches with errors.Is.
var ErrLockHeld = errors.New("another repops procedure holds the lock")

// LockInfo says who holds the lock, since when and for what. Stale is set
// by ReadLock and AcquireLock when the holder is gone.
type LockInfo struct {
	Actor   Actor     `json:"actor"`
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Purpose string    `json:"purpose"`
	Since   time.Time `json:"since"`
	Stale   bool      `json:"-"`
}

// LockedError is the refusal a second operator gets: who holds the lock,
// since when and for what.
type LockedError struct {
	Holder LockInfo
	Path   string
}

func (e *LockedError) Error() string {
	h := e.Holder
	return fmt.Sprintf("locked by %s@%s (pid %d) since %s for %s: wait for it to finish, or use --force to break it (lock file %s)",
		h.Actor.User, h.Host, h.PID, h.Since.UTC().Format(time.RFC3339), h.Purpose, e.Path)
}

// Is makes errors.Is(err, ErrLockHeld) true.
func (e *LockedError) Is(target error) bool { return target == ErrLockHeld }

// Lock is a held procedure lock. Every procedure that writes (backup,
// restore, optimize, archive) holds it, so that two operators never run
// one at once.
//
// How it works: the lock file holds the holder's LockInfo as JSON and is
// flock()ed by the holder for as long as it runs. It is written complete
// under a temporary name, flocked, then hard-linked to repops.lock, which
// fails atomically when the lock exists: a reader never sees a half-written
// lock. A lock whose flock is free (the kernel drops it when its process
// dies, even by kill -9), or whose pid is gone on this host, is stale; the
// next AcquireLock takes it over and says so in TookOver.
type Lock struct {
	Info LockInfo
	// TookOver is the stale lock this one replaced, for the caller to
	// journal; nil when there was none.
	TookOver *LockInfo
	path     string
	f        *os.File
	ino      uint64
}

func lockPath(stateDir string) string { return filepath.Join(stateDir, LockFile) }

// AcquireLock takes the lock in stateDir for purpose, or returns a
// *LockedError naming the holder. A stale lock is taken over.
func AcquireLock(stateDir string, actor Actor, purpose string) (*Lock, error) {
	if stateDir == "" {
		return nil, errors.New("take the procedure lock: no state dir configured (console.state_dir)")
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("take the procedure lock: create state dir %s: %w", stateDir, err)
	}
	host, _ := os.Hostname()
	info := LockInfo{Actor: actor, PID: os.Getpid(), Host: host, Purpose: purpose, Since: time.Now().UTC()}
	path := lockPath(stateDir)
	var tookOver *LockInfo
	for attempt := 0; attempt < 10; attempt++ {
		l, err := tryLock(path, info)
		if err == nil {
			l.TookOver = tookOver
			return l, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("take the procedure lock %s: %w", path, err)
		}
		holder, present, stale, err := inspectLock(path, true)
		if err != nil {
			return nil, fmt.Errorf("take the procedure lock %s: %w", path, err)
		}
		if !present {
			continue // released meanwhile
		}
		if !stale {
			return nil, &LockedError{Holder: holder, Path: path}
		}
		h := holder
		tookOver = &h
		// inspectLock removed the stale file while holding its flock.
		time.Sleep(time.Duration(attempt) * 5 * time.Millisecond)
	}
	return nil, fmt.Errorf("take the procedure lock %s: the lock file keeps changing; retry", path)
}

// tryLock writes info to a temp file, flocks it and links it to path.
// It returns an error matching fs.ErrExist when path exists.
func tryLock(path string, info LockInfo) (*Lock, error) {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+LockFile+".*.tmp")
	if err != nil {
		return nil, err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("flock: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	_ = f.Chmod(0o600)
	if err := os.Link(tmp, path); err != nil {
		f.Close()
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	_ = db.SyncDir(filepath.Dir(path))
	return &Lock{Info: info, path: path, f: f, ino: st.Sys().(*syscall.Stat_t).Ino}, nil
}

// inspectLock reads the lock at path and decides whether its holder is
// gone. With remove, a stale lock is unlinked while its flock is held, so
// that two processes never both take it over.
func inspectLock(path string, remove bool) (info LockInfo, present, stale bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return info, false, false, nil
	}
	if err != nil {
		return info, false, false, err
	}
	defer f.Close()
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return info, true, false, err
	}
	if jerr := json.Unmarshal(b, &info); jerr != nil {
		// Unreadable: treat it as stale only when nobody holds its flock.
		info = LockInfo{Purpose: "unknown (unreadable lock file)"}
	}
	host, _ := os.Hostname()
	flockFree := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil
	pidGone := info.Host == host && info.PID > 0 && !processAlive(info.PID)
	stale = flockFree || pidGone
	info.Stale = stale
	if stale && remove {
		// Remove only the file we inspected, not a newer lock.
		if sameFile(f, path) {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return info, true, stale, fmt.Errorf("remove stale lock: %w", err)
			}
			_ = db.SyncDir(filepath.Dir(path))
		}
	}
	return info, true, stale, nil
}

func sameFile(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	if err != nil {
		return false
	}
	return os.SameFile(a, b)
}

// processAlive reports whether pid exists on this host.
func processAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// Release gives the lock up. It removes the lock file only when it is
// still this lock's (a broken and retaken lock is left to its new holder).
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	var err error
	if st, serr := os.Stat(l.path); serr == nil {
		if ino := st.Sys().(*syscall.Stat_t).Ino; ino == l.ino {
			if rerr := os.Remove(l.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				err = fmt.Errorf("release the procedure lock %s: %w", l.path, rerr)
			}
		}
	}
	cerr := l.f.Close()
	l.f = nil
	if err == nil && cerr != nil {
		err = fmt.Errorf("release the procedure lock %s: %w", l.path, cerr)
	}
	return err
}

// BreakLock removes the lock in stateDir whoever holds it (the operator's
// --force) and records in j who broke whose lock. A missing lock is not an
// error. j may be nil only in tests.
func BreakLock(stateDir string, actor Actor, j *Journal) error {
	path := lockPath(stateDir)
	info, present, stale, err := inspectLock(path, false)
	if err != nil {
		return fmt.Errorf("break the procedure lock %s: %w", path, err)
	}
	if !present {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("break the procedure lock %s: %w", path, err)
	}
	_ = db.SyncDir(stateDir)
	if j != nil {
		_, err := j.Append(Entry{Actor: actor, Action: "lock.break", Target: path, Outcome: OutcomeOK,
			Params: map[string]any{"holder": info.Actor.User + "@" + info.Host, "holder_pid": info.PID,
				"holder_purpose": info.Purpose, "holder_since": info.Since.UTC().Format(time.RFC3339), "stale": stale},
			Message: fmt.Sprintf("broke the lock held by %s@%s (pid %d) since %s for %s",
				info.Actor.User, info.Host, info.PID, info.Since.UTC().Format(time.RFC3339), info.Purpose)})
		if err != nil {
			return fmt.Errorf("break the procedure lock: the lock was removed but the journal refused the entry: %w", err)
		}
	}
	return nil
}

// ReadLock reads the lock in stateDir for display: ok is false when there
// is none; info.Stale is true when its holder is gone (a dead process on
// this host, or no process holding its flock). It changes nothing.
func ReadLock(stateDir string) (*LockInfo, bool, error) {
	info, present, _, err := inspectLock(lockPath(stateDir), false)
	if err != nil {
		return nil, false, fmt.Errorf("read the procedure lock %s: %w", lockPath(stateDir), err)
	}
	if !present {
		return nil, false, nil
	}
	return &info, true, nil
}
