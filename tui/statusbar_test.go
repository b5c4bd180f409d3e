package tui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
)

// movableClock is a clock a test moves by hand.
type movableClock struct{ now time.Time }

func (c *movableClock) Now() time.Time         { return c.now }
func (c *movableClock) Add(d time.Duration)    { c.now = c.now.Add(d) }
func withClock(c *movableClock) func(*Options) { return func(o *Options) { o.Now = c.Now } }

// expire delivers the expiry tick of the flash shown now, as tea.Tick
// would once its time is up.
func expire(t *testing.T, m Model) (Model, tea.Cmd) {
	t.Helper()
	return step(t, m, flashExpireMsg{seq: m.flashSeq})
}

func TestStatusMessageExpires(t *testing.T) {
	c := &movableClock{now: fixedNow}
	m := loaded(t, withClock(c))
	m, _ = step(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	hints := screenLine(m, 23)
	if !strings.Contains(hints, "? help") {
		t.Fatalf("no hints: %q", hints)
	}
	m, cmd := step(t, m, press("y"))
	if cmd == nil || !strings.Contains(screenLine(m, 23), "copied:") {
		t.Fatalf("no status message: %q", screenLine(m, 23))
	}
	c.Add(4 * time.Second)
	m, next := expire(t, m)
	if !strings.Contains(screenLine(m, 23), "copied:") {
		t.Fatal("the status message went before 5 s")
	}
	if next == nil {
		t.Fatal("no new timer for the second left")
	}
	c.Add(time.Second)
	m, _ = expire(t, m)
	if m.flash != "" || screenLine(m, 23) != hints {
		t.Fatalf("after 5 s the hints did not come back: %q", screenLine(m, 23))
	}

	t.Run("the timer of an older message does not cut a newer one", func(t *testing.T) {
		m, _ := step(t, m, press("y"))
		old := m.flashSeq
		c.Add(3 * time.Second)
		m, _ = step(t, m, press("y"))
		c.Add(2 * time.Second)
		m, _ = step(t, m, flashExpireMsg{seq: old})
		if m.flash == "" {
			t.Fatal("the older timer took the newer message away")
		}
	})
	t.Run("a message from a view is timed too", func(t *testing.T) {
		m, cmd := step(t, m, flashMsg{text: "from a view"})
		if cmd == nil {
			t.Fatal("no timer")
		}
		c.Add(flashTTL)
		m, _ = expire(t, m)
		if m.flash != "" {
			t.Fatalf("flash %q stayed", m.flash)
		}
	})
}

func TestRefreshInterval(t *testing.T) {
	command := func(m Model, line string) Model {
		m, _ = step(t, m, press(":"))
		m = typeText(t, m, line)
		m, _ = step(t, m, press("enter"))
		return m
	}
	m := loaded(t, nil)
	if m.refreshInterval() != time.Second {
		t.Fatalf("default interval %s", m.refreshInterval())
	}
	gen := m.gen
	m = command(m, "refresh 5s")
	if m.refreshInterval() != 5*time.Second || !strings.Contains(plain(m), "every 5s") {
		t.Fatalf("interval %s after :refresh 5s:\n%s", m.refreshInterval(), plain(m))
	}
	if m.gen == gen {
		t.Fatal("the tick of the old interval was not dropped")
	}
	if _, cmd := step(t, m, tickMsg{gen: gen}); cmd != nil {
		t.Fatal("a tick of the old interval refreshed")
	}
	m, _ = step(t, m, press("+"))
	if m.refreshInterval() != 10*time.Second {
		t.Fatalf("+ gave %s", m.refreshInterval())
	}
	m, _ = step(t, m, press("-"))
	m, _ = step(t, m, press("-"))
	if m.refreshInterval() != 2*time.Second {
		t.Fatalf("- - gave %s", m.refreshInterval())
	}
	for range 10 {
		m, _ = step(t, m, press("-"))
	}
	if m.refreshInterval() != minInterval {
		t.Fatalf("- stops at %s, want %s", m.refreshInterval(), minInterval)
	}
	m = command(m, "refresh 7")
	if m.refreshInterval() != 7*time.Second {
		t.Fatalf(":refresh 7 gave %s", m.refreshInterval())
	}
	for _, bad := range []string{"refresh 1ms", "refresh soon", "refresh 3h"} {
		m = command(m, bad)
		if m.refreshInterval() != 7*time.Second || !m.flashIsErr {
			t.Fatalf(":%s: interval %s flash %q", bad, m.refreshInterval(), m.flash)
		}
	}
	m = command(m, "refresh")
	if !strings.Contains(m.flash, "refresh every 7s") {
		t.Fatalf(":refresh alone: %q", m.flash)
	}

	t.Run("paused is shown in the header and the hints", func(t *testing.T) {
		m, _ := step(t, m, tea.WindowSizeMsg{Width: 200, Height: 40})
		m, _ = step(t, m, press("p"))
		m, _ = step(t, m, press("j")) // the pause message gives way to the hints
		out := plain(m)
		if !strings.Contains(strings.Split(out, "\n")[0], "PAUSED") || !strings.Contains(out, "p resume refresh") {
			t.Fatalf("pause not shown:\n%s", out)
		}
		gen := m.gen
		m, _ = step(t, m, press("+"))
		if m.gen != gen || !strings.Contains(m.flash, "once resumed") {
			t.Fatalf("a new interval while paused: gen %d→%d flash %q", gen, m.gen, m.flash)
		}
	})
}

// nineSim is the demo's simulator: nine scenarios.
type nineSim struct{ set *[]string }

func (s nineSim) Scenarios() []string {
	return []string{"normal", "appeal-flood", "error-spike", "slow-processing", "ml-timeouts",
		"connection-exhaustion", "api-errors", "db-growth", "slow-negotiations"}
}
func (s nineSim) SetScenario(name string) error { *s.set = append(*s.set, name); return nil }

func TestF9(t *testing.T) {
	var set []string
	m := loaded(t, func(o *Options) { o.Sim = nineSim{set: &set} })
	f9 := tea.KeyPressMsg{Code: tea.KeyF9}
	m, _ = step(t, m, press("S"))
	out := plain(m)
	if !strings.Contains(out, "9/F9") || !strings.Contains(out, "F1…F9 from anywhere") {
		t.Fatalf("the picker does not show F9:\n%s", out)
	}
	// F9 in the picker, as the picker says, and from anywhere.
	m, cmd := step(t, m, f9)
	m = drain(t, m, cmd)
	m, _ = step(t, m, press("a"))
	m, cmd = step(t, m, f9)
	m = drain(t, m, cmd)
	if strings.Join(set, " ") != "slow-negotiations slow-negotiations" || m.scenario != "slow-negotiations" {
		t.Fatalf("F9 set %v", set)
	}
	if m.scenarios {
		t.Fatal("the picker stayed open")
	}
	t.Run("the picker shows only bound keys", func(t *testing.T) {
		m := loaded(t, func(o *Options) { o.Sim = fakeSim{set: &set} })
		m, _ = step(t, m, press("S"))
		if out := plain(m); strings.Contains(out, "F4") || !strings.Contains(out, "F1…F3") {
			t.Fatalf("three scenarios:\n%s", out)
		}
	})
	t.Run("F9 does nothing outside the demo", func(t *testing.T) {
		m := loaded(t, nil)
		m, cmd := step(t, m, f9)
		if cmd != nil || m.scenarios {
			t.Fatal("F9 did something outside the demo")
		}
	})
}
