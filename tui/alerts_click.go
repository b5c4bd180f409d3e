package tui

// Clicks on the alerts view's rows (rowclick.go).

// alertsListTop is the body line of the alerts' first row: the head line
// is above it.
const alertsListTop = 1

// listWindow is the rule list's scroller for n rules, sized as View draws
// it, with the selected row (sel) kept in view.
func (v alertsView) listWindow(n int) (list scroller, sel int) {
	sel = min(v.selected, max(0, n-1))
	list.Fit(n, min(n, max(3, v.ctx.bodyHeight()/2-1)))
	list.ScrollTo(listOffset(v.listOff, sel, n, list.view))
	return list, sel
}

// anchored records the list's offset as shown, before a key or a click
// moves the selection.
func (v alertsView) anchored() alertsView {
	list, _ := v.listWindow(len(v.rules()))
	v.listOff = list.Offset()
	return v
}

func (v alertsView) rowAt(y int) int {
	if v.state != stateReady || v.detail {
		return -1
	}
	n := len(v.rules())
	list, _ := v.listWindow(n)
	off := list.Offset()
	return windowRow(y, alertsListTop, 1, off, min(n, off+list.view))
}

func (v alertsView) selectedRow() int { return v.selected }

// onRowClick selects the rule clicked; open shows it whole, as enter.
func (v alertsView) onRowClick(msg rowClickMsg) alertsView {
	n := len(v.rules())
	if n == 0 || msg.row < 0 || msg.row >= n {
		return v
	}
	v = v.anchored()
	v.selected = msg.row
	if msg.open {
		v.detail, v.dscroll = true, scroller{}
	}
	return v
}
