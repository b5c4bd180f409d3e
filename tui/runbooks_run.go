package tui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/repops/repops/internal/humanize"
	"github.com/repops/repops/runbooks"
)

// The runbooks view's run mode (rbRun): a run, step by step, with its
// progress and its RTO timer. A step itself is done as runbooks_step.go
// says.

// runStartedMsg is the run that startRun or resumeRun started (or why
// not).
type runStartedMsg struct {
	run   RunbookRun
	cur   runbooks.Current
	curOK bool
	state runbooks.RunState
	err   error
}

// rtoTickMsg redraws the RTO timer once a second while a run with an
// objective is under way.
type rtoTickMsg struct{ runID string }

// resumeRun continues a run kept in the state dir: one that a dead
// process, a quit or a failed step left.
func (v runbooksView) resumeRun(runID string) (runbooksView, tea.Cmd) {
	if v.svc == nil {
		return v, flash("runbooks are not available: the catalogue could not be loaded", true)
	}
	if v.running || v.starting {
		return v, flash("a step is running: wait for its result", true)
	}
	v.starting = true
	svc := v.svc
	return v, v.switchRunCmd("the operator resumed another run", func() (RunbookRun, error) { return svc.Resume(runID) })
}

func (v runbooksView) startRun() (runbooksView, tea.Cmd) {
	if v.running {
		return v, flash(fmt.Sprintf("a step of %s is running: wait for its result", v.state.RunbookID), true)
	}
	if v.run != nil && v.state.Status == runbooks.RunRunning && v.state.RunbookID == v.book.ID {
		v.mode = rbRun
		return v, nil
	}
	if v.starting {
		return v, nil
	}
	v.starting = true
	svc, rb := v.svc, v.book
	return v, v.switchRunCmd("the operator started runbook "+rb.ID, func() (RunbookRun, error) { return svc.Start(rb) })
}

// switchRunCmd leaves the run under way, if any, and opens the one open
// returns (startRun, resumeRun): the run under way is paused with why
// (resumable with 'repops runbook resume') when it was running, and
// closed, which releases its lock. It captures values, not the model.
func (v runbooksView) switchRunCmd(why string, open func() (RunbookRun, error)) tea.Cmd {
	old := v.run
	pause := v.run != nil && v.state.Status == runbooks.RunRunning
	return addressed(viewRunbooks, func() tea.Msg {
		if old != nil {
			if pause {
				_ = old.Stop(why)
			}
			old.Close()
		}
		run, err := open()
		if err != nil {
			return runStartedMsg{err: err}
		}
		cur, ok := run.Current()
		return runStartedMsg{run: run, cur: cur, curOK: ok, state: run.State()}
	})
}

func (v runbooksView) rtoTick() tea.Cmd {
	if v.run == nil || v.book == nil || v.book.Objectives.RTO == 0 || v.state.Status != runbooks.RunRunning {
		return nil
	}
	id := v.state.RunID
	return addressed(viewRunbooks, tea.Tick(time.Second, func(time.Time) tea.Msg { return rtoTickMsg{runID: id} }))
}

// stepWrites reports whether the current step writes (and so is disabled
// in read-only mode).
func (v runbooksView) stepWrites() bool {
	if !v.curOK || v.cur.Step.Kind != runbooks.Action {
		return false
	}
	return runbooks.Actions()[v.cur.Step.Action].Writes
}

func (v runbooksView) onRunKey(msg tea.KeyPressMsg) (runbooksView, tea.Cmd) {
	if v.running {
		return v.onRunningKey(msg)
	}
	k := v.ctx.Keys
	switch {
	case key.Matches(msg, k.Back):
		v.mode = rbList
		return v, nil
	case v.scrollKey(msg):
		return v, nil
	case key.Matches(msg, k.Stop):
		return v, flash("no step is running: "+keyName(k.Stop)+" stops a step while it runs", false)
	}
	if v.running || !v.curOK || v.state.Status != runbooks.RunRunning {
		if key.Matches(msg, k.Do, k.Skip, k.Note) {
			if v.running {
				return v, flash("the step is running: wait for its result", false)
			}
			return v, flash(fmt.Sprintf("the run is %s: nothing more to do (r for the list)", v.state.Status), false)
		}
		return v, nil
	}
	switch {
	case key.Matches(msg, k.Do):
		if v.ctx.ReadOnly && v.stepWrites() {
			return v, flash("read-only mode: this step writes ("+v.cur.Step.Action+") and is disabled; skip it with a reason", true)
		}
		if v.cur.NeedsConfirm {
			return v.ask(inConfirm, fmt.Sprintf("type %s to run %s (empty or esc cancels): ", v.cur.ConfirmWord, v.cur.Step.Action), "")
		}
		return v.doStep(runbooks.StepInput{Note: v.note, Rerun: v.cur.Interrupted})
	case key.Matches(msg, k.Skip):
		return v.ask(inReason, "skip: why? ", "the reason is journaled")
	case key.Matches(msg, k.Note):
		return v.ask(inNote, "note: ", "recorded with this step")
	}
	return v, nil
}

// onRunningKey answers every key while a step runs on the run screen
// (the view is capturing): the stop key (ctrl+x), q, esc and ctrl+c stop
// the step, by cancelling its context; once asked, q (or ctrl+c) again
// quits anyway and esc leaves for the list, the step ending in the
// background, while the stop key only says the step is being stopped.
// The view keys switch views as always; the step's keys wait for its
// result; the other global keys (command line, pause, screenshot) wait
// for the step to end or stop. The root forwards ctrl+c here while a step
// runs, and the view answers it as q.
func (v runbooksView) onRunningKey(msg tea.KeyPressMsg) (runbooksView, tea.Cmd) {
	k := v.ctx.Keys
	switch {
	case key.Matches(msg, k.Stop):
		if v.stopping {
			return v, flash(fmt.Sprintf("stopping step %q: waiting for it to end (%s quits anyway, the run is kept)", v.cur.Step.Name, keyName(k.Quit)), false)
		}
		return v.stopStep()
	case key.Matches(msg, k.Back):
		if v.stopping {
			v.mode = rbList
			return v, nil
		}
		return v.stopStep()
	case key.Matches(msg, k.Quit) || msg.String() == "ctrl+c":
		if v.stopping {
			// Asked twice: quit anyway. The run's state is kept and
			// 'repops runbook resume' continues it.
			return v, tea.Quit
		}
		return v.stopStep()
	case v.scrollKey(msg):
		return v, nil
	case key.Matches(msg, k.Do, k.Skip, k.Note):
		return v, flash("the step is running: wait for its result, or stop it with "+keyName(k.Stop)+" ("+keyName(k.Back)+" or "+keyName(k.Quit)+" as well)", false)
	}
	for _, to := range []struct {
		b  key.Binding
		id viewID
	}{{k.Dashboard, viewDashboard}, {k.Alerts, viewAlerts}, {k.Tables, viewTables}, {k.Journal, viewJournal}, {k.Help, viewHelp}} {
		if key.Matches(msg, to.b) {
			id := to.id
			return v, func() tea.Msg { return switchViewMsg{to: id} }
		}
	}
	return v, flash("a step is running: "+keyName(k.Stop)+" ("+keyName(k.Back)+" or "+keyName(k.Quit)+" as well) stops it", false)
}

func (v runbooksView) stepMark(i int) string {
	st := v.ctx.Styles
	if i >= len(v.state.Steps) {
		return " "
	}
	switch v.state.Steps[i].Outcome {
	case runbooks.Done:
		return st.State("ok").Render("✓")
	case runbooks.Passed:
		return st.State("ok").Render("✓")
	case runbooks.Failed:
		return st.State("critical").Render("✗")
	case runbooks.Skipped:
		return st.State("warning").Render("↷")
	case runbooks.Started:
		return st.State("pending").Render("…")
	}
	if v.curOK && i == v.cur.Index {
		return st.Accent.Render("▸")
	}
	return st.Muted.Render("·")
}

func (v runbooksView) runView() string {
	st := v.ctx.Styles
	w, h := v.ctx.Width, v.ctx.bodyHeight()
	now := v.ctx.Now()
	total := len(v.state.Steps)
	finished := 0
	for _, s := range v.state.Steps {
		if s.Outcome == runbooks.Done || s.Outcome == runbooks.Passed || s.Outcome == runbooks.Skipped || s.Outcome == runbooks.Failed {
			finished++
		}
	}
	status := v.state.Status
	head := st.Title.Render(v.state.Title) + st.Muted.Render(" · ") + st.State(runStatusState(status)).Render(string(status))
	// The run's id (the journal's key) when it fits whole.
	if runID := st.Muted.Render(" · run " + v.state.RunID); cellWidth(head)+cellWidth(runID) <= w {
		head += runID
	}
	lines := []string{truncate(head, w)}
	// Progress over the steps.
	barW := max(10, min(40, w-30))
	v.bar.SetWidth(barW)
	frac := 0.0
	if total > 0 {
		frac = float64(finished) / float64(total)
	}
	lines = append(lines, fmt.Sprintf("steps %s %d/%d", v.bar.ViewAs(frac), finished, total))
	if v.book != nil && v.book.Objectives.RTO > 0 {
		end := now
		if !v.state.EndedAt.IsZero() {
			end = v.state.EndedAt
		}
		el := end.Sub(v.state.StartedAt)
		rto := v.book.Objectives.RTO
		f := el.Seconds() / rto.Seconds()
		state := "ok"
		switch {
		case f >= 1:
			state = "critical"
		case f >= 0.75:
			state = "warning"
		}
		lines = append(lines, fmt.Sprintf("RTO   %s %s of %s", v.bar.ViewAs(min(1, f)), st.State(state).Render(fmtClock(el)), fmtClock(rto))+st.Muted.Render(" ("+v.book.Scenario+")"))
	}
	// Steps on the left, the current step on the right.
	leftW := min(30, w/3)
	rightW := w - leftW - 3
	// A step's name wraps between words onto the lines below its mark.
	var left []string
	first := make([]int, len(v.state.Steps)+1)
	for i, s := range v.state.Steps {
		first[i] = len(left)
		for j, part := range wrapWords(s.Name, leftW-2, "") {
			if v.curOK && i == v.cur.Index && status == runbooks.RunRunning {
				part = st.Bold.Render(part)
			}
			mark := "  "
			if j == 0 {
				mark = v.stepMark(i) + " "
			}
			left = append(left, mark+part)
		}
	}
	first[len(v.state.Steps)] = len(left)
	right := v.currentStepLines(rightW)
	room := max(1, h-len(lines)-1)
	// Keep the current step visible in the left column.
	off := 0
	if v.curOK && v.cur.Index < len(v.state.Steps) && first[v.cur.Index+1] > room {
		off = min(first[v.cur.Index], first[v.cur.Index+1]-room)
	}
	right = scrollLines(strings.Join(right, "\n"), v.scroll, room)
	lines = append(lines, "")
	for i := 0; i < room; i++ {
		l := ""
		if i+off < len(left) {
			l = left[i+off]
		}
		r := ""
		if i < len(right) {
			r = right[i]
		}
		lines = append(lines, padRight(l, leftW)+st.Muted.Render(" │ ")+truncate(r, rightW))
	}
	return strings.Join(lines, "\n")
}

func runStatusState(s runbooks.RunStatus) string {
	switch s {
	case runbooks.RunFinished:
		return "ok"
	case runbooks.RunFailed, runbooks.RunAborted:
		return "critical"
	case runbooks.RunPaused:
		return "warning"
	}
	return "pending"
}

// currentStepLines is the right column: the step's text, what it will do,
// the last result, the progress of a running action.
func (v runbooksView) currentStepLines(w int) []string {
	st := v.ctx.Styles
	var out []string
	if v.last != nil {
		out = append(out, v.resultLines(*v.last, w)...)
		out = append(out, "")
	}
	if v.lastErr != nil {
		out = append(out, st.Error.Render("refused: ")+v.lastErr.Error(), "")
	}
	if v.stopped != "" {
		out = append(out, st.State("warning").Render("STOPPED ")+st.Bold.Render(v.stopped)+
			st.Muted.Render(": stopped before it ended (journal: interrupted); :resume offers it again"), "")
	}
	if !v.curOK || v.state.Status != runbooks.RunRunning {
		msg := fmt.Sprintf("The run is %s.", v.state.Status)
		if v.state.Note != "" {
			msg += " " + v.state.Note
		}
		out = append(out, st.Bold.Render(msg), st.Muted.Render("Every step is in the journal (l)."))
		return wrapAll(out, w)
	}
	c := v.cur
	s := c.Step
	out = append(out, st.Title.Render(fmt.Sprintf("Step %d of %d: %s", c.Index+1, c.Total, s.Name)))
	switch s.Kind {
	case runbooks.Manual:
		out = append(out, st.Muted.Render("manual: do it, then mark it done (x) or skip it with a reason (s)"))
	case runbooks.Check:
		if s.Metric != nil {
			out = append(out, st.Muted.Render("check: metric "+s.Metric.Name))
		} else {
			out = append(out, st.Muted.Render("check (read-only): "+humanize.OneLine(s.Query)))
		}
	case runbooks.Action:
		spec := runbooks.Actions()[s.Action]
		line := "action: " + s.Action
		if len(s.Params) > 0 {
			var ps []string
			for k, val := range s.Params {
				ps = append(ps, k+"="+val)
			}
			line += " (" + strings.Join(ps, ", ") + ")"
		}
		out = append(out, st.Accent.Render(line))
		if spec.Changes != "" {
			out = append(out, st.Muted.Render("changes: "+spec.Changes))
		}
		if c.NeedsConfirm {
			out = append(out, st.State("warning").Render("destructive: type "+c.ConfirmWord+" to run it; anything else cancels"))
		}
		if v.ctx.ReadOnly && spec.Writes {
			out = append(out, st.HintOff.Render("disabled in read-only mode")+st.Muted.Render(": skip it with a reason, or run repops without --read-only"))
		}
	}
	if c.Interrupted {
		out = append(out, st.State("warning").Render("this step was started before and did not finish: look at the journal before running it again"))
	}
	if v.note != "" {
		out = append(out, st.Muted.Render("note: ")+v.note)
	}
	if v.running && v.stopping {
		el := v.ctx.Now().Sub(v.stepFrom)
		out = append(out, "", st.State("warning").Render("stopping… ")+st.Muted.Render(fmtClock(el)+": waiting for the step to end; "+keyName(v.ctx.Keys.Quit)+" again quits anyway (the run is kept)"))
	} else if v.running {
		el := v.ctx.Now().Sub(v.stepFrom)
		line := st.State("pending").Render("running… ") + st.Muted.Render(fmtClock(el))
		if p := v.prog; p != nil {
			line = st.State("pending").Render(p.Phase+" ") + p.Message
			if f := p.Fraction(); f >= 0 {
				v.bar.SetWidth(max(10, min(40, w-20)))
				line = st.State("pending").Render(p.Phase+" ") + v.bar.ViewAs(f) + fmt.Sprintf(" %d/%d %s", p.Done, p.Total, p.Unit)
			}
		}
		out = append(out, "", line)
	}
	out = wrapAll(out, w)
	if strings.TrimSpace(s.Text) == "" {
		return out
	}
	text := v.md.render(s.Text, w, st.Theme.Mono)
	return append(append(out, ""), strings.Split(strings.TrimRight(text, "\n"), "\n")...)
}

func (v runbooksView) resultLines(r runbooks.StepResult, w int) []string {
	st := v.ctx.Styles
	state := "ok"
	switch r.Outcome {
	case runbooks.Failed:
		state = "critical"
	case runbooks.Skipped:
		state = "warning"
	}
	took := r.Ended.Sub(r.Started).Round(time.Millisecond)
	out := []string{st.State(state).Render(strings.ToUpper(string(r.Outcome))) + " " + st.Bold.Render(r.Step) + st.Muted.Render(" in "+took.String())}
	if r.Message != "" {
		out = append(out, r.Message)
	}
	if r.Err != nil {
		out = append(out, st.Error.Render(r.Err.Error()))
	}
	if len(r.Figures) > 0 {
		var fs []string
		for k, val := range r.Figures {
			fs = append(fs, k+" "+fmtNum(val))
		}
		sortStrings(fs)
		out = append(out, st.Muted.Render(strings.Join(fs, " · ")))
	}
	for i, d := range r.Details {
		if i >= 5 {
			out = append(out, st.Muted.Render(fmt.Sprintf("… %d more", len(r.Details)-i)))
			break
		}
		out = append(out, "  "+d)
	}
	if r.Data != nil {
		out = append(out, st.Muted.Render(strings.Join(r.Data.Columns, " │ ")))
		for i, row := range r.Data.Rows {
			if i >= 5 {
				out = append(out, st.Muted.Render(fmt.Sprintf("… %d rows in all", r.Data.Count)))
				break
			}
			out = append(out, strings.Join(row, " │ "))
		}
	}
	return wrapAll(out, w)
}

// onRunStarted shows the run that startRun or resumeRun started.
func (v runbooksView) onRunStarted(msg runStartedMsg) (runbooksView, tea.Cmd) {
	v.starting = false
	if msg.err != nil {
		return v, flash("runbook: "+msg.err.Error(), true)
	}
	v.run, v.cur, v.curOK, v.state = msg.run, msg.cur, msg.curOK, msg.state
	if rb, ok := v.svc.Get(msg.state.RunbookID); ok && (v.book == nil || v.book.ID != rb.ID) {
		v.book = rb
	}
	v.mode, v.last, v.lastErr, v.note, v.scroll, v.stopped = rbRun, nil, nil, "", 0, ""
	return v, v.rtoTick()
}

// onRTOTick re-arms the RTO timer while its run is the view's.
func (v runbooksView) onRTOTick(msg rtoTickMsg) (runbooksView, tea.Cmd) {
	if v.run != nil && msg.runID == v.state.RunID {
		return v, v.rtoTick()
	}
	return v, nil
}

// runHints are the run screen's keys: the step's while it waits for the
// operator, the stop keys while it runs.
func (v runbooksView) runHints() []key.Binding {
	k := v.ctx.Keys
	if v.running {
		if v.stopping {
			quit := k.Quit
			quit.SetHelp(keyName(k.Quit), "quit anyway")
			return []key.Binding{quit, k.Down, k.Dashboard}
		}
		// The stop key, then q and esc, which stop the step as well.
		stop := k.Stop
		stop.SetHelp(keyName(k.Stop), "stop the step")
		also := key.NewBinding(key.WithKeys(append(k.Back.Keys(), k.Quit.Keys()...)...),
			key.WithHelp(keyName(k.Back)+"/"+keyName(k.Quit), "stop too"))
		return []key.Binding{stop, also, k.Down, k.Dashboard}
	}
	if v.state.Status != runbooks.RunRunning {
		return []key.Binding{k.Back, k.Journal}
	}
	do := k.Do
	if v.curOK {
		switch v.cur.Step.Kind {
		case runbooks.Manual:
			do.SetHelp(do.Help().Key, "mark done")
		case runbooks.Check:
			do.SetHelp(do.Help().Key, "run the check")
		case runbooks.Action:
			do.SetHelp(do.Help().Key, "run "+v.cur.Step.Action)
			if v.ctx.ReadOnly && v.stepWrites() {
				do.SetEnabled(false)
			}
		}
	}
	return []key.Binding{do, k.Skip, k.Note, k.Back}
}

// scrollKey moves the run screen for the scroll keys, the same whether a
// step runs or not; it reports whether msg was one.
func (v *runbooksView) scrollKey(msg tea.KeyPressMsg) bool {
	k := v.ctx.Keys
	switch {
	case key.Matches(msg, k.Down, k.PageDown):
		v.scroll++
	case key.Matches(msg, k.Up, k.PageUp):
		v.scroll = max(0, v.scroll-1)
	default:
		return false
	}
	return true
}
