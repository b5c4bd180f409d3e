package presence

import (
	"github.com/repops/repops/ops"
	"time"
)

// Role is what a session may do: viewers look, operators run
// procedures, admins too (and manage the server).
type Role string

// The roles of repops serve.
const (
	Viewer   Role = "viewer"
	Operator Role = "operator"
	Admin    Role = "admin"
)

// CanOperate reports whether the role may run, approve and take over
// procedures.
func (r Role) CanOperate() bool { return r == Operator || r == Admin }

// ReadOnly says whether the role's console refuses every action that
// writes: a viewer sees everything and changes nothing.
func (r Role) ReadOnly() bool { return r == Viewer }

// IsAdmin says whether the role may also break another operator's
// procedure lock and change others' silences.
func (r Role) IsAdmin() bool { return r == Admin }

// Banner is what the console's banner shows: "alice · operator".
func (i Identity) Banner() string { return i.Name + " · " + string(i.Role) }

// Actor is the journal's actor for everything the session does: the
// key's name as the user, the server's host, the client's address, the
// key's fingerprint and the session id (which is also how the procedure
// lock's holder is matched to a member).
func (i Identity) Actor() ops.Actor {
	a := ops.CurrentActor(i.Session)
	a.User, a.SSHClient, a.Key = i.Name, i.Addr, i.Fingerprint
	return a
}

// Identity is who a session is: the name and role its SSH key was given,
// the key's fingerprint, the client's address and the session's id.
type Identity struct {
	Name        string
	Role        Role
	Fingerprint string
	Addr        string
	Session     string
}

// key is the operator key that self-approval is judged by: the key's
// fingerprint, or the name for a session without one.
func (id Identity) key() string {
	if id.Fingerprint != "" {
		return "key:" + id.Fingerprint
	}
	return "name:" + id.Name
}

// Where is where a member is in the console: its view, and the run it
// drives (runbook, run id, 1-based step and its title) when it drives one.
type Where struct {
	View      string
	Runbook   string
	RunID     string
	Step      int
	StepTitle string
}

// Peer is one connected member as another sees it.
type Peer struct {
	Identity
	Where
	// Idle is the time since the member's last key.
	Idle time.Duration
	// HoldsLock: the procedure lock is held by this member.
	HoldsLock bool
	// Self: the member asking.
	Self   bool
	Joined time.Time
}

// Member is one session in the hub. Its methods are safe for concurrent
// use; after Leave they do nothing.
type Member struct {
	hub     *Hub
	id      Identity
	joined  time.Time
	lastKey time.Time
	where   Where
	run     *RunProgress
	follow  *Member
	// handover is a run handed to this member, until TakeHandover.
	handover *Handover
	left     bool
	updates  chan struct{}
}

func (m *Member) wake() {
	select {
	case m.updates <- struct{}{}:
	default:
	}
}

// Updates wakes the member when what it shows may have changed: a member
// joined or left, moved, went idle or came back, the lock changed hands,
// a followed run moved, an approval was asked or answered, a run was
// handed over. Wake-ups are coalesced: read Peers (and the rest) after
// each.
func (m *Member) Updates() <-chan struct{} { return m.updates }

// Leave removes the member: the others are woken, its followers see it
// gone, its pending approvals end (their RequestApproval returns
// ErrLeft).
func (m *Member) Leave() {
	h := m.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if m.left {
		return
	}
	m.left = true
	for i, x := range h.members {
		if x == m {
			h.members = append(h.members[:i:i], h.members[i+1:]...)
			break
		}
	}
	for _, a := range h.approvals {
		if a.from == m {
			a.resolveLocked(result{err: ErrLeft})
		}
	}
	h.dropResolvedLocked()
	h.notifyLocked(m)
}

// Self is the member as the others see it.
func (m *Member) Self() Peer {
	lock := m.hub.Lock()
	h := m.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	p := m.peerLocked(h.opts.Now(), lock)
	p.Self = true
	return p
}

// Peers is every connected member, in join order, the asking one marked
// Self; the lock's holder is marked HoldsLock (the lock file is read at
// most once per LockEvery for the whole hub).
func (m *Member) Peers() []Peer {
	lock := m.hub.Lock()
	h := m.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.opts.Now()
	out := make([]Peer, 0, len(h.members))
	for _, x := range h.members {
		p := x.peerLocked(now, lock)
		p.Self = x == m
		out = append(out, p)
	}
	return out
}

func (m *Member) peerLocked(now time.Time, lock LockState) Peer {
	return Peer{Identity: m.id, Where: m.where, Idle: max(0, now.Sub(m.lastKey)), Joined: m.joined,
		HoldsLock: lock.Held && lock.Session != "" && lock.Session == m.id.Session}
}

// SetWhere says where the member is; the others are woken when it moved.
func (m *Member) SetWhere(w Where) {
	h := m.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if m.left || m.where == w {
		return
	}
	m.where = w
	h.notifyLocked(m)
}

// Touch says a key was pressed: the member is not idle. The others are
// woken only when it had been shown idle (IdleShown).
func (m *Member) Touch() {
	h := m.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if m.left {
		return
	}
	now := h.opts.Now()
	wasIdle := now.Sub(m.lastKey) >= IdleShown
	m.lastKey = now
	if wasIdle {
		h.notifyLocked(m)
	}
}
