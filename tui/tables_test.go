package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// tablesReport is a measurement of the guide's tables: appeals with two
// indexes, the messages with one, an estimated count and an unknown one.
func tablesReport(appeals int64) TableReport {
	return TableReport{
		FileBytes: 930 << 20, WALBytes: 4 << 20, FreeBytes: 12 << 20,
		Tables: []TableStat{
			{Name: "appeals", Rows: appeals, Bytes: 210 << 20},
			{Name: "idx_appeals_user_status", Table: "appeals", Rows: -1, Bytes: 30 << 20},
			{Name: "idx_appeals_created", Table: "appeals", Rows: -1, Bytes: 20 << 20},
			{Name: "appeal_negotiation_messages", Rows: 2_800_000, Estimated: true, Bytes: 520 << 20},
			{Name: "idx_messages_appeal_created", Table: "appeal_negotiation_messages", Rows: -1, Bytes: 90 << 20},
			{Name: "ml_predictions", Rows: -1, Bytes: -1},
		},
	}
}

// tablesCtx is a context of w x h cells with the test clock.
func tablesCtx(w, h int) *ProgramContext {
	keys := DefaultKeyMap()
	theme, _ := ThemeByName("")
	return &ProgramContext{Width: w, Height: h, Config: testConfig(""), Styles: NewStyles(theme), Keys: &keys, Now: clock}
}

// loadedTables runs the view's load Cmd and gives its message to Update.
func loadedTables(t *testing.T, v tablesView) tablesView {
	t.Helper()
	msg := runWithTimeout(t, v.load())
	env, ok := msg.(envelope)
	if !ok || env.to != viewTables {
		t.Fatalf("load gave %T, want an envelope to the tables view", msg)
	}
	v, cmd := v.Update(env.msg)
	if cmd != nil {
		t.Fatalf("a loaded message returned a Cmd")
	}
	return v
}

// lineWith is the line of out that holds s, "" when none does.
func lineWith(out, s string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

func ctrl(r rune) tea.KeyPressMsg { return tea.KeyPressMsg{Code: r, Mod: tea.ModCtrl} }

func TestTablesView(t *testing.T) {
	t.Run("loading until the first measurement", func(t *testing.T) {
		v := newTablesView(tablesCtx(120, 40), TableSourceFunc(func(context.Context) (TableReport, error) { return tablesReport(1), nil }))
		if out := ansi.Strip(v.View()); !strings.Contains(out, "measuring table sizes") {
			t.Fatalf("no loading state:\n%s", out)
		}
	})

	t.Run("no source: the error says why, where the tables would be", func(t *testing.T) {
		v := loadedTables(t, newTablesView(tablesCtx(120, 40), nil))
		out := ansi.Strip(v.View())
		if v.state != stateError || !strings.Contains(out, "table sizes unavailable: table sizes are not available: the database could not be opened read-only") {
			t.Fatalf("state %v:\n%s", v.state, out)
		}
	})

	t.Run("the source's error is shown, and the source has a deadline", func(t *testing.T) {
		var deadline atomic.Bool
		v := loadedTables(t, newTablesView(tablesCtx(120, 40), TableSourceFunc(func(ctx context.Context) (TableReport, error) {
			_, ok := ctx.Deadline()
			deadline.Store(ok)
			return TableReport{}, errors.New("table sizes: no such module: dbstat")
		})))
		if !deadline.Load() {
			t.Error("the table scan runs without a deadline")
		}
		if out := ansi.Strip(v.View()); v.state != stateError || !strings.Contains(out, "no such module: dbstat") {
			t.Fatalf("state %v:\n%s", v.state, out)
		}
	})

	t.Run("ready: each table with its figures, its indexes under it", func(t *testing.T) {
		v := loadedTables(t, newTablesView(tablesCtx(120, 40), TableSourceFunc(func(context.Context) (TableReport, error) {
			return tablesReport(1_000_000), nil
		})))
		if v.state != stateReady {
			t.Fatalf("state %v, err %v", v.state, v.err)
		}
		out := ansi.Strip(v.View())
		for _, want := range []string{"file 930.0 MiB", "WAL 4.0 MiB", "free pages 12.0 MiB", "table / index"} {
			if !strings.Contains(out, want) {
				t.Errorf("the view lacks %q:\n%s", want, out)
			}
		}
		for _, tc := range []struct{ line, want string }{
			{"appeals ", "1.0M"},
			{"appeal_negotiation_messages", "~2.8M"}, // estimated
			{"ml_predictions", "—"},                  // unknown
			{"idx_appeals_user_status", "30.0 MiB"},
		} {
			if l := lineWith(out, tc.line); !strings.Contains(l, tc.want) {
				t.Errorf("the %s line %q lacks %q", tc.line, l, tc.want)
			}
		}
		lines := strings.Split(out, "\n")
		at := func(s string) int {
			for i, l := range lines {
				if strings.Contains(l, s) {
					return i
				}
			}
			t.Fatalf("no line with %q:\n%s", s, out)
			return -1
		}
		if a, i1, i2, m := at("appeals "), at("└ idx_appeals_user_status"), at("└ idx_appeals_created"), at("appeal_negotiation_messages "); !(a < i1 && i1 < i2 && i2 < m) {
			t.Errorf("the indexes are not under their table (lines %d %d %d %d):\n%s", a, i1, i2, m, out)
		}
		// The first measurement has no growth yet.
		if l := lineWith(out, "appeals "); !strings.Contains(l, "measuring") {
			t.Errorf("the first measurement shows a growth: %q", l)
		}
	})

	t.Run("growth per hour from the first measurement, after a minute", func(t *testing.T) {
		v := newTablesView(tablesCtx(120, 40), nil)
		v, _ = v.Update(tablesLoadedMsg{report: tablesReport(10_000), at: fixedNow})
		v, _ = v.Update(tablesLoadedMsg{report: tablesReport(10_500), at: fixedNow.Add(30 * time.Second)})
		if l := lineWith(ansi.Strip(v.View()), "appeals "); !strings.Contains(l, "measuring") {
			t.Errorf("growth after 30 s: %q, want still measuring", l)
		}
		v, _ = v.Update(tablesLoadedMsg{report: tablesReport(13_600), at: fixedNow.Add(2 * time.Hour)})
		out := ansi.Strip(v.View())
		if l := lineWith(out, "appeals "); !strings.Contains(l, "+1800/h") {
			t.Errorf("growth after 2 h: %q, want +1800/h", l)
		}
		// The estimated count grows by nothing; the unknown has no growth.
		if l := lineWith(out, "appeal_negotiation_messages"); !strings.Contains(l, "+0/h") {
			t.Errorf("messages: %q, want +0/h", l)
		}
		if l := lineWith(out, "ml_predictions"); strings.Contains(l, "/h") {
			t.Errorf("an unknown count has a growth: %q", l)
		}
	})

	t.Run("ctrl+r measures again, the figures stay on screen meanwhile", func(t *testing.T) {
		var calls atomic.Int32
		v := loadedTables(t, newTablesView(tablesCtx(120, 40), TableSourceFunc(func(context.Context) (TableReport, error) {
			calls.Add(1)
			return tablesReport(1_000_000), nil
		})))
		v, cmd := v.Update(ctrl('r'))
		if !v.loading || cmd == nil {
			t.Fatalf("loading %v, cmd %v: want a new measurement", v.loading, cmd != nil)
		}
		if out := ansi.Strip(v.View()); strings.Contains(out, "measuring table sizes") || !strings.Contains(out, "appeals") {
			t.Errorf("the figures went away while measuring again:\n%s", out)
		}
		msg := runWithTimeout(t, cmd).(envelope)
		v, _ = v.Update(msg.msg)
		if v.loading || calls.Load() != 2 {
			t.Fatalf("loading %v after the answer; %d measurements, want 2", v.loading, calls.Load())
		}
	})

	t.Run("scrolling: the list moves and stops at both ends", func(t *testing.T) {
		r := TableReport{FileBytes: 1 << 30}
		for i := 0; i < 40; i++ {
			r.Tables = append(r.Tables, TableStat{Name: fmt.Sprintf("table_%02d", i), Rows: int64(i), Bytes: 1 << 20})
		}
		ctx := tablesCtx(120, 24)
		v := newTablesView(ctx, nil)
		v, _ = v.Update(tablesLoadedMsg{report: r, at: fixedNow})
		first := func() string {
			for _, l := range strings.Split(ansi.Strip(v.View()), "\n") {
				if strings.HasPrefix(l, "table_") {
					return l[:len("table_00")]
				}
			}
			return ""
		}
		if got := first(); got != "table_00" {
			t.Fatalf("first row %q", got)
		}
		for i := 0; i < 3; i++ {
			v, _ = v.Update(press("j"))
		}
		if got := first(); got != "table_03" {
			t.Errorf("after 3 down: first row %q, want table_03", got)
		}
		for i := 0; i < 10; i++ {
			v, _ = v.Update(press("k"))
		}
		if got := first(); got != "table_00" || v.offset != 0 {
			t.Errorf("after 10 up: first row %q offset %d, want table_00 at 0", got, v.offset)
		}
		for i := 0; i < 100; i++ {
			v, _ = v.Update(press("j"))
		}
		out := ansi.Strip(v.View())
		if !strings.Contains(out, "table_39") {
			t.Errorf("the last table is not shown at the bottom:\n%s", out)
		}
		if n := len(strings.Split(out, "\n")); n > ctx.bodyHeight() {
			t.Errorf("%d lines, more than the body's %d", n, ctx.bodyHeight())
		}
	})

	t.Run("its keys", func(t *testing.T) {
		v := newTablesView(tablesCtx(80, 24), nil)
		var keys []string
		for _, b := range v.Hints() {
			keys = append(keys, b.Help().Key)
		}
		if got := strings.Join(keys, " "); got != "ctrl+r ↑/k ↓/j esc" {
			t.Errorf("hints %q", got)
		}
	})
}

// TestTablesInTheConsole: t opens the view and measures; at 80 columns no
// line is wider than the terminal; ctrl+r there measures the tables
// again rather than refreshing the figures.
func TestTablesInTheConsole(t *testing.T) {
	var calls atomic.Int32
	m := loaded(t, func(o *Options) {
		o.Tables = TableSourceFunc(func(context.Context) (TableReport, error) {
			calls.Add(1)
			r := tablesReport(1_000_000)
			r.Tables = append(r.Tables, TableStat{Name: "appeal_negotiation_messages_archive_with_a_long_name_indeed", Rows: 123_456_789, Bytes: 3 << 40})
			return r, nil
		})
	})
	m, _ = step(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	m, cmd := step(t, m, press("t"))
	if m.focus != viewTables {
		t.Fatalf("focus %v", m.focus)
	}
	m = drain(t, m, cmd)
	if calls.Load() != 1 || m.tables.state != stateReady {
		t.Fatalf("%d measurements, state %v", calls.Load(), m.tables.state)
	}
	out := plain(m)
	lines := strings.Split(out, "\n")
	if len(lines) != 24 {
		t.Errorf("%d lines, want 24", len(lines))
	}
	for i, l := range lines {
		if w := ansi.StringWidth(l); w > 80 {
			t.Errorf("line %d is %d cells wide: %q", i+1, w, l)
		}
	}
	for _, want := range []string{"Tables", "appeals", "└ idx_appeals_user_status", "123M", "3.0 TiB", "ctrl+r"} {
		if !strings.Contains(out, want) {
			t.Errorf("the screen lacks %q:\n%s", want, out)
		}
	}
	m, cmd = step(t, m, ctrl('r'))
	if cmd == nil || !m.tables.loading {
		t.Fatalf("ctrl+r in the tables view: cmd %v loading %v", cmd != nil, m.tables.loading)
	}
	msg := runWithTimeout(t, cmd)
	if env, ok := msg.(envelope); !ok || env.to != viewTables {
		t.Fatalf("ctrl+r gave %T, want the tables' measurement", msg)
	}
	if calls.Load() != 2 {
		t.Errorf("%d measurements, want 2", calls.Load())
	}
}
