package tui

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/repops/repops/ops"
	"github.com/repops/repops/runbooks"
)

// stepDo is a fake engine's Do for the first step of a run.
type stepDo func(ctx context.Context, in runbooks.StepInput, p ops.Progress) (runbooks.StepResult, error)

// recordedRun is a fakeRun that records when it is closed.
type recordedRun struct {
	*fakeRun
	closed func()
}

func (r recordedRun) Close() { r.closed() }

// stepConsole is the console on the run screen of the backup runbook,
// whose steps the fake engine does with do; closed, when set, is called
// when the run is closed.
func stepConsole(t *testing.T, do stepDo, closed func()) Model {
	t.Helper()
	m := loaded(t, func(o *Options) {
		cat, _ := runbooks.Builtin()
		o.Runbooks = fakeRunbooks{cat: cat, start: func(rb *runbooks.Runbook) (RunbookRun, error) {
			r := newFakeRun(rb, nil)
			inner := r.do
			r.do = func(ctx context.Context, in runbooks.StepInput, p ops.Progress) (runbooks.StepResult, error) {
				res, err := do(ctx, in, p)
				if err != nil {
					return res, err
				}
				// The fake engine moves the run on, as the real one does.
				return inner(ctx, in, nil)
			}
			if closed != nil {
				return recordedRun{fakeRun: r, closed: closed}, nil
			}
			return r, nil
		}}
	})
	m = runTo(t, m, "backup")
	if !m.runbooks.curOK || m.runbooks.cur.NeedsConfirm {
		t.Fatalf("backup's first step: curOK %v needs confirm %v, want a step that x runs", m.runbooks.curOK, m.runbooks.cur.NeedsConfirm)
	}
	return m
}

// unwrap is the message an envelope to the runbooks view carries.
func unwrap(t *testing.T, msg tea.Msg) tea.Msg {
	t.Helper()
	env, ok := msg.(envelope)
	if !ok || env.to != viewRunbooks {
		t.Fatalf("message %#v, want an envelope to the runbooks view", msg)
	}
	return env.msg
}

// settle gives goroutines a chance to run: a step started by Update,
// rather than by its Cmd, would be seen running after it.
func settle() {
	for i := 0; i < 100; i++ {
		runtime.Gosched()
	}
	time.Sleep(20 * time.Millisecond)
}

// TestStepStartsInItsCmd: Update on the "do the step" key readies the
// step (its cancel func, the running state) but does not run it; the
// step runs when, and only when, the Cmd that Update returned is
// executed, once.
func TestStepStartsInItsCmd(t *testing.T) {
	var ran atomic.Int32
	m := stepConsole(t, func(ctx context.Context, in runbooks.StepInput, p ops.Progress) (runbooks.StepResult, error) {
		ran.Add(1)
		return runbooks.StepResult{}, nil
	}, nil)
	first := m.runbooks.cur.Step.Name

	m, cmd := step(t, m, press("x"))
	if cmd == nil {
		t.Fatal("x returned no Cmd")
	}
	if !m.runbooks.running || m.runbooks.cancel == nil || m.runbooks.task == nil {
		t.Fatalf("after Update: running %v, cancel set %v, task set %v: want the step readied in Update",
			m.runbooks.running, m.runbooks.cancel != nil, m.runbooks.task != nil)
	}
	settle()
	if n := ran.Load(); n != 0 {
		t.Fatalf("Update ran the step (%d times): the step must start only in its Cmd", n)
	}

	msg := unwrap(t, runWithTimeout(t, cmd))
	if n := ran.Load(); n != 1 {
		t.Fatalf("the step ran %d times once its Cmd was executed, want 1", n)
	}
	done, ok := msg.(stepDoneMsg)
	if !ok || done.err != nil || done.notStarted {
		t.Fatalf("the Cmd's message is %T (err %v, not started %v), want the step's end", msg, done.err, done.notStarted)
	}
	m, _ = step(t, m, envelope{to: viewRunbooks, msg: done})
	if m.runbooks.running || m.runbooks.cancel != nil || m.runbooks.last == nil || m.runbooks.last.Step != first {
		t.Fatalf("after the end: running %v, cancel kept %v, last %+v: want the result of %q", m.runbooks.running, m.runbooks.cancel != nil, m.runbooks.last, first)
	}
	if m.runbooks.cur.Step.Name == first {
		t.Fatalf("the run did not move on from %q", first)
	}
	settle()
	if n := ran.Load(); n != 1 {
		t.Fatalf("the step ran %d times, want 1", n)
	}
}

// TestStepProgressStreams: progress events reach the view one at a time
// through a Cmd that re-issues itself, then the end.
func TestStepProgressStreams(t *testing.T) {
	gate := make(chan struct{})
	m := stepConsole(t, func(ctx context.Context, in runbooks.StepInput, p ops.Progress) (runbooks.StepResult, error) {
		p(ops.ProgressEvent{Phase: "copy", Done: 1, Total: 4, Unit: "pages", Message: "copying"})
		p(ops.ProgressEvent{Phase: "copy", Done: 3, Total: 4, Unit: "pages", Message: "copying"})
		<-gate
		return runbooks.StepResult{}, nil
	}, nil)
	m, cmd := step(t, m, press("x"))
	for _, want := range []int64{1, 3} {
		msg := unwrap(t, runWithTimeout(t, cmd))
		ev, ok := msg.(stepEventMsg)
		if !ok || ev.progress == nil || ev.progress.Done != want {
			t.Fatalf("message %T (progress %+v), want the progress event %d/4", msg, ev.progress, want)
		}
		m, cmd = step(t, m, envelope{to: viewRunbooks, msg: msg})
		if cmd == nil || m.runbooks.prog == nil || m.runbooks.prog.Done != want {
			t.Fatalf("after the event: next Cmd %v, progress %+v: want the event shown and the next read", cmd != nil, m.runbooks.prog)
		}
		if out := plain(m); !strings.Contains(out, "copy") || !strings.Contains(out, "/4 pages") {
			t.Errorf("the run screen does not show the progress:\n%s", out)
		}
	}
	close(gate)
	msg := unwrap(t, runWithTimeout(t, cmd))
	if _, ok := msg.(stepDoneMsg); !ok {
		t.Fatalf("message %T, want the step's end", msg)
	}
	m, next := step(t, m, envelope{to: viewRunbooks, msg: msg})
	if next != nil || m.runbooks.running || m.runbooks.prog != nil {
		t.Fatalf("after the end: next Cmd %v, running %v, progress %+v", next != nil, m.runbooks.running, m.runbooks.prog)
	}
}

// TestStopKey: the stop key (ctrl+x) stops the running step as the first
// q or esc does, is shown in the run screen's hints while a step runs,
// and does nothing but say so when no step runs.
func TestStopKey(t *testing.T) {
	ctrlX := tea.KeyPressMsg{Code: 'x', Mod: tea.ModCtrl}
	if ctrlX.String() != "ctrl+x" {
		t.Fatalf("the key is %q", ctrlX.String())
	}

	t.Run("it cancels a step that runs until stopped", func(t *testing.T) {
		began := make(chan context.Context, 1)
		m := stepConsole(t, func(ctx context.Context, in runbooks.StepInput, p ops.Progress) (runbooks.StepResult, error) {
			began <- ctx
			<-ctx.Done()
			return runbooks.StepResult{Outcome: runbooks.Failed, Status: runbooks.RunPaused}, ctx.Err()
		}, nil)
		m, cmd := step(t, m, press("x"))
		m.ctx.Width, m.ctx.Height = 80, 24
		if out := plain(m); !strings.Contains(out, "ctrl+x stop the step") {
			t.Errorf("the hints at 80 columns lack the stop key:\n%s", out)
		}
		first := make(chan tea.Msg, 1)
		go func() { first <- cmd() }()
		var stepCtx context.Context
		select {
		case stepCtx = <-began:
		case <-time.After(5 * time.Second):
			t.Fatal("the step did not start when its Cmd was executed")
		}
		m, flashCmd := step(t, m, ctrlX)
		if !m.runbooks.stopping || m.quitArmed {
			t.Fatalf("stopping %v quitArmed %v: want ctrl+x to stop the step", m.runbooks.stopping, m.quitArmed)
		}
		if f, ok := flashCmd().(flashMsg); !ok || !strings.Contains(f.text, "stopping") {
			t.Fatalf("flash %#v, want stopping", f)
		}
		// Asked again: it says so, and neither quits nor leaves.
		m, again := step(t, m, ctrlX)
		if msg := again(); msg == nil {
			t.Fatal("ctrl+x again said nothing")
		} else if _, quit := msg.(tea.QuitMsg); quit {
			t.Fatal("ctrl+x again quit")
		}
		if m.runbooks.mode != rbRun || !m.runbooks.running {
			t.Fatalf("ctrl+x again: mode %v running %v, want the run screen, the step still ending", m.runbooks.mode, m.runbooks.running)
		}
		var msg tea.Msg
		select {
		case msg = <-first:
		case <-time.After(5 * time.Second):
			t.Fatal("the stopped step did not return")
		}
		if !errors.Is(stepCtx.Err(), context.Canceled) {
			t.Fatalf("the step's context: %v, want cancelled", stepCtx.Err())
		}
		m, _ = step(t, m, msg)
		if m.runbooks.running || m.runbooks.stopped == "" {
			t.Fatalf("running %v stopped %q: want the step shown as stopped", m.runbooks.running, m.runbooks.stopped)
		}
		if out := plain(m); !strings.Contains(out, "STOPPED") {
			t.Errorf("the screen does not say the step was stopped:\n%s", out)
		}
	})

	t.Run("stopped before its Cmd ran, the step never starts", func(t *testing.T) {
		var ran atomic.Int32
		m := stepConsole(t, func(ctx context.Context, in runbooks.StepInput, p ops.Progress) (runbooks.StepResult, error) {
			ran.Add(1)
			return runbooks.StepResult{}, nil
		}, nil)
		before := m.runbooks.cur
		m, cmd := step(t, m, press("x"))
		m, _ = step(t, m, ctrlX)
		msg := unwrap(t, runWithTimeout(t, cmd))
		if done, ok := msg.(stepDoneMsg); !ok || !done.notStarted || !errors.Is(done.err, context.Canceled) {
			t.Fatalf("message %T (not started %v, err %v), want a step not started", msg, done.notStarted, done.err)
		}
		if n := ran.Load(); n != 0 {
			t.Fatalf("the engine was called %d times for a step stopped before it started", n)
		}
		m, c := step(t, m, envelope{to: viewRunbooks, msg: msg})
		v := m.runbooks
		if v.running || v.stopping || v.stopped != "" || v.cancel != nil || v.cur.Index != before.Index || !v.curOK || v.state.Status != runbooks.RunRunning {
			t.Fatalf("running %v stopping %v stopped %q cur %d: want the run as it was, at step %d", v.running, v.stopping, v.stopped, v.cur.Index, before.Index)
		}
		if f, ok := c().(flashMsg); !ok || !strings.Contains(f.text, "nothing was run") {
			t.Fatalf("flash %#v, want nothing was run", f)
		}
	})

	t.Run("no step running: it says so", func(t *testing.T) {
		m := runTo(t, loaded(t, nil), "backup")
		m, cmd := step(t, m, ctrlX)
		if m.runbooks.running || m.runbooks.stopping {
			t.Fatal("ctrl+x with no step running changed the run")
		}
		if f, ok := cmd().(flashMsg); !ok || !strings.Contains(f.text, "no step is running") {
			t.Fatalf("flash %#v", f)
		}
		if out := plain(m); strings.Contains(out, "stop the step") {
			t.Errorf("the stop key is offered with no step running:\n%s", out)
		}
	})

	t.Run("it is rebindable and listed in the help", func(t *testing.T) {
		k := DefaultKeyMap()
		if err := k.Rebind(map[string][]string{"stop": {"ctrl+k"}}); err != nil {
			t.Fatal(err)
		}
		if k.Stop.Help().Key != "ctrl+k" {
			t.Fatalf("stop is bound to %q", k.Stop.Help().Key)
		}
		m := loaded(t, nil)
		m, _ = step(t, m, press("?"))
		if out := plain(m); !strings.Contains(out, "stop the running step") {
			t.Errorf("the help lacks the stop key:\n%s", out)
		}
	})
}

// TestCloseStopsTheStep: when the console ends, Close cancels a step still
// running (the root's context is the parent of every step's) and waits
// for it to return before it releases the run's lock.
func TestCloseStopsTheStep(t *testing.T) {
	var mu sync.Mutex
	var order []string
	note := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, s)
	}
	began := make(chan struct{})
	m := stepConsole(t, func(ctx context.Context, in runbooks.StepInput, p ops.Progress) (runbooks.StepResult, error) {
		close(began)
		<-ctx.Done()
		time.Sleep(10 * time.Millisecond) // an archive finishing its batch
		note("step returned")
		return runbooks.StepResult{Outcome: runbooks.Failed}, ctx.Err()
	}, func() { note("run closed") })
	m, cmd := step(t, m, press("x"))
	go cmd()
	select {
	case <-began:
	case <-time.After(5 * time.Second):
		t.Fatal("the step did not start")
	}
	m.Close()
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(order, ", ") != "step returned, run closed" {
		t.Fatalf("order %q: want the step stopped and returned before the run is closed", order)
	}
}
