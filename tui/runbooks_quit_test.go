package tui

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/repops/repops/runbooks"
)

// Leaving a run and coming back to it (issue 16): q with a run under way
// asks first and the run stays resumable; opening a runbook with an
// unfinished run offers to resume it rather than starting a second run.

// stoppedRun is a fake run that records Stop (the pause the console asks
// for when the operator quits).
type stoppedRun struct {
	*fakeRun
	stops *[]string
}

func (r stoppedRun) Stop(why string) error { *r.stops = append(*r.stops, why); return nil }

// resumeRunbooks is the fake service recording the runs started and the
// run ids resumed.
type resumeRunbooks struct {
	fakeRunbooks
	started *int
	resumed *[]string
	stops   *[]string
}

func (r resumeRunbooks) Start(rb *runbooks.Runbook) (RunbookRun, error) {
	*r.started++
	return stoppedRun{fakeRun: newFakeRun(rb, nil), stops: r.stops}, nil
}

func (r resumeRunbooks) Resume(runID string) (RunbookRun, error) {
	*r.resumed = append(*r.resumed, runID)
	rb, _ := r.cat.Get("restore-from-backup")
	return stoppedRun{fakeRun: newFakeRun(rb, nil), stops: r.stops}, nil
}

// quitConsole is the console at 80x24 over resumeRunbooks.
func quitConsole(t *testing.T) (m Model, started *int, resumed, stops *[]string) {
	t.Helper()
	started, resumed, stops = new(int), new([]string), new([]string)
	m = loaded(t, func(o *Options) {
		cat, _ := runbooks.Builtin()
		o.Runbooks = resumeRunbooks{fakeRunbooks: fakeRunbooks{cat: cat}, started: started, resumed: resumed, stops: stops}
	})
	m, _ = step(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	return m, started, resumed, stops
}

// cmdMsgs runs cmd and, for a sequence or a batch, the Cmds it holds:
// every message it leads to, in order.
func cmdMsgs(t *testing.T, cmd tea.Cmd) []tea.Msg {
	t.Helper()
	if cmd == nil {
		return nil
	}
	msg := runWithTimeout(t, cmd)
	if v := reflect.ValueOf(msg); msg != nil && v.Kind() == reflect.Slice {
		var out []tea.Msg
		for i := 0; i < v.Len(); i++ {
			if c, ok := v.Index(i).Interface().(tea.Cmd); ok {
				out = append(out, cmdMsgs(t, c)...)
			}
		}
		return out
	}
	return []tea.Msg{msg}
}

func quits(t *testing.T, cmd tea.Cmd) bool {
	t.Helper()
	for _, msg := range cmdMsgs(t, cmd) {
		if _, ok := msg.(tea.QuitMsg); ok {
			return true
		}
	}
	return false
}

func TestQuitMidRunAsks(t *testing.T) {
	m, _, _, stops := quitConsole(t)
	m = runTo(t, m, "restore-from-backup")
	for m.runbooks.cur.Step.Name != "Restore the database" {
		m = doCurrent(t, m)
	}
	at := m.runbooks.cur.Index + 1

	// q at the destructive step: a question, not a quit.
	m, cmd := step(t, m, press("q"))
	if quits(t, cmd) {
		t.Fatal("q mid-run quit without asking")
	}
	out := plain(m)
	if want := "a run is under way at step " + itoa(at) + " of"; !strings.Contains(out, want) || !strings.Contains(out, "quit anyway? y/N") {
		t.Fatalf("q mid-run: the question (%q … quit anyway? y/N) is not on the screen:\n%s", want, out)
	}

	// n (the default, any key but y): the run goes on, untouched.
	m, cmd = step(t, m, press("n"))
	if quits(t, cmd) {
		t.Fatal("n quit")
	}
	if m.runbooks.run == nil || m.runbooks.state.Status != runbooks.RunRunning || m.runbooks.cur.Index+1 != at || len(*stops) != 0 {
		t.Fatalf("after n: run %v status %s step %d stops %v, want the run kept at step %d", m.runbooks.run != nil, m.runbooks.state.Status, m.runbooks.cur.Index+1, *stops, at)
	}
	if m.quitAsk || m.runbooks.reading != inNone {
		t.Fatalf("after n: still asking (%v) or reading (%v)", m.quitAsk, m.runbooks.reading)
	}
	// The n did not go to the run as its note key.
	if m.runbooks.note != "" {
		t.Fatalf("after n: note %q", m.runbooks.note)
	}

	// From another view as well; y quits, the run paused first.
	m, _ = step(t, m, press("d"))
	m, _ = step(t, m, press("q"))
	if !strings.Contains(plain(m), "quit anyway? y/N") {
		t.Fatalf("q on the dashboard with a run under way did not ask:\n%s", plain(m))
	}
	m, cmd = step(t, m, press("y"))
	if !quits(t, cmd) {
		t.Fatal("y did not quit")
	}
	if len(*stops) != 1 || !strings.Contains((*stops)[0], "step "+itoa(at)) {
		t.Fatalf("stops %q: want the run paused once, at step %d, before the console quits", *stops, at)
	}
}

func TestQuitWithoutRunDoesNotAsk(t *testing.T) {
	m, _, _, _ := quitConsole(t)
	_, cmd := step(t, m, press("q"))
	if !quits(t, cmd) {
		t.Fatal("q with no run under way did not quit")
	}
	// A finished run is not under way either.
	m = runTo(t, m, "backup")
	for m.runbooks.curOK {
		m = doCurrent(t, m)
	}
	_, cmd = step(t, m, press("q"))
	if !quits(t, cmd) {
		t.Fatal("q after the run finished did not quit")
	}
}

// keepRun writes a run's state into the console's state dir as the engine
// does (runbooks.RunState in STATEDIR/runbooks/RUNID.json).
func keepRun(t *testing.T, m Model, st runbooks.RunState) {
	t.Helper()
	dir := filepath.Join(m.ctx.Config.StateDir(), "runbooks")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, st.RunID+".json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// unfinishedRestore is a restore run left at its third step.
func unfinishedRestore(t *testing.T) runbooks.RunState {
	t.Helper()
	cat, _ := runbooks.Builtin()
	rb, _ := cat.Get("restore-from-backup")
	st := runbooks.RunState{RunID: "restore-from-backup-20261129T013000Z-cd34", RunbookID: rb.ID, Title: rb.Title,
		Target: "/var/lib/gaia/architect.db", Actor: "oncall@db1", Status: runbooks.RunPaused, Current: 2,
		StartedAt: fixedNow.Add(-90 * time.Minute), UpdatedAt: fixedNow.Add(-80 * time.Minute),
		Note: "the operator quit the console at step 3 of 10"}
	for i, s := range rb.Steps {
		rec := runbooks.StepRecord{Name: s.Name, Kind: s.Kind}
		if i < 2 {
			rec.Outcome = runbooks.Done
		}
		st.Steps = append(st.Steps, rec)
	}
	return st
}

func TestOpeningRunbookOffersResume(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start bool // from an alert or :run, rather than the list
	}{{"the page", false}, {"a run asked for", true}} {
		t.Run(tc.name, func(t *testing.T) {
			m, started, resumed, _ := quitConsole(t)
			st := unfinishedRestore(t)
			keepRun(t, m, st)
			// Another runbook's run and a finished one are not offered.
			other := st
			other.RunID, other.RunbookID = "backup-20261129T010000Z-ef56", "backup"
			keepRun(t, m, other)
			done := st
			done.RunID, done.Status = "restore-from-backup-20261128T010000Z-ab99", runbooks.RunFinished
			keepRun(t, m, done)

			m, cmd := step(t, m, switchViewMsg{to: viewRunbooks, runbook: "restore-from-backup", start: tc.start})
			m = drain(t, m, cmd)
			if *started != 0 {
				t.Fatalf("a second run was started beside the unfinished one")
			}
			if m.runbooks.offer == nil || m.runbooks.offer.RunID != st.RunID || m.runbooks.reading != inOffer {
				t.Fatalf("offer %+v reading %v: want run %s offered", m.runbooks.offer, m.runbooks.reading, st.RunID)
			}
			out := plain(m)
			flat := strings.Join(strings.Fields(out), " ")
			for _, want := range []string{"unfinished run " + st.RunID, "stopped at step 3 of 10", "r resume", "n new run"} {
				if !strings.Contains(flat, want) {
					t.Errorf("the offer lacks %q:\n%s", want, out)
				}
			}

			// enter or x on the page does not start a run beside it.
			m, _ = step(t, m, press("esc"))
			m, cmd = step(t, m, press("enter"))
			m = drain(t, m, cmd)
			if *started != 0 || m.runbooks.reading != inOffer {
				t.Fatalf("enter with an unfinished run: started %d reading %v, want the offer again", *started, m.runbooks.reading)
			}

			m, cmd = step(t, m, press("r"))
			m = drain(t, m, cmd)
			if len(*resumed) != 1 || (*resumed)[0] != st.RunID || *started != 0 {
				t.Fatalf("r: resumed %v started %d, want run %s resumed", *resumed, *started, st.RunID)
			}
			if m.runbooks.mode != rbRun || m.runbooks.offer != nil {
				t.Fatalf("after r: mode %v offer %v, want the run screen", m.runbooks.mode, m.runbooks.offer)
			}
		})
	}

	t.Run("n starts a new run", func(t *testing.T) {
		m, started, resumed, _ := quitConsole(t)
		keepRun(t, m, unfinishedRestore(t))
		m, cmd := step(t, m, switchViewMsg{to: viewRunbooks, runbook: "restore-from-backup", start: true})
		m = drain(t, m, cmd)
		m, cmd = step(t, m, press("n"))
		m = drain(t, m, cmd)
		if *started != 1 || len(*resumed) != 0 || m.runbooks.mode != rbRun {
			t.Fatalf("n: started %d resumed %v mode %v, want one new run", *started, *resumed, m.runbooks.mode)
		}
	})

	t.Run("no unfinished run: the run starts at once", func(t *testing.T) {
		m, started, _, _ := quitConsole(t)
		m = runTo(t, m, "restore-from-backup")
		if *started != 1 || m.runbooks.mode != rbRun || m.runbooks.offer != nil {
			t.Fatalf("started %d mode %v offer %v", *started, m.runbooks.mode, m.runbooks.offer)
		}
	})
}
