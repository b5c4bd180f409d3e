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
	if !v.filter.Active() {
		return v.all
	}
	var out []*runbooks.Runbook
	for _, rb := range v.all {
		if v.filter.Match(rb.ID, rb.Title, strings.Join(rb.Tags, " "), strings.Join(rb.When, " "), rb.Severity) {
			out = append(out, rb)
		}
	}
	return out
}

func (v runbooksView) onListKey(msg tea.KeyPressMsg) (runbooksView, tea.Cmd) {
	k := v.ctx.Keys
	// Decision: the first enter after typing a filter that leaves one
	// runbook both keeps the filter and opens it: /restore enter is on
	// the page. With more matches, enter keeps the filter and a second
	// enter opens the selected one.
	if v.filter.Editing() && msg.String() == "enter" {
		v.filter.Key(msg, k)
		if list := v.filtered(); len(list) == 1 {
			return v.openRunbook(list[0].ID, false)
		}
		return v, nil
	}
	if handled, changed := v.filter.Key(msg, k); handled {
		if changed {
			v.sel = 0
		}
		return v, nil
	}
	list := v.filtered()
	switch {
	case matchStep(msg) != 0:
		if v.filter.Active() && len(list) > 0 {
			v.sel = cycle(min(v.sel, len(list)-1), len(list), matchStep(msg))
		}
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
	w := v.ctx.Width
	list := v.filtered()
	lines := v.listHead(list)
	sel := min(v.sel, max(0, len(list)-1))
	off, end := v.listWindow(len(lines), len(list))
	for i := off; i < end; i++ {
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
	switch {
	case v.filter.Editing() && len(v.filtered()) == 1:
		// enter opens the one match (onListKey).
		return []key.Binding{key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "open it")), filterClearHint}
	case v.filter.Editing():
		return []key.Binding{filterKeepHint, filterClearHint}
	case v.filter.Active():
		return []key.Binding{k.Enter, k.Up, k.Down, nextMatchKey, filterClearHint}
	}
	return []key.Binding{k.Enter, k.Filter, k.Up, k.Down}
}
