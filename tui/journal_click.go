package tui

// Clicks on the journal's rows (rowclick.go).

// journalListTop is the body line of the journal's first row: the head
// and the column heads are above it.
const journalListTop = 2

// window is the rows [off, end) of n that the list shows, where View
// draws them (after pin).
func (v journalView) window(n int) (off, end int) {
	v.pin(n)
	return v.offset, min(n, v.offset+v.listHeight())
}

func (v journalView) rowAt(y int) int {
	if v.state != stateReady || v.detail != nil {
		return -1
	}
	off, end := v.window(len(v.visible()))
	return windowRow(y, journalListTop, 1, off, end)
}

func (v journalView) selectedRow() int {
	n := len(v.visible())
	v.pin(n)
	return v.sel
}

// onRowClick selects the entry clicked, the list staying where it is;
// open shows it whole, as enter.
func (v journalView) onRowClick(msg rowClickMsg) journalView {
	list := v.visible()
	n := len(list)
	if msg.row < 0 || msg.row >= n {
		return v
	}
	v.pin(n)
	v.sel = msg.row
	v.follow = v.sel == v.newest(n)
	if msg.open {
		e := list[v.sel]
		v.detail, v.dscroll = &e, scroller{}
	}
	return v
}
