package tui

import (
	"fmt"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/repops/repops/presence"
	"github.com/repops/repops/runbooks"
)

// The presence's commands: :who, :follow NAME, :handover NAME, :approve
// ID, :deny ID.

// handoverDoneMsg is the handover's end.
type handoverDoneMsg struct {
	to    string
	runID string
	ho    presence.Handover
	err   error
}

// presenceCommand runs a presence command.
func (m Model) presenceCommand(c command) (tea.Model, tea.Cmd) {
	p := m.opts.Presence
	if p == nil {
		return m, flash(":"+c.verb+" needs other sessions: it works in the console that repops serve gives each SSH session", true)
	}
	switch c.verb {
	case "who":
		m.pr.mode = prWho
		return m, nil
	case "follow":
		if c.arg == "" {
			return m, flash("follow whom? :follow NAME (:who lists who is on)", true)
		}
		if err := p.Follow(c.arg); err != nil {
			return m, flash(err.Error(), true)
		}
		// Follow wakes this console's presence Cmd, which reads the run.
		m.pr.mode = prFollow
		m.pr.read.following, m.pr.read.followRun, m.pr.read.gone = c.arg, nil, false
		return m, nil
	case "handover":
		return m.askHandover(c.arg)
	case "approve", "deny":
		return m.answerApproval(c.verb, c.arg)
	}
	return m, nil
}

// askHandover checks that the run can go to name and asks y/N.
func (m Model) askHandover(name string) (Model, tea.Cmd) {
	if name == "" {
		return m, flash("hand over to whom? :handover NAME (:who lists who is on)", true)
	}
	var to *presence.Peer
	for i, p := range m.pr.read.peers {
		if p.Name == name {
			to = &m.pr.read.peers[i]
		}
	}
	r := m.runbooks
	switch {
	case to == nil:
		return m, flash(name+" is not connected: :who lists who is on", true)
	case !to.Role.CanOperate():
		return m, flash(fmt.Sprintf("%s is a %s: only an operator or an admin can take a run", name, to.Role), true)
	case r.running || m.pr.wait != nil:
		return m, flash("a step is running or awaits approval: hand over once it is done", true)
	case !r.runUnderWay() && !m.pr.read.self.HoldsLock:
		return m, flash("nothing to hand over: no run under way, no lock held", true)
	}
	m.pr.askHandover = name
	what := "the procedure lock"
	if r.runUnderWay() {
		what = fmt.Sprintf("run %s (step %d of %d)", r.state.RunbookID, r.cur.Index+1, r.cur.Total)
	}
	m.flash, m.flashIsErr = fmt.Sprintf("hand %s over to %s? y/N", what, name), true
	return m, nil
}

// handoverKey answers the y/N question; ok is false when none is open.
func (m Model) handoverKey(msg tea.KeyPressMsg) (Model, tea.Cmd, bool) {
	name := m.pr.askHandover
	if name == "" {
		return m, nil, false
	}
	m.pr.askHandover = ""
	if s := msg.String(); s != "y" && s != "Y" {
		m.flash, m.flashIsErr = "not handed over: the run stays yours", false
		return m, nil, true
	}
	p := m.opts.Presence
	run := m.runbooks.run
	pause := m.runbooks.runUnderWay()
	runID := m.runbooks.state.RunID
	why := fmt.Sprintf("handed over to %s at step %d of %d", name, m.runbooks.cur.Index+1, m.runbooks.cur.Total)
	// The run leaves this console now: no key may drive it any more.
	m.runbooks.run, m.runbooks.curOK, m.runbooks.state = nil, false, runbooks.RunState{}
	m.runbooks.last, m.runbooks.lastErr, m.runbooks.prog = nil, nil, nil
	if m.runbooks.mode == rbRun {
		m.runbooks.mode = rbList
	}
	m.pr.handingOver = true
	return m, func() tea.Msg {
		// Stop and close first, so that the run's lock is free for the
		// receiver's Resume; Handover then tells the receiver.
		if run != nil {
			if pause {
				_ = run.Stop(why)
			}
			run.Close()
		}
		ho, err := p.Handover(name)
		return handoverDoneMsg{to: name, runID: runID, ho: ho, err: err}
	}, true
}

// onHandoverDone says how the handover went.
func (m Model) onHandoverDone(msg handoverDoneMsg) (Model, tea.Cmd) {
	m.pr.handingOver = false
	if msg.err != nil {
		s := "handover: " + msg.err.Error()
		if msg.runID != "" {
			s += "; the run is paused: :resume " + msg.runID + " takes it back"
		}
		return m, flash(s, true)
	}
	lock := ""
	if msg.ho.LockPassed {
		lock = " with the procedure lock"
	}
	return m, flash(fmt.Sprintf("handed %s over to %s%s (journaled)", orWhat(msg.ho.RunID), msg.to, lock), false)
}

func orWhat(runID string) string {
	if runID == "" {
		return "the procedure lock"
	}
	return "run " + runID
}

// takeHandover resumes a run another operator handed to this console.
func (m Model) takeHandover(ho presence.Handover) (Model, tea.Cmd) {
	lock := ""
	if ho.LockPassed {
		lock = " and the procedure lock"
	}
	if ho.RunID == "" {
		m.flash, m.flashIsErr = ho.From.Name+" handed you the procedure lock", false
		return m, nil
	}
	mm, c := m.switchTo(switchViewMsg{to: viewRunbooks})
	n := mm.(Model)
	n.pr.mode = prNone
	var rc tea.Cmd
	n.runbooks, rc = n.runbooks.resumeRun(ho.RunID)
	return n, tea.Batch(c, rc, flash(fmt.Sprintf("%s handed you run %s%s: resuming it", ho.From.Name, ho.RunID, lock), false))
}

// presenceKey answers the keys of the presence's questions and screens
// first: the handover's y/N, the approval awaited (esc withdraws it), and
// :who or :follow (esc leaves; read-only, so the other keys wait). ok is
// false for keys they leave to the console.
func (m Model) presenceKey(msg tea.KeyPressMsg) (Model, tea.Cmd, bool) {
	if m.opts.Presence == nil {
		return m, nil, false
	}
	if mm, c, ok := m.handoverKey(msg); ok {
		return mm, c, true
	}
	if mm, c, ok := m.approvalKey(msg); ok {
		return mm, c, true
	}
	if m.pr.mode == prNone {
		return m, nil, false
	}
	k := m.ctx.Keys
	switch {
	case msg.String() == "esc":
		if m.pr.mode == prFollow {
			m.opts.Presence.Unfollow()
		}
		m.pr.mode = prNone
		return m, nil, true
	case key.Matches(msg, k.Command, k.Quit), msg.String() == "ctrl+c":
		return m, nil, false
	}
	return m, nil, true
}
