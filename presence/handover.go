package presence

import (
	"errors"
	"fmt"
	"time"

	"github.com/repops/repops/ops"
)

// Handover is a run (and the procedure lock, when its giver held it)
// passed from one operator to another.
type Handover struct {
	From, To   Identity
	Runbook    string
	RunID      string
	LockPassed bool
	At         time.Time
}

// Handover passes the member's current run (its Where.RunID) and, when
// it holds it, the procedure lock to the connected operator or admin
// named to. The receiver is woken and resumes the run (TakeHandover, then
// the runbook service's Resume(runID)); the handover is journaled.
//
// The giver must have let go of its run first (stopped and closed it, so
// its run lock is free for the receiver's Resume): the console does that
// before it calls Handover. Decision: the procedure lock is passed only
// when the giver holds it (ops.ReassignLock rewrites its holder); a lock
// held by another process or session is left alone and the handover says
// so (LockPassed false).
func (m *Member) Handover(to string) (Handover, error) {
	h := m.hub
	h.mu.Lock()
	if m.left {
		h.mu.Unlock()
		return Handover{}, errors.New("hand over: this session has left")
	}
	if !m.id.Role.CanOperate() {
		h.mu.Unlock()
		return Handover{}, fmt.Errorf("hand over to %s: a %s has no run to hand over", to, m.id.Role)
	}
	t := h.findLocked(to, m)
	switch {
	case t == nil && to == m.id.Name:
		h.mu.Unlock()
		return Handover{}, fmt.Errorf("hand over to %s: that is you; name another operator (:who)", to)
	case t == nil:
		h.mu.Unlock()
		return Handover{}, fmt.Errorf("hand over to %s: %w (:who lists who is on)", to, ErrNotConnected)
	case !t.id.Role.CanOperate():
		h.mu.Unlock()
		return Handover{}, fmt.Errorf("hand over to %s: %s is a %s; only an operator or an admin can take a run", to, to, t.id.Role)
	}
	ho := Handover{From: m.id, To: t.id, Runbook: m.where.Runbook, RunID: m.where.RunID, At: h.opts.Now()}
	h.mu.Unlock()

	// The lock: read now (not the cached copy), passed when the giver
	// holds it. File I/O, outside the hub's mutex.
	lock := h.readLock(true)
	if lock.Held && lock.Session == m.id.Session {
		if _, err := ops.ReassignLock(h.opts.StateDir, actor(m.id), actor(t.id)); err != nil {
			return Handover{}, fmt.Errorf("hand over to %s: %w", to, err)
		}
		ho.LockPassed = true
	}
	if ho.RunID == "" && !ho.LockPassed {
		return Handover{}, fmt.Errorf("hand over to %s: nothing to hand over (no run under way, no lock held)", to)
	}

	h.mu.Lock()
	if t.left {
		h.mu.Unlock()
		if ho.LockPassed {
			_, _ = ops.ReassignLock(h.opts.StateDir, actor(t.id), actor(m.id))
		}
		return Handover{}, fmt.Errorf("hand over to %s: %s left meanwhile; the run stays yours (:resume %s)", to, to, ho.RunID)
	}
	t.handover = &ho
	m.where.Runbook, m.where.RunID, m.where.Step, m.where.StepTitle = "", "", 0, ""
	m.run = nil
	h.notifyLocked(nil)
	h.mu.Unlock()
	h.readLock(true) // the new holder, for every session

	lockWord := "not held by the giver"
	if ho.LockPassed {
		lockWord = "passed"
	}
	h.journal(ops.Entry{Actor: actor(m.id), Action: "handover", Target: ho.RunID, Outcome: ops.OutcomeOK,
		Runbook: ho.Runbook, RunID: ho.RunID,
		Params: map[string]any{"from": m.id.Name, "from_fingerprint": m.id.Fingerprint, "to": t.id.Name,
			"to_fingerprint": t.id.Fingerprint, "to_session": t.id.Session, "lock_passed": ho.LockPassed},
		Message: fmt.Sprintf("%s handed run %s over to %s (procedure lock %s)", m.id.Name, orNone(ho.RunID), t.id.Name, lockWord)})
	return ho, nil
}

// TakeHandover returns the run handed to this member, once.
func (m *Member) TakeHandover() (Handover, bool) {
	h := m.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if m.handover == nil {
		return Handover{}, false
	}
	ho := *m.handover
	m.handover = nil
	return ho, true
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
