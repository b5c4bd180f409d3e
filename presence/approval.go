package presence

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/repops/repops/ops"
)

// Request is a destructive step asking a second operator's approval.
type Request struct {
	Runbook string
	RunID   string
	Step    int // 1-based
	Title   string
	Target  string
}

// Pending is a request waiting for approval, as the others see it.
type Pending struct {
	ID string
	Request
	From  Identity
	Since time.Time
}

// Decision is how a request ended: approved or denied, by whom, after how
// long.
type Decision struct {
	Approved bool
	By       Identity
	Latency  time.Duration
}

// The refusals of approvals.
var (
	// ErrSelfApproval: the same operator key (or name) that asks cannot
	// approve, from any session.
	ErrSelfApproval = errors.New("self-approval is impossible: a second operator, with another key, must approve")
	// ErrViewerApproval: a viewer neither asks nor approves.
	ErrViewerApproval = errors.New("a viewer cannot approve or deny: an operator or an admin must")
	// ErrNoSuchRequest: the id is not pending (answered, cancelled, or
	// never was).
	ErrNoSuchRequest = errors.New("no such pending approval")
	// ErrLeft: the asking session left.
	ErrLeft = errors.New("the session left")
)

type result struct {
	d   Decision
	err error
}

type approval struct {
	Pending
	from *Member
	done chan result // holds one result
	over bool
}

func (a *approval) resolveLocked(r result) {
	if a.over {
		return
	}
	a.over = true
	a.done <- r
}

func (h *Hub) dropResolvedLocked() {
	keep := h.approvals[:0]
	for _, a := range h.approvals {
		if !a.over {
			keep = append(keep, a)
		}
	}
	clear(h.approvals[len(keep):])
	h.approvals = keep
}

// RequestApproval asks a second operator to approve req and blocks until
// one approves or denies it (a Decision, nil error) or ctx ends (ctx's
// error: the operator cancelled, the session ended). The request, the
// answer with its latency, or the cancellation are journaled.
func (m *Member) RequestApproval(ctx context.Context, req Request) (Decision, error) {
	h := m.hub
	h.mu.Lock()
	if m.left {
		h.mu.Unlock()
		return Decision{}, ErrLeft
	}
	if !m.id.Role.CanOperate() {
		h.mu.Unlock()
		return Decision{}, fmt.Errorf("ask approval: %w", ErrViewerApproval)
	}
	h.nextID++
	a := &approval{Pending: Pending{ID: strconv.Itoa(h.nextID), Request: req, From: m.id, Since: h.opts.Now()},
		from: m, done: make(chan result, 1)}
	h.approvals = append(h.approvals, a)
	h.notifyLocked(m)
	h.mu.Unlock()
	h.journal(h.approvalEntry(m.id, "approval.requested", ops.OutcomeNote, a.Pending, nil,
		fmt.Sprintf("%s asks approval #%s: %s step %d (%s) on %s", m.id.Name, a.ID, req.Runbook, req.Step, req.Title, req.Target)))

	select {
	case r := <-a.done:
		return r.d, r.err
	case <-ctx.Done():
	}
	h.mu.Lock()
	if a.over { // answered while ctx ended: the answer stands
		h.mu.Unlock()
		r := <-a.done
		return r.d, r.err
	}
	a.over = true
	h.dropResolvedLocked()
	h.notifyLocked(m)
	h.mu.Unlock()
	h.journal(h.approvalEntry(m.id, "approval.cancelled", ops.OutcomeCancelled, a.Pending,
		map[string]float64{"waited_s": h.opts.Now().Sub(a.Since).Seconds()},
		fmt.Sprintf("%s withdrew approval #%s (%s step %d): %v", m.id.Name, a.ID, req.Runbook, req.Step, ctx.Err())))
	return Decision{}, ctx.Err()
}

// Pending lists the requests others wait on (not this member's own).
func (m *Member) Pending() []Pending {
	h := m.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Pending
	for _, a := range h.approvals {
		if !a.over && a.from != m {
			out = append(out, a.Pending)
		}
	}
	return out
}

// Approve approves the pending request id.
func (m *Member) Approve(id string) error { return m.answer(id, true) }

// Deny denies the pending request id: the step does not run.
func (m *Member) Deny(id string) error { return m.answer(id, false) }

// answer checks who answers, then resolves the request. Decision: the
// same key is judged by its fingerprint, and also by the name, so that
// one person with two keys cannot approve their own step either.
func (m *Member) answer(id string, ok bool) error {
	verb := map[bool]string{true: "approve", false: "deny"}[ok]
	h := m.hub
	h.mu.Lock()
	if m.left {
		h.mu.Unlock()
		return ErrLeft
	}
	if !m.id.Role.CanOperate() {
		h.mu.Unlock()
		return fmt.Errorf("%s #%s: %w", verb, id, ErrViewerApproval)
	}
	var a *approval
	for _, x := range h.approvals {
		if x.ID == id && !x.over {
			a = x
		}
	}
	if a == nil {
		h.mu.Unlock()
		return fmt.Errorf("%s #%s: %w", verb, id, ErrNoSuchRequest)
	}
	if a.From.key() == m.id.key() || a.From.Name == m.id.Name {
		h.mu.Unlock()
		return fmt.Errorf("%s #%s: %w", verb, id, ErrSelfApproval)
	}
	lat := h.opts.Now().Sub(a.Since)
	a.resolveLocked(result{d: Decision{Approved: ok, By: m.id, Latency: lat}})
	h.dropResolvedLocked()
	h.notifyLocked(nil)
	h.mu.Unlock()
	action, outcome := "approval.granted", ops.OutcomeOK
	if !ok {
		action, outcome = "approval.denied", ops.OutcomeCancelled
	}
	h.journal(h.approvalEntry(m.id, action, outcome, a.Pending, map[string]float64{"latency_s": lat.Seconds()},
		fmt.Sprintf("%s %s approval #%s of %s: %s step %d (%s) on %s, after %s", m.id.Name, map[bool]string{true: "granted", false: "denied"}[ok],
			a.ID, a.From.Name, a.Runbook, a.Step, a.Title, a.Target, lat.Round(time.Millisecond))))
	return nil
}

func (h *Hub) approvalEntry(who Identity, action, outcome string, p Pending, figures map[string]float64, msg string) ops.Entry {
	return ops.Entry{Actor: actor(who), Action: action, Target: p.Target, Outcome: outcome, Figures: figures,
		Runbook: p.Runbook, RunID: p.RunID, Step: p.Title, Message: msg,
		Params: map[string]any{"approval": p.ID, "requester": p.From.Name, "requester_fingerprint": p.From.Fingerprint,
			"requester_session": p.From.Session, "by": who.Name, "by_fingerprint": who.Fingerprint, "step_index": p.Step}}
}
