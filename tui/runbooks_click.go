package tui

import (
	"fmt"

	tea "charm.land/bubbletea/v2"

	"github.com/repops/repops/runbooks"
)

// Clicks on the runbooks view's lists (rowclick.go): the catalogue
// (rbList), :runs (rbRuns), :backups (rbBackups) and the backup chooser
// (rbChoose). Each list's rows are found through the head and the window
// its View draws with. While a prompt is open (a confirmation, a reason,
// a note) its lines cover the list's last rows: clicks do nothing.

// listHead is the catalogue's lines above the runbooks: the title with
// the count and the filter, the skipped files, the run under way.
func (v runbooksView) listHead(list []*runbooks.Runbook) []string {
	st := v.ctx.Styles
	w := v.ctx.Width
	// The count, or the filter with its count.
	head := st.Title.Render("Runbooks") + st.Muted.Render(fmt.Sprintf("  %d of %d", len(list), len(v.all)))
	if h := v.filter.Header(st, len(list), len(v.all)); h != "" {
		head = st.Title.Render("Runbooks") + "  " + h
	}
	lines := []string{truncate(head, w)}
	lines = append(lines, v.problemLines(w)...)
	if v.run != nil && v.state.Status == runbooks.RunRunning {
		lines = append(lines, st.State("pending").Render(fmt.Sprintf("⚙ run under way: %s, step %d of %d (enter on %s continues it)", v.state.RunbookID, v.cur.Index+1, v.cur.Total, v.state.RunbookID)))
	}
	return lines
}

// listWindow is the runbooks [off, end) of n the catalogue shows under
// a head of headLines lines, the selected one in view.
func (v runbooksView) listWindow(headLines, n int) (off, end int) {
	room := max(1, v.ctx.bodyHeight()-headLines-1)
	off = listOffset(v.listOff, min(v.sel, max(0, n-1)), n, room)
	return off, min(n, off+room)
}

// anchored records the offset of the list of the mode as shown, before
// a key or a click moves its selection.
func (v runbooksView) anchored() runbooksView {
	switch v.mode {
	case rbList:
		list := v.filtered()
		v.listOff, _ = v.listWindow(len(v.listHead(list)), len(list))
	case rbRuns:
		v.runs.off, _ = v.runsWindow()
	case rbBackups, rbChoose:
		v.bk.off, _ = v.backupWindow()
	}
	return v
}

// backupWindow is the backups [off, end) the backup lists show.
func (v runbooksView) backupWindow() (off, end int) {
	n := len(v.bk.list)
	off = listOffset(v.bk.off, min(v.bk.sel, max(0, n-1)), n, v.backupRows())
	return off, min(n, off+v.backupRows())
}

func (v runbooksView) rowAt(y int) int {
	if v.reading != inNone || v.svc == nil && v.mode == rbList {
		return -1
	}
	switch v.mode {
	case rbList:
		list := v.filtered()
		head := v.listHead(list)
		off, end := v.listWindow(len(head), len(list))
		return windowRow(y, len(head), 1, off, end)
	case rbRuns:
		off, end := v.runsWindow()
		return windowRow(y, len(v.runsHead()), runRowLines, off, end)
	case rbBackups, rbChoose:
		if v.bk.err != nil || !v.bk.loaded {
			return -1
		}
		top := len(v.backupsHead())
		if v.mode == rbChoose {
			top = len(v.chooseHead())
		}
		off, end := v.backupWindow()
		return windowRow(y, top, 1, off, end)
	}
	return -1
}

func (v runbooksView) selectedRow() int {
	switch v.mode {
	case rbRuns:
		return v.runs.sel
	case rbBackups, rbChoose:
		return v.bk.sel
	}
	return v.sel
}

// onRowClick selects the row clicked; open does what enter does on it:
// opens the runbook, opens the run (resumes an unfinished one, shows a
// finished one's results), shows the backup's manifest, or, in the
// chooser, uses the backup for the step (after the step's typed
// confirmation when it has one, as enter).
func (v runbooksView) onRowClick(msg rowClickMsg) (runbooksView, tea.Cmd) {
	if msg.row < 0 || v.reading != inNone {
		return v, nil
	}
	v = v.anchored()
	switch v.mode {
	case rbList:
		list := v.filtered()
		if msg.row >= len(list) {
			return v, nil
		}
		v.sel = msg.row
		if msg.open {
			return v.openRunbook(list[v.sel].ID, false)
		}
	case rbRuns:
		if msg.row >= len(v.runs.list) {
			return v, nil
		}
		v.runs.sel = msg.row
		if msg.open {
			return v.openRunOf(v.runs.list[v.runs.sel])
		}
	case rbBackups, rbChoose:
		if msg.row >= len(v.bk.list) {
			return v, nil
		}
		v.bk.sel = msg.row
		switch {
		case msg.open && v.mode == rbChoose:
			return v.useBackup()
		case msg.open:
			return v.showManifest(rbBackups)
		}
	}
	return v, nil
}
