package tui

import (
	"sort"
	"strings"
	"unicode/utf8"

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
	if w, ok := simpleWidth(s); ok && w <= width {
		return s
	}
	return ansi.Truncate(s, width, "…")
}

// lenRunes is the display width of s.
func lenRunes(s string) int { return cellWidth(s) }

// padRight pads s with spaces to width cells (after truncating it).
func padRight(s string, width int) string {
	s = truncate(s, width)
	if w := cellWidth(s); w < width {
		s += spaces(width - w)
	}
	return s
}

// cellWidth is the display width of s (plain or styled), as
// ansi.StringWidth measures it.
func cellWidth(s string) int {
	if w, ok := simpleWidth(s); ok {
		return w
	}
	return ansi.StringWidth(s)
}

// simpleWidth measures s quickly when it is made of printable ASCII, SGR
// escape sequences and the one-cell symbols the console draws with
// (oneCell), which never join into a wider grapheme: most of the screen.
// ok is false for anything else, which ansi.StringWidth must measure
// (grapheme segmentation, a third of the cost of drawing a frame).
func simpleWidth(s string) (w int, ok bool) {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c >= 0x20 && c < 0x7f:
			w++
			i++
		case c == 0x1b:
			// CSI: ESC [ parameters, intermediates, one final byte.
			if i+1 >= len(s) || s[i+1] != '[' {
				return 0, false
			}
			j := i + 2
			for j < len(s) && s[j] >= 0x20 && s[j] < 0x40 {
				j++
			}
			if j >= len(s) || s[j] < 0x40 || s[j] > 0x7e {
				return 0, false
			}
			i = j + 1
		case c >= 0x80:
			r, size := utf8.DecodeRuneInString(s[i:])
			if !oneCell(r) {
				return 0, false
			}
			w++
			i += size
		default:
			return 0, false
		}
	}
	return w, true
}

// oneCell reports whether r is one of the symbols known to take one cell
// and never to combine with its neighbours (TestOneCellRunes checks every
// one against ansi.StringWidth): Latin-1 punctuation and letters, general
// punctuation (dashes, ellipsis), arrows, mathematical operators, box
// drawing, block elements, geometric shapes, check marks.
func oneCell(r rune) bool {
	switch {
	case r >= 0xa1 && r <= 0xff && r != 0xad:
		return true
	case r >= 0x2010 && r <= 0x2027:
		return true
	case r >= 0x2190 && r <= 0x21ff:
		return true
	case r >= 0x2200 && r <= 0x22ff:
		return true
	case r >= 0x2500 && r <= 0x25fc:
		return true
	case r >= 0x2713 && r <= 0x2717:
		return true
	}
	return false
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

// wrapWords wraps plain text s into lines of at most width cells, between
// words; the lines after the first start with indent. A word longer than
// a line is cut.
func wrapWords(s string, width int, indent string) []string {
	var out []string
	line := ""
	for _, word := range strings.Fields(s) {
		switch {
		case line == "" && len(out) == 0:
			line = word
		case line == "":
			line = indent + word
		case cellWidth(line)+1+cellWidth(word) <= width:
			line += " " + word
		default:
			out = append(out, truncate(line, width))
			line = indent + word
		}
	}
	if line != "" || len(out) == 0 {
		out = append(out, truncate(line, width))
	}
	return out
}
