package tui

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/repops/repops/ops"
)

// JournalStore is the ops journal as the console uses it: read the
// timeline, append the operator's notes. *ops.Journal implements it. Both
// calls may block on the file; the console makes them only from Cmds.
type JournalStore interface {
	Entries(since time.Time) ([]ops.Entry, error)
	Append(e ops.Entry) (ops.Entry, error)
}

var _ JournalStore = (*ops.Journal)(nil)

// journalLoadedMsg carries the timeline read by loadJournalCmd.
type journalLoadedMsg struct {
	entries []ops.Entry
	err     error
}

// journalExportedMsg says where an export went.
type journalExportedMsg struct {
	paths []string
	err   error
}

// loadJournalCmd reads the timeline since since.
func loadJournalCmd(j JournalStore, since time.Time) tea.Cmd {
	return func() tea.Msg {
		if j == nil {
			return journalLoadedMsg{err: fmt.Errorf("no ops journal: the state dir could not be opened")}
		}
		e, err := j.Entries(since)
		return journalLoadedMsg{entries: e, err: err}
	}
}

// exportJournalCmd writes entries as Markdown and JSON into dir.
func exportJournalCmd(entries []ops.Entry, dir string, now time.Time) tea.Cmd {
	return func() tea.Msg {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return journalExportedMsg{err: fmt.Errorf("export journal: create %s: %w", dir, err)}
		}
		stem := filepath.Join(dir, "journal-"+now.UTC().Format("20060102T150405Z"))
		var paths []string
		for _, f := range []struct {
			ext   string
			write func(*os.File) error
		}{
			{".md", func(w *os.File) error { return ops.ExportMarkdown(w, entries) }},
			{".json", func(w *os.File) error { return ops.ExportJSON(w, entries) }},
		} {
			p := stem + f.ext
			w, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				return journalExportedMsg{err: fmt.Errorf("export journal to %s: %w", p, err)}
			}
			err = f.write(w)
			if cerr := w.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return journalExportedMsg{err: fmt.Errorf("export journal to %s: %w", p, err)}
			}
			paths = append(paths, p)
		}
		return journalExportedMsg{paths: paths}
	}
}

// journalView is the incident timeline: every procedure, step, and note
// since the console started (and the day before it), newest last (s
// turns the order). A marker selects an entry: ↑/↓ move it, the list
// scrolling under it while it can; enter shows the whole entry, every
// field wrapped to the width; / filters the entries.
type journalView struct {
	ctx     *ProgramContext
	store   JournalStore
	openErr error // why there is no store (Options.JournalErr)
	since   time.Time
	state   loadState
	err     error
	entries []ops.Entry
	offset  int // first row shown, of the filtered and sorted entries
	sel     int // the selected row, of the same
	// follow keeps the newest entry selected and in view, as entries come.
	follow bool
	// exportPending is an export asked for before the entries loaded.
	exportPending bool

	filter listFilter
	desc   bool // newest first
	// detail is the entry shown whole (enter), scrolled by dscroll.
	detail  *ops.Entry
	dscroll scroller
}

func newJournalView(ctx *ProgramContext, store JournalStore, since time.Time) journalView {
	return journalView{ctx: ctx, store: store, since: since, follow: true}
}

// load reads the journal again; without a store it keeps the reason the
// journal could not be opened (Options.JournalErr) rather than a guess.
func (v journalView) load() tea.Cmd {
	if v.store == nil && v.openErr != nil {
		err := v.openErr
		return addressed(viewJournal, func() tea.Msg { return journalLoadedMsg{err: err} })
	}
	return addressed(viewJournal, loadJournalCmd(v.store, v.since))
}

// capturing: the filter is being typed, so letters are text, not keys.
func (v journalView) capturing() bool { return v.filter.Editing() }

// handlesBack: esc closes the entry's detail or clears the filter rather
// than leaving the view.
func (v journalView) handlesBack() bool {
	return v.detail != nil || v.filter.Editing() || v.filter.Active()
}

// visible are the entries the filter keeps, in the order chosen.
func (v journalView) visible() []ops.Entry {
	out := make([]ops.Entry, 0, len(v.entries))
	for _, e := range v.entries {
		if v.filter.Match(journalFields(e, v.ctx.Now().Location())...) {
			out = append(out, e)
		}
	}
	if v.desc {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out
}

// journalFields are what the filter looks in: every field shown.
func journalFields(e ops.Entry, loc *time.Location) []string {
	return []string{e.Time.In(loc).Format("2006-01-02 15:04:05"), e.Actor.User, e.Actor.Host, e.Action, e.Step, e.Runbook,
		e.RunID, e.Outcome, e.Message, e.Target}
}

// newest is the row of the newest entry among n: the last, or the first
// when the order is newest first.
func (v journalView) newest(n int) int {
	if v.desc {
		return 0
	}
	return max(0, n-1)
}

// pin puts the selection and the view on the newest entry when following.
func (v *journalView) pin(n int) {
	rows := v.listHeight()
	v.sel = max(0, min(v.sel, n-1))
	if v.follow {
		v.sel = v.newest(n)
		v.offset = 0
		if !v.desc {
			v.offset = max(0, n-rows)
		}
	}
	v.offset = max(0, min(v.offset, n-rows))
}

// Update handles the view's own messages and keys; it does no I/O.
func (v journalView) Update(msg tea.Msg) (journalView, tea.Cmd) {
	k := v.ctx.Keys
	switch msg := msg.(type) {
	case journalLoadedMsg:
		if msg.err != nil {
			v.state, v.err = stateError, msg.err
			return v, nil
		}
		v.state, v.err, v.entries = stateReady, nil, msg.entries
		v.pin(len(v.visible()))
		if v.exportPending {
			v.exportPending = false
			return v, v.export()
		}
	case exportRequestMsg:
		if v.state != stateReady {
			v.exportPending = true
			return v, nil
		}
		return v, v.export()
	case journalExportedMsg:
		if msg.err != nil {
			return v, flash(msg.err.Error(), true)
		}
		return v, flash("journal exported: "+strings.Join(msg.paths, ", "), false)
	case rowClickMsg:
		return v.onRowClick(msg), nil
	case tea.MouseWheelMsg:
		if v.detail != nil {
			v.dscroll.Fit(len(v.detailLines()), v.detailRoom())
			v.dscroll.Wheel(msg)
			return v, nil
		}
		switch msg.Button {
		case tea.MouseWheelDown:
			v.scroll(wheelLines)
		case tea.MouseWheelUp:
			v.scroll(-wheelLines)
		}
	case tea.KeyPressMsg:
		if v.detail != nil {
			return v.onDetailKey(msg)
		}
		if handled, changed := v.filter.Key(msg, k); handled {
			if changed {
				v.follow = true
				v.pin(len(v.visible()))
			}
			return v, nil
		}
		page := max(1, v.ctx.bodyHeight()-3)
		switch {
		case key.Matches(msg, k.Up):
			v.scroll(-1)
		case key.Matches(msg, k.Down):
			v.scroll(1)
		case key.Matches(msg, k.PageUp):
			v.scroll(-page)
		case key.Matches(msg, k.PageDown):
			v.scroll(page)
		case key.Matches(msg, k.Top):
			n := len(v.visible())
			v.sel, v.offset, v.follow = 0, 0, v.newest(n) == 0
		case key.Matches(msg, k.Bottom):
			n := len(v.visible())
			v.sel, v.offset = max(0, n-1), max(0, n-v.listHeight())
			v.follow = v.newest(n) == v.sel
		case key.Matches(msg, k.Enter):
			list := v.visible()
			if len(list) == 0 {
				return v, nil
			}
			v.pin(len(list))
			e := list[v.sel]
			v.detail, v.dscroll = &e, scroller{}
		case key.Matches(msg, sortKey):
			v.desc = !v.desc
			v.follow = true
			v.pin(len(v.visible()))
		case matchStep(msg) != 0:
			if !v.filter.Active() {
				return v, nil
			}
			n := len(v.visible())
			if n == 0 {
				return v, nil
			}
			v.pin(n)
			v.scroll(cycle(v.sel, n, matchStep(msg)) - v.sel)
		case key.Matches(msg, k.Export):
			return v, v.export()
		case key.Matches(msg, k.Refresh):
			return v, v.load()
		}
	}
	return v, nil
}

// onDetailKey scrolls the entry's detail; esc or enter goes back to the
// list.
func (v journalView) onDetailKey(msg tea.KeyPressMsg) (journalView, tea.Cmd) {
	k := v.ctx.Keys
	if key.Matches(msg, k.Back, k.Enter) {
		v.detail = nil
		return v, nil
	}
	v.dscroll.Fit(len(v.detailLines()), v.detailRoom())
	v.dscroll.Key(msg, k)
	return v, nil
}

func (v journalView) export() tea.Cmd {
	return addressed(viewJournal, exportJournalCmd(v.entries, filepath.Join(v.ctx.Config.StateDir(), "exports"), v.ctx.Now()))
}

// scroll moves the selection d rows; the list scrolls with it while it
// can, so the marker stays where it is on the screen until the list
// reaches its top or bottom, then moves.
func (v *journalView) scroll(d int) {
	n := len(v.visible())
	rows := v.listHeight()
	maxOff := max(0, n-rows)
	v.pin(n)
	v.sel = max(0, min(max(0, n-1), v.sel+d))
	v.offset = max(0, min(maxOff, v.offset+d))
	switch {
	case v.sel < v.offset:
		v.offset = v.sel
	case v.sel >= v.offset+rows:
		v.offset = v.sel - rows + 1
	}
	v.follow = v.sel == v.newest(n)
}

func (v journalView) listHeight() int { return max(1, v.ctx.bodyHeight()-journalListTop) }

var (
	journalEnterHint = key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "details"))
	filterKeepHint   = key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "keep filter"))
	filterClearHint  = key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filter"))
)

// Hints are the view's keys for the key-hints bar.
func (v journalView) Hints() []key.Binding {
	k := v.ctx.Keys
	switch {
	case v.filter.Editing():
		return []key.Binding{filterKeepHint, filterClearHint}
	case v.detail != nil:
		return []key.Binding{k.Up, k.Down, k.PageDown, k.Back}
	case v.filter.Active():
		return []key.Binding{k.Up, k.Down, k.Export, journalEnterHint, nextMatchKey, filterClearHint}
	}
	return []key.Binding{k.Up, k.Down, k.Export, journalEnterHint, k.Filter, sortKey, k.Back}
}

// View draws the view in the body's width and height.
func (v journalView) View() string {
	if v.detail != nil && v.state == stateReady {
		return v.detailView()
	}
	st := v.ctx.Styles
	w := v.ctx.Width
	var b strings.Builder
	list := v.visible()
	head := st.Title.Render("Journal")
	if v.filter.Editing() || v.filter.Active() {
		head += "  " + v.filter.Header(st, len(list), len(v.entries))
	}
	order := "oldest first"
	if v.desc {
		order = "newest first"
	}
	since := fmt.Sprintf("since %s", v.since.UTC().Format("2006-01-02 15:04 UTC"))
	if v.state == stateReady && len(v.entries) > 0 {
		since += " · " + order
	}
	if long := "incident timeline " + since; cellWidth(head)+2+cellWidth(long) <= w {
		since = long
	}
	b.WriteString(truncate(head+st.Muted.Render("  "+since), w))
	b.WriteString("\n")
	switch v.state {
	case stateLoading:
		b.WriteString(st.Muted.Render("loading the ops journal…"))
		return b.String()
	case stateError:
		b.WriteString(st.Error.Render("journal unavailable: ") + truncate(v.err.Error(), w-22))
		return b.String()
	}
	if len(v.entries) == 0 {
		b.WriteString(st.Muted.Render("no entries yet: procedures, runbook steps and notes appear here as they happen"))
		return b.String()
	}
	if len(list) == 0 {
		b.WriteString(st.Muted.Render("no entry matches the filter; esc clears it"))
		return b.String()
	}
	// Columns as wide as what they hold, so the details keep the rest.
	whoW, whatW := 3, 13
	for _, e := range list {
		whoW = max(whoW, cellWidth(e.Actor.User))
		whatW = max(whatW, cellWidth(journalWhat(e)))
	}
	whoW, whatW = min(whoW, 14), min(whatW, max(26, min(50, (w-36)/2)))
	b.WriteString(st.Muted.Render(truncate(fmt.Sprintf("  %-8s %-*s %-*s %-9s %s", "time", whoW, "who", whatW, "action / step", "outcome", "details"), w)))
	b.WriteString("\n")
	v.pin(len(list))
	off, end := v.window(len(list))
	for i := off; i < end; i++ {
		e := list[i]
		details := e.Message
		if e.Target != "" && details == "" {
			details = e.Target
		}
		mark := "  "
		if i == v.sel {
			mark = st.Accent.Render("▸ ")
		}
		line := fmt.Sprintf("%-8s %s %s ", e.Time.In(v.ctx.Now().Location()).Format("15:04:05"), padRight(e.Actor.User, whoW), padRight(journalWhat(e), whatW))
		b.WriteString(mark + truncate(line, w-2))
		b.WriteString(st.State(outcomeState(e.Outcome)).Render(fmt.Sprintf("%-9s", e.Outcome)))
		b.WriteString(" " + truncate(details, max(0, w-2-lenRunes(line)-10)))
		if i < end-1 {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// journalWhat is an entry's action, or its step and runbook.
func journalWhat(e ops.Entry) string {
	if e.Step != "" {
		return e.Step + " · " + e.Runbook
	}
	return e.Action
}

// detailRoom is the height of the detail's scrolled part: the body less
// its title line.
func (v journalView) detailRoom() int { return max(1, v.ctx.bodyHeight()-1) }

// detailLines are every field of the entry shown, each wrapped to the
// width with nothing cut.
func (v journalView) detailLines() []string {
	if v.detail == nil {
		return nil
	}
	e := *v.detail
	st := v.ctx.Styles
	w := v.ctx.Width
	loc := v.ctx.Now().Location()
	type field struct{ name, value string }
	fields := []field{
		{"time", entryTime(e.Time, loc)},
		{"who", e.Actor.User + "@" + e.Actor.Host},
		{"ssh client", e.Actor.SSHClient},
		{"ssh key", e.Actor.Key},
		{"session", e.Actor.Session},
		{"action", e.Action},
		{"runbook", e.Runbook},
		{"step", e.Step},
		{"run id", e.RunID},
		{"outcome", e.Outcome},
		{"target", e.Target},
		{"message", e.Message},
		{"same as", e.Command},
	}
	if len(e.Params) > 0 {
		names := make([]string, 0, len(e.Params))
		for n := range e.Params {
			names = append(names, n)
		}
		sort.Strings(names)
		parts := make([]string, len(names))
		for i, n := range names {
			parts[i] = fmt.Sprintf("%s=%v", n, e.Params[n])
		}
		fields = append(fields, field{"params", strings.Join(parts, " · ")})
	}
	if len(e.Figures) > 0 {
		names := make([]string, 0, len(e.Figures))
		for n := range e.Figures {
			names = append(names, n)
		}
		sort.Strings(names)
		parts := make([]string, len(names))
		for i, n := range names {
			parts[i] = n + " " + strconv.FormatFloat(e.Figures[n], 'f', -1, 64)
		}
		fields = append(fields, field{"figures", strings.Join(parts, " · ")})
	}
	var out []string
	for _, f := range fields {
		if strings.TrimSpace(f.value) == "" || f.value == "@" {
			continue
		}
		out = append(out, detailField(st, f.name, 10, f.value, w)...)
	}
	return out
}

// entryTime is an entry's time in full, local and, when local is not
// UTC, in UTC too.
func entryTime(t time.Time, loc *time.Location) string {
	s := t.In(loc).Format("2006-01-02 15:04:05 MST")
	if _, off := t.In(loc).Zone(); off != 0 {
		s += " (" + t.UTC().Format("2006-01-02 15:04:05 UTC") + ")"
	}
	return s
}

// detailView is the selected entry, whole, scrollable.
func (v journalView) detailView() string {
	st := v.ctx.Styles
	e := *v.detail
	lines := v.detailLines()
	head := st.Title.Render("Journal") + st.Muted.Render(" › ") + st.Title.Render(fmt.Sprintf("entry %d", e.Seq)) +
		st.Muted.Render("  esc or enter: back to the list")
	v.dscroll.Fit(len(lines), v.detailRoom())
	out := append([]string{truncate(head, v.ctx.Width)}, v.dscroll.Window(lines)...)
	if m := v.dscroll.Marker(); m != "" {
		out = append(out, st.Muted.Render(m))
	}
	return strings.Join(out, "\n")
}

// outcomeState colours a journal outcome like a state.
func outcomeState(o string) string {
	switch o {
	case ops.OutcomeOK:
		return "ok"
	case ops.OutcomeFailed:
		return "critical"
	case ops.OutcomeCancelled, ops.OutcomeSkipped, ops.OutcomeWarning:
		return "warning"
	default:
		return "unknown"
	}
}
