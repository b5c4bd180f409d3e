package tui

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/repops/repops/metrics"
)

// fakeSilences is a SilenceService over memory that records what it was
// asked.
type fakeSilences struct {
	mu       sync.Mutex
	created  []SilenceRequest
	expired  []string
	extended []string
	list     []SilenceInfo
	run      string // RunFor's answer ("" none)
}

var _ SilenceService = (*fakeSilences)(nil)

func (f *fakeSilences) Backend() string { return "local" }
func (f *fakeSilences) Preview(_ context.Context, labels map[string]string, snap metrics.Snapshot) SilencePreview {
	return SilencePreview{Alerts: []string{matchersText(labels)}}
}
func (f *fakeSilences) Create(_ context.Context, req SilenceRequest) (SilenceInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.created = append(f.created, req)
	return SilenceInfo{ID: "0123456789abcdef", EndsAt: fixedNow.Add(req.Duration), Ack: req.Ack, RunID: req.RunID}, nil
}
func (f *fakeSilences) List(context.Context) ([]SilenceInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]SilenceInfo(nil), f.list...), nil
}
func (f *fakeSilences) Expire(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.expired = append(f.expired, id)
	return nil
}
func (f *fakeSilences) Extend(_ context.Context, id string, d time.Duration) (SilenceInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.extended = append(f.extended, id+" "+d.String())
	return SilenceInfo{ID: id, EndsAt: fixedNow.Add(d)}, nil
}
func (f *fakeSilences) Warnings(time.Time, metrics.Snapshot) []string {
	return []string{"silence 01234567 ends in 8m while ReputationAppealErrorRate still fires"}
}
func (f *fakeSilences) RunFor(string) (string, bool) { return f.run, f.run != "" }

func (f *fakeSilences) createdCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.created)
}

// TestSilenceFormKeys drives the console from the dashboard to a created
// silence: a (alerts), s (the form on the worst alert, selected first),
// the comment, enter: 3 keys besides the comment. An empty comment is
// refused, nothing created.
func TestSilenceFormKeys(t *testing.T) {
	fake := &fakeSilences{}
	m := newTestModel(t.TempDir(), func(o *Options) { o.Silences = fake })
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(100, 30),
		teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.Ascii)))
	waitFor(t, tm, "refreshed")
	keys := 0
	send := func(s string) {
		keys++
		if s == "enter" {
			tm.Send(tea.KeyPressMsg{Code: tea.KeyEnter})
			return
		}
		tm.Send(tea.KeyPressMsg{Code: rune(s[0]), Text: s})
	}
	send("a")
	send("s")
	waitFor(t, tm, "preview: would silence 1 firing alert(s)")
	send("enter")
	waitFor(t, tm, "a comment is required")
	if n := fake.createdCount(); n != 0 {
		t.Fatalf("an empty comment created %d silences", n)
	}
	keys-- // the refused enter is not part of the path
	for _, r := range "INC-7" {
		tm.Send(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
	send("enter")
	waitFor(t, tm, "silence 01234567 created")
	if err := tm.Quit(); err != nil {
		t.Fatal(err)
	}
	final := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(Model)
	if keys > 4 {
		t.Fatalf("%d keys from a firing alert to a created silence, want at most 4", keys)
	}
	t.Logf("keys from the dashboard to a created silence, comment excluded: %d", keys)
	if len(fake.created) != 1 {
		t.Fatalf("created %+v", fake.created)
	}
	req := fake.created[0]
	if req.Comment != "INC-7" || req.Duration != time.Hour || req.Labels["alertname"] == "" || req.Labels["severity"] != "critical" {
		t.Fatalf("request %+v", req)
	}
	// The expiry guard's warning is in the banner.
	if screen := ansi.Strip(final.View().Content); !strings.Contains(screen, "ends in 8m while") {
		t.Fatalf("no guard banner:\n%s", screen)
	}
}

// alertsWithSilences is an alerts view on the test snapshot with fake.
func alertsWithSilences(fake *fakeSilences, readOnly bool) alertsView {
	ctx := tablesCtx(100, 30)
	ctx.ReadOnly = readOnly
	v := newAlertsView(ctx, fake)
	v, _ = v.Update(snapshotMsg{snap: testSnapshot()})
	return v
}

// runInto runs cmd and feeds its messages back to v, and the messages of
// the commands v answers with, to a bounded depth.
func runInto(v alertsView, cmd tea.Cmd) (alertsView, []tea.Msg) {
	var all []tea.Msg
	for depth := 0; cmd != nil && depth < 3; depth++ {
		var msgs []tea.Msg
		switch m := cmd().(type) {
		case tea.BatchMsg:
			for _, c := range m {
				if c != nil {
					msgs = append(msgs, c())
				}
			}
		default:
			msgs = append(msgs, m)
		}
		all = append(all, msgs...)
		var next []tea.Cmd
		for _, m := range msgs {
			var c tea.Cmd
			v, c = v.Update(m)
			next = append(next, c)
		}
		cmd = tea.Batch(next...)
	}
	return v, all
}

func flashes(msgs []tea.Msg) string {
	var out []string
	for _, m := range msgs {
		if f, ok := m.(flashMsg); ok {
			out = append(out, f.text)
		}
	}
	return strings.Join(out, " | ")
}

func TestSilenceFormStates(t *testing.T) {
	t.Run("read-only refuses", func(t *testing.T) {
		fake := &fakeSilences{}
		v := alertsWithSilences(fake, true)
		v, cmd := v.Update(press("s"))
		_, msgs := runInto(v, cmd)
		if v.form.open || !strings.Contains(flashes(msgs), "read-only") {
			t.Fatalf("form open %v, flash %q", v.form.open, flashes(msgs))
		}
	})
	t.Run("esc cancels", func(t *testing.T) {
		fake := &fakeSilences{}
		v := alertsWithSilences(fake, false)
		v, _ = v.Update(press("s"))
		if !v.form.open || !v.capturing() {
			t.Fatal("s did not open the form")
		}
		v, _ = v.Update(press("right"))
		if v.form.preset != 1 || !strings.Contains(ansi.Strip(v.View()), "[4h]") {
			t.Fatalf("right: preset %d", v.form.preset)
		}
		v, _ = v.Update(tea.KeyPressMsg{Code: tea.KeyEscape})
		if v.form.open || fake.createdCount() != 0 {
			t.Fatal("esc did not cancel")
		}
	})
	t.Run("ack without a run says how", func(t *testing.T) {
		fake := &fakeSilences{}
		v := alertsWithSilences(fake, false)
		v, cmd := v.Update(press("a"))
		v, msgs := runInto(v, cmd)
		if v.form.open || !strings.Contains(flashes(msgs), "open it with o") {
			t.Fatalf("flash %q", flashes(msgs))
		}
	})
	t.Run("ack with a run", func(t *testing.T) {
		fake := &fakeSilences{run: "run-9"}
		v := alertsWithSilences(fake, false)
		v, cmd := v.Update(press("a"))
		v, _ = runInto(v, cmd)
		if !v.form.open || !v.form.ack || v.form.runID != "run-9" {
			t.Fatalf("form %+v", v.form)
		}
		v, cmd = v.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
		v, _ = runInto(v, cmd)
		if len(fake.created) != 1 || !fake.created[0].Ack || fake.created[0].RunID != "run-9" || fake.created[0].Duration != 4*time.Hour {
			t.Fatalf("created %+v", fake.created)
		}
		if v.form.open {
			t.Fatal("the form stayed open")
		}
	})
	t.Run("silences list expires and extends", func(t *testing.T) {
		fake := &fakeSilences{list: []SilenceInfo{{ID: "abcdef0123456789", Matchers: `{alertname="X"}`, CreatedBy: "alice@host",
			Comment: "INC-1", EndsAt: fixedNow.Add(2 * time.Hour), InForce: true}}}
		v := alertsWithSilences(fake, false)
		v, cmd := v.openSilences()
		v, _ = runInto(v, cmd)
		if screen := ansi.Strip(v.View()); !strings.Contains(screen, "ends in 2 h") && !strings.Contains(screen, "ends in 2h") {
			t.Fatalf("no countdown:\n%s", screen)
		}
		v, _ = v.Update(press("x"))
		v, cmd = v.Update(press("n"))
		v, _ = runInto(v, cmd)
		if len(fake.expired) != 0 {
			t.Fatal("n expired the silence")
		}
		v, _ = v.Update(press("x"))
		v, cmd = v.Update(press("y"))
		v, _ = runInto(v, cmd)
		if len(fake.expired) != 1 || fake.expired[0] != "abcdef0123456789" {
			t.Fatalf("expired %v", fake.expired)
		}
		v, cmd = v.Update(press("+"))
		_, _ = runInto(v, cmd)
		if len(fake.extended) != 1 || fake.extended[0] != "abcdef0123456789 1h0m0s" {
			t.Fatalf("extended %v", fake.extended)
		}
	})
}

// TestSilencedRowAndRootKeys: a silenced alert's row says so, with the
// time left; in the alerts view the root lets a (ack) and, in the
// silences list, + (extend) through to the view.
func TestSilencedRowAndRootKeys(t *testing.T) {
	snap := testSnapshot()
	for i := range snap.Alerts {
		if snap.Alerts[i].State == metrics.StateCritical {
			snap.Alerts[i].Silenced = &metrics.SilenceRef{ID: "x", CreatedBy: "alice@host", EndsAt: fixedNow.Add(2 * time.Hour)}
		}
	}
	fake := &fakeSilences{run: "run-1"}
	m := newTestModel(t.TempDir(), func(o *Options) {
		o.Silences = fake
		o.Figures = fakeFigures{cycle: func(context.Context) metrics.Snapshot { return snap }}
	})
	nm, _ := m.Update(snapshotMsg{gen: m.gen, snap: snap})
	nm, _ = nm.(Model).Update(press("a"))
	if nm.(Model).focus != viewAlerts {
		t.Fatal("a did not open the alerts view")
	}
	if screen := ansi.Strip(nm.(Model).View().Content); !strings.Contains(lineWith(screen, "CRITICAL Appeal error rate"), " silenced") {
		t.Fatalf("no silenced row at 80 columns:\n%s", screen)
	}
	wide, _ := nm.(Model).Update(tea.WindowSizeMsg{Width: 120, Height: 30})
	if screen := ansi.Strip(wide.(Model).View().Content); !strings.Contains(screen, "silenced (2 h left)") {
		t.Fatalf("no time left at 120 columns:\n%s", screen)
	}
	nm, _ = wide.(Model).Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	nm, cmd := nm.(Model).Update(press("a"))
	n := nm.(Model)
	if n.focus != viewAlerts || cmd == nil {
		t.Fatal("a in the alerts view did not reach the view")
	}
	nm, _ = n.Update(cmd())
	if !nm.(Model).alerts.form.open || !nm.(Model).alerts.form.ack {
		t.Fatal("a with a run under way did not open the acknowledgement form")
	}
}
