package tui

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/repops/repops/ops"
	"github.com/repops/repops/runbooks"
)

// keyPress is press with ctrl+c as well.
func keyPress(s string) tea.KeyPressMsg {
	if s == "ctrl+c" {
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	}
	return press(s)
}

// TestStopRunningStep: while a step runs, q, esc and ctrl+c answer on the
// run screen: they cancel the step's context, the screen says the step
// is being stopped, and once the step returns, that it was stopped.
func TestStopRunningStep(t *testing.T) {
	for _, k := range []string{"q", "esc", "ctrl+c"} {
		t.Run(k+" cancels the running step", func(t *testing.T) {
			m := runTo(t, loaded(t, nil), "backup")
			v := m.runbooks
			called := 0
			v.running, v.cancel = true, func() { called++ }
			name := v.cur.Step.Name
			v, cmd := v.Update(keyPress(k))
			if called != 1 || !v.stopping || !v.running {
				t.Fatalf("%s: cancel called %d times, stopping %v running %v: want the step's context cancelled", k, called, v.stopping, v.running)
			}
			if cmd == nil {
				t.Fatal("no flash")
			}
			if f, ok := cmd().(flashMsg); !ok || !strings.Contains(f.text, "stopping") {
				t.Fatalf("flash %#v, want stopping", f)
			}
			m.runbooks = v
			if out := plain(m); !strings.Contains(out, "stopping…") {
				t.Errorf("the screen does not say the step is stopping:\n%s", out)
			}
			// The engine returns: interrupted, the run paused at the step.
			st := v.state
			st.Status, st.Note = runbooks.RunPaused, "interrupted during step "+name
			v, _ = v.Update(stepDoneMsg{res: runbooks.StepResult{Step: name, Outcome: runbooks.Failed, Status: runbooks.RunPaused},
				err: context.Canceled, cur: v.cur, curOK: true, state: st})
			if v.running || v.stopping || v.stopped != name || v.lastErr != nil || v.cancel != nil {
				t.Fatalf("running %v stopping %v stopped %q lastErr %v: want stopped %q", v.running, v.stopping, v.stopped, v.lastErr, name)
			}
			m.runbooks = v
			if out := plain(m); !strings.Contains(out, "STOPPED") || !strings.Contains(out, "paused") {
				t.Errorf("the screen does not say the step was stopped:\n%s", out)
			}
		})
	}

	t.Run("through the console: q stops a check that would run for ever", func(t *testing.T) {
		var stepCtx context.Context
		began := make(chan struct{})
		m := loaded(t, func(o *Options) {
			cat, _ := runbooks.Builtin()
			o.Runbooks = fakeRunbooks{cat: cat, start: func(rb *runbooks.Runbook) (RunbookRun, error) {
				r := newFakeRun(rb, nil)
				paused := false
				state := r.state
				r.state = func() runbooks.RunState {
					st := state()
					if paused {
						st.Status = runbooks.RunPaused
					}
					return st
				}
				// Like a check on an endless query: it returns only when
				// its context is done, as go-sqlite3's interrupt makes it.
				r.do = func(ctx context.Context, in runbooks.StepInput, p ops.Progress) (runbooks.StepResult, error) {
					stepCtx = ctx
					close(began)
					<-ctx.Done()
					paused = true
					return runbooks.StepResult{Step: rb.Steps[0].Name, Outcome: runbooks.Failed, Status: runbooks.RunPaused}, ctx.Err()
				}
				return r, nil
			}}
		})
		m = runTo(t, m, "backup")
		m, waitCmd := step(t, m, press("x"))
		if !m.runbooks.running || !m.capturing() {
			t.Fatalf("running %v capturing %v: want the run screen to hold the keys while the step runs", m.runbooks.running, m.capturing())
		}
		// The program executes the Cmd at once: the step starts and runs
		// until it is stopped.
		first := make(chan tea.Msg, 1)
		go func() { first <- waitCmd() }()
		select {
		case <-began:
		case <-time.After(5 * time.Second):
			t.Fatal("the step did not start when its Cmd was executed")
		}
		m, cmd := step(t, m, press("q"))
		if m.quitArmed || !m.runbooks.stopping {
			t.Fatalf("quitArmed %v stopping %v: want q to stop the step, not to arm the quit", m.quitArmed, m.runbooks.stopping)
		}
		if _, quit := cmd().(tea.QuitMsg); quit {
			t.Fatal("the first q quit")
		}
		select {
		case msg := <-first:
			var next tea.Cmd
			m, next = step(t, m, msg)
			m = drain(t, m, next)
		case <-time.After(5 * time.Second):
			t.Fatal("the stopped step did not return")
		}
		if stepCtx == nil || !errors.Is(stepCtx.Err(), context.Canceled) {
			t.Fatalf("the step's context was not cancelled: %v", stepCtx)
		}
		if m.runbooks.running || m.runbooks.stopped == "" {
			t.Fatalf("running %v stopped %q", m.runbooks.running, m.runbooks.stopped)
		}
		if out := plain(m); !strings.Contains(out, "STOPPED") {
			t.Errorf("the screen does not say the step was stopped:\n%s", out)
		}
		// The step is over: q quits as always.
		_, cmd = step(t, m, press("q"))
		if cmd == nil {
			t.Fatal("q after the stop did nothing")
		}
		if _, quit := cmd().(tea.QuitMsg); !quit {
			t.Fatal("q after the stop did not quit")
		}
	})

	t.Run("a step that does not stop: q again quits, esc again leaves", func(t *testing.T) {
		m := runTo(t, loaded(t, nil), "backup")
		v := m.runbooks
		v.running, v.cancel = true, func() {}
		v, _ = v.Update(press("q"))
		_, cmd := v.Update(press("q"))
		if cmd == nil {
			t.Fatal("q twice did nothing")
		}
		if _, quit := cmd().(tea.QuitMsg); !quit {
			t.Fatal("q twice did not quit")
		}
		v, _ = v.Update(press("esc"))
		if v.mode != rbList || v.capturing() {
			t.Fatalf("esc twice: mode %v capturing %v, want the list", v.mode, v.capturing())
		}
	})

	t.Run("ctrl+c through the root stops the step, a second quits", func(t *testing.T) {
		m := runTo(t, loaded(t, nil), "backup")
		cancelled := false
		m.runbooks.running, m.runbooks.cancel = true, func() { cancelled = true }
		m, cmd := step(t, m, keyPress("ctrl+c"))
		if cmd != nil {
			if _, quit := cmd().(tea.QuitMsg); quit {
				t.Fatal("the first ctrl+c quit with a step running")
			}
		}
		if !cancelled || !m.runbooks.stopping {
			t.Fatalf("the first ctrl+c did not stop the step (cancelled %v, stopping %v)", cancelled, m.runbooks.stopping)
		}
		_, cmd = step(t, m, keyPress("ctrl+c"))
		if cmd == nil {
			t.Fatal("the second ctrl+c did nothing")
		}
		if _, quit := cmd().(tea.QuitMsg); !quit {
			t.Fatal("the second ctrl+c did not quit")
		}
	})

	t.Run("the view keys still switch views while a step runs", func(t *testing.T) {
		m := runTo(t, loaded(t, nil), "backup")
		m.runbooks.running, m.runbooks.cancel = true, func() { t.Error("d cancelled the step") }
		m, cmd := step(t, m, press("d"))
		m = drain(t, m, cmd)
		if m.focus != viewDashboard || !m.runbooks.running {
			t.Fatalf("focus %v running %v: want the dashboard, the step still running", m.focus, m.runbooks.running)
		}
	})

	t.Run("a step that ends on its own is shown as ever", func(t *testing.T) {
		m := runTo(t, loaded(t, nil), "backup")
		v := m.runbooks
		cancelled := false
		v.running, v.cancel = true, func() { cancelled = true }
		res := runbooks.StepResult{Step: v.cur.Step.Name, Outcome: runbooks.Done, Message: "done"}
		v, _ = v.Update(stepDoneMsg{res: res, cur: v.cur, curOK: true, state: v.state})
		if v.last == nil || v.stopped != "" || v.cancel != nil || !cancelled {
			t.Fatalf("last %v stopped %q cancel released %v", v.last, v.stopped, cancelled)
		}
	})
}

// problemRunbooks is a catalogue with skipped override files.
type problemRunbooks struct {
	fakeRunbooks
	probs []error
}

func (p problemRunbooks) Problems() []error { return p.probs }

// TestRunbookListShowsProblems: the override files the catalogue skipped
// are warnings above the list, which has every other runbook.
func TestRunbookListShowsProblems(t *testing.T) {
	probs := []error{
		&runbooks.ParseError{File: "/etc/repops/runbooks/broken.md", Line: 9, Msg: `step "Go": unknown action "restor"`},
		&runbooks.ParseError{File: "/etc/repops/runbooks/restore.md", Line: 3, Msg: "severity: must be one of info, warning, critical"},
	}
	m := loaded(t, func(o *Options) {
		o.Runbooks = problemRunbooks{fakeRunbooks: o.Runbooks.(fakeRunbooks), probs: probs}
	})
	m, cmd := step(t, m, press("r"))
	m = drain(t, m, cmd)
	out := plain(m)
	n := len(m.runbooks.all)
	for _, want := range []string{"2 runbook files were skipped", `broken.md:9: step "Go": unknown action "restor"`, "restore.md:3: severity", "restore-from-backup", "of " + strconv.Itoa(n)} {
		if !strings.Contains(out, want) {
			t.Errorf("the list lacks %q:\n%s", want, out)
		}
	}
	if n == 0 {
		t.Fatal("no runbooks listed")
	}

	t.Run("none without problems", func(t *testing.T) {
		m := loaded(t, nil)
		m, cmd := step(t, m, press("r"))
		m = drain(t, m, cmd)
		if out := plain(m); strings.Contains(out, "skipped") {
			t.Errorf("a warning without problems:\n%s", out)
		}
	})
}
