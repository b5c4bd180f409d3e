package tui

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/repops/repops/internal/humanize"
)

// TableStat is one table (or index) of the live database as the tables
// view shows it.
type TableStat struct {
	Name string
	// Table is the table an index belongs to; "" for a table.
	Table string
	// Rows is -1 when unknown; Estimated when it is not an exact count.
	Rows      int64
	Estimated bool
	Bytes     int64 // -1 when unknown
}

// TableReport is one measurement of the database's tables and file.
type TableReport struct {
	Tables    []TableStat // tables, each followed by its indexes
	FileBytes int64
	WALBytes  int64
	// FreeBytes is the space on the freelist: what VACUUM would return.
	FreeBytes int64
}

// TableSource reads the table and index sizes of the live database. The
// query scans the database (dbstat), which takes seconds on a large file:
// the console runs it only from a Cmd, when the view opens and on demand.
type TableSource interface {
	TableStats(ctx context.Context) (TableReport, error)
}

// TableSourceFunc adapts a function to TableSource.
type TableSourceFunc func(ctx context.Context) (TableReport, error)

// TableStats implements TableSource.
func (f TableSourceFunc) TableStats(ctx context.Context) (TableReport, error) { return f(ctx) }

type tablesLoadedMsg struct {
	report TableReport
	at     time.Time
	took   time.Duration
	err    error
}

// tableSort is the order of the tables view's tables.
type tableSort int

const (
	tablesListed   tableSort = iota // as the database lists them
	tablesBySize                    // bytes on disk, largest first
	tablesByGrowth                  // rows per hour, fastest first
	tableSorts
)

func (s tableSort) String() string {
	switch s {
	case tablesBySize:
		return "size"
	case tablesByGrowth:
		return "growth"
	}
	return "as listed"
}

// tablesView shows sizes, rows, growth since the console first measured
// them, and each table's indexes. s cycles the order (as listed, size,
// growth); / filters by table or index name, n/N bring the next or
// previous matching table to the top.
type tablesView struct {
	ctx     *ProgramContext
	src     TableSource
	state   loadState
	loading bool
	err     error
	stats   []TableStat
	report  TableReport
	at      time.Time
	took    time.Duration
	// first is the first measurement of each table's rows, for growth.
	first   map[string]int64
	firstAt time.Time
	offset  int // first body line shown, clamped

	filter listFilter
	sortBy tableSort
	match  int // the matching table n/N last brought to the top
	// picked: a click selected table match, drawn highlighted
	// (tables_click.go).
	picked bool
}

func newTablesView(ctx *ProgramContext, src TableSource) tablesView {
	return tablesView{ctx: ctx, src: src}
}

func (v tablesView) load() tea.Cmd {
	src := v.src
	return addressed(viewTables, func() tea.Msg {
		if src == nil {
			return tablesLoadedMsg{err: fmt.Errorf("table sizes are not available: the database could not be opened read-only")}
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		r, err := src.TableStats(ctx)
		return tablesLoadedMsg{report: r, err: err, at: time.Now(), took: time.Since(start)}
	})
}

// capturing: the filter is being typed, so letters are text, not keys.
func (v tablesView) capturing() bool { return v.filter.Editing() }

// handlesBack: esc clears the filter rather than leaving the view.
func (v tablesView) handlesBack() bool { return v.filter.Editing() || v.filter.Active() }

// growth is a table's rows per hour since the first measurement; ok is
// false while it is being measured (under a minute) or unknown.
func (v tablesView) growth(s TableStat) (float64, bool) {
	f, ok := v.first[s.Name]
	if !ok || s.Rows < 0 || f < 0 || v.at.Sub(v.firstAt) < time.Minute {
		return 0, false
	}
	return float64(s.Rows-f) / v.at.Sub(v.firstAt).Hours(), true
}

// tables are the tables the filter keeps (by their name or one of their
// indexes'), in the order chosen.
func (v tablesView) tables() []TableStat {
	idx := map[string][]string{}
	for _, s := range v.stats {
		if s.Table != "" {
			idx[s.Table] = append(idx[s.Table], s.Name)
		}
	}
	var out []TableStat
	for _, s := range v.stats {
		if s.Table == "" && v.filter.Match(append([]string{s.Name}, idx[s.Name]...)...) {
			out = append(out, s)
		}
	}
	switch v.sortBy {
	case tablesBySize:
		sort.SliceStable(out, func(i, j int) bool { return out[i].Bytes > out[j].Bytes })
	case tablesByGrowth:
		sort.SliceStable(out, func(i, j int) bool {
			gi, oki := v.growth(out[i])
			gj, okj := v.growth(out[j])
			if oki != okj {
				return oki
			}
			return gi > gj
		})
	}
	return out
}

// Update handles the view's own messages and keys; it does no I/O.
func (v tablesView) Update(msg tea.Msg) (tablesView, tea.Cmd) {
	k := v.ctx.Keys
	switch msg := msg.(type) {
	case tablesLoadedMsg:
		v.loading = false
		if msg.err != nil {
			v.state, v.err = stateError, msg.err
			return v, nil
		}
		v.state, v.err, v.stats, v.report, v.at, v.took = stateReady, nil, msg.report.Tables, msg.report, msg.at, msg.took
		if v.first == nil {
			v.first, v.firstAt = map[string]int64{}, msg.at
			for _, s := range msg.report.Tables {
				if s.Table == "" {
					v.first[s.Name] = s.Rows
				}
			}
		}
	case rowClickMsg:
		if n := len(v.tables()); msg.row >= 0 && msg.row < n {
			v.match, v.picked = msg.row, true
		}
	case tea.MouseWheelMsg:
		sc := v.scroller()
		sc.Wheel(msg)
		v.offset = sc.Offset()
	case tea.KeyPressMsg:
		if handled, changed := v.filter.Key(msg, k); handled {
			if changed {
				v.offset, v.match, v.picked = 0, 0, false
			}
			return v, nil
		}
		switch {
		case key.Matches(msg, k.Refresh):
			v.loading = true
			return v, v.load()
		case key.Matches(msg, sortKey):
			v.sortBy = (v.sortBy + 1) % tableSorts
			v.offset, v.match, v.picked = 0, 0, false
		case matchStep(msg) != 0:
			if !v.filter.Active() {
				return v, nil
			}
			ts := v.tables()
			if len(ts) == 0 {
				return v, nil
			}
			v.match = cycle(v.match, len(ts), matchStep(msg))
			_, at := v.body()
			sc := v.scroller()
			sc.ScrollTo(at[v.match])
			v.offset = sc.Offset()
		default:
			sc := v.scroller()
			if sc.Key(msg, k) {
				v.offset = sc.Offset()
			}
		}
	}
	return v, nil
}

// scroller is the body's scroller, sized for the view and at its offset.
func (v tablesView) scroller() scroller {
	body, _ := v.body()
	sc := scroller{offset: v.offset}
	sc.Fit(len(body), max(1, v.ctx.bodyHeight()-len(v.headLines())))
	return sc
}

// Hints are the view's keys for the key-hints bar.
func (v tablesView) Hints() []key.Binding {
	k := v.ctx.Keys
	if v.filter.Editing() {
		return []key.Binding{filterKeepHint, filterClearHint}
	}
	return []key.Binding{k.Refresh, k.Up, k.Down, k.Back}
}

// headLines are the lines above the tables: the title with the filter
// and the order, the file's figures, the column heads.
func (v tablesView) headLines() []string {
	st := v.ctx.Styles
	w := v.ctx.Width
	head := st.Title.Render("Tables")
	if v.filter.Editing() || v.filter.Active() {
		n := 0
		for _, s := range v.stats {
			if s.Table == "" {
				n++
			}
		}
		head += "  " + v.filter.Header(st, len(v.tables()), n)
	}
	head += st.Muted.Render("  sort " + v.sortBy.String() + " (s)")
	if about := "  rows, bytes on disk, growth since first measured, indexes"; cellWidth(head)+cellWidth(about) <= w {
		head += st.Muted.Render(about)
	}
	if v.state != stateReady {
		return []string{head}
	}
	r := v.report
	lines := []string{truncate(head, w)}
	for _, l := range wrapWords(fmt.Sprintf("file %s · WAL %s · free pages %s (VACUUM would return them) · measured %s in %s · ~ estimated",
		humanize.Bytes(r.FileBytes), humanize.Bytes(r.WALBytes), humanize.Bytes(r.FreeBytes), v.at.In(v.ctx.Now().Location()).Format("15:04:05"), v.took.Round(time.Millisecond)), w, "") {
		lines = append(lines, st.MutedText(l))
	}
	return append(lines, st.Muted.Render(fmt.Sprintf("%-38s %10s %11s %14s", "table / index", "rows", "bytes", "growth")))
}

// body is a line per table and per index, and the line of each table.
func (v tablesView) body() (lines []string, at []int) {
	st := v.ctx.Styles
	w := v.ctx.Width
	idx := map[string][]TableStat{}
	for _, s := range v.stats {
		if s.Table != "" {
			idx[s.Table] = append(idx[s.Table], s)
		}
	}
	for j, s := range v.tables() {
		growth := ""
		if g, ok := v.growth(s); ok {
			growth = fmt.Sprintf("%+.0f/h", g)
		} else if _, ok := v.first[s.Name]; ok {
			growth = st.Muted.Render("measuring")
		}
		rows := fmtCount(s.Rows)
		if s.Estimated {
			rows = "~" + rows
		}
		at = append(at, len(lines))
		name := st.Bold
		if v.picked && j == v.match {
			name = st.Accent
		}
		lines = append(lines, truncate(name.Render(padRight(s.Name, 38))+fmt.Sprintf(" %10s %11s %14s", rows, humanize.Bytes(s.Bytes), growth), w))
		for _, i := range idx[s.Name] {
			lines = append(lines, truncate(st.Muted.Render(fmt.Sprintf("  └ %-34s %10s %11s", i.Name, "", humanize.Bytes(i.Bytes))), w))
		}
	}
	return lines, at
}

// View draws the view in the body's width and height.
func (v tablesView) View() string {
	st := v.ctx.Styles
	w := v.ctx.Width
	head := v.headLines()
	if v.state == stateLoading || (v.loading && v.state != stateReady) {
		return head[0] + "\n" + st.Muted.Render("measuring table sizes (a full scan of the file: seconds on a large database)…")
	}
	if v.state == stateError {
		return head[0] + "\n" + st.Error.Render("table sizes unavailable: ") + truncate(v.err.Error(), w-28)
	}
	body, _ := v.body()
	if len(body) == 0 && v.filter.Active() {
		return strings.Join(append(head, st.Muted.Render("no table or index matches the filter; esc clears it")), "\n")
	}
	sc := v.scroller()
	out := append(head, sc.Window(body)...)
	if m := sc.Marker(); m != "" {
		out = append(out, st.Muted.Render(m))
	}
	return strings.Join(out, "\n")
}
