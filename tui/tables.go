package tui

import (
	"context"
	"fmt"
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

// tablesView shows sizes, rows, growth since the console first measured
// them, and each table's indexes.
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
	offset  int
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
	case tea.KeyPressMsg:
		switch {
		case key.Matches(msg, k.Refresh):
			v.loading = true
			return v, v.load()
		case key.Matches(msg, k.Down, k.PageDown):
			v.offset++
		case key.Matches(msg, k.Up, k.PageUp):
			v.offset = max(0, v.offset-1)
		}
	}
	return v, nil
}

// Hints are the view's keys for the key-hints bar.
func (v tablesView) Hints() []key.Binding {
	k := v.ctx.Keys
	return []key.Binding{k.Refresh, k.Up, k.Down, k.Back}
}

// View draws the view in the body's width and height.
func (v tablesView) View() string {
	st := v.ctx.Styles
	w, h := v.ctx.Width, v.ctx.bodyHeight()
	head := st.Title.Render("Tables") + st.Muted.Render("  rows, bytes on disk, growth since first measured, indexes")
	if v.state == stateLoading || (v.loading && v.state != stateReady) {
		return head + "\n" + st.Muted.Render("measuring table sizes (a full scan of the file: seconds on a large database)…")
	}
	if v.state == stateError {
		return head + "\n" + st.Error.Render("table sizes unavailable: ") + truncate(v.err.Error(), w-28)
	}
	r := v.report
	lines := []string{head}
	for _, l := range wrapWords(fmt.Sprintf("file %s · WAL %s · free pages %s (VACUUM would return them) · measured %s in %s · ~ estimated",
		humanize.Bytes(r.FileBytes), humanize.Bytes(r.WALBytes), humanize.Bytes(r.FreeBytes), v.at.In(v.ctx.Now().Location()).Format("15:04:05"), v.took.Round(time.Millisecond)), w, "") {
		lines = append(lines, st.MutedText(l))
	}
	lines = append(lines, st.Muted.Render(fmt.Sprintf("%-38s %10s %11s %14s", "table / index", "rows", "bytes", "growth")))
	idx := map[string][]TableStat{}
	for _, s := range v.stats {
		if s.Table != "" {
			idx[s.Table] = append(idx[s.Table], s)
		}
	}
	var body []string
	for _, s := range v.stats {
		if s.Table != "" {
			continue
		}
		growth := ""
		if f, ok := v.first[s.Name]; ok && s.Rows >= 0 && f >= 0 && v.at.Sub(v.firstAt) >= time.Minute {
			per := float64(s.Rows-f) / v.at.Sub(v.firstAt).Hours()
			growth = fmt.Sprintf("%+.0f/h", per)
		} else if ok {
			growth = st.Muted.Render("measuring")
		}
		rows := fmtCount(s.Rows)
		if s.Estimated {
			rows = "~" + rows
		}
		body = append(body, truncate(st.Bold.Render(padRight(s.Name, 38))+fmt.Sprintf(" %10s %11s %14s", rows, humanize.Bytes(s.Bytes), growth), w))
		for _, i := range idx[s.Name] {
			body = append(body, truncate(st.Muted.Render(fmt.Sprintf("  └ %-34s %10s %11s", i.Name, "", humanize.Bytes(i.Bytes))), w))
		}
	}
	room := max(1, h-len(lines))
	off := min(v.offset, max(0, len(body)-room))
	body = body[off:]
	if len(body) > room {
		body = body[:room]
	}
	return strings.Join(append(lines, body...), "\n")
}
