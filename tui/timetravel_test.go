package tui

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"

	"github.com/repops/repops/metrics"
	"github.com/repops/repops/ops"
)

// travelStore is a real history store (metrics' timeline in a temp dir)
// holding the three hours before fixedNow at a frame every 10 s: the
// values wave, every rule OK and the procedure lock held by alice (a
// restore) from -75m to -65m; the last hour as now (the error rate
// critical).
func travelStore(t *testing.T) *metrics.Timeline {
	t.Helper()
	ctx := context.Background()
	tl, err := metrics.OpenTimeline(ctx, filepath.Join(t.TempDir(), metrics.TimelineFile), metrics.TimelineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tl.Close() })
	for s := -3 * 3600; s <= 0; s += 10 {
		at := fixedNow.Add(time.Duration(s) * time.Second)
		snap := testSnapshot()
		snap.Time = at
		for i := range snap.Panels {
			p := &snap.Panels[i]
			if p.Value.OK {
				p.Value.V *= 1 + 0.3*math.Sin(float64(s)/600+float64(i))
			}
		}
		if s < -3600 {
			for i := range snap.Panels {
				if snap.Panels[i].Name == metrics.PanelAppealErrorRate {
					snap.Panels[i].Value.V /= 10 // within its target then
				}
			}
			for i := range snap.Alerts {
				snap.Alerts[i].State = metrics.StateOK
			}
		}
		lock := ""
		if s >= -75*60 && s < -65*60 {
			lock = LockWords(&ops.LockInfo{Actor: ops.Actor{User: "alice", Host: "db1"}, PID: 4242, Purpose: "restore",
				Since: fixedNow.Add(-75 * time.Minute)}, true)
		}
		if err := tl.Record(ctx, snap, lock); err != nil {
			t.Fatal(err)
		}
	}
	return tl
}

// travelJournal has a backup, a restore and a runbook step in the
// stored hours.
func travelJournal() *fakeJournal {
	return &fakeJournal{entries: []ops.Entry{
		{Seq: 1, Time: fixedNow.Add(-80 * time.Minute), Action: "backup", Outcome: ops.OutcomeOK},
		{Seq: 2, Time: fixedNow.Add(-75 * time.Minute), Action: "restore", Outcome: ops.OutcomeStarted},
		{Seq: 3, Time: fixedNow.Add(-66 * time.Minute), Action: "restore", Outcome: ops.OutcomeOK},
		{Seq: 4, Time: fixedNow.Add(-64 * time.Minute), Action: "check", Outcome: ops.OutcomeOK, Runbook: "restore-from-backup", Step: "Verify"},
	}}
}

// travelConsole is a ready console at w x h with the store and journal.
func travelConsole(t *testing.T, w, h int, mod func(*Options)) Model {
	t.Helper()
	store := travelStore(t)
	m := loaded(t, func(o *Options) {
		o.History, o.Journal = store, travelJournal()
		if mod != nil {
			mod(o)
		}
	})
	m, _ = step(t, m, tea.WindowSizeMsg{Width: w, Height: h})
	return m
}

// keys presses each key and runs what it asks (the history's reads).
func keys(t *testing.T, m Model, ks ...string) Model {
	t.Helper()
	for _, k := range ks {
		var c tea.Cmd
		m, c = step(t, m, press(k))
		m = drain(t, m, c)
	}
	return m
}

// scrubbed is the console an hour and twelve minutes back.
func scrubbed(t *testing.T, w, h int) Model {
	m := travelConsole(t, w, h, nil)
	ks := []string{"{"}
	for range 12 {
		ks = append(ks, "[")
	}
	return keys(t, m, ks...)
}

func TestGoldenTimeTravel(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		w, h := size[0], size[1]
		t.Run(fmt.Sprintf("scrubbed_%dx%d", w, h), func(t *testing.T) {
			screen := ansi.Strip(scrubbed(t, w, h).View().Content)
			checkGolden(t, screen, w, h)
			for _, want := range []string{"viewing 2026-11-29 01:48 UTC (-1h12m)", "] forward", "esc live", "restore by alice", " OK "} {
				if !strings.Contains(screen, want) {
					t.Errorf("the scrubbed dashboard does not say %q:\n%s", want, screen)
				}
			}
			if strings.Contains(screen, "CRITICAL") {
				t.Errorf("an hour back every rule was OK, the screen says CRITICAL:\n%s", screen)
			}
			golden.RequireEqual(t, []byte(screen))
		})
	}
}

func TestTimeTravelKeys(t *testing.T) {
	m := travelConsole(t, 120, 40, nil)
	cursor := func(m Model) time.Time { return m.dash.travel.at }
	m = keys(t, m, "[")
	if want := fixedNow.Add(-time.Second); !cursor(m).Equal(want) {
		t.Fatalf("[ from live: cursor %v, want %v (one refresh back)", cursor(m), want)
	}
	if s := plain(m); !strings.Contains(s, "viewing 2026-11-29 02:59:59 UTC (-1s)") || !strings.Contains(s, "CRITICAL") {
		t.Fatalf("a second back the banner and the recorded critical state:\n%s", s)
	}
	m = keys(t, m, "]")
	if m.dash.travel.active() {
		t.Fatalf("] past now: cursor %v, want live", cursor(m))
	}
	m = keys(t, m, "{", "[")
	if want := fixedNow.Add(-time.Hour - time.Minute); !cursor(m).Equal(want) {
		t.Fatalf("{ then [: cursor %v, want %v (by minutes past the hour)", cursor(m), want)
	}
	m = keys(t, m, "}")
	if want := fixedNow.Add(-time.Minute); !cursor(m).Equal(want) {
		t.Fatalf("}: cursor %v, want %v", cursor(m), want)
	}
	m = keys(t, m, "esc")
	if m.dash.travel.active() || m.focus != viewDashboard {
		t.Fatalf("esc: cursor %v focus %v, want live on the dashboard", cursor(m), m.focus)
	}
	// Eight days back is clamped to the seven kept, where nothing is
	// recorded: said, not a crash.
	for range 8 * 24 {
		m, _ = step(t, m, press("{"))
	}
	m = keys(t, m, "[")
	if got := fixedNow.Sub(cursor(m)); got > 7*24*time.Hour {
		t.Fatalf("cursor %v back, more than the seven days kept", got)
	}
	if s := plain(m); !strings.Contains(s, "nothing recorded that far back") {
		t.Fatalf("no frame: the banner does not say so:\n%s", s)
	}
}

func TestTimeTravelReadOnlyAndNoStore(t *testing.T) {
	m := travelConsole(t, 80, 24, func(o *Options) { o.ReadOnly = true })
	m = keys(t, m, "{")
	if s := plain(m); !strings.Contains(s, "viewing 2026-11-29 02:00") {
		t.Fatalf("read-only console does not scrub:\n%s", s)
	}
	n := loaded(t, nil)
	n = keys(t, n, "[")
	if s := plain(n); !strings.Contains(s, "no history") {
		t.Fatalf("without a store the banner does not say so:\n%s", s)
	}
}

func TestTimeTravelClick(t *testing.T) {
	m := travelConsole(t, 120, 40, nil)
	// The first key metric's row: its sparkline ends at the right edge;
	// ten columns left of it is ten live cells (10 s each) back.
	lines := strings.Split(plain(m), "\n")
	row := -1
	for i, l := range lines {
		if strings.Contains(l, "Appeal submissions") {
			row = i
			break
		}
	}
	if row < 0 {
		t.Fatalf("no submission rate row:\n%s", strings.Join(lines, "\n"))
	}
	var c tea.Cmd
	m, c = step(t, m, tea.MouseClickMsg{X: 120 - 1 - 10, Y: row, Button: tea.MouseLeft})
	m = drain(t, m, c)
	got := fixedNow.Sub(m.dash.travel.at)
	if !m.dash.travel.active() || got < 90*time.Second || got > 100*time.Second {
		t.Fatalf("click ten cells left of now: cursor %v back, want 90-100 s", got)
	}
	// A click on the alerts' section is not a time.
	n := travelConsole(t, 120, 40, nil)
	for i, l := range strings.Split(plain(n), "\n") {
		if strings.Contains(l, "─ Alerts") {
			n, _ = step(t, n, tea.MouseClickMsg{X: 115, Y: i + 1, Button: tea.MouseLeft})
		}
	}
	if n.dash.travel.active() {
		t.Fatalf("a click on an alert set the cursor to %v", n.dash.travel.at)
	}
}
