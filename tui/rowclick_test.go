package tui

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
)

// Clicks on the rows of every list (rowclick.go): through the root, at
// the screen's own coordinates, so that the row found is the row drawn.

// clicker drives a console whose clock moves only when told, so that a
// double click is a matter of the clock, not of the test's speed.
type clicker struct {
	t   *testing.T
	m   Model
	now time.Time
}

func newClicker(t *testing.T, m Model) *clicker {
	c := &clicker{t: t, m: m, now: fixedNow}
	m.ctx.Now = func() time.Time { return c.now }
	return c
}

// lineOf is the screen line that holds s, below the banner; fatal when
// none does.
func (c *clicker) lineOf(s string) int {
	c.t.Helper()
	lines := strings.Split(plain(c.m), "\n")
	for y := c.m.bodyTop(); y < len(lines)-1; y++ {
		if strings.Contains(lines[y], s) {
			return y
		}
	}
	c.t.Fatalf("no line holds %q:\n%s", s, plain(c.m))
	return -1
}

// click clicks at screen line y, after pause on the console's clock, and
// runs what the click leads to.
func (c *clicker) click(y int, pause time.Duration) tea.Cmd {
	c.t.Helper()
	c.now = c.now.Add(pause)
	var cmd tea.Cmd
	c.m, cmd = step(c.t, c.m, tea.MouseClickMsg{X: 6, Y: y, Button: tea.MouseLeft})
	return cmd
}

// marked reports whether screen line y carries the selection's mark.
func (c *clicker) marked(y int) bool { return strings.Contains(screenLine(c.m, y), "▸") }

const slow = 2 * time.Second // a pause no double click has

func TestClickAlertsView(t *testing.T) {
	m := loaded(t, nil)
	m, _ = step(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	m, _ = step(t, m, press("a"))
	c := newClicker(t, m)
	rs := c.m.alerts.rules()
	if len(rs) < 8 {
		t.Fatalf("%d rules: the test needs a list that scrolls", len(rs))
	}
	y := c.lineOf(rs[3].Rule.Title)
	c.click(y, slow)
	if c.m.alerts.selected != 3 || c.m.alerts.detail || !c.marked(y) {
		t.Fatalf("click on row 3: selected %d detail %v", c.m.alerts.selected, c.m.alerts.detail)
	}
	// A second click on it, later: it opens, as enter.
	c.click(y, slow)
	if !c.m.alerts.detail || c.m.alerts.selected != 3 {
		t.Fatalf("second click on the selected row: detail %v selected %d", c.m.alerts.detail, c.m.alerts.selected)
	}
	// The click that follows the open at once is the rest of a
	// triple click: dropped, the detail stays.
	c.click(y, 100*time.Millisecond)
	if !c.m.alerts.detail {
		t.Fatal("a click 100 ms after an open acted on the detail")
	}
	c.m, _ = step(t, c.m, press("esc"))

	// Scrolled to the end: the row clicked is the one under the mouse.
	c.m, _ = step(t, c.m, press("G"))
	list, _ := c.m.alerts.listWindow(len(rs))
	if list.Offset() == 0 {
		t.Fatal("G did not scroll the list")
	}
	want := list.Offset() + 1
	y = c.lineOf(rs[want].Rule.Title)
	c.click(y, slow)
	if c.m.alerts.selected != want || !c.marked(y) {
		t.Fatalf("click on the second row shown (rule %d): selected %d line %d\n%s", want, c.m.alerts.selected, y, plain(c.m))
	}
	// A double click on another row: selects it and opens it.
	other := want + 1
	y = c.lineOf(rs[other].Rule.Title)
	c.click(y, slow)
	c.click(y, 300*time.Millisecond)
	if c.m.alerts.selected != other || !c.m.alerts.detail {
		t.Fatalf("double click on rule %d: selected %d detail %v", other, c.m.alerts.selected, c.m.alerts.detail)
	}
	c.m, _ = step(t, c.m, press("esc"))

	// Two slow clicks on two rows: each only selects.
	c.click(c.lineOf(rs[want].Rule.Title), slow)
	c.click(c.lineOf(rs[other].Rule.Title), slow)
	if c.m.alerts.detail || c.m.alerts.selected != other {
		t.Fatalf("clicks on two rows: detail %v selected %d", c.m.alerts.detail, c.m.alerts.selected)
	}
	// A single click on the row the keys selected does not open it.
	c.m, _ = step(t, c.m, press("k"))
	c.click(c.lineOf(rs[other-1].Rule.Title), slow)
	if c.m.alerts.detail {
		t.Fatal("a single click on the row the keys selected opened it")
	}
	// Outside the rows: the head line, the marker, the preview.
	sel := c.m.alerts.selected
	for _, y := range []int{c.m.bodyTop(), c.lineOf("rules "), c.m.ctx.Height - 2} {
		c.click(y, slow)
		c.click(y, slow)
		if c.m.alerts.selected != sel || c.m.alerts.detail {
			t.Fatalf("clicks at line %d: selected %d detail %v", y, c.m.alerts.selected, c.m.alerts.detail)
		}
	}
}

func TestClickDashboardAlerts(t *testing.T) {
	m := loaded(t, nil)
	c := newClicker(t, m)
	f := c.m.dash.firing()
	if len(f) < 3 {
		t.Fatalf("%d alerts firing: the test needs 3", len(f))
	}
	y := c.lineOf(f[2].Rule.Title)
	c.click(y, slow)
	if c.m.dash.selected != 2 || !c.marked(y) {
		t.Fatalf("click on alert 2: selected %d", c.m.dash.selected)
	}
	cmd := c.click(y, 200*time.Millisecond)
	if f[2].Runbook == "" {
		t.Fatalf("alert %s has no runbook", f[2].Rule.Name)
	}
	if cmd == nil {
		t.Fatal("double click on an alert: nothing to open")
	}
	if sw, ok := cmd().(switchViewMsg); !ok || sw.runbook != f[2].Runbook {
		t.Fatalf("double click on an alert gave %#v, want its runbook %s", sw, f[2].Runbook)
	}
	// The figures above the alerts are no rows.
	c.click(c.lineOf("Key metrics"), slow)
	c.click(c.lineOf("Key metrics")+1, slow)
	if c.m.dash.selected != 2 || c.m.dash.tab != tabOverview {
		t.Fatalf("click on the key metrics: selected %d tab %d", c.m.dash.selected, c.m.dash.tab)
	}
}

func TestClickJournal(t *testing.T) {
	m := loaded(t, func(o *Options) { o.Journal = &fakeJournal{entries: journalEntries(40)} })
	m, _ = step(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	m, cmd := step(t, m, press("l"))
	m = drain(t, m, cmd)
	c := newClicker(t, m)
	// The list follows the newest: it is scrolled to its end.
	off, _ := c.m.journal.window(40)
	if off == 0 {
		t.Fatal("the journal is not scrolled")
	}
	want := off + 3
	y := c.lineOf(journalEntries(40)[want].Message)
	c.click(y, slow)
	if c.m.journal.sel != want || !c.marked(y) || c.m.journal.detail != nil {
		t.Fatalf("click on row 3 shown (entry %d): sel %d", want, c.m.journal.sel)
	}
	if off2, _ := c.m.journal.window(40); off2 != off {
		t.Errorf("the click scrolled the list from %d to %d", off, off2)
	}
	c.click(y, 250*time.Millisecond)
	if c.m.journal.detail == nil || c.m.journal.detail.Seq != int64(want+1) {
		t.Fatalf("double click on entry %d: detail %v", want, c.m.journal.detail)
	}
}

func TestClickTables(t *testing.T) {
	m := loaded(t, func(o *Options) {
		o.Tables = TableSourceFunc(func(context.Context) (TableReport, error) {
			r := tablesReport(1_000_000)
			for i := range 12 {
				r.Tables = append(r.Tables, TableStat{Name: fmt.Sprintf("extra_table_%02d", i), Rows: int64(i), Bytes: 4096})
			}
			return r, nil
		})
	})
	m, _ = step(t, m, tea.WindowSizeMsg{Width: 80, Height: 16})
	m, cmd := step(t, m, press("t"))
	m = drain(t, m, cmd)
	c := newClicker(t, m)
	ts := c.m.tables.tables()
	c.click(c.lineOf(ts[3].Name+" "), slow)
	if c.m.tables.selectedRow() != 3 || !c.m.tables.picked {
		t.Fatalf("click on table 3: selected %d", c.m.tables.selectedRow())
	}
	// An index's line belongs to its table: the first table's.
	c.click(c.lineOf("└ idx_appeals_created"), slow)
	if c.m.tables.selectedRow() != 0 {
		t.Fatalf("click on an index of table 0: selected %d", c.m.tables.selectedRow())
	}
	// The head is no row.
	c.click(c.lineOf("table / index"), slow)
	if c.m.tables.selectedRow() != 0 {
		t.Fatalf("click on the column heads: selected %d", c.m.tables.selectedRow())
	}
	// Scrolled to the end: the table under the mouse.
	c.m, _ = step(t, c.m, press("G"))
	if c.m.tables.offset == 0 {
		t.Fatal("G did not scroll the tables")
	}
	want := len(ts) - 3
	c.click(c.lineOf(ts[want].Name+" "), slow)
	if c.m.tables.selectedRow() != want {
		t.Fatalf("click on table %d, scrolled: selected %d", want, c.m.tables.selectedRow())
	}
}

func TestClickRunbookList(t *testing.T) {
	m := loaded(t, nil)
	m, cmd := step(t, m, press("r"))
	m = drain(t, m, cmd)
	c := newClicker(t, m)
	list := c.m.runbooks.filtered()
	y := c.lineOf(list[3].ID + " ")
	c.click(y, slow)
	if c.m.runbooks.sel != 3 || c.m.runbooks.mode != rbList || !c.marked(y) {
		t.Fatalf("click on runbook 3: sel %d mode %v", c.m.runbooks.sel, c.m.runbooks.mode)
	}
	cmd = c.click(y, slow)
	c.m = drain(t, c.m, cmd)
	if c.m.runbooks.mode != rbRead || c.m.runbooks.book.ID != list[3].ID {
		t.Fatalf("second click on runbook 3: mode %v", c.m.runbooks.mode)
	}
	// Scrolled at 80x16: the runbook under the mouse.
	c.m, _ = step(t, c.m, press("esc"))
	c.m, _ = step(t, c.m, tea.WindowSizeMsg{Width: 80, Height: 16})
	c.m, _ = step(t, c.m, press("G"))
	n := len(list)
	y = c.lineOf(list[n-2].ID + " ")
	c.click(y, slow)
	if c.m.runbooks.sel != n-2 || !c.marked(y) {
		t.Fatalf("click on runbook %d, scrolled: sel %d", n-2, c.m.runbooks.sel)
	}
}

func TestClickRuns(t *testing.T) {
	m, _, resumed, _ := quitConsole(t)
	st := unfinishedRestore(t)
	keepRun(t, m, st)
	done := st
	done.RunID, done.Status, done.Current = "restore-from-backup-20261128T010000Z-ab99", "finished", 10
	keepRun(t, m, done)
	nm, cmd := m.execCommand(parseCommand(":runs"))
	m = drain(t, nm.(Model), cmd)
	c := newClicker(t, m)
	// A run is two lines: its second line answers too.
	y := c.lineOf(done.RunID)
	c.click(y+1, slow)
	if c.m.runbooks.runs.sel != 1 || !c.marked(y) {
		t.Fatalf("click on the second run's second line: sel %d", c.m.runbooks.runs.sel)
	}
	c.click(y, 100*time.Millisecond)
	if c.m.runbooks.mode != rbRunResult || len(*resumed) != 0 {
		t.Fatalf("double click on the finished run: mode %v", c.m.runbooks.mode)
	}
}

func TestClickBackupChooser(t *testing.T) {
	m, names, set := chooserConsole(t)
	m = skipTo(t, m, "restore")
	m, cmd := step(t, m, press("x"))
	m = drain(t, m, cmd)
	if m.runbooks.mode != rbChoose {
		t.Fatalf("x on restore: mode %v, want the chooser", m.runbooks.mode)
	}
	c := newClicker(t, m)
	// Newest first: names[0], the oldest, is the third row.
	y, newest := c.lineOf(names[0]), c.lineOf(names[2])
	c.click(y, slow)
	if c.m.runbooks.bk.sel != 2 || c.m.runbooks.mode != rbChoose || !c.marked(y) {
		t.Fatalf("click on the oldest backup: sel %d mode %v", c.m.runbooks.bk.sel, c.m.runbooks.mode)
	}
	// The double click uses it, as enter: the restore asks its typed
	// confirmation first; nothing has run.
	c.click(y, 150*time.Millisecond)
	if c.m.runbooks.reading != inConfirm || len(*set) != 0 {
		t.Fatalf("double click on a backup for the restore: reading %v params %v", c.m.runbooks.reading, *set)
	}
	// While the confirmation is asked, clicks where the backups were do
	// nothing.
	c.click(newest, slow)
	c.click(newest, 100*time.Millisecond)
	if c.m.runbooks.reading != inConfirm || len(*set) != 0 || c.m.runbooks.bk.sel != 2 {
		t.Fatalf("clicks during the confirmation: reading %v params %v sel %d", c.m.runbooks.reading, *set, c.m.runbooks.bk.sel)
	}
	c.m, _ = step(t, c.m, press("esc"))
	if len(*set) != 0 {
		t.Fatalf("esc on the confirmation ran the step: %v", *set)
	}
}

func TestWindowRowAndListOffset(t *testing.T) {
	for _, c := range []struct{ y, top, lines, off, end, want int }{
		{0, 1, 1, 0, 5, -1}, {1, 1, 1, 0, 5, 0}, {5, 1, 1, 0, 5, 4}, {6, 1, 1, 0, 5, -1},
		{3, 2, 1, 10, 20, 11}, {2, 2, 2, 4, 8, 4}, {3, 2, 2, 4, 8, 4}, {4, 2, 2, 4, 8, 5}, {10, 2, 2, 4, 8, -1},
	} {
		if got := windowRow(c.y, c.top, c.lines, c.off, c.end); got != c.want {
			t.Errorf("windowRow(%d, top %d, %d lines, [%d,%d)) = %d, want %d", c.y, c.top, c.lines, c.off, c.end, got, c.want)
		}
	}
	for _, c := range []struct{ anchor, sel, n, room, want int }{
		{0, 0, 20, 8, 0}, {0, 9, 20, 8, 2}, {5, 7, 20, 8, 5}, {5, 3, 20, 8, 3}, {5, 14, 20, 8, 7}, {30, 19, 20, 8, 12}, {3, 0, 4, 8, 0},
	} {
		if got := listOffset(c.anchor, c.sel, c.n, c.room); got != c.want {
			t.Errorf("listOffset(anchor %d, sel %d, %d rows, room %d) = %d, want %d", c.anchor, c.sel, c.n, c.room, got, c.want)
		}
	}
}
