package tui

import (
	"fmt"
	"os"
	"path/filepath"
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
// since the console started (and the day before it), newest last.
type journalView struct {
	ctx     *ProgramContext
	store   JournalStore
	openErr error // why there is no store (Options.JournalErr)
	since   time.Time
	state   loadState
	err     error
	entries []ops.Entry
	offset  int // first line shown, from the bottom when follow is set
	follow  bool
	// exportPending is an export asked for before the entries loaded.
	exportPending bool
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
	case tea.KeyPressMsg:
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
			v.follow, v.offset = false, 0
		case key.Matches(msg, k.Bottom):
			v.follow = true
		case key.Matches(msg, k.Export):
			return v, v.export()
		case key.Matches(msg, k.Refresh):
			return v, v.load()
		}
	}
	return v, nil
}

func (v journalView) export() tea.Cmd {
	return addressed(viewJournal, exportJournalCmd(v.entries, filepath.Join(v.ctx.Config.StateDir(), "exports"), v.ctx.Now()))
}

func (v *journalView) scroll(d int) {
	rows := v.listHeight()
	maxOff := max(0, len(v.entries)-rows)
	if v.follow {
		v.offset = maxOff
	}
	v.offset = max(0, min(maxOff, v.offset+d))
	v.follow = v.offset == maxOff
}

func (v journalView) listHeight() int { return max(1, v.ctx.bodyHeight()-2) }

// Hints are the view's keys for the key-hints bar.
func (v journalView) Hints() []key.Binding {
	k := v.ctx.Keys
	return []key.Binding{k.Up, k.Down, k.Export, k.Back}
}

// View draws the view in the body's width and height.
func (v journalView) View() string {
	st := v.ctx.Styles
	w := v.ctx.Width
	var b strings.Builder
	b.WriteString(st.Title.Render("Journal") + st.Muted.Render(fmt.Sprintf("  incident timeline since %s", v.since.UTC().Format("2006-01-02 15:04 UTC"))))
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
	// Columns as wide as what they hold, so the details keep the rest.
	whoW, whatW := 3, 13
	for _, e := range v.entries {
		whoW = max(whoW, cellWidth(e.Actor.User))
		what := e.Action
		if e.Step != "" {
			what = e.Step + " · " + e.Runbook
		}
		whatW = max(whatW, cellWidth(what))
	}
	whoW, whatW = min(whoW, 14), min(whatW, max(28, min(50, (w-34)/2)))
	b.WriteString(st.Muted.Render(truncate(fmt.Sprintf("%-8s %-*s %-*s %-9s %s", "time", whoW, "who", whatW, "action / step", "outcome", "details"), w)))
	b.WriteString("\n")
	rows := v.listHeight()
	off := v.offset
	if v.follow {
		off = max(0, len(v.entries)-rows)
	}
	end := min(len(v.entries), off+rows)
	for i := off; i < end; i++ {
		e := v.entries[i]
		what := e.Action
		if e.Step != "" {
			what = e.Step + " · " + e.Runbook
		}
		details := e.Message
		if e.Target != "" && details == "" {
			details = e.Target
		}
		line := fmt.Sprintf("%-8s %s %s ", e.Time.In(v.ctx.Now().Location()).Format("15:04:05"), padRight(e.Actor.User, whoW), padRight(what, whatW))
		b.WriteString(truncate(line, w))
		b.WriteString(st.State(outcomeState(e.Outcome)).Render(fmt.Sprintf("%-9s", e.Outcome)))
		b.WriteString(" " + truncate(details, max(0, w-lenRunes(line)-10)))
		if i < end-1 {
			b.WriteString("\n")
		}
	}
	return b.String()
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
