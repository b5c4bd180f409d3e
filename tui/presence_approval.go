package tui

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/repops/repops/presence"
	"github.com/repops/repops/runbooks"
)

// Four eyes: with Options.FourEyes (on for the production environment),
// a destructive step, once its typed confirmation is given, waits for a
// second operator's approval from another session before it runs. The
// request blocks in a Cmd (Presence.RequestApproval); esc withdraws it;
// the step runs only on an approval that comes back for the same step of
// the same run. The presence journals the request, the answer and its
// latency.

// approvalNeededMsg: the runbooks view has a confirmed destructive step
// and asks the root for the second operator's approval.
type approvalNeededMsg struct {
	in  runbooks.StepInput
	req presence.Request
	idx int // the step's 0-based index, checked again before it runs
}

// approvalDoneMsg is the approval's answer (or why there is none).
type approvalDoneMsg struct {
	need approvalNeededMsg
	d    presence.Decision
	err  error
}

// approvalWait is an approval the console waits for.
type approvalWait struct {
	need   approvalNeededMsg
	cancel context.CancelFunc
	since  time.Time
}

// confirmed is what the typed confirmation of a destructive step leads
// to: the step, or with four eyes on, the request for approval first.
func (v runbooksView) confirmed(in runbooks.StepInput) (runbooksView, tea.Cmd) {
	if !v.ctx.FourEyes {
		return v.doStep(in)
	}
	need := approvalNeededMsg{in: in, idx: v.cur.Index, req: presence.Request{
		Runbook: v.state.RunbookID, RunID: v.state.RunID, Step: v.cur.Index + 1, Title: v.cur.Step.Name,
		Target: filepath.Base(v.state.Target)}}
	return v, func() tea.Msg { return need }
}

// askApproval starts waiting for the approval: a Cmd blocks in
// RequestApproval under a context that esc (or the console's end)
// cancels.
func (m Model) askApproval(need approvalNeededMsg) (Model, tea.Cmd) {
	p := m.opts.Presence
	if p == nil {
		m.flash, m.flashIsErr = "four eyes is on: a destructive step needs a second operator's approval; run it through repops serve, where one can give it. Nothing was run", true
		return m, nil
	}
	if m.pr.wait != nil {
		return m, flash("an approval is already awaited: esc withdraws it", true)
	}
	base := m.runbooks.base
	if base == nil {
		base = context.Background()
	}
	ctx, cancel := context.WithCancel(base)
	m.pr.wait = &approvalWait{need: need, cancel: cancel, since: m.ctx.Now()}
	return m, func() tea.Msg {
		d, err := p.RequestApproval(ctx, need.req)
		cancel()
		return approvalDoneMsg{need: need, d: d, err: err}
	}
}

// onApprovalDone runs the step on an approval of the step still offered,
// and otherwise says why nothing was run.
func (m Model) onApprovalDone(msg approvalDoneMsg) (Model, tea.Cmd) {
	m.pr.wait = nil
	r := m.runbooks
	switch {
	case errors.Is(msg.err, context.Canceled):
		return m, flash("approval withdrawn: nothing was run", false)
	case msg.err != nil:
		return m, flash("approval: "+msg.err.Error()+": nothing was run", true)
	case !msg.d.Approved:
		return m, flash(fmt.Sprintf("%s denied %s step %d: nothing was run", msg.d.By.Name, msg.need.req.Runbook, msg.need.req.Step), true)
	case r.run == nil || !r.curOK || r.running || r.state.RunID != msg.need.req.RunID || r.cur.Index != msg.need.idx:
		return m, flash("approved, but the run is no longer at that step: nothing was run", true)
	}
	var c tea.Cmd
	m.runbooks, c = m.runbooks.doStep(msg.need.in)
	return m, tea.Batch(c, flash(fmt.Sprintf("approved by %s after %s: running %s", msg.d.By.Name, fmtIdle(msg.d.Latency), msg.need.req.Title), false))
}

// approvalKey answers keys while an approval is awaited: esc withdraws
// it, ctrl+c and the command line work, the rest waits.
func (m Model) approvalKey(msg tea.KeyPressMsg) (Model, tea.Cmd, bool) {
	if m.pr.wait == nil {
		return m, nil, false
	}
	switch {
	case msg.String() == "esc":
		m.pr.wait.cancel()
		return m, nil, true
	case msg.String() == "ctrl+c", key.Matches(msg, m.ctx.Keys.Command):
		return m, nil, false
	}
	return m, nil, true
}

// approvalLine is the hints bar while an approval is awaited.
func (m Model) approvalLine() string {
	var ops []string
	for _, p := range m.pr.read.peers {
		if p.Role.CanOperate() && p.Name != m.pr.read.self.Name {
			ops = append(ops, p.Name)
		}
	}
	who := "no other operator is on: ask one to connect"
	if len(ops) > 0 {
		who = strings.Join(ops, ", ") + " on"
	}
	return fmt.Sprintf("waiting for a second operator's approval (%s) · esc cancels", who)
}

// answerApproval is :approve ID and :deny ID.
func (m Model) answerApproval(verb, id string) (Model, tea.Cmd) {
	p := m.opts.Presence
	if id == "" {
		if len(m.pr.read.pending) != 1 {
			return m, flash(fmt.Sprintf("%s which? :%s ID (the banner names it)", verb, verb), true)
		}
		id = m.pr.read.pending[0].ID
	}
	var err error
	if verb == "approve" {
		err = p.Approve(id)
	} else {
		err = p.Deny(id)
	}
	if err != nil {
		return m, flash(err.Error(), true)
	}
	past := map[string]string{"approve": "approved", "deny": "denied"}[verb]
	return m, flash(fmt.Sprintf("%s #%s", past, id), false)
}

// fmtIdle is a short duration: 4s, 2m, 1h05m.
func fmtIdle(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}
