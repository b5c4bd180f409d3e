package presence

import (
	"fmt"
	"time"

	"github.com/repops/repops/ops"
)

// LockState is the procedure lock as the sessions see it.
type LockState struct {
	Held bool
	// Holder is the holding member's name, or user@host of a holder
	// outside this process's sessions (a cron backup, a CLI restore).
	Holder string
	// Session is the holding member's session ("" when it is not one).
	Session string
	Purpose string
	Since   time.Time
	Err     error
}

// Lock is the procedure lock, read at most once per LockEvery for the
// whole hub; a change of holder wakes every member.
func (h *Hub) Lock() LockState { return h.readLock(false) }

// readLock returns the cached lock, or reads it when the cache is older
// than LockEvery (or force).
func (h *Hub) readLock(force bool) LockState {
	if h.opts.StateDir == "" {
		return LockState{}
	}
	h.lockMu.Lock()
	defer h.lockMu.Unlock()
	now := h.opts.Now()
	if !force && !h.lockAt.IsZero() && now.Sub(h.lockAt) < h.opts.LockEvery && now.Sub(h.lockAt) >= 0 {
		return h.lock
	}
	info, ok, err := ops.ReadLock(h.opts.StateDir)
	st := LockState{Err: err}
	if ok && info != nil && !info.Stale {
		st.Held, st.Purpose, st.Since = true, info.Purpose, info.Since
		st.Holder = info.Actor.User + "@" + info.Host
		h.mu.Lock()
		if m := h.holderLocked(*info); m != nil {
			st.Holder, st.Session = m.id.Name, m.id.Session
		}
		h.mu.Unlock()
	}
	h.lockAt, h.lock = now, st
	key := fmt.Sprintf("%v|%s|%s|%s|%d", st.Held, st.Holder, st.Session, st.Purpose, st.Since.UnixNano())
	if key != h.lockKey {
		first := h.lockKey == ""
		h.lockKey = key
		if !first {
			h.mu.Lock()
			h.notifyLocked(nil)
			h.mu.Unlock()
		}
	}
	return st
}

// holderLocked matches the lock's actor to a member: by session, else by
// name when exactly one member has it.
func (h *Hub) holderLocked(info ops.LockInfo) *Member {
	var byName *Member
	n := 0
	for _, m := range h.members {
		if info.Actor.Session != "" && m.id.Session == info.Actor.Session {
			return m
		}
		if m.id.Name == info.Actor.User {
			byName, n = m, n+1
		}
	}
	if n == 1 && info.Actor.Session == "" {
		return byName
	}
	return nil
}
