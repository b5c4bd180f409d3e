package tui

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/repops/repops/ops"
	"github.com/repops/repops/runbooks"
)

// Doing a step of a run: the step starts in its Cmd, never in Update.
//
// doStep (in Update) makes the step's context, a child of the view's base
// context (which the root cancels when the console ends), and keeps its
// cancel func in the view; the Cmd it returns captures the context, the run
// and the operator's input. Only when that Cmd is executed does the step
// start, in a goroutine whose progress events and end stream through a
// channel that waitStepCmd reads one message at a time and re-issues
// itself (as glow streams results). stopStep cancels the context; the
// step's end still arrives as a stepDoneMsg.

// stepEventMsg is one message from a running step: progress, or the end.
type stepEventMsg struct {
	ch       <-chan tea.Msg
	progress *ops.ProgressEvent
}

// stepDoneMsg is a step's end: its result or the engine's refusal, and
// where the run went.
type stepDoneMsg struct {
	res   runbooks.StepResult
	err   error
	cur   runbooks.Current
	curOK bool
	state runbooks.RunState
	// notStarted: the step's context was done before its Cmd started it
	// (stopped at once, or the console ended): the engine was not called,
	// and cur and state are not set.
	notStarted bool
}

// stepEvents is how many progress events wait for the console; one more
// place is kept for the end, so that the step's goroutine does not block
// on it even when nobody reads any more (the console has ended).
const stepEvents = 64

// stepEndWait bounds how long the console, when it ends, waits for a
// stopped step to return before it releases the run's lock.
const stepEndWait = 10 * time.Second

// stepTask is one step done off the event loop, shared by the Cmd that
// starts it and by the root, which waits for it when the console ends
// (Model.Close), so that the run's lock is released after the step has
// returned, not under it.
type stepTask struct {
	mu      sync.Mutex
	started bool
	ended   chan struct{}
}

func newStepTask() *stepTask { return &stepTask{ended: make(chan struct{})} }

// begin claims the task for its Cmd: false when ctx is already done (the
// step was stopped, or the console ended, before it started), and then
// the step never starts. A true begin is followed by one end.
func (t *stepTask) begin(ctx context.Context) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ctx.Err() != nil {
		return false
	}
	t.started = true
	return true
}

// end says the step has returned.
func (t *stepTask) end() { close(t.ended) }

// wait waits at most d for a started step to return; it returns at once
// for a step that never started. The step's context must be cancelled
// first: a Cmd that has not begun then never will. False when d ran out.
func (t *stepTask) wait(d time.Duration) bool {
	t.mu.Lock()
	started := t.started
	t.mu.Unlock()
	if !started {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-t.ended:
		return true
	case <-timer.C:
		return false
	}
}

// doStep readies the current step with the operator's input. Nothing
// runs here: the view keeps the cancel func of the step's context, so that
// the stop key, q, esc or ctrl+c can stop it, and the returned Cmd starts
// it.
func (v runbooksView) doStep(in runbooks.StepInput) (runbooksView, tea.Cmd) {
	base := v.base
	if base == nil {
		base = context.Background()
	}
	ctx, cancel := context.WithCancel(base)
	task := newStepTask()
	v.running, v.stepFrom, v.lastErr = true, v.ctx.Now(), nil
	v.cancel, v.task, v.stopping, v.stopped = cancel, task, false, ""
	// The parameters the operator chose (the backup) go with this Do
	// only, and not with a skip.
	params := v.choice
	v.choice = nil
	if in.Skip {
		params = nil
	}
	return v, doStepCmd(ctx, task, v.run, in, params)
}

// doStepCmd is the Cmd that does the current step under ctx: executed, it
// starts the step in a goroutine and returns its first message; progress
// events and the end arrive one at a time through a channel that
// waitStepCmd reads and re-issues. A context done before the Cmd runs
// starts nothing (stepDoneMsg.notStarted).
//
// params, when set, are the step's parameters the operator chose (the
// backup of a restore): set on the run's current step just before Do,
// through StepParamsSetter; a run that cannot take them refuses the step
// rather than run it with the runbook's own.
func doStepCmd(ctx context.Context, task *stepTask, run RunbookRun, in runbooks.StepInput, params map[string]string) tea.Cmd {
	return addressed(viewRunbooks, func() tea.Msg {
		if !task.begin(ctx) {
			return stepDoneMsg{err: ctx.Err(), notStarted: true}
		}
		if len(params) > 0 {
			var err error
			if ps, ok := run.(StepParamsSetter); ok {
				err = ps.SetStepParams(params)
			} else {
				err = fmt.Errorf("this run cannot take the chosen %v: nothing was run", params)
			}
			if err != nil {
				task.end()
				cur, curOK := run.Current()
				return stepDoneMsg{err: err, cur: cur, curOK: curOK, state: run.State()}
			}
		}
		ch := make(chan tea.Msg, stepEvents+1)
		go func() {
			defer task.end()
			res, err := run.Do(ctx, in, func(e ops.ProgressEvent) {
				// Below the mark, the place kept for the end stays free;
				// above it the console is behind: this event is dropped,
				// a newer one follows. Never blocks the procedure.
				if len(ch) < stepEvents {
					select {
					case ch <- e:
					default:
					}
				}
			})
			cur, ok := run.Current()
			// The channel is not closed: the end is its last message that
			// anyone reads, and a late progress event cannot panic.
			ch <- stepDoneMsg{res: res, err: err, cur: cur, curOK: ok, state: run.State()}
		}()
		return nextStepMsg(ch)
	})
}

// waitStepCmd reads the running step's next message.
func waitStepCmd(ch <-chan tea.Msg) tea.Cmd {
	return addressed(viewRunbooks, func() tea.Msg { return nextStepMsg(ch) })
}

// nextStepMsg waits for the step's next message: a progress event (which
// carries the channel, to be read again) or its end.
func nextStepMsg(ch <-chan tea.Msg) tea.Msg {
	m := <-ch
	if e, isEv := m.(ops.ProgressEvent); isEv {
		return stepEventMsg{ch: ch, progress: &e}
	}
	return m
}

// stopStep cancels the running step's context: go-sqlite3 interrupts a
// check's query (sqlite3_interrupt), an action's procedure sees its
// context done. The step's end still arrives as a stepDoneMsg, which
// says it was stopped.
func (v runbooksView) stopStep() (runbooksView, tea.Cmd) {
	if v.cancel != nil {
		v.cancel()
	}
	v.stopping = true
	return v, flash(fmt.Sprintf("stopping step %q…", v.cur.Step.Name), false)
}

// onStepEvent shows a running step's progress and reads the next event.
func (v runbooksView) onStepEvent(msg stepEventMsg) (runbooksView, tea.Cmd) {
	v.prog = msg.progress
	return v, waitStepCmd(msg.ch)
}

// onStepDone shows a step's end: its result, the engine's refusal, or
// that the operator stopped it.
func (v runbooksView) onStepDone(msg stepDoneMsg) (runbooksView, tea.Cmd) {
	stepName := v.cur.Step.Name // the step that ran
	if msg.res.Step != "" {
		stepName = msg.res.Step
	}
	v.running, v.prog = false, nil
	if v.cancel != nil {
		v.cancel() // the step is over: release its context
		v.cancel = nil
	}
	if msg.notStarted {
		// Stopped before its Cmd started it: the engine was not called,
		// the run and the step are as they were.
		v.stopping = false
		return v, flash(fmt.Sprintf("stopped %q before it started: nothing was run", stepName), false)
	}
	v.cur, v.curOK, v.state = msg.cur, msg.curOK, msg.state
	if v.stopping {
		v.stopping = false
		if msg.err != nil && errors.Is(msg.err, context.Canceled) {
			// Stopped by the operator: not a verdict on the step. The
			// engine paused the run with the step still to do.
			v.stopped, v.last, v.lastErr, v.note, v.details = stepName, nil, nil, "", false
			v.scroll.Top()
			return v, flash(fmt.Sprintf("stopped %q: the run is paused; :resume offers the step again", v.stopped), false)
		}
	}
	if msg.err != nil {
		v.lastErr = msg.err
		if errors.Is(msg.err, runbooks.ErrCancelled) {
			return v, flash("cancelled: nothing was run", false)
		}
		return v, nil
	}
	res := msg.res
	// The next step's instructions come first on the screen, the result
	// below them as a summary (runbooks_run.go): back to the top.
	v.last, v.lastErr, v.note, v.details = &res, nil, "", false
	v.scroll.Top()
	// The next step may take a backup: its chooser's list is read ahead.
	return v.prefetchBackups()
}

// stepRef is a step's address for the runbooks package's helpers that
// take one (runbooks.StepCommand).
func stepRef(s runbooks.Step) *runbooks.Step { return &s }
