package tui

import (
	"testing"

	"github.com/charmbracelet/x/ansi"
)

// TestOneCellRunes checks the fast width's symbols against the grapheme
// measure: each alone, after ASCII, and next to every other one.
func TestOneCellRunes(t *testing.T) {
	var runes []rune
	for r := rune(0x80); r < 0x3000; r++ {
		if oneCell(r) {
			runes = append(runes, r)
		}
	}
	for _, r := range runes {
		if w := ansi.StringWidth(string(r)); w != 1 {
			t.Errorf("%U %q: width %d, want 1", r, r, w)
		}
		if w := ansi.StringWidth("x" + string(r) + "y"); w != 3 {
			t.Errorf("x%qy: width %d, want 3", r, w)
		}
	}
	pairs := 0
	for i, a := range runes {
		for j := i % 7; j < len(runes); j += 7 {
			b := runes[j]
			pairs++
			if w := ansi.StringWidth(string(a) + string(b)); w != 2 {
				t.Fatalf("%q%q: width %d, want 2", a, b, w)
			}
		}
	}
	if pairs == 0 {
		t.Fatal("no pair checked")
	}
}

func TestSimpleWidthAgrees(t *testing.T) {
	for _, tt := range []struct {
		name, s string
		simple  bool
	}{
		{"ascii", "appeals 1.2M rows", true},
		{"styled", "\x1b[1;38;5;196mCRITICAL\x1b[m · 7.5 %", true},
		{"sparkline and box", "│ ▁▂▃▄▅▆▇█ ─ … → ✓", true},
		{"emoji presentation", "ok ⚠\ufe0f", false},
		{"wide", "表", false},
		{"combining", "e\u0301", false},
		{"tab", "a\tb", false},
		{"osc", "\x1b]8;;http://x\x07link\x1b]8;;\x07", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w, ok := simpleWidth(tt.s)
			if ok != tt.simple {
				t.Fatalf("simple %v, want %v", ok, tt.simple)
			}
			if got, want := cellWidth(tt.s), ansi.StringWidth(tt.s); got != want || (ok && w != want) {
				t.Errorf("width %d (fast %d), ansi.StringWidth %d", got, w, want)
			}
			for _, n := range []int{0, 1, 3, 200} {
				if got, want := truncate(tt.s, n), ansi.Truncate(tt.s, n, "…"); n > 0 && got != want {
					t.Errorf("truncate %d: %q, want %q", n, got, want)
				}
			}
		})
	}
}
