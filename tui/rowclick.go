package tui

import (
	"time"

	tea "charm.land/bubbletea/v2"
)

// Clicks on a list's rows. Every list view (the dashboard's alerts, the
// alerts view, the tables, the journal, the runbooks' list, :runs, the
// backups and the backup chooser) says which of its rows is at a line of
// the body (rowAt) through the same layout code its View draws with, and
// which row is selected; the root (mouse.go) turns a click into a
// rowClickMsg for it.
//
// Decision: a click selects the row under it; it opens the row, as enter
// does, only as the second click on the same row: at once (a double
// click, two clicks within doubleClick of the console's clock) or later,
// while that row is still the selected one. A single click never opens:
// a stray click cannot start a step or leave the screen. The click that
// comes within doubleClick after one that opened is dropped: it is the
// rest of a quick triple click, meant for the row, not for the screen
// the open put in its place. Clicks outside rows do nothing.

// doubleClick is the longest pause between the two clicks of a double
// click.
const doubleClick = 400 * time.Millisecond

// rowPicker is a list view that answers clicks on its rows.
type rowPicker interface {
	// rowAt is the index of the row drawn at line y of the body (0 is
	// the body's first line), -1 when no row is there.
	rowAt(y int) int
	// selectedRow is the index of the selected row.
	selectedRow() int
}

// rowClickMsg asks the focused list to select row, and to open it as
// enter does when open is set. It goes to the focused view only.
type rowClickMsg struct {
	row  int
	open bool
}

// clickState is the root's memory of the last click on a row.
type clickState struct {
	at     time.Time // when the last click selected a row; zero for none
	focus  viewID
	y, row int
	opened time.Time // when the last click opened a row
}

// clickRow answers a left click at line y of the body of a list view.
func (m Model) clickRow(p rowPicker, y int) (tea.Model, tea.Cmd) {
	now := m.ctx.Now()
	last := m.click
	m.click = clickState{}
	if !last.opened.IsZero() && now.Sub(last.opened) < doubleClick {
		return m, nil
	}
	i := p.rowAt(y)
	if i < 0 {
		return m, nil
	}
	sel := p.selectedRow()
	again := !last.at.IsZero() && last.focus == m.focus
	double := again && last.y == y && now.Sub(last.at) < doubleClick
	second := again && last.row == i && i == sel
	if double || second {
		// A double click opens what its first click selected, even when
		// a refresh moved the rows in between.
		m.click = clickState{opened: now}
		return m.forward(rowClickMsg{row: sel, open: true})
	}
	m.click = clickState{at: now, focus: m.focus, y: y, row: i}
	return m.forward(rowClickMsg{row: i})
}

// listOffset is the first of n rows a list of room lines shows: the
// offset it showed last (anchor), moved as little as keeps row sel in
// view. A list that records its offset before each key and click this way
// stays where it is under the mouse: the row clicked does not move.
func listOffset(anchor, sel, n, room int) int {
	var s scroller
	s.SetSize(n, room)
	s.ScrollTo(anchor)
	s.Show(sel)
	return s.Offset()
}

// windowRow is the index of the row at line y for a list whose rows of
// rowLines lines each start at line top, rows [off, end) shown: -1 when
// y is above, below or between them.
func windowRow(y, top, rowLines, off, end int) int {
	if y < top || rowLines < 1 {
		return -1
	}
	i := off + (y-top)/rowLines
	if i >= end {
		return -1
	}
	return i
}
