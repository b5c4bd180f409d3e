package presence

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// RunProgress is a member's run as its followers see it: the runbook, the
// step (1-based), its title and state, and the last lines of output.
type RunProgress struct {
	Runbook string
	RunID   string
	Step    int
	Total   int
	Title   string
	// State is the step's state as its console says it: "ready",
	// "running", "awaiting approval", "done", "failed", ...
	State   string
	Lines   []string
	Updated time.Time
}

// MaxLines is how many output lines a published run keeps.
const MaxLines = 8

// Publish sets the member's run progress (an empty RunID clears it) and
// wakes the members following it.
func (m *Member) Publish(p RunProgress) {
	h := m.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if m.left {
		return
	}
	if len(p.Lines) > MaxLines {
		p.Lines = p.Lines[len(p.Lines)-MaxLines:]
	}
	p.Lines = slices.Clone(p.Lines)
	if p.Updated.IsZero() {
		p.Updated = h.opts.Now()
	}
	if p.RunID == "" {
		m.run = nil
	} else {
		m.run = &p
	}
	for _, x := range h.members {
		if x.follow == m {
			x.wake()
		}
	}
}

// ErrNotConnected is the answer to a name nobody connected has.
var ErrNotConnected = errors.New("not connected")

// Follow makes the member follow another's run, read-only: Following
// returns it, and its every Publish wakes this member.
func (m *Member) Follow(name string) error {
	h := m.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.findLocked(name, m)
	if t == nil {
		if name == m.id.Name {
			return fmt.Errorf("follow %s: that is you; follow another operator (:who lists who is on)", name)
		}
		return fmt.Errorf("follow %s: %w (:who lists who is on)", name, ErrNotConnected)
	}
	m.follow = t
	m.wake()
	return nil
}

// Unfollow stops following.
func (m *Member) Unfollow() {
	h := m.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	m.follow = nil
}

// Following is the followed member and its run: ok is false when the
// member follows nobody; run is nil while the followed member drives no
// run; gone is set when it has left.
func (m *Member) Following() (name string, run *RunProgress, gone, ok bool) {
	h := m.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	t := m.follow
	if t == nil {
		return "", nil, false, false
	}
	if t.run != nil {
		r := *t.run
		r.Lines = slices.Clone(r.Lines)
		run = &r
	}
	return t.id.Name, run, t.left, true
}
