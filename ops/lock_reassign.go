package ops

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrNotLockHolder is ReassignLock's refusal when the lock is not held by
// the actor who hands it over (or by this process).
var ErrNotLockHolder = errors.New("the procedure lock is not held by the operator handing it over")

// ReassignLock changes the holder recorded in the procedure lock of
// stateDir from one actor to another: an operator hands the lock over to
// a second operator connected to the same repops process (repops serve's
// :handover). The lock must be live, held by this process and by from
// (same user; same session when from names one); otherwise nothing
// changes and the error says why (ErrNotLockHolder).
//
// Decision: the lock file is rewritten in place, on the same inode, rather
// than replaced. The holder's *Lock keeps its flock on that inode and its
// Release compares the inode, so the procedure that took the lock still
// releases it when it ends, whoever it is recorded for by then. The new
// content is padded with spaces to at least the old length and written in
// one write at offset 0, so no shorter tail is left behind and a reader
// sees whole JSON; a reader that caught a torn write would find an
// unreadable lock whose flock is held, which inspectLock treats as held,
// never as stale: the safety of the lock does not depend on the text.
func ReassignLock(stateDir string, from, to Actor) (LockInfo, error) {
	path := lockPath(stateDir)
	info, present, stale, err := inspectLock(path, false)
	if err != nil {
		return LockInfo{}, fmt.Errorf("hand over the procedure lock %s: %w", path, err)
	}
	if !present || stale {
		return LockInfo{}, fmt.Errorf("hand over the procedure lock %s: %w (no live lock)", path, ErrNotLockHolder)
	}
	host, _ := os.Hostname()
	if info.PID != os.Getpid() || info.Host != host {
		return LockInfo{}, fmt.Errorf("hand over the procedure lock %s: %w (held by %s@%s pid %d, another process)",
			path, ErrNotLockHolder, info.Actor.User, info.Host, info.PID)
	}
	if info.Actor.User != from.User || (from.Session != "" && info.Actor.Session != from.Session) {
		return LockInfo{}, fmt.Errorf("hand over the procedure lock %s: %w (held by %s, not %s)",
			path, ErrNotLockHolder, info.Actor.User, from.User)
	}
	if to.User == "" {
		return LockInfo{}, fmt.Errorf("hand over the procedure lock %s: no operator to hand it to", path)
	}
	old, err := os.ReadFile(path)
	if err != nil {
		return LockInfo{}, fmt.Errorf("hand over the procedure lock %s: %w", path, err)
	}
	next := info
	next.Stale = false
	next.Actor = to
	b, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return LockInfo{}, err
	}
	b = append(b, '\n')
	if pad := len(old) - len(b); pad > 0 {
		b = append(b, strings.Repeat(" ", pad)...)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return LockInfo{}, fmt.Errorf("hand over the procedure lock %s: %w", path, err)
	}
	defer f.Close()
	if !sameFile(f, path) {
		return LockInfo{}, fmt.Errorf("hand over the procedure lock %s: the lock changed meanwhile; retry", path)
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		return LockInfo{}, fmt.Errorf("hand over the procedure lock %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return LockInfo{}, fmt.Errorf("hand over the procedure lock %s: %w", path, err)
	}
	return next, nil
}
