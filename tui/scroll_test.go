package tui

import (
	"fmt"
	"testing"

	tea "charm.land/bubbletea/v2"
)

// scrollKeys are the scroll keys as the terminal sends them.
var scrollKeys = map[string]tea.KeyPressMsg{
	"j":     {Code: 'j', Text: "j"},
	"k":     {Code: 'k', Text: "k"},
	"down":  {Code: tea.KeyDown},
	"up":    {Code: tea.KeyUp},
	"pgdn":  {Code: tea.KeyPgDown},
	"pgup":  {Code: tea.KeyPgUp},
	"space": {Code: tea.KeySpace, Text: " "},
	"g":     {Code: 'g', Text: "g"},
	"G":     {Code: 'G', Text: "G"},
	"home":  {Code: tea.KeyHome},
	"end":   {Code: tea.KeyEnd},
}

func TestScrollerKeys(t *testing.T) {
	keys := DefaultKeyMap()
	cases := []struct {
		name    string
		start   int // offset before the keys
		keys    []string
		want    int
		content int
	}{
		{name: "j moves one line", keys: []string{"j"}, want: 1},
		{name: "down moves one line", keys: []string{"down", "down"}, want: 2},
		{name: "k at the top stays at the top", keys: []string{"k", "up"}, want: 0},
		{name: "k moves one line up", start: 10, keys: []string{"k"}, want: 9},
		{name: "pgdn moves a page", keys: []string{"pgdn"}, want: 20},
		{name: "space moves a page", keys: []string{"space"}, want: 20},
		{name: "pgup moves a page back", start: 45, keys: []string{"pgup"}, want: 25},
		{name: "pgdn stops at the last page", keys: []string{"pgdn", "pgdn", "pgdn", "pgdn"}, want: 60},
		{name: "pgup stops at the top", start: 5, keys: []string{"pgup"}, want: 0},
		{name: "G goes to the bottom", keys: []string{"G"}, want: 60},
		{name: "end goes to the bottom", keys: []string{"end"}, want: 60},
		{name: "g goes to the top", start: 33, keys: []string{"g"}, want: 0},
		{name: "home goes to the top", start: 33, keys: []string{"home"}, want: 0},
		{name: "after twenty j, k moves at once", content: 25, keys: repeat("j", 20, "k"), want: 4},
		{name: "after G, k moves at once", keys: []string{"G", "k"}, want: 59},
		{name: "content that fits never moves", content: 15, keys: []string{"j", "pgdn", "G"}, want: 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			content := c.content
			if content == 0 {
				content = 80
			}
			var s scroller
			s.SetSize(content, 20)
			s.ScrollTo(c.start)
			for _, k := range c.keys {
				if !s.Update(scrollKeys[k], &keys) {
					t.Fatalf("%s was not taken as a scroll key", k)
				}
			}
			if s.Offset() != c.want {
				t.Errorf("offset %d after %v, want %d", s.Offset(), c.keys, c.want)
			}
		})
	}
}

func repeat(k string, n int, then ...string) []string {
	var out []string
	for range n {
		out = append(out, k)
	}
	return append(out, then...)
}

func TestScrollerLeavesOtherKeys(t *testing.T) {
	keys := DefaultKeyMap()
	var s scroller
	s.SetSize(80, 20)
	for _, m := range []tea.Msg{
		tea.KeyPressMsg{Code: 'x', Text: "x"},
		tea.KeyPressMsg{Code: tea.KeyEnter},
		tea.MouseClickMsg{Button: tea.MouseLeft},
		tea.MouseWheelMsg{Button: tea.MouseWheelLeft},
	} {
		if s.Update(m, &keys) {
			t.Errorf("%v taken as a scroll key", m)
		}
	}
	if s.Offset() != 0 {
		t.Errorf("offset %d, want 0", s.Offset())
	}
}

func TestScrollerWheel(t *testing.T) {
	keys := DefaultKeyMap()
	var s scroller
	s.SetSize(30, 20)
	down, up := tea.MouseWheelMsg{Button: tea.MouseWheelDown}, tea.MouseWheelMsg{Button: tea.MouseWheelUp}
	for _, c := range []struct {
		msg  tea.Msg
		want int
	}{{down, 3}, {down, 6}, {down, 9}, {down, 10}, {up, 7}, {up, 4}, {up, 1}, {up, 0}} {
		if !s.Update(c.msg, &keys) {
			t.Fatal("wheel not taken")
		}
		if s.Offset() != c.want {
			t.Errorf("offset %d, want %d", s.Offset(), c.want)
		}
	}
}

func TestScrollerClamp(t *testing.T) {
	var s scroller
	s.SetSize(100, 20)
	s.ScrollTo(70)
	if s.Offset() != 70 {
		t.Fatalf("offset %d, want 70", s.Offset())
	}
	s.SetSize(50, 20) // the content shrank
	if s.Offset() != 30 {
		t.Errorf("after shrinking to 50 lines: offset %d, want 30 (the last page)", s.Offset())
	}
	s.SetSize(50, 40) // the pane grew
	if s.Offset() != 10 {
		t.Errorf("after growing the pane: offset %d, want 10", s.Offset())
	}
	s.SetSize(12, 40)
	if s.Offset() != 0 || !s.Fits() || s.Marker() != "" {
		t.Errorf("content that fits: offset %d, fits %v, marker %q", s.Offset(), s.Fits(), s.Marker())
	}
	s.ScrollTo(-5)
	if s.Offset() != 0 {
		t.Errorf("negative ScrollTo: offset %d", s.Offset())
	}
	s.SetSize(-3, 0)
	if s.Offset() != 0 {
		t.Errorf("empty content: offset %d", s.Offset())
	}
}

func TestScrollerFitKeepsALineForTheMarker(t *testing.T) {
	var s scroller
	s.Fit(24, 24)
	if !s.Fits() || s.Marker() != "" {
		t.Errorf("24 lines in 24: fits %v, marker %q", s.Fits(), s.Marker())
	}
	s.Fit(25, 24)
	lines := numbered(25)
	if got := len(s.Window(lines)); got != 23 {
		t.Errorf("25 lines in 24 with a marker: window of %d lines, want 23", got)
	}
	if s.Marker() == "" {
		t.Error("no marker when the content does not fit")
	}
}

func TestScrollerWindowAndMarker(t *testing.T) {
	lines := numbered(80)
	var s scroller
	s.SetSize(len(lines), 24)
	cases := []struct {
		to          int
		first, last string
		marker      string
	}{
		{0, "line 1", "line 24", "lines 1–24 of 80 · ↓ 56 more"},
		{11, "line 12", "line 35", "lines 12–35 of 80 · ↓ 45 more"},
		{56, "line 57", "line 80", "lines 57–80 of 80 · end"},
		{99, "line 57", "line 80", "lines 57–80 of 80 · end"},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.to), func(t *testing.T) {
			s.ScrollTo(c.to)
			w := s.Window(lines)
			if len(w) != 24 || w[0] != c.first || w[len(w)-1] != c.last {
				t.Errorf("window %q … %q (%d lines), want %q … %q (24)", w[0], w[len(w)-1], len(w), c.first, c.last)
			}
			if m := s.Marker(); m != c.marker {
				t.Errorf("marker %q, want %q", m, c.marker)
			}
		})
	}
	// A view that draws fewer lines than it measured still gets its
	// last page, not an empty pane.
	s.Bottom()
	if w := s.Window(lines[:30]); len(w) != 24 || w[len(w)-1] != "line 30" {
		t.Errorf("window over fewer lines: %d lines ending %q", len(w), w[len(w)-1])
	}
	if w := s.Window(nil); len(w) != 0 {
		t.Errorf("window over no lines: %q", w)
	}
}

func TestScrollerShow(t *testing.T) {
	var s scroller
	s.SetSize(100, 10)
	s.Show(5)
	if s.Offset() != 0 {
		t.Errorf("a line in view moved the view to %d", s.Offset())
	}
	s.Show(15)
	if s.Offset() != 6 {
		t.Errorf("Show(15): offset %d, want 6 (line 15 at the bottom)", s.Offset())
	}
	s.Show(3)
	if s.Offset() != 3 {
		t.Errorf("Show(3): offset %d, want 3 (line 3 at the top)", s.Offset())
	}
	s.Show(500)
	if s.Offset() != 90 || !s.AtBottom() {
		t.Errorf("Show(500): offset %d, want 90", s.Offset())
	}
}

func numbered(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint("line ", i+1)
	}
	return out
}
