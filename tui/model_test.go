package tui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/repops/repops/metrics"
	"github.com/repops/repops/ops"
	"github.com/repops/repops/runbooks"
)

// press builds a key press as the terminal would send it.
func press(s string) tea.KeyPressMsg {
	switch s {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "f3":
		return tea.KeyPressMsg{Code: tea.KeyF3}
	}
	r := []rune(s)
	return tea.KeyPressMsg{Code: r[0], Text: s}
}

// step runs one Update on the root model.
func step(t *testing.T, m Model, msg tea.Msg) (Model, tea.Cmd) {
	t.Helper()
	nm, cmd := m.Update(msg)
	return nm.(Model), cmd
}

// typeText presses each rune of s.
func typeText(t *testing.T, m Model, s string) Model {
	for _, r := range s {
		m, _ = step(t, m, press(string(r)))
	}
	return m
}

// drain runs cmd and every message it leads to through Update, skipping
// ticks (which would wait), until nothing is left or limit is reached.
func drain(t *testing.T, m Model, cmd tea.Cmd) Model {
	t.Helper()
	queue := []tea.Cmd{cmd}
	for n := 0; len(queue) > 0 && n < 50; n++ {
		c := queue[0]
		queue = queue[1:]
		if c == nil {
			continue
		}
		msg := runWithTimeout(t, c)
		switch msg := msg.(type) {
		case nil, tickMsg, rtoTickMsg:
			continue
		case tea.BatchMsg:
			queue = append(queue, msg...)
			continue
		case envelope:
			if _, tick := msg.msg.(rtoTickMsg); tick {
				continue
			}
		}
		var next tea.Cmd
		m, next = step(t, m, msg)
		queue = append(queue, next)
	}
	return m
}

// runWithTimeout runs a Cmd, treating one that waits (a tick) as nil.
func runWithTimeout(t *testing.T, c tea.Cmd) tea.Msg {
	t.Helper()
	ch := make(chan tea.Msg, 1)
	go func() { ch <- c() }()
	select {
	case msg := <-ch:
		return msg
	case <-time.After(300 * time.Millisecond):
		return nil
	}
}

// plain is the screen without escape sequences.
func plain(m Model) string { return ansi.Strip(m.render()) }

func loaded(t *testing.T, mod func(*Options)) Model {
	t.Helper()
	m := newTestModel(t.TempDir(), mod)
	m, _ = step(t, m, tea.WindowSizeMsg{Width: 120, Height: 40})
	m, _ = step(t, m, snapshotMsg{gen: 1, snap: testSnapshot()})
	return m
}

func TestUpdate(t *testing.T) {
	t.Run("first frame shows loading, then the figures", func(t *testing.T) {
		m := newTestModel(t.TempDir(), nil)
		if !strings.Contains(plain(m), "loading") {
			t.Fatalf("first frame without the loading state:\n%s", plain(m))
		}
		m, cmd := step(t, m, snapshotMsg{gen: 1, snap: testSnapshot()})
		if m.dash.state != stateReady || cmd == nil {
			t.Fatalf("dashboard state %v, next cmd %v: want ready and a tick", m.dash.state, cmd)
		}
		if !strings.Contains(plain(m), "Appeal errors") {
			t.Fatalf("figures missing:\n%s", plain(m))
		}
	})
	t.Run("a refresh of an older generation is dropped", func(t *testing.T) {
		m := newTestModel(t.TempDir(), nil)
		m, _ = step(t, m, snapshotMsg{gen: 7, snap: testSnapshot()})
		if m.dash.state == stateReady {
			t.Fatal("a stale refresh was applied")
		}
	})
	t.Run("pause stops the refresh and resuming refreshes at once", func(t *testing.T) {
		m := loaded(t, nil)
		m, _ = step(t, m, press("p"))
		if !m.paused {
			t.Fatal("not paused")
		}
		if _, cmd := step(t, m, tickMsg{gen: m.gen}); cmd != nil {
			t.Fatal("a tick refreshed while paused")
		}
		if !strings.Contains(plain(m), "PAUSED") {
			t.Fatal("the banner does not say PAUSED")
		}
		m, cmd := step(t, m, press("p"))
		if m.paused || cmd == nil || !m.inflight {
			t.Fatalf("resume: paused %v inflight %v cmd %v", m.paused, m.inflight, cmd)
		}
	})
	t.Run("a tick while a refresh is in flight does not start another", func(t *testing.T) {
		m := newTestModel(t.TempDir(), nil)
		if _, cmd := step(t, m, tickMsg{gen: m.gen}); cmd != nil {
			t.Fatal("overlapping refresh")
		}
	})
	t.Run("tab keys switch the dashboard's tabs", func(t *testing.T) {
		m := loaded(t, nil)
		m, _ = step(t, m, press("tab"))
		if m.dash.tab != tabAppeals {
			t.Fatalf("tab %d after tab, want appeals", m.dash.tab)
		}
		m, _ = step(t, m, press("5"))
		if m.dash.tab != tabInfra || !strings.Contains(plain(m), "days") && !strings.Contains(plain(m), "Capacity") {
			t.Fatalf("tab %d after 5:\n%s", m.dash.tab, plain(m))
		}
	})
	t.Run("the firing alert's runbook is one key away", func(t *testing.T) {
		m := loaded(t, nil)
		m, cmd := step(t, m, press("o"))
		msg := cmd()
		sw, ok := msg.(switchViewMsg)
		if !ok || sw.to != viewRunbooks || sw.runbook == "" {
			t.Fatalf("o gave %#v, want a switch to the runbooks view", msg)
		}
		m, _ = step(t, m, sw)
		if m.focus != viewRunbooks || m.runbooks.mode != rbRead || m.runbooks.book.ID != sw.runbook {
			t.Fatalf("focus %v mode %v", m.focus, m.runbooks.mode)
		}
	})
	t.Run("command mode jumps to a view", func(t *testing.T) {
		m := loaded(t, nil)
		m, _ = step(t, m, press(":"))
		m = typeText(t, m, "alerts")
		m, _ = step(t, m, press("enter"))
		if m.focus != viewAlerts || m.cmdActive {
			t.Fatalf("focus %v cmdActive %v", m.focus, m.cmdActive)
		}
	})
	t.Run("command mode starts a runbook by id", func(t *testing.T) {
		m := loaded(t, nil)
		m, _ = step(t, m, press(":"))
		m = typeText(t, m, "run backup")
		m, cmd := step(t, m, press("enter"))
		m = drain(t, m, cmd)
		if m.focus != viewRunbooks || m.runbooks.mode != rbRun || m.runbooks.run == nil {
			t.Fatalf("focus %v mode %v run %v", m.focus, m.runbooks.mode, m.runbooks.run)
		}
	})
	t.Run("an unknown command says so", func(t *testing.T) {
		m := loaded(t, nil)
		m, _ = step(t, m, press(":"))
		m = typeText(t, m, "frobnicate")
		m, cmd := step(t, m, press("enter"))
		m = drain(t, m, cmd)
		if !strings.Contains(m.flash, "unknown command") {
			t.Fatalf("flash %q", m.flash)
		}
	})
	t.Run("help lists every key", func(t *testing.T) {
		m := loaded(t, nil)
		m, _ = step(t, m, press("?"))
		out := plain(m)
		for _, want := range []string{"pause refresh", "write screen to file", "open the alert's runbook", "do the step"} {
			if !strings.Contains(out, want) {
				t.Errorf("help lacks %q", want)
			}
		}
	})
	t.Run("keys are rebound from the config", func(t *testing.T) {
		m := loaded(t, func(o *Options) { o.Config.Console.Keys = map[string][]string{"alerts": {"A"}} })
		m, _ = step(t, m, press("a"))
		if m.focus == viewAlerts {
			t.Fatal("the old key still works")
		}
		m, _ = step(t, m, press("A"))
		if m.focus != viewAlerts {
			t.Fatal("the new key does not work")
		}
	})
	t.Run("an unknown key action in the config is an error", func(t *testing.T) {
		cfg := testConfig(t.TempDir())
		cfg.Console.Keys = map[string][]string{"frobnicate": {"f"}}
		_, err := New(Options{Config: cfg, Figures: fakeFigures{}})
		if err == nil || !strings.Contains(err.Error(), "unknown action") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("a dead source is shown as dead", func(t *testing.T) {
		m := loaded(t, nil)
		out := plain(m)
		if !strings.Contains(out, "alertmanager DEAD") || !strings.Contains(out, "connection refused") {
			t.Fatalf("dead source not shown:\n%s", out)
		}
		if !strings.Contains(out, "series reputation_ml_predic") {
			t.Fatalf("unknown panel not shown with its reason:\n%s", out)
		}
	})
	t.Run("scenario keys switch the simulator in demo mode", func(t *testing.T) {
		var set []string
		m := loaded(t, func(o *Options) { o.Sim = fakeSim{set: &set} })
		m, cmd := step(t, m, press("f3"))
		m = drain(t, m, cmd)
		m, _ = step(t, m, press("S"))
		if !strings.Contains(plain(m), "Simulator scenarios") {
			t.Fatalf("no scenario menu:\n%s", plain(m))
		}
		m, cmd = step(t, m, press("2"))
		m = drain(t, m, cmd)
		if fmt.Sprint(set) != "[error-spike appeal-flood]" || !strings.Contains(plain(m), "scenario appeal-flood") {
			t.Fatalf("scenarios set %v\n%s", set, plain(m))
		}
	})
	t.Run("scenario keys do nothing outside the demo", func(t *testing.T) {
		m := loaded(t, nil)
		m, _ = step(t, m, press("S"))
		if strings.Contains(plain(m), "Simulator scenarios") {
			t.Fatal("scenario menu outside the demo")
		}
	})
	t.Run("resume continues a run from the state dir", func(t *testing.T) {
		m := loaded(t, nil)
		m, _ = step(t, m, press(":"))
		m = typeText(t, m, "resume")
		m, cmd := step(t, m, press("enter"))
		m = drain(t, m, cmd)
		if m.runbooks.mode != rbRun || m.runbooks.book == nil || m.runbooks.book.ID != "restore-from-backup" {
			t.Fatalf("mode %v book %v", m.runbooks.mode, m.runbooks.book)
		}
		if !strings.Contains(plain(m), "RTO") {
			t.Fatalf("no RTO timer for a runbook with an objective:\n%s", plain(m))
		}
		m, _ = step(t, m, press("d"))
		if out := plain(m); !strings.Contains(out, "⚙ restore-from-backup 1/") || !strings.Contains(out, "of RTO 30:00") {
			t.Fatalf("the run under way is not in the banner:\n%s", out)
		}
	})
	t.Run("mono theme states read as words without colours", func(t *testing.T) {
		st := NewStyles(Themes()["mono"])
		for _, s := range []string{st.State("critical").Render("CRITICAL"), st.Badge("warning"), st.Env("production")} {
			if strings.Contains(s, "38;") || strings.Contains(s, "48;") {
				t.Errorf("colour in mono: %q", s)
			}
		}
	})
	t.Run("a fleet shows one line per node, a down one as DOWN", func(t *testing.T) {
		snap := testSnapshot()
		snap.Nodes = []metrics.Node{
			{Instance: "rep-1:9090", Up: true, State: metrics.StateOK, Panels: map[string]metrics.Value{metrics.PanelAppealErrorRate: metrics.Known(0.4)}},
			{Instance: "rep-2:9090", Up: false, State: metrics.StateUnknown},
			{Instance: "rep-3:9090", Up: true, State: metrics.StateCritical, Panels: map[string]metrics.Value{metrics.PanelAppealErrorRate: metrics.Known(9)}},
		}
		m := newTestModel(t.TempDir(), nil)
		m, _ = step(t, m, tea.WindowSizeMsg{Width: 120, Height: 40})
		m, _ = step(t, m, snapshotMsg{gen: 1, snap: snap})
		out := plain(m)
		for _, want := range []string{"Nodes", "rep-1:9090", "rep-2:9090", "DOWN", "rep-3:9090", "errors 9 %"} {
			if !strings.Contains(out, want) {
				t.Errorf("the nodes lack %q:\n%s", want, out)
			}
		}
	})
	t.Run("another operator's procedure is shown", func(t *testing.T) {
		m := newTestModel(t.TempDir(), nil)
		m, _ = step(t, m, tea.WindowSizeMsg{Width: 120, Height: 40})
		m, _ = step(t, m, snapshotMsg{gen: 1, snap: testSnapshot(), lock: &lockView{Holder: "alice@db1", Purpose: "restore", Since: fixedNow.Add(-3 * time.Minute), PID: 4242}})
		if out := plain(m); !strings.Contains(out, "restore by alice@db1") {
			t.Fatalf("lock not shown:\n%s", out)
		}
	})
}

// runTo starts the runbook id and returns the model in its run view.
func runTo(t *testing.T, m Model, id string) Model {
	t.Helper()
	m, cmd := step(t, m, switchViewMsg{to: viewRunbooks, runbook: id, start: true})
	return drain(t, m, cmd)
}

// skipTo skips steps (with a reason) until the current step is an action
// named action.
func skipTo(t *testing.T, m Model, action string) Model {
	t.Helper()
	for i := 0; i < 20; i++ {
		if m.runbooks.curOK && m.runbooks.cur.Step.Action == action {
			return m
		}
		m, _ = step(t, m, press("s"))
		m = typeText(t, m, "not needed here")
		var cmd tea.Cmd
		m, cmd = step(t, m, press("enter"))
		m = drain(t, m, cmd)
	}
	t.Fatalf("no step runs %s", action)
	return m
}

func TestRunbookRun(t *testing.T) {
	t.Run("a manual step is marked done and journaled by the engine", func(t *testing.T) {
		var got []runbooks.StepInput
		m := loaded(t, func(o *Options) {
			cat, _ := runbooks.Builtin()
			o.Runbooks = fakeRunbooks{cat: cat, start: func(rb *runbooks.Runbook) (RunbookRun, error) {
				return newFakeRun(rb, func(in runbooks.StepInput) (runbooks.StepResult, error) {
					got = append(got, in)
					return runbooks.StepResult{Outcome: runbooks.Done, Message: "done"}, nil
				}), nil
			}}
		})
		m = runTo(t, m, "backup")
		m, _ = step(t, m, press("n"))
		m = typeText(t, m, "paged bob")
		m, _ = step(t, m, press("enter"))
		m, cmd := step(t, m, press("x"))
		if !m.runbooks.running {
			t.Fatal("not running after x")
		}
		m = drain(t, m, cmd)
		if len(got) != 1 || got[0].Note != "paged bob" {
			t.Fatalf("Do inputs %+v", got)
		}
		if m.runbooks.cur.Index != 1 || m.runbooks.last == nil {
			t.Fatalf("current %d last %v", m.runbooks.cur.Index, m.runbooks.last)
		}
	})
	t.Run("a destructive step's confirmation defaults to cancel", func(t *testing.T) {
		called := false
		m := loaded(t, func(o *Options) {
			cat, _ := runbooks.Builtin()
			o.Runbooks = fakeRunbooks{cat: cat, start: func(rb *runbooks.Runbook) (RunbookRun, error) {
				return newFakeRun(rb, func(in runbooks.StepInput) (runbooks.StepResult, error) {
					if in.Confirm != "" {
						called = true
					}
					return runbooks.StepResult{Outcome: runbooks.Done}, nil
				}), nil
			}}
		})
		m = runTo(t, m, "database-optimization")
		m = skipTo(t, m, "reindex")
		if !m.runbooks.cur.NeedsConfirm {
			t.Fatal("reindex does not need a confirmation")
		}
		m, _ = step(t, m, press("x"))
		if m.runbooks.reading != inConfirm {
			t.Fatal("x on a destructive step did not ask for the name")
		}
		m, cmd := step(t, m, press("enter"))
		m = drain(t, m, cmd)
		if called || m.runbooks.running || !strings.Contains(m.flash, "cancelled") {
			t.Fatalf("empty confirmation: called %v flash %q", called, m.flash)
		}
		m, _ = step(t, m, press("x"))
		m = typeText(t, m, "architect.db")
		m, cmd = step(t, m, press("enter"))
		m = drain(t, m, cmd)
		if !called {
			t.Fatal("the typed name did not run the step")
		}
	})
	t.Run("read-only mode disables a step that writes", func(t *testing.T) {
		m := loaded(t, func(o *Options) { o.ReadOnly = true })
		// REINDEX writes the live database (a backup, which writes beside
		// it, is refused too, as 'repops --read-only backup' is).
		m = runTo(t, m, "database-optimization")
		m = skipTo(t, m, "reindex")
		m, cmd := step(t, m, press("x"))
		m = drain(t, m, cmd)
		if m.runbooks.running || !strings.Contains(m.flash, "read-only") {
			t.Fatalf("running %v flash %q", m.runbooks.running, m.flash)
		}
		if out := plain(m); !strings.Contains(out, "disabled in read-only mode") || !strings.Contains(out, "[READ-ONLY]") {
			t.Fatalf("read-only not shown:\n%s", out)
		}
	})
	t.Run("progress of a long action arrives as messages", func(t *testing.T) {
		m := loaded(t, func(o *Options) {
			cat, _ := runbooks.Builtin()
			o.Runbooks = fakeRunbooks{cat: cat, start: func(rb *runbooks.Runbook) (RunbookRun, error) {
				r := newFakeRun(rb, nil)
				inner := r.do
				r.do = func(ctx context.Context, in runbooks.StepInput, p ops.Progress) (runbooks.StepResult, error) {
					for i := int64(1); i <= 3; i++ {
						p(ops.ProgressEvent{Phase: "copy", Done: i, Total: 3, Unit: "pages"})
					}
					return inner(ctx, in, p)
				}
				return r, nil
			}}
		})
		m = runTo(t, m, "backup")
		_, cmd := step(t, m, press("x"))
		msg := cmd()
		env, ok := msg.(envelope)
		if !ok {
			t.Fatalf("first message %T", msg)
		}
		if ev, ok := env.msg.(stepEventMsg); !ok || ev.progress == nil || ev.progress.Phase != "copy" {
			t.Fatalf("first message %#v, want a progress event", env.msg)
		}
	})
}

func TestCmds(t *testing.T) {
	t.Run("refresh returns the engine's snapshot", func(t *testing.T) {
		m := newTestModel(t.TempDir(), nil)
		msg := m.cycleCmd(1)().(snapshotMsg)
		if msg.err != nil || len(msg.snap.Panels) == 0 {
			t.Fatalf("err %v panels %d", msg.err, len(msg.snap.Panels))
		}
	})
	t.Run("a source that does not answer gives an error, not a hang", func(t *testing.T) {
		m := newTestModel(t.TempDir(), func(o *Options) {
			o.Figures = fakeFigures{cycle: func(ctx context.Context) metrics.Snapshot {
				<-ctx.Done()
				time.Sleep(50 * time.Millisecond)
				return metrics.Snapshot{}
			}}
			o.CycleTimeout = 100 * time.Millisecond
		})
		msg := m.cycleCmd(1)().(snapshotMsg)
		if msg.err == nil {
			t.Fatal("no error for a refresh that timed out")
		}
		m, _ = step(t, m, msg)
		if out := plain(m); !strings.Contains(out, "refresh failed") {
			t.Fatalf("timeout not shown:\n%s", out)
		}
	})
	t.Run("the screen is written without colours to the state dir", func(t *testing.T) {
		dir := t.TempDir()
		m := newTestModel(dir, nil)
		m, _ = step(t, m, snapshotMsg{gen: 1, snap: testSnapshot()})
		msg := m.writeScreenCmd()().(screenWrittenMsg)
		if msg.err != nil {
			t.Fatal(msg.err)
		}
		if filepath.Dir(filepath.Dir(msg.path)) != dir {
			t.Fatalf("written to %s, not under %s", msg.path, dir)
		}
		b, err := os.ReadFile(msg.path)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "\x1b") || !strings.Contains(string(b), "Key metrics") {
			t.Fatalf("screen file:\n%q", b)
		}
	})
	t.Run("the journal is read and exported from a real journal", func(t *testing.T) {
		dir := t.TempDir()
		j, err := ops.OpenJournal(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		if _, err := j.Append(ops.Entry{Time: fixedNow, Action: "backup", Outcome: ops.OutcomeOK, Actor: ops.CurrentActor("t")}); err != nil {
			t.Fatal(err)
		}
		loadedMsg := loadJournalCmd(j, fixedNow.Add(-365*24*time.Hour))().(journalLoadedMsg)
		if loadedMsg.err != nil || len(loadedMsg.entries) != 1 {
			t.Fatalf("err %v entries %d", loadedMsg.err, len(loadedMsg.entries))
		}
		out := exportJournalCmd(loadedMsg.entries, filepath.Join(dir, "exports"), fixedNow)().(journalExportedMsg)
		if out.err != nil || len(out.paths) != 2 {
			t.Fatalf("export: %v %v", out.err, out.paths)
		}
		for _, p := range out.paths {
			if b, err := os.ReadFile(p); err != nil || !strings.Contains(string(b), "backup") {
				t.Fatalf("%s: %v %q", p, err, b)
			}
		}
	})
	t.Run("a journal that failed to open is shown as an error", func(t *testing.T) {
		m := loaded(t, func(o *Options) { o.Journal, o.JournalErr = nil, errors.New("open ops journal: permission denied") })
		m, cmd := step(t, m, press("l"))
		m = drain(t, m, cmd) // the load that l starts keeps the reason
		if out := plain(m); !strings.Contains(out, "permission denied") {
			t.Fatalf("journal error not shown:\n%s", out)
		}
	})
}

func TestSparkline(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    []float64
		width int
		want  string
	}{
		{"empty is blank", nil, 3, "   "},
		{"rising", []float64{0, 1, 2, 3, 4, 5, 6, 7}, 8, "▁▂▃▄▅▆▇█"},
		{"a gap is a gap", []float64{1, nanValue(), 1}, 3, "█ █"},
		{"only the newest fit", []float64{9, 0, 7}, 2, "▁█"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sparkline(tc.in, tc.width); got != tc.want {
				t.Fatalf("sparkline(%v, %d) = %q, want %q", tc.in, tc.width, got, tc.want)
			}
		})
	}
}

func TestBucketHistory(t *testing.T) {
	at := func(sec int) time.Time { return time.Unix(int64(sec), 0) }
	for _, tc := range []struct {
		name string
		vals []float64
		ts   []time.Time
		want []float64
	}{
		{"cells are aligned to the clock", []float64{1, 3, 5, 7}, []time.Time{at(18), at(19), at(20), at(21)}, []float64{2, 6}},
		{"a cell without data is a gap", []float64{1, nanValue(), 4}, []time.Time{at(5), at(15), at(25)}, []float64{1, nanValue(), 4}},
		{"at most cells cells", []float64{1, 2, 3, 4}, []time.Time{at(0), at(10), at(20), at(30)}, []float64{3, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := bucketHistory(tc.vals, tc.ts, 10*time.Second, 2+boolInt(tc.name == "a cell without data is a gap"))
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// slowRunbooks is a catalogue still loading until loaded is closed.
type slowRunbooks struct {
	fakeRunbooks
	loaded chan struct{}
}

func (s slowRunbooks) Loaded() <-chan struct{} { return s.loaded }

func (s slowRunbooks) List() []*runbooks.Runbook { <-s.loaded; return s.fakeRunbooks.List() }

func TestRunbookCatalogueLoadingInBackground(t *testing.T) {
	t.Run("the console starts before the catalogue is loaded and lists it once it is", func(t *testing.T) {
		loaded := make(chan struct{})
		m := newTestModel(t.TempDir(), func(o *Options) {
			o.Runbooks = slowRunbooks{fakeRunbooks: o.Runbooks.(fakeRunbooks), loaded: loaded}
		})
		if len(m.runbooks.all) != 0 {
			t.Fatalf("the list was read before the catalogue was loaded")
		}
		cmd := m.runbooks.load()
		if cmd == nil {
			t.Fatal("no command waits for the catalogue")
		}
		close(loaded)
		nm, _ := m.Update(cmd())
		if got := len(nm.(Model).runbooks.all); got == 0 {
			t.Fatal("the loaded catalogue was not listed")
		}
	})
	t.Run("a catalogue already loaded needs no wait", func(t *testing.T) {
		m := newTestModel(t.TempDir(), nil)
		if m.runbooks.load() != nil || len(m.runbooks.all) == 0 {
			t.Fatal("an in-memory catalogue should be listed at once")
		}
	})
}
