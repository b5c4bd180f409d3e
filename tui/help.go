package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
)

// helpView lists every key, grouped, with what it does; keys disabled by
// read-only mode are listed and marked as disabled. It scrolls with the
// shared scroller and says where it is when it does not fit.
type helpView struct {
	ctx    *ProgramContext
	scroll scroller
	// filter keeps the key lines that hold its text; match is the one
	// n/N last brought to the top (help_filter.go).
	filter listFilter
	match  int
}

func newHelpView(ctx *ProgramContext) helpView { return helpView{ctx: ctx} }

// Update handles the view's own messages and keys; it does no I/O.
func (v helpView) Update(msg tea.Msg) (helpView, tea.Cmd) {
	if press, ok := msg.(tea.KeyPressMsg); ok {
		if nv, done := v.filterKey(press); done {
			return nv, nil
		}
	}
	switch msg.(type) {
	case tea.KeyPressMsg, tea.MouseWheelMsg:
		// Measured at the current width first, so that the offset is
		// clamped to what is drawn and the first key back answers.
		v.scroll.Fit(len(v.lines()), v.ctx.bodyHeight())
		v.scroll.Update(msg, v.ctx.Keys)
	}
	return v, nil
}

// Hints are the view's keys for the key-hints bar.
func (v helpView) Hints() []key.Binding {
	k := v.ctx.Keys
	switch {
	case v.filter.Editing():
		return []key.Binding{filterKeepHint, filterClearHint}
	case v.filter.Active():
		return []key.Binding{k.Up, k.Down, nextMatchKey, filterClearHint}
	}
	return []key.Binding{k.Up, k.Down, k.Filter, k.Back}
}

var helpGroups = []string{"Views", "Dashboard and refresh", "Moving", "Runbooks, journal, demo"}

// lines is the whole help at the body's width, one entry a line; with a
// filter, the key lines and commands that hold it (help_filter.go).
func (v helpView) lines() []string {
	if v.filter.Active() {
		lines, _ := v.filteredLines()
		return lines
	}
	st := v.ctx.Styles
	k := v.ctx.Keys
	groups := k.FullHelp()
	var blocks []string
	for i, g := range groups {
		var rows []string
		rows = append(rows, st.Title.Render(helpGroups[i]))
		for _, b := range g {
			h := b.Help()
			desc := h.Desc
			keyCol := st.HintKey.Render(padRight(h.Key, 10))
			if v.ctx.ReadOnly && writes(k, b) {
				desc = st.HintOff.Render(desc) + st.Muted.Render(" (read-only)")
			}
			rows = append(rows, keyCol+" "+desc)
		}
		blocks = append(blocks, strings.Join(rows, "\n"))
	}
	colW := 0
	for _, b := range blocks {
		colW = max(colW, lipgloss.Width(b))
	}
	perRow := max(1, min(len(blocks), (v.ctx.Width+2)/(colW+3)))
	var grid []string
	for i := 0; i < len(blocks); i += perRow {
		row := make([]string, 0, perRow)
		for j := i; j < min(i+perRow, len(blocks)); j++ {
			row = append(row, lipgloss.NewStyle().Width(colW+3).Render(blocks[j]))
		}
		grid = append(grid, lipgloss.JoinHorizontal(lipgloss.Top, row...))
	}
	note := "  every key; rebind any of them under console.keys in the config (action names in the docs)"
	if 4+cellWidth(note) > v.ctx.Width {
		note = "  every key; rebind them under console.keys in the config"
	}
	head := v.headLine(note)
	body := head + "\n\n" + strings.Join(grid, "\n\n") + "\n"
	lines := strings.Split(body, "\n")
	for _, l := range commandList(v.ctx.Width) {
		lines = append(lines, st.Muted.Render(l))
	}
	for i := range lines {
		lines[i] = truncate(lines[i], v.ctx.Width)
	}
	return lines
}

// View draws the view in the body's width and height: the page in view
// and, when the help does not fit, a last line that says where it is.
func (v helpView) View() string {
	lines := v.lines()
	s := v.scroll
	s.Fit(len(lines), v.ctx.bodyHeight())
	out := s.Window(lines)
	if m := s.Marker(); m != "" {
		out = append(out, v.ctx.Styles.Muted.Render(truncate("  "+m, v.ctx.Width)))
	}
	return strings.Join(out, "\n")
}

// writes reports whether binding b starts an action that writes (and so
// is disabled in read-only mode).
func writes(k *KeyMap, b key.Binding) bool {
	return sameKeys(b, k.Do)
}

func sameKeys(a, b key.Binding) bool {
	return fmt.Sprint(a.Keys()) == fmt.Sprint(b.Keys())
}
