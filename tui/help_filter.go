package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// The help's `/` filter (filter.go): it keeps the key lines whose key or
// words hold the text, under their group's title, and the lines of
// commands that hold it; n/N bring the next or previous match to the
// top. The help of a console with forty keys is found by what one wants
// to do: /runbook, /scroll, /refresh.

// capturing: the filter is being typed, so letters are text, not keys.
func (v helpView) capturing() bool { return v.filter.Editing() }

// handlesBack: esc clears the filter rather than leaving the help.
func (v helpView) handlesBack() bool { return v.filter.Editing() || v.filter.Active() }

// filterKey handles the filter's keys and n/N; done reports it did.
func (v helpView) filterKey(msg tea.KeyPressMsg) (helpView, bool) {
	if handled, changed := v.filter.Key(msg, v.ctx.Keys); handled {
		if changed {
			v.match = 0
			v.scroll.Top()
		}
		return v, true
	}
	d := matchStep(msg)
	if d == 0 || !v.filter.Active() {
		return v, false
	}
	lines, at := v.filteredLines()
	if len(at) == 0 {
		return v, true
	}
	v.match = cycle(min(v.match, len(at)-1), len(at), d)
	v.scroll.Fit(len(lines), v.ctx.bodyHeight())
	v.scroll.ScrollTo(at[v.match])
	return v, true
}

// headLine is the help's first line: its title, the filter when there is
// one, else note.
func (v helpView) headLine(note string) string {
	st := v.ctx.Styles
	if v.filter.Editing() || v.filter.Active() {
		n, total := v.matchCount()
		return st.Title.Render("Help") + "  " + v.filter.Header(st, n, total)
	}
	return st.Title.Render("Help") + st.Muted.Render(note)
}

// helpEntry is one key line of the help: its group, and its text.
type helpEntry struct {
	group      int
	key, words string
	b          key.Binding
}

// entries are every key line of the help, in the help's order.
func (v helpView) entries() []helpEntry {
	var out []helpEntry
	for i, g := range v.ctx.Keys.FullHelp() {
		for _, b := range g {
			h := b.Help()
			out = append(out, helpEntry{group: i, key: h.Key, words: h.Desc, b: b})
		}
	}
	return out
}

// matchCount is how many key and command lines hold the filter, of all.
func (v helpView) matchCount() (n, total int) {
	for _, e := range v.entries() {
		total++
		if v.filter.Match(e.key, e.words) {
			n++
		}
	}
	for _, l := range commandList(v.ctx.Width) {
		total++
		if v.filter.Match(l) {
			n++
		}
	}
	return n, total
}

// filteredLines are the help with the filter: the head, then each group
// with a match, its title and the key lines that match, then the command
// lines that match; at are the lines of the matches.
func (v helpView) filteredLines() (lines []string, at []int) {
	st := v.ctx.Styles
	k := v.ctx.Keys
	w := v.ctx.Width
	lines = []string{truncate(v.headLine(""), w), ""}
	group := -1
	for _, e := range v.entries() {
		if !v.filter.Match(e.key, e.words) {
			continue
		}
		if e.group != group {
			if group >= 0 {
				lines = append(lines, "")
			}
			group = e.group
			lines = append(lines, st.Title.Render(helpGroups[e.group]))
		}
		desc := e.words
		if v.ctx.ReadOnly && writes(k, e.b) {
			desc = st.HintOff.Render(desc) + st.Muted.Render(" (read-only)")
		}
		at = append(at, len(lines))
		lines = append(lines, truncate(st.HintKey.Render(padRight(e.key, 10))+" "+desc, w))
	}
	first := true
	for _, l := range commandList(w) {
		if !v.filter.Match(l) {
			continue
		}
		if first && group >= 0 {
			lines = append(lines, "")
		}
		first = false
		at = append(at, len(lines))
		lines = append(lines, st.Muted.Render(truncate(strings.TrimSpace(l), w)))
	}
	if len(at) == 0 {
		lines = append(lines, st.Muted.Render("no key or command matches the filter; esc clears it"))
	}
	return lines, at
}
