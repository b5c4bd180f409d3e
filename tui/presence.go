package tui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/repops/repops/presence"
	"github.com/repops/repops/runbooks"
)

// Presence is this console's seat in the sessions of one repops serve
// process (*presence.Member implements it): who else is on, followed
// runs, handovers and four-eyes approvals. Its methods are quick
// in-memory calls, safe from any goroutine, except RequestApproval, which
// blocks and is called only from a Cmd. Updates wakes the console when
// what it shows may have changed; the console then reads the rest.
//
// Decision: the console calls SetWhere, Publish and Touch from Update.
// They take a mutex for a moment and never block on I/O (the lock file
// is read by Peers, which the console calls only from a Cmd).
type Presence interface {
	Self() presence.Peer
	Peers() []presence.Peer
	SetWhere(presence.Where)
	Touch()
	Updates() <-chan struct{}
	Publish(presence.RunProgress)
	Follow(name string) error
	Unfollow()
	Following() (name string, run *presence.RunProgress, gone, ok bool)
	Handover(to string) (presence.Handover, error)
	TakeHandover() (presence.Handover, bool)
	RequestApproval(ctx context.Context, req presence.Request) (presence.Decision, error)
	Pending() []presence.Pending
	Approve(id string) error
	Deny(id string) error
}

var _ Presence = (*presence.Member)(nil)

// presenceEvery bounds the wait for a wake-up: the lock's holder, read at
// most once a second by the hub, and the idle times are seen within it
// even when nothing else moves.
const presenceEvery = time.Second

// presenceMsg is what the console shows of the others, read in a Cmd.
type presenceMsg struct {
	self      presence.Peer
	peers     []presence.Peer // the others
	pending   []presence.Pending
	following string
	followRun *presence.RunProgress
	gone      bool
	handover  *presence.Handover
}

// Presence screens that take the body's place.
type prMode int

const (
	prNone   prMode = iota
	prWho           // :who, everyone on
	prFollow        // :follow NAME, another's run, read-only
)

// presenceState is the root's presence: the last read, the screen shown
// and the questions open. Empty when Options.Presence is nil.
type presenceState struct {
	read    presenceMsg
	loaded  bool
	mode    prMode
	lastPub string // what was last published (where and run), to publish changes only
	// askHandover names the operator a y/N question offers the run to.
	askHandover string
	// handingOver: the run is being stopped and handed over; where is
	// not republished meanwhile (Handover reads the run id from it).
	handingOver bool
	// wait is the four-eyes approval this console waits for.
	wait *approvalWait
}

// readPresenceCmd reads the presence at once (the first frame).
func readPresenceCmd(p Presence) tea.Cmd {
	return func() tea.Msg { return readPresence(p) }
}

// waitPresenceCmd waits for a wake-up, at most presenceEvery, then reads.
// One is outstanding at a time: each presenceMsg issues the next.
func waitPresenceCmd(p Presence) tea.Cmd {
	return func() tea.Msg {
		t := time.NewTimer(presenceEvery)
		defer t.Stop()
		select {
		case <-p.Updates():
		case <-t.C:
		}
		return readPresence(p)
	}
}

func readPresence(p Presence) presenceMsg {
	msg := presenceMsg{pending: p.Pending()}
	for _, x := range p.Peers() {
		if x.Self {
			msg.self = x
			continue
		}
		msg.peers = append(msg.peers, x)
	}
	msg.following, msg.followRun, msg.gone, _ = p.Following()
	if ho, ok := p.TakeHandover(); ok {
		msg.handover = &ho
	}
	return msg
}

// presenceUpdate handles the presence's messages; ok is false for the
// others.
func (m Model) presenceUpdate(msg tea.Msg) (Model, tea.Cmd, bool) {
	if need, ok := msg.(approvalNeededMsg); ok {
		// Also without presence: askApproval refuses the step then.
		mm, c := m.askApproval(need)
		return mm, c, true
	}
	p := m.opts.Presence
	if p == nil {
		return m, nil, false
	}
	switch msg := msg.(type) {
	case presenceMsg:
		m.pr.read, m.pr.loaded = msg, true
		next := waitPresenceCmd(p)
		if msg.handover != nil {
			mm, c := m.takeHandover(*msg.handover)
			return mm, tea.Batch(next, c), true
		}
		return m, next, true
	case approvalDoneMsg:
		mm, c := m.onApprovalDone(msg)
		return mm, c, true
	case handoverDoneMsg:
		mm, c := m.onHandoverDone(msg)
		return mm, c, true
	}
	return m, nil, false
}

// syncPresence tells the others where this console is and publishes its
// run's progress, when either changed. Called after every update.
func (m Model) syncPresence(msg tea.Msg) Model {
	p := m.opts.Presence
	if p == nil {
		return m
	}
	if _, key := msg.(tea.KeyPressMsg); key {
		p.Touch()
	}
	if m.pr.handingOver {
		return m
	}
	w := presence.Where{View: m.whereView()}
	var prog presence.RunProgress
	if r := m.runbooks; r.run != nil && r.state.Status == runbooks.RunRunning && r.curOK {
		w.Runbook, w.RunID, w.Step, w.StepTitle = r.state.RunbookID, r.state.RunID, r.cur.Index+1, r.cur.Step.Name
		prog = presence.RunProgress{Runbook: w.Runbook, RunID: w.RunID, Step: w.Step, Total: r.cur.Total, Title: w.StepTitle,
			State: m.stepState(), Lines: r.outputLines()}
	}
	key := fmt.Sprintf("%+v|%s|%s|%q", w, prog.State, prog.RunID, prog.Lines)
	if key == m.pr.lastPub {
		return m
	}
	m.pr.lastPub = key
	p.SetWhere(w)
	p.Publish(prog)
	return m
}

// whereView names the focused view as the others see it.
func (m Model) whereView() string {
	switch m.pr.mode {
	case prFollow:
		return "following " + m.pr.read.following
	case prWho:
		return "who"
	}
	switch m.focus {
	case viewAlerts:
		return "alerts"
	case viewTables:
		return "tables"
	case viewRunbooks:
		return "runbooks"
	case viewJournal:
		return "journal"
	case viewHelp:
		return "help"
	}
	return "dashboard"
}

// stepState is the current step's state for those who follow the run.
func (m Model) stepState() string {
	r := m.runbooks
	switch {
	case m.pr.wait != nil:
		return "awaiting approval"
	case r.running:
		return "running"
	case r.lastErr != nil:
		return "failed"
	case r.reading == inConfirm:
		return "confirming"
	}
	return "ready"
}

// outputLines are the last lines of the run's output: the running step's
// progress, or the last step's result.
func (v runbooksView) outputLines() []string {
	var out []string
	if v.last != nil {
		out = append(out, fmt.Sprintf("%s: %s %s", v.last.Step, v.last.Outcome, v.last.Message))
		out = append(out, v.last.Details...)
	}
	if v.lastErr != nil {
		out = append(out, "error: "+v.lastErr.Error())
	}
	if v.prog != nil {
		line := v.prog.Message
		if v.prog.Phase != "" {
			line = v.prog.Phase + ": " + line
		}
		out = append(out, strings.TrimSpace(line))
	}
	if len(out) > presence.MaxLines {
		out = out[len(out)-presence.MaxLines:]
	}
	return slices.Clip(out)
}
