package tui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// helpAt is the help view at w x h, pressed through keys.
func helpAt(t *testing.T, w, h int, keys ...string) helpView {
	t.Helper()
	v := newHelpView(tablesCtx(w, h))
	for _, k := range keys {
		msg, ok := scrollKeys[k]
		if !ok {
			t.Fatalf("no key %q", k)
		}
		v, _ = v.Update(msg)
	}
	return v
}

func TestHelpScrolls(t *testing.T) {
	page := tablesCtx(80, 24).bodyHeight() - 1 // a line is the marker's
	total := len(helpAt(t, 80, 24).lines())
	last := total - page
	if last <= 0 {
		t.Fatalf("the help (%d lines) fits 80x24: nothing to scroll", total)
	}
	cases := []struct {
		name string
		keys []string
		want int
	}{
		{"j moves a line", []string{"j"}, 1},
		{"pgdn moves a page", []string{"pgdn"}, min(page, last)},
		{"space moves a page", []string{"space"}, min(page, last)},
		{"G goes to the end", []string{"G"}, last},
		{"end goes to the end", []string{"end"}, last},
		{"g goes back to the top", []string{"G", "g"}, 0},
		{"home goes back to the top", []string{"end", "home"}, 0},
		{"pgup comes back", []string{"G", "pgup"}, max(0, last-page)},
		{"after twenty j, k moves at once", repeat("j", 20, "k"), last - 1},
		{"k at the top stays at the top", []string{"k", "up"}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := helpAt(t, 80, 24, c.keys...).scroll.Offset(); got != c.want {
				t.Errorf("offset %d after %v, want %d", got, c.keys, c.want)
			}
		})
	}
	t.Run("the mouse wheel scrolls", func(t *testing.T) {
		v := helpAt(t, 80, 24)
		v, _ = v.Update(tea.MouseWheelMsg{Button: tea.MouseWheelDown})
		if got := v.scroll.Offset(); got != min(3, last) {
			t.Errorf("offset %d after a turn of the wheel, want %d", got, min(3, last))
		}
	})
}

func TestHelpView(t *testing.T) {
	for _, size := range [][2]int{{60, 20}, {80, 24}, {120, 40}} {
		w, h := size[0], size[1]
		top := ansi.Strip(helpAt(t, w, h).View())
		bottom := ansi.Strip(helpAt(t, w, h, "G").View())
		for _, out := range []string{top, bottom} {
			lines := strings.Split(out, "\n")
			if len(lines) > h-3 {
				t.Errorf("%dx%d: %d lines, more than the body's %d", w, h, len(lines), h-3)
			}
			for i, l := range lines {
				if lw := ansi.StringWidth(l); lw > w {
					t.Errorf("%dx%d: line %d is %d cells wide: %q", w, h, i+1, lw, l)
				}
			}
		}
		fits := len(helpAt(t, w, h).lines()) <= h-3
		if fits {
			if strings.Contains(top, "lines ") {
				t.Errorf("%dx%d: a marker though the help fits:\n%s", w, h, top)
			}
			continue
		}
		if !strings.Contains(top, "more") || !strings.Contains(top, "lines 1–") {
			t.Errorf("%dx%d: no position marker on the first page:\n%s", w, h, top)
		}
		if !strings.Contains(bottom, "· end") {
			t.Errorf("%dx%d: no end marker on the last page:\n%s", w, h, bottom)
		}
		if !strings.Contains(bottom, "quit") || !strings.Contains(bottom, ": commands:") && !strings.Contains(bottom, "export") {
			t.Errorf("%dx%d: the last page does not end with the commands:\n%s", w, h, bottom)
		}
	}
	// At 120x40 all the help is on one page.
	if out := ansi.Strip(helpAt(t, 120, 40).View()); strings.Contains(out, "lines ") || !strings.Contains(out, ": commands:") {
		t.Errorf("120x40: the help does not fit one page:\n%s", out)
	}
}

func TestHelpClampsAfterResize(t *testing.T) {
	v := helpAt(t, 60, 20, "G")
	if v.scroll.Offset() == 0 {
		t.Fatal("G did not move at 60x20")
	}
	// The terminal grows: the help now fits, and the first key up shows
	// the top at once.
	v.ctx.Width, v.ctx.Height = 120, 40
	v, _ = v.Update(scrollKeys["k"])
	if v.scroll.Offset() != 0 {
		t.Errorf("offset %d after growing to 120x40, want 0", v.scroll.Offset())
	}
	if out := ansi.Strip(v.View()); !strings.HasPrefix(out, "Help") {
		t.Errorf("the help's top is not shown:\n%s", out)
	}
}

func TestCommandList(t *testing.T) {
	for _, w := range []int{40, 60, 80, 120} {
		lines := commandList(w)
		text := strings.Join(lines, "\n")
		for i, l := range lines {
			if lw := ansi.StringWidth(l); lw > w {
				t.Errorf("width %d: line %d is %d cells: %q", w, i+1, lw, l)
			}
		}
		for _, g := range commandGroups {
			for _, c := range g {
				if !strings.Contains(text, c) {
					t.Errorf("width %d: %q is not listed whole:\n%s", w, c, text)
				}
			}
		}
		if strings.Contains(text, "…") {
			t.Errorf("width %d: a command is cut:\n%s", w, text)
		}
	}
}

func TestCommandsLine(t *testing.T) {
	head := `unknown command "xyz": try `
	for _, w := range []int{60, 80} {
		l := commandsLine(head, "?", w)
		if lw := ansi.StringWidth(l); lw > w {
			t.Errorf("width %d: %d cells: %q", w, lw, l)
		}
		if !strings.Contains(l, "more (? lists them)") || !strings.Contains(l, "overview") {
			t.Errorf("width %d: %q does not say how many more there are and where", w, l)
		}
	}
	if l := commandsLine(head, "?", 400); strings.Contains(l, "more") || !strings.Contains(l, "quit") {
		t.Errorf("wide enough for all: %q", l)
	}
}

func TestScenarioCommandWithoutNameOpensTheList(t *testing.T) {
	var set []string
	m := loaded(t, func(o *Options) { o.Sim = fakeSim{set: &set} })
	m, _ = step(t, m, tea.WindowSizeMsg{Width: 60, Height: 20})
	m, _ = step(t, m, press(":"))
	m = typeText(t, m, "scenario")
	m, cmd := step(t, m, press("enter"))
	m = drain(t, m, cmd)
	out := plain(m)
	for _, s := range []string{"Simulator scenarios", "normal", "appeal-flood", "error-spike"} {
		if !strings.Contains(out, s) {
			t.Errorf("%q not shown after :scenario:\n%s", s, out)
		}
	}
	if len(set) != 0 {
		t.Errorf("scenario set to %v without being chosen", set)
	}
}
