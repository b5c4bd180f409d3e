package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/repops/repops/internal/humanize"
	"github.com/repops/repops/runbooks"
)

// The runbooks view's page mode (rbRead): one runbook's text and steps,
// from which the operator starts a run, or resumes the runbook's
// unfinished run.

// unfinishedRunsMsg is the look-up of a runbook's unfinished runs in the
// state dir (findUnfinishedCmd): runs are resumable, newest first; start
// says the operator asked for a run, which starts when there is none.
type unfinishedRunsMsg struct {
	runbookID string
	runs      []runbooks.RunState
	start     bool
	err       error
}

// openRunbook shows runbook id, and starts a run of it when start is set.
// Either way the runbook's unfinished runs are looked up first: one is
// offered for resume rather than a second run started beside it.
func (v runbooksView) openRunbook(id string, start bool) (runbooksView, tea.Cmd) {
	if v.svc == nil {
		return v, flash("runbooks are not available: the catalogue could not be loaded", true)
	}
	if v.run != nil && v.state.RunbookID == id && v.state.Status == runbooks.RunRunning {
		v.mode = rbRun
		return v, nil
	}
	rb, ok := v.svc.Get(id)
	if !ok {
		return v, flash(fmt.Sprintf("no runbook %q: r lists them, / filters", id), true)
	}
	v.book, v.mode = rb, rbRead
	v.scroll.Top()
	v.checked, v.offer = "", nil
	if start {
		if v.running {
			return v, flash(fmt.Sprintf("a step of %s is running: wait for its result", v.state.RunbookID), true)
		}
		if v.starting {
			return v, nil
		}
		v.starting = true
	}
	return v, v.findUnfinishedCmd(id, start)
}

// findUnfinishedCmd looks up runbook id's resumable runs in the state dir
// (runbooks.ListRuns, where the engine keeps them), off the event loop.
func (v runbooksView) findUnfinishedCmd(id string, start bool) tea.Cmd {
	dir := ""
	if v.ctx.Config != nil {
		dir = v.ctx.Config.StateDir()
	}
	return addressed(viewRunbooks, func() tea.Msg {
		msg := unfinishedRunsMsg{runbookID: id, start: start}
		if dir == "" {
			return msg
		}
		all, err := runbooks.ListRuns(dir)
		if err != nil {
			msg.err = err
			return msg
		}
		for _, st := range all {
			if st.RunbookID == id && st.Status.Resumable() {
				msg.runs = append(msg.runs, st)
			}
		}
		return msg
	})
}

// onUnfinishedRuns offers the newest unfinished run of the open runbook,
// or starts the run the operator asked for when there is none.
func (v runbooksView) onUnfinishedRuns(msg unfinishedRunsMsg) (runbooksView, tea.Cmd) {
	if msg.start {
		v.starting = false
	}
	if v.book == nil || v.book.ID != msg.runbookID {
		return v, nil // another runbook was opened since
	}
	v.checked, v.offer = msg.runbookID, nil
	if len(msg.runs) > 0 {
		st := msg.runs[0]
		v.offer = &st
		v.mode = rbRead
		return v.ask(inOffer, "", "")
	}
	var warn tea.Cmd
	if msg.err != nil {
		warn = flash("could not look for unfinished runs: "+msg.err.Error(), true)
	}
	if msg.start {
		var c tea.Cmd
		v, c = v.startNew()
		return v, tea.Batch(c, warn)
	}
	return v, warn
}

// onOfferKey answers the offer of an unfinished run: r resumes it, n
// starts a new run beside it, esc leaves both (the page stays, enter asks
// again).
func (v runbooksView) onOfferKey(msg tea.KeyPressMsg) (runbooksView, tea.Cmd) {
	if v.offer == nil {
		v.reading = inNone
		v.input.Blur()
		return v, nil
	}
	switch msg.String() {
	case "r", "R":
		id := v.offer.RunID
		v.reading, v.offer = inNone, nil
		v.input.Blur()
		return v.resumeRun(id)
	case "n", "N":
		v.reading, v.offer = inNone, nil
		v.input.Blur()
		return v.startNew()
	case "esc":
		v.reading = inNone
		v.input.Blur()
		return v, flash("nothing started: enter asks again", false)
	}
	return v, flash(fmt.Sprintf("run %s is unfinished: r resumes it, n starts a new run, esc neither", v.offer.RunID), false)
}

// offerLines say which unfinished run the page offers, wrapped to w.
func (v runbooksView) offerLines(w int) []string {
	if v.offer == nil {
		return nil
	}
	st := v.ctx.Styles
	o := v.offer
	at := fmt.Sprintf("step %d of %d", o.Current+1, len(o.Steps))
	if name := o.CurrentStep(); name != "" {
		at += " (" + name + ")"
	}
	line := fmt.Sprintf("⚠ an unfinished run %s stopped at %s, %s, %s ago", o.RunID, at, o.Status, humanize.Age(v.ctx.Now().Sub(o.UpdatedAt)))
	if o.Note != "" {
		line += ": " + o.Note
	}
	out := wrapAll([]string{st.State("warning").Render(line)}, w)
	return append(out, st.Bold.Render("  r resume it · n start a new run"), "")
}

// offerPrompt is the bottom line while the offer waits for its key (the
// lines above it name the run).
func (v runbooksView) offerPrompt() string {
	st := v.ctx.Styles
	return st.Accent.Render("unfinished run: ") + st.Bold.Render("r") + " resume · " + st.Bold.Render("n") + " new run · " + st.Bold.Render("esc") + " neither"
}

func (v runbooksView) onReadKey(msg tea.KeyPressMsg) (runbooksView, tea.Cmd) {
	k := v.ctx.Keys
	switch {
	case key.Matches(msg, k.Back):
		v.mode = rbList
		return v, nil
	case key.Matches(msg, k.Enter, k.Do):
		return v.startRun()
	}
	lines, room := v.readPane()
	v.scroll.Fit(len(lines), room)
	v.scroll.Key(msg, k)
	return v, nil
}

// readPane is the page below its title: the offer of an unfinished run,
// the intro and the steps, with the placeholders filled as a run fills
// them.
func (v runbooksView) readPane() (lines []string, room int) {
	st := v.ctx.Styles
	rb := v.book.Expand(v.vars)
	w := v.ctx.Width
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
	lines = append(v.offerLines(w), strings.Split(strings.TrimRight(text, "\n"), "\n")...)
	return lines, max(1, v.ctx.bodyHeight()-1)
}

func (v runbooksView) readView() string {
	st := v.ctx.Styles
	rb := v.book
	w := v.ctx.Width
	head := st.Title.Render(rb.Title) + st.Muted.Render(fmt.Sprintf("  %s · %s · %d steps", rb.ID, rb.Severity, len(rb.Steps)))
	if rb.Objectives.RTO > 0 {
		head += st.Muted.Render(fmt.Sprintf(" · RTO %s RPO %s", humanize.Age(rb.Objectives.RTO), humanize.Age(rb.Objectives.RPO)))
	}
	body, room := v.readPane()
	lines := append([]string{truncate(head, w)}, paneRows(st, v.scroll, body, room)...)
	return strings.Join(lines, "\n")
}

// readHints are the keys of a runbook's page.
func (v runbooksView) readHints() []key.Binding {
	k := v.ctx.Keys
	start := k.Enter
	start.SetHelp(k.Enter.Help().Key, "start the run")
	if v.offer != nil {
		start.SetHelp(k.Enter.Help().Key, "resume or new run")
	}
	return []key.Binding{start, k.Down, k.PageDown, k.Back}
}
