// Package presence is what the sessions of one repops serve process
// share: who is connected (name, role, where in the console, idle time),
// who holds the procedure lock, a member's run as others follow it, the
// handover of a run and of the lock to another operator, and the four-eyes
// approvals of destructive steps.
//
// It is plain Go: no SSH, no bubbletea. The SSH server makes one Hub per
// process and Joins each session; the console of that session drives its
// *Member (tui.Presence). Everything is in memory: presence is not
// recorded, the handovers and approvals are (the injected journal func).
package presence

import (
	"sync"
	"time"

	"github.com/repops/repops/ops"
)

// Options configure a Hub.
type Options struct {
	// StateDir is where the procedure lock lives (console.state_dir);
	// empty means no lock is shown or handed over.
	StateDir string
	// Journal records handovers and approvals (an ops.Journal's Append,
	// errors reported by the caller's func). Nil records nothing (tests).
	Journal func(ops.Entry)
	// Now is the clock (time.Now when nil); idle times, latencies and the
	// lock's read interval follow it.
	Now func() time.Time
	// LockEvery is how often the lock file is read at most (1 s when 0):
	// every session asks for the holder, the hub reads it once for all.
	LockEvery time.Duration
}

// IdleShown is the idle time from which a member is shown as idle; a key
// pressed after that wakes the others (the strip changes), a key pressed
// before does not (no wake-up per keystroke).
const IdleShown = time.Minute

// Hub is the presence of one serve process: safe for concurrent use by
// every session's goroutines.
type Hub struct {
	opts Options

	mu        sync.Mutex
	members   []*Member // in join order
	approvals []*approval
	nextID    int

	// The lock as last read (lockMu serialises the reads, so that one
	// file read serves every session that asks within LockEvery).
	lockMu  sync.Mutex
	lockAt  time.Time
	lock    LockState
	lockKey string
}

// NewHub returns an empty hub.
func NewHub(o Options) *Hub {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.LockEvery <= 0 {
		o.LockEvery = time.Second
	}
	return &Hub{opts: o}
}

// Join adds a session. The returned member wakes every other member.
func (h *Hub) Join(id Identity) *Member {
	if id.Role == "" {
		id.Role = Viewer
	}
	now := h.opts.Now()
	m := &Member{hub: h, id: id, joined: now, lastKey: now, updates: make(chan struct{}, 1)}
	h.mu.Lock()
	h.members = append(h.members, m)
	h.notifyLocked(m)
	h.mu.Unlock()
	return m
}

// Members is how many sessions are connected.
func (h *Hub) Members() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.members)
}

// notifyLocked wakes every member but except (nil: all). Each member's
// channel holds one wake-up: changes that come before the member reads
// are coalesced into one, and a send never blocks.
func (h *Hub) notifyLocked(except *Member) {
	for _, m := range h.members {
		if m != except {
			m.wake()
		}
	}
}

func (h *Hub) journal(e ops.Entry) {
	if h.opts.Journal == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = h.opts.Now().UTC()
	}
	h.opts.Journal(e)
}

// actor is the journal's and the lock's actor for a member: the lock
// records the session's user and session id (repops serve's sessions
// take the procedure lock as ops.Actor{User: Name, Session: Session}).
// Fixed (issue 18's e2e test): the key's fingerprint was left out, so the
// presence's entries (approvals, handovers) could not be told apart by
// key from the runbook steps' entries, which carry it (Identity.Actor).
func actor(id Identity) ops.Actor { return id.Actor() }

// findLocked is the connected member named name other than self: the
// most recently active one when the name is connected twice.
func (h *Hub) findLocked(name string, self *Member) *Member {
	var best *Member
	for _, m := range h.members {
		if m == self || m.id.Name != name {
			continue
		}
		if best == nil || m.lastKey.After(best.lastKey) {
			best = m
		}
	}
	return best
}
