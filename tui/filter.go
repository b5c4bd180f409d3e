package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// The keys the lists share beyond KeyMap: a sort that cycles, and the
// next and previous match of the filter. They are not (yet) in KeyMap, so
// the config cannot rebind them.
var (
	sortKey      = key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "sort"))
	nextMatchKey = key.NewBinding(key.WithKeys("n"), key.WithHelp("n/N", "next match"))
	prevMatchKey = key.NewBinding(key.WithKeys("N"), key.WithHelp("N", "previous match"))
)

// listFilter is the `/` filter every list shares (alerts, tables,
// journal, the runbooks' list, the help). `/` starts a fresh filter:
// what was typed before is dropped. Typed text filters at once; enter
// keeps the filter and leaves typing, esc clears it (while typing, or
// later, once applied). The zero value is no filter.
//
// A view routes keys to Key first while Editing (it is then capturing:
// letters are text, not keys), then uses Match to keep the rows that hold
// the text, Header to say so in its head, and cycle for n/N.
type listFilter struct {
	text    string
	editing bool
}

// Editing reports whether the filter is being typed.
func (f listFilter) Editing() bool { return f.editing }

// Active reports whether rows are being filtered: text typed or applied.
func (f listFilter) Active() bool { return f.text != "" }

// Text is the filter as typed.
func (f listFilter) Text() string { return f.text }

// Match reports whether any of fields holds the filter, ignoring case.
// An empty filter matches everything.
func (f listFilter) Match(fields ...string) bool {
	if f.text == "" {
		return true
	}
	needle := strings.ToLower(f.text)
	for _, s := range fields {
		if strings.Contains(strings.ToLower(s), needle) {
			return true
		}
	}
	return false
}

// Key handles msg for the filter and reports whether it was the filter's
// (handled) and whether the filter's text changed (so the view puts its
// selection back on the first match). `/` starts a fresh filter; while
// editing, printable text is appended, backspace deletes, enter keeps,
// esc clears; not editing, esc clears an applied filter.
func (f *listFilter) Key(msg tea.KeyPressMsg, k *KeyMap) (handled, changed bool) {
	if !f.editing {
		switch {
		case key.Matches(msg, k.Filter):
			changed = f.text != ""
			f.text, f.editing = "", true
			return true, changed
		case f.text != "" && key.Matches(msg, k.Back):
			f.text = ""
			return true, true
		}
		return false, false
	}
	switch msg.String() {
	case "esc":
		changed = f.text != ""
		f.text, f.editing = "", false
		return true, changed
	case "enter":
		f.editing = false
		return true, false
	case "backspace", "ctrl+h":
		if r := []rune(f.text); len(r) > 0 {
			f.text = string(r[:len(r)-1])
			return true, true
		}
		return true, false
	case "ctrl+u", "ctrl+w":
		changed = f.text != ""
		f.text = ""
		return true, changed
	}
	if msg.Text != "" && msg.Mod&^tea.ModShift == 0 {
		f.text += msg.Text
		return true, true
	}
	// Other keys (arrows, page keys) go on to the list.
	return false, false
}

// Header is the filter for a pane's head: "/disk▏ 3 of 50 match" while
// typed, "filter disk · 3 of 50 match" once applied; "" without a filter.
func (f listFilter) Header(st Styles, matches, total int) string {
	count := fmt.Sprintf("%d of %d match", matches, total)
	if matches == 0 && f.text != "" {
		count = fmt.Sprintf("no match of %d", total)
	}
	switch {
	case f.editing:
		return st.Accent.Render("/"+f.text+"▏") + " " + st.MutedText(count)
	case f.text != "":
		return st.MutedText("filter ") + st.Accent.Render(f.text) + st.MutedText(" · "+count)
	}
	return ""
}

// matchStep is the direction of a next/previous match key: 1 for n, -1
// for N, 0 for another key.
func matchStep(msg tea.KeyPressMsg) int {
	switch {
	case key.Matches(msg, nextMatchKey):
		return 1
	case key.Matches(msg, prevMatchKey):
		return -1
	}
	return 0
}

// cycle moves index cur by d among n items, wrapping around both ends:
// n past the last match comes back to the first.
func cycle(cur, n, d int) int {
	if n <= 0 {
		return 0
	}
	return ((cur+d)%n + n) % n
}

// wrapFull wraps s into lines of at most width cells with nothing cut:
// between words where it can, inside a word longer than a line, and at
// each newline of s. Lines after the first start with indent.
func wrapFull(s string, width int, indent string) []string {
	width = max(2, width)
	if cellWidth(indent) >= width {
		indent = ""
	}
	var out []string
	line := ""
	lineStart := func() string {
		if len(out) == 0 {
			return ""
		}
		return indent
	}
	flush := func() {
		out = append(out, line)
		line = ""
	}
	for pi, para := range strings.Split(s, "\n") {
		if pi > 0 {
			flush()
		}
		for _, word := range strings.Fields(para) {
			switch {
			case line == "" || strings.TrimSpace(line) == "":
				line = lineStart() + word
			case cellWidth(line)+1+cellWidth(word) <= width:
				line += " " + word
				continue
			default:
				flush()
				line = lineStart() + word
			}
			// A word longer than the line is split, rune by rune.
			for cellWidth(line) > width {
				var head []rune
				rest := []rune(line)
				for len(rest) > 0 && cellWidth(string(append(head, rest[0]))) <= width {
					head = append(head, rest[0])
					rest = rest[1:]
				}
				if len(head) == 0 { // a rune wider than the line
					head, rest = rest[:1], rest[1:]
				}
				line = string(head)
				flush()
				line = lineStart() + string(rest)
			}
		}
	}
	if line != "" || len(out) == 0 {
		out = append(out, line)
	}
	return out
}

// detailField is one "name  value" of a detail view, the value wrapped
// under itself to width with nothing cut.
func detailField(st Styles, name string, nameW int, value string, width int) []string {
	pad := spaces(nameW + 2)
	ls := wrapFull(value, max(10, width-nameW-2), "")
	out := make([]string, len(ls))
	for i, l := range ls {
		if i == 0 {
			out[i] = st.MutedText(padRight(name, nameW)) + "  " + l
		} else {
			out[i] = pad + l
		}
	}
	return out
}
