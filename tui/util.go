package tui

import (
	"sort"

	"github.com/charmbracelet/x/ansi"
)

// loadState is a view's data state: loading, error or ready. A view shows
// an error where its data would be, never a crash and never silence.
type loadState int

const (
	stateLoading loadState = iota
	stateError
	stateReady
)

// truncate cuts s (plain or styled) to width cells, with an ellipsis.
func truncate(s string, width int) string {
	if width <= 0 {
		return ""
	}
	return ansi.Truncate(s, width, "…")
}

// lenRunes is the display width of s.
func lenRunes(s string) int { return ansi.StringWidth(s) }

// padRight pads s with spaces to width cells (after truncating it).
func padRight(s string, width int) string {
	s = truncate(s, width)
	if w := ansi.StringWidth(s); w < width {
		s += spaces(width - w)
	}
	return s
}

func spaces(n int) string {
	if n <= 0 {
		return ""
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = ' '
	}
	return string(b)
}

func sortStrings(s []string) { sort.Strings(s) }
