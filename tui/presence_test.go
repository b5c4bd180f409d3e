package tui

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/repops/repops/ops"
	"github.com/repops/repops/presence"
	"github.com/repops/repops/runbooks"
)

// hubClock is the presence's clock in these tests, moved by hand.
type hubClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *hubClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *hubClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newHub(t *testing.T, dir string) (*presence.Hub, *hubClock, *[]ops.Entry) {
	t.Helper()
	clk := &hubClock{t: fixedNow}
	var mu sync.Mutex
	var journal []ops.Entry
	hub := presence.NewHub(presence.Options{StateDir: dir, Now: clk.Now, Journal: func(e ops.Entry) {
		mu.Lock()
		journal = append(journal, e)
		mu.Unlock()
	}})
	return hub, clk, &journal
}

func identity(name string, role presence.Role) presence.Identity {
	return presence.Identity{Name: name, Role: role, Fingerprint: "SHA256:" + name + "-key", Addr: "10.0.0.7:50" + fmt.Sprint(len(name)), Session: "s-" + name}
}

// session is a console of one SSH session on the hub, sized w x h, its
// first presence read done.
func session(t *testing.T, dir string, hub *presence.Hub, id presence.Identity, w, h int, mod func(*Options)) (Model, *presence.Member) {
	t.Helper()
	me := hub.Join(id)
	t.Cleanup(me.Leave)
	m := newTestModel(dir, func(o *Options) {
		o.Presence = me
		if mod != nil {
			mod(o)
		}
	})
	m, _ = step(t, m, tea.WindowSizeMsg{Width: w, Height: h})
	m, _ = step(t, m, snapshotMsg{gen: 1, snap: testSnapshot()})
	m, _ = step(t, m, readPresenceCmd(me)())
	return m, me
}

// nextPresence runs the console's outstanding presence Cmd (a wait for a
// wake-up) and applies its message: the next update of what it shows. It
// fails when no wake-up came (the Cmd would only return on its 1 s
// timer, which runWithTimeout does not wait for).
func nextPresence(t *testing.T, m Model) Model {
	t.Helper()
	msg := runWithTimeout(t, waitPresenceCmd(m.opts.Presence))
	if msg == nil {
		t.Fatal("no presence update came: the hub did not wake this console")
	}
	m, _ = step(t, m, msg)
	return m
}

func stripLine(m Model) string { return strings.Split(plain(m), "\n")[2] }

// TestPresenceSessionsSeeEachOther: B sees A join within one update, and
// sees where A goes; A's key after being idle is seen too.
func TestPresenceSessionsSeeEachOther(t *testing.T) {
	dir := t.TempDir()
	hub, clk, _ := newHub(t, dir)
	b, _ := session(t, dir, hub, identity("bob", presence.Operator), 120, 40, nil)
	if s := stripLine(b); !strings.Contains(s, "1 on: only you (bob, operator)") {
		t.Fatalf("bob alone: strip %q", s)
	}
	a, _ := session(t, dir, hub, identity("alice", presence.Operator), 120, 40, nil)
	b = nextPresence(t, b)
	if s := stripLine(b); !strings.Contains(s, "2 on: alice (operator, dashboard)") {
		t.Fatalf("bob does not see alice after one update: %q", s)
	}
	a, _ = step(t, a, press("a")) // alice goes to the alerts
	b = nextPresence(t, b)
	if s := stripLine(b); !strings.Contains(s, "alice (operator, alerts)") {
		t.Fatalf("bob does not see alice in the alerts: %q", s)
	}
	clk.Add(3 * time.Minute)
	b, _ = step(t, b, readPresenceCmd(b.opts.Presence)())
	if s := stripLine(b); !strings.Contains(s, "idle 3m") {
		t.Fatalf("alice idle 3m is not shown: %q", s)
	}
	a, _ = step(t, a, press("d"))
	b = nextPresence(t, b)
	if s := stripLine(b); strings.Contains(s, "idle") || !strings.Contains(s, "alice (operator, dashboard)") {
		t.Fatalf("alice back at the keys: %q", s)
	}
	// :who lists both, the viewing one marked.
	b, _ = step(t, b, press(":"))
	b = typeText(t, b, "who")
	b, _ = step(t, b, press("enter"))
	out := plain(b)
	if !strings.Contains(out, "Who is on") || !strings.Contains(out, "bob (you)") || !strings.Contains(out, "alice") {
		t.Fatalf(":who:\n%s", out)
	}
	b, _ = step(t, b, press("esc"))
	if strings.Contains(plain(b), "Who is on") {
		t.Fatal("esc did not leave :who")
	}
	_ = a
}

// fourEyesConsoles are alice's console (four eyes on) at the confirmation
// of a destructive step, bob's console, and the count of steps run.
func fourEyesConsoles(t *testing.T) (a, b Model, hub *presence.Hub, ran *atomic.Int32, clk *hubClock, journal *[]ops.Entry) {
	t.Helper()
	dir := t.TempDir()
	hub, clk, journal = newHub(t, dir)
	ran = &atomic.Int32{}
	cat, _ := runbooks.Builtin()
	a, _ = session(t, dir, hub, identity("alice", presence.Operator), 120, 40, func(o *Options) {
		o.FourEyes = true
		o.Runbooks = fakeRunbooks{cat: cat, start: func(rb *runbooks.Runbook) (RunbookRun, error) {
			return newFakeRun(rb, func(in runbooks.StepInput) (runbooks.StepResult, error) {
				if !in.Skip {
					ran.Add(1)
				}
				return runbooks.StepResult{Outcome: runbooks.Done, Message: "done"}, nil
			}), nil
		}}
	})
	b, _ = session(t, dir, hub, identity("bob", presence.Operator), 120, 40, nil)
	a = runTo(t, a, "database-optimization")
	a = skipTo(t, a, "vacuum")
	ran.Store(0)
	a, _ = step(t, a, readPresenceCmd(a.opts.Presence)())
	b, _ = step(t, b, readPresenceCmd(b.opts.Presence)())
	return a, b, hub, ran, clk, journal
}

// confirmStep types the destructive step's confirmation on a and returns
// the approval's Cmd (blocking in RequestApproval) started in a
// goroutine: its message arrives on the channel.
func confirmStep(t *testing.T, a Model) (Model, <-chan tea.Msg) {
	t.Helper()
	if !a.runbooks.cur.NeedsConfirm {
		t.Fatalf("step %q needs no confirmation", a.runbooks.cur.Step.Name)
	}
	a, _ = step(t, a, press("x"))
	a = typeText(t, a, "architect.db")
	a, cmd := step(t, a, press("enter"))
	need, ok := runWithTimeout(t, cmd).(approvalNeededMsg)
	if !ok {
		t.Fatalf("the confirmed destructive step did not ask approval")
	}
	a, cmd = step(t, a, need)
	ch := make(chan tea.Msg, 1)
	go func() { ch <- cmd() }()
	return a, ch
}

func approvalAnswer(t *testing.T, ch <-chan tea.Msg) tea.Msg {
	t.Helper()
	select {
	case msg := <-ch:
		return msg
	case <-time.After(5 * time.Second):
		t.Fatal("the approval's Cmd did not return")
	}
	return nil
}

// waitAsked brings b's view up to the request (bounded).
func waitAsked(t *testing.T, b Model) Model {
	t.Helper()
	for range 10 {
		if len(b.pr.read.pending) > 0 {
			return b
		}
		b = nextPresence(t, b)
	}
	t.Fatal("bob never saw the request")
	return b
}

// TestFourEyesWaitsForASecondOperator: alice's destructive step waits
// until bob approves; alice cannot approve it herself, from her console
// or from a second session of her key.
func TestFourEyesWaitsForASecondOperator(t *testing.T) {
	a, b, hub, ran, clk, journal := fourEyesConsoles(t)
	a, ch := confirmStep(t, a)
	if out := plain(a); !strings.Contains(out, "waiting for a second operator's approval (bob on) · esc cancels") {
		t.Fatalf("alice's screen while she waits:\n%s", out)
	}
	b = waitAsked(t, b)
	if s := stripLine(b); !strings.Contains(s, "alice asks approval: database-optimization step") || !strings.Contains(s, "on architect.db · :approve 1 · :deny 1") {
		t.Fatalf("bob's banner: %q", s)
	}
	// alice's own key: from her console (keys wait, but : works) ...
	a, _ = step(t, a, press("x"))
	a, _ = step(t, a, press(":"))
	a = typeText(t, a, "approve 1")
	a, cmd := step(t, a, press("enter"))
	if f, _ := runWithTimeout(t, cmd).(flashMsg); !strings.Contains(f.text, "self-approval is impossible") {
		t.Fatalf("alice approving her own step: %+v", f)
	}
	// ... and from a second session with the same key.
	alice2 := identity("alice", presence.Operator)
	alice2.Session = "s-alice-2"
	other := hub.Join(alice2)
	defer other.Leave()
	if err := other.Approve("1"); err == nil || !strings.Contains(err.Error(), "self-approval") {
		t.Fatalf("alice's key approved from another session: %v", err)
	}
	if n := ran.Load(); n != 0 {
		t.Fatalf("the step ran %d times before any approval", n)
	}
	clk.Add(4 * time.Second)
	b, _ = step(t, b, press(":"))
	b = typeText(t, b, "approve 1")
	b, cmd = step(t, b, press("enter"))
	if f, _ := runWithTimeout(t, cmd).(flashMsg); f.text != "approved #1" {
		t.Fatalf("bob's approval: %+v", f)
	}
	a, cmd = step(t, a, approvalAnswer(t, ch))
	if a.pr.wait != nil {
		t.Fatal("alice still waits after the approval")
	}
	a = drain(t, a, cmd)
	if n := ran.Load(); n != 1 {
		t.Fatalf("the approved step ran %d times, want 1", n)
	}
	var granted *ops.Entry
	for i, e := range *journal {
		if e.Action == "approval.granted" {
			granted = &(*journal)[i]
		}
	}
	if granted == nil || granted.Actor.User != "bob" || granted.Figures["latency_s"] != 4 {
		t.Fatalf("journal: %+v", *journal)
	}
	_ = b
}

// TestFourEyesDenyAndCancel: a denied step and a withdrawn request run
// nothing.
func TestFourEyesDenyAndCancel(t *testing.T) {
	t.Run("deny", func(t *testing.T) {
		a, b, _, ran, _, _ := fourEyesConsoles(t)
		a, ch := confirmStep(t, a)
		b = waitAsked(t, b)
		b, _ = step(t, b, press(":"))
		b = typeText(t, b, "deny 1")
		_, cmd := step(t, b, press("enter"))
		runWithTimeout(t, cmd)
		a, cmd = step(t, a, approvalAnswer(t, ch))
		f, _ := runWithTimeout(t, cmd).(flashMsg)
		if !strings.Contains(f.text, "bob denied") || ran.Load() != 0 {
			t.Fatalf("denied: flash %q, ran %d", f.text, ran.Load())
		}
	})
	t.Run("esc withdraws", func(t *testing.T) {
		a, _, _, ran, _, _ := fourEyesConsoles(t)
		a, ch := confirmStep(t, a)
		a, _ = step(t, a, press("esc"))
		a, cmd := step(t, a, approvalAnswer(t, ch))
		f, _ := runWithTimeout(t, cmd).(flashMsg)
		if !strings.Contains(f.text, "withdrawn") || ran.Load() != 0 || a.pr.wait != nil {
			t.Fatalf("withdrawn: flash %q, ran %d", f.text, ran.Load())
		}
	})
	t.Run("no presence refuses", func(t *testing.T) {
		m := loaded(t, func(o *Options) { o.FourEyes = true })
		m = runTo(t, m, "database-optimization")
		m = skipTo(t, m, "vacuum")
		m, _ = step(t, m, press("x"))
		m = typeText(t, m, "architect.db")
		m, cmd := step(t, m, press("enter"))
		m, _ = step(t, m, runWithTimeout(t, cmd))
		if !strings.Contains(plain(m), "four eyes is on") || m.runbooks.running {
			t.Fatalf("four eyes without presence:\n%s", plain(m))
		}
	})
}

// TestPresenceFollowAndHandover: bob follows alice's run read-only; alice
// hands it over to bob, who resumes it; a viewer cannot take it.
func TestPresenceFollowAndHandover(t *testing.T) {
	dir := t.TempDir()
	hub, _, journal := newHub(t, dir)
	var resumed atomic.Value
	cat, _ := runbooks.Builtin()
	svc := func(o *Options) {
		o.Runbooks = resumingRunbooks{fakeRunbooks{cat: cat, start: func(rb *runbooks.Runbook) (RunbookRun, error) { return newFakeRun(rb, nil), nil }}, &resumed}
	}
	a, _ := session(t, dir, hub, identity("alice", presence.Operator), 120, 40, svc)
	b, _ := session(t, dir, hub, identity("bob", presence.Operator), 120, 40, svc)
	c, _ := session(t, dir, hub, identity("carol", presence.Viewer), 120, 40, nil)
	a = runTo(t, a, "restore-from-backup")
	runID := a.runbooks.state.RunID
	b = nextPresence(t, b)
	if s := stripLine(b); !strings.Contains(s, "alice (operator, runbook restore-from-backup step 1)") {
		t.Fatalf("bob's strip: %q", s)
	}
	c, _ = step(t, c, press(":"))
	c = typeText(t, c, "follow alice")
	c, _ = step(t, c, press("enter"))
	c = nextPresence(t, c)
	if out := plain(c); !strings.Contains(out, "Following alice") || !strings.Contains(out, "step 1 of") || !strings.Contains(out, runID) {
		t.Fatalf("carol following alice:\n%s", out)
	}
	c, _ = step(t, c, press("x")) // read-only: nothing happens
	if c.runbooks.run != nil {
		t.Fatal("a follower drove a run")
	}
	a = skipTo(t, a, "restore")
	c = nextPresence(t, c)
	if out := plain(c); !strings.Contains(out, "step 5 of") || !strings.Contains(out, "Stop services") {
		t.Fatalf("carol does not see alice's run move:\n%s", out)
	}

	a, _ = step(t, a, readPresenceCmd(a.opts.Presence)())
	a, _ = step(t, a, press(":"))
	a = typeText(t, a, "handover carol")
	a, cmd := step(t, a, press("enter"))
	a, _ = step(t, a, runWithTimeout(t, cmd))
	if !strings.Contains(plain(a), "carol is a viewer") {
		t.Fatalf("handover to a viewer:\n%s", plain(a))
	}
	a, _ = step(t, a, press(":"))
	a = typeText(t, a, "handover bob")
	a, _ = step(t, a, press("enter"))
	if !strings.Contains(plain(a), "over to bob? y/N") {
		t.Fatalf("no confirmation asked:\n%s", plain(a))
	}
	a, cmd = step(t, a, press("y"))
	if a.runbooks.run != nil {
		t.Fatal("alice still drives the run she handed over")
	}
	a, cmd = step(t, a, runWithTimeout(t, cmd))
	f, _ := runWithTimeout(t, cmd).(flashMsg)
	if !strings.Contains(f.text, "handed run "+runID+" over to bob") {
		t.Fatalf("alice's handover: %q", f.text)
	}
	msg := runWithTimeout(t, waitPresenceCmd(b.opts.Presence))
	if pm, _ := msg.(presenceMsg); pm.handover == nil {
		t.Fatalf("bob's next update carries no handover: %#v", msg)
	}
	b, cmd = step(t, b, msg)
	b = drain(t, b, cmd)
	if got, _ := resumed.Load().(string); got != runID {
		t.Fatalf("bob resumed %q, want %s", got, runID)
	}
	if b.focus != viewRunbooks || b.runbooks.run == nil {
		t.Fatalf("bob is not on the resumed run:\n%s", plain(b))
	}
	found := false
	for _, e := range *journal {
		found = found || (e.Action == "handover" && e.RunID == runID && e.Params["to"] == "bob")
	}
	if !found {
		t.Fatalf("no handover entry: %+v", *journal)
	}
}

// resumingRunbooks records the run id that Resume is asked for.
type resumingRunbooks struct {
	fakeRunbooks
	resumed *atomic.Value
}

func (r resumingRunbooks) Resume(runID string) (RunbookRun, error) {
	r.resumed.Store(runID)
	return r.fakeRunbooks.Resume(runID)
}

// TestGoldenPresenceStrip: the strip at each size, shortened by priority:
// the lock's holder running a restore, an idle viewer, another operator.
func TestGoldenPresenceStrip(t *testing.T) {
	for _, size := range goldenSizes {
		w, h := size[0], size[1]
		t.Run(fmt.Sprintf("%dx%d", w, h), func(t *testing.T) {
			dir := t.TempDir()
			hub, clk, _ := newHub(t, dir)
			bob := hub.Join(identity("bob", presence.Viewer))
			defer bob.Leave()
			clk.Add(2 * time.Minute)
			alice := hub.Join(identity("alice", presence.Operator))
			defer alice.Leave()
			alice.SetWhere(presence.Where{View: "runbooks", Runbook: "restore-from-backup", RunID: "r1", Step: 4})
			dave := hub.Join(identity("dave", presence.Admin))
			defer dave.Leave()
			dave.SetWhere(presence.Where{View: "journal"})
			l, err := ops.AcquireLock(dir, ops.Actor{User: "alice", Session: "s-alice"}, "restore architect.db")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Release()
			m, _ := session(t, dir, hub, identity("carol", presence.Operator), w, h, nil)
			screen := ansi.Strip(m.View().Content)
			checkGolden(t, screen, w, h)
			golden.RequireEqual(t, []byte(screen))
		})
	}
}

// TestPresenceVisibleLatency measures a presence change (another session
// moves to another view) until it is in this console's screen, through
// the console's own Cmd and Update, as the program runs them. It reports
// the figures; it asserts only that each change is seen in one update.
func TestPresenceVisibleLatency(t *testing.T) {
	dir := t.TempDir()
	hub, _, _ := newHub(t, dir)
	b, _ := session(t, dir, hub, identity("bob", presence.Operator), 80, 24, nil)
	alice := hub.Join(identity("alice", presence.Operator))
	defer alice.Leave()
	b = nextPresence(t, b)
	views := []string{"alerts", "journal"}
	var lat []time.Duration
	for i := range 200 {
		want := views[i%2]
		cmd := waitPresenceCmd(b.opts.Presence)
		ch := make(chan tea.Msg, 1)
		go func() { ch <- cmd() }()
		start := time.Now()
		alice.SetWhere(presence.Where{View: want})
		var msg tea.Msg
		select {
		case msg = <-ch:
		case <-time.After(5 * time.Second):
			t.Fatal("no update")
		}
		b, _ = step(t, b, msg)
		if !strings.Contains(stripLine(b), "alice (operator, "+want+")") {
			t.Fatalf("change %d not visible after one update: %q", i, stripLine(b))
		}
		lat = append(lat, time.Since(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("presence change -> visible in the other console (200 changes): p50 %s, p99 %s, max %s (goal <= 1 s)",
		lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
}

// TestPresenceTwoPrograms runs two consoles as two bubbletea programs
// (teatest), as repops serve runs one per SSH session, on one hub: bob's
// terminal shows alice when she joins and when she moves, each within a
// second. The time from alice's key to bob's terminal is logged.
//
// Decision: the wait is bounded at 5 s, not at the goal's 1 s, so that a
// loaded machine does not fail it: that a change needs no more than one
// wake-up (no timer) is what TestPresenceSessionsSeeEachOther asserts,
// and the figure logged here is the measurement.
func TestPresenceTwoPrograms(t *testing.T) {
	dir := t.TempDir()
	hub, _, _ := newHub(t, dir)
	program := func(id presence.Identity) *teatest.TestModel {
		me := hub.Join(id)
		t.Cleanup(me.Leave)
		m := newTestModel(dir, func(o *Options) { o.Presence = me })
		return teatest.NewTestModel(t, m, teatest.WithInitialTermSize(120, 40),
			teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.Ascii)))
	}
	within := func(tm *teatest.TestModel, s string) {
		t.Helper()
		teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(s)) },
			teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(time.Millisecond))
	}
	b := program(identity("bob", presence.Operator))
	within(b, "only you")
	a := program(identity("alice", presence.Operator))
	within(b, "alice")
	within(a, "bob")
	start := time.Now()
	a.Send(tea.KeyPressMsg{Code: 'a', Text: "a"})
	within(b, "alerts)")
	t.Logf("alice's key -> bob's terminal: %s (goal <= 1 s)", time.Since(start))
	for _, tm := range []*teatest.TestModel{a, b} {
		if err := tm.Quit(); err != nil {
			t.Fatal(err)
		}
		tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	}
}
