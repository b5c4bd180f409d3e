package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/repops/repops/internal/humanize"
)

// The runbooks view's page mode (rbRead): one runbook's text and steps,
// from which the operator starts a run.

// openRunbook shows runbook id, and starts a run of it when start is set.
func (v runbooksView) openRunbook(id string, start bool) (runbooksView, tea.Cmd) {
	if v.svc == nil {
		return v, flash("runbooks are not available: the catalogue could not be loaded", true)
	}
	if v.run != nil && v.state.RunbookID == id && !start {
		v.mode = rbRun
		return v, nil
	}
	rb, ok := v.svc.Get(id)
	if !ok {
		return v, flash(fmt.Sprintf("no runbook %q: r lists them, / filters", id), true)
	}
	v.book, v.mode, v.scroll = rb, rbRead, 0
	if start {
		return v.startRun()
	}
	return v, nil
}

func (v runbooksView) onReadKey(msg tea.KeyPressMsg) (runbooksView, tea.Cmd) {
	k := v.ctx.Keys
	switch {
	case key.Matches(msg, k.Back):
		v.mode = rbList
	case key.Matches(msg, k.Enter, k.Do):
		return v.startRun()
	case key.Matches(msg, k.Down, k.PageDown):
		v.scroll++
	case key.Matches(msg, k.Up, k.PageUp):
		v.scroll = max(0, v.scroll-1)
	}
	return v, nil
}

func (v runbooksView) readView() string {
	st := v.ctx.Styles
	rb := v.book
	w, h := v.ctx.Width, v.ctx.bodyHeight()
	head := st.Title.Render(rb.Title) + st.Muted.Render(fmt.Sprintf("  %s · %s · %d steps", rb.ID, rb.Severity, len(rb.Steps)))
	if rb.Objectives.RTO > 0 {
		head += st.Muted.Render(fmt.Sprintf(" · RTO %s RPO %s", humanize.Age(rb.Objectives.RTO), humanize.Age(rb.Objectives.RPO)))
	}
	var md strings.Builder
	md.WriteString(rb.Intro)
	md.WriteString("\n\n")
	for i, s := range rb.Steps {
		fmt.Fprintf(&md, "%d. **%s** (%s", i+1, s.Name, s.Kind)
		if s.Action != "" {
			fmt.Fprintf(&md, ": %s", s.Action)
		}
		if s.Destructive() {
			md.WriteString(", typed confirmation")
		}
		md.WriteString(")\n")
	}
	text := v.md.render(md.String(), w, st.Theme.Mono)
	lines := append([]string{truncate(head, w)}, scrollLines(text, v.scroll, h-1)...)
	return strings.Join(lines, "\n")
}

// readHints are the keys of a runbook's page.
func (v runbooksView) readHints() []key.Binding {
	k := v.ctx.Keys
	start := k.Enter
	start.SetHelp(k.Enter.Help().Key, "start the run")
	return []key.Binding{start, k.Down, k.Back}
}
