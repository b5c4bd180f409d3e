package tui

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/repops/repops/internal/humanize"
	"github.com/repops/repops/runbooks"
)

// The runbooks view's list mode (rbList): the catalogue, filterable, with
// the override files the catalogue skipped as warnings above it.

// filtered are the runbooks whose id, title, tags, alerts or severity
// hold the filter.
func (v runbooksView) filtered() []*runbooks.Runbook {
	if v.filter == "" {
		return v.all
	}
	f := strings.ToLower(v.filter)
	var out []*runbooks.Runbook
	for _, rb := range v.all {
		hay := strings.ToLower(rb.ID + " " + rb.Title + " " + strings.Join(rb.Tags, " ") + " " + strings.Join(rb.When, " ") + " " + rb.Severity)
		if strings.Contains(hay, f) {
			out = append(out, rb)
		}
	}
	return out
}

func (v runbooksView) onListKey(msg tea.KeyPressMsg) (runbooksView, tea.Cmd) {
	k := v.ctx.Keys
	list := v.filtered()
	switch {
	case key.Matches(msg, k.Filter):
		return v.ask(inFilter, "/", "filter by id, title, tag, alert")
	case key.Matches(msg, k.Back):
		v.filter = ""
	case key.Matches(msg, k.Up):
		v.sel = max(0, v.sel-1)
	case key.Matches(msg, k.Down):
		v.sel = min(max(0, len(list)-1), v.sel+1)
	case key.Matches(msg, k.Top):
		v.sel = 0
	case key.Matches(msg, k.Bottom):
		v.sel = max(0, len(list)-1)
	case key.Matches(msg, k.Enter):
		if len(list) > 0 {
			return v.openRunbook(list[min(v.sel, len(list)-1)].ID, false)
		}
	}
	return v, nil
}

func (v runbooksView) listView() string {
	st := v.ctx.Styles
	w, h := v.ctx.Width, v.ctx.bodyHeight()
	list := v.filtered()
	head := st.Title.Render("Runbooks") + st.Muted.Render(fmt.Sprintf("  %d of %d", len(list), len(v.all)))
	if v.filter != "" {
		head += st.Muted.Render("  filter: ") + st.Accent.Render(v.filter)
	}
	lines := []string{head}
	lines = append(lines, v.problemLines(w)...)
	if v.run != nil && v.state.Status == runbooks.RunRunning {
		lines = append(lines, st.State("pending").Render(fmt.Sprintf("⚙ run under way: %s, step %d of %d (enter on %s continues it)", v.state.RunbookID, v.cur.Index+1, v.cur.Total, v.state.RunbookID)))
	}
	room := max(1, h-len(lines)-1)
	sel := min(v.sel, max(0, len(list)-1))
	off := max(0, sel-room+1)
	for i := off; i < min(len(list), off+room); i++ {
		rb := list[i]
		mark := "  "
		if i == sel {
			mark = st.Accent.Render("▸ ")
		}
		obj := ""
		if rb.Objectives.RTO > 0 {
			obj = "RTO " + humanize.Age(rb.Objectives.RTO)
		}
		sev := st.State(severityState(rb.Severity)).Render(padRight(rb.Severity, 8))
		idW := 0
		for _, b := range list {
			idW = max(idW, cellWidth(b.ID))
		}
		idW = min(30, max(16, idW))
		// Below 100 columns the step count goes (the runbook's page
		// shows it) so that ids and titles keep their words.
		tail := fmt.Sprintf("%-10s", obj)
		if w >= 100 {
			tail = fmt.Sprintf("%2d steps %-10s", len(rb.Steps), obj)
		}
		titleW := max(10, w-2-idW-1-8-1-1-lipgloss.Width(tail))
		line := mark + padRight(rb.ID, idW) + " " + sev + " " + padRight(cutWords(rb.Title, titleW), titleW) + " " + st.Muted.Render(tail)
		lines = append(lines, truncate(line, w))
	}
	if len(list) == 0 {
		lines = append(lines, st.Muted.Render("  no runbook matches; esc clears the filter"))
	}
	return strings.Join(lines, "\n")
}

// maxProblemLines bounds the override problems the list shows, so that the
// runbooks keep the screen; 'repops runbook list' prints them all.
const maxProblemLines = 3

// problemLines are the warnings for the override files the catalogue
// skipped: a count, then each problem as base-name:line: message.
func (v runbooksView) problemLines(w int) []string {
	probs := v.problems()
	if len(probs) == 0 {
		return nil
	}
	st := v.ctx.Styles
	files := map[string]bool{}
	for _, p := range probs {
		var pe *runbooks.ParseError
		if errors.As(p, &pe) {
			files[pe.File] = true
		}
	}
	n := max(1, len(files))
	what := "a runbook file was skipped"
	if n > 1 {
		what = fmt.Sprintf("%d runbook files were skipped", n)
	}
	out := []string{truncate(st.State("warning").Render("⚠ "+what)+st.Muted.Render(" (console.runbook_dir); the others are all here:"), w)}
	for i, p := range probs {
		if i == maxProblemLines {
			out = append(out, truncate(st.Muted.Render(fmt.Sprintf("  … %d more: repops runbook list shows them all", len(probs)-i)), w))
			break
		}
		line := p.Error()
		var pe *runbooks.ParseError
		if errors.As(p, &pe) {
			short := *pe
			short.File = filepath.Base(pe.File)
			line = short.Error()
		}
		out = append(out, truncate(st.State("warning").Render("  ⚠ ")+line, w))
	}
	return out
}

// problems are the catalogue's skipped files, once it is loaded (an
// in-memory lookup, like List).
func (v runbooksView) problems() []error {
	if v.svc == nil || !catalogueReady(v.svc) {
		return nil
	}
	if p, ok := v.svc.(RunbookProblems); ok {
		return p.Problems()
	}
	return nil
}

// listHints are the list's keys.
func (v runbooksView) listHints() []key.Binding {
	k := v.ctx.Keys
	return []key.Binding{k.Enter, k.Filter, k.Up, k.Down}
}
