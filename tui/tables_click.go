package tui

import "sort"

// Clicks on the tables view's rows (rowclick.go): a click on a table's
// line, or on one of its indexes' lines, selects that table, drawn
// highlighted; n/N go on from it. A table has nothing to open: the
// second click leaves it selected.

func (v tablesView) rowAt(y int) int {
	if v.state != stateReady {
		return -1
	}
	top := len(v.headLines())
	sc := v.scroller()
	if y < top || y-top >= sc.view {
		return -1
	}
	body, at := v.body()
	line := sc.Offset() + y - top
	if line >= len(body) || len(at) == 0 {
		return -1
	}
	// The table whose line is the last at or above the line clicked.
	return sort.Search(len(at), func(j int) bool { return at[j] > line }) - 1
}

func (v tablesView) selectedRow() int { return v.match }
