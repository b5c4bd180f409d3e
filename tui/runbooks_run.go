package tui

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/repops/repops/internal/humanize"
	"github.com/repops/repops/metrics"
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

// startRun starts a run of the open runbook, or goes back to its run
// under way. Its unfinished runs in the state dir are looked up first
// (findUnfinishedCmd): one is offered for resume rather than a second run
// started beside it.
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
	if v.offer != nil {
		v.mode = rbRead
		return v.ask(inOffer, "", "")
	}
	if v.checked != v.book.ID {
		v.starting = true
		return v, v.findUnfinishedCmd(v.book.ID, true)
	}
	return v.startNew()
}

// startNew starts a new run of the open runbook: there is no unfinished
// one, or the operator chose a new run beside it.
func (v runbooksView) startNew() (runbooksView, tea.Cmd) {
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
	case key.Matches(msg, k.Enter):
		return v.toggleDetails()
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
		// A step that takes a backup offers the database's backups
		// first (backups_view.go): read ahead when the step came up, so
		// the chooser opens at once; with none to choose from, the step
		// runs as the runbook says.
		if name, val, ok := backupParam(v.cur.Step); ok && (!v.bk.loaded || v.bk.err != nil || len(v.bk.list) > 0) {
			return v.openChooser(name, val)
		}
		v.choice = nil
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

// runHead is the run screen's head: title and status, progress over the
// steps and, for a runbook with an objective, the RTO timer.
func (v runbooksView) runHead() []string {
	st := v.ctx.Styles
	w := v.ctx.Width
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
	return lines
}

// runColumns are the widths of the run screen's columns: the steps on
// the left, the current step on the right.
func (v runbooksView) runColumns() (leftW, rightW int) {
	w := v.ctx.Width
	leftW = min(30, w/3)
	return leftW, w - leftW - 3
}

// runPane is the run screen's right column in the rows below the head:
// the current step first (what to do, then its instructions), then the
// last step's result, as a summary or in full; resultAt is the line where
// the result starts (-1: none).
func (v runbooksView) runPane() (lines []string, room, resultAt int) {
	_, rightW := v.runColumns()
	lines, resultAt = v.currentStepLines(rightW)
	// The head, then a blank row.
	room = max(1, v.ctx.bodyHeight()-len(v.runHead())-1)
	return lines, room, resultAt
}

func (v runbooksView) runView() string {
	st := v.ctx.Styles
	lines := v.runHead()
	leftW, rightW := v.runColumns()
	status := v.state.Status
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
	pane, room, _ := v.runPane()
	// Keep the current step visible in the left column.
	off := 0
	if v.curOK && v.cur.Index < len(v.state.Steps) && first[v.cur.Index+1] > room {
		off = min(first[v.cur.Index], first[v.cur.Index+1]-room)
	}
	right := paneRows(st, v.scroll, pane, room)
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

// currentStepLines is the right column, current step first so that what
// to do next is on the screen at once, whatever the last step printed:
// the step's title and what it will do, the state of a running action,
// the step's instructions; then the last step's result, compact (a
// summary of a line or two, each figure once) unless the operator asked
// for it in full (enter). resultAt is the line where the result starts,
// -1 when there is none.
func (v runbooksView) currentStepLines(w int) (out []string, resultAt int) {
	st := v.ctx.Styles
	resultAt = -1
	result := func(out []string) []string {
		if v.last == nil {
			return out
		}
		out = append(out, "")
		resultAt = len(out)
		if v.details {
			return append(out, v.resultLines(*v.last, w)...)
		}
		return append(out, v.resultSummary(*v.last, w)...)
	}
	if !v.curOK || v.state.Status != runbooks.RunRunning {
		msg := fmt.Sprintf("The run is %s.", v.state.Status)
		if v.state.Note != "" {
			msg += " " + v.state.Note
		}
		out = append(out, st.Bold.Render(msg), st.Muted.Render("Every step is in the journal (l)."))
		out = wrapAll(append(out, v.noticeLines()...), w)
		return result(out), resultAt
	}
	c := v.cur
	s := c.Step
	out = append(out, st.Title.Render(fmt.Sprintf("Step %d of %d: %s", c.Index+1, c.Total, s.Name)))
	switch s.Kind {
	case runbooks.Manual:
		out = append(out, st.Muted.Render("manual: do it, then mark it done (x) or skip it with a reason (s)"))
	case runbooks.Check:
		if s.Metric != nil {
			out = append(out, st.Muted.Render("check: "+metricCheckText(*s.Metric, v.rules)))
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
			sortStrings(ps)
			line += " (" + strings.Join(ps, ", ") + ")"
		}
		out = append(out, st.Accent.Render(line))
		if spec.Changes != "" {
			out = append(out, st.Muted.Render("changes: "+spec.Changes))
		}
		if c.NeedsConfirm && !v.running {
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
	out = append(out, v.noticeLines()...)
	if v.running && v.stopping {
		el := v.ctx.Now().Sub(v.stepFrom)
		out = append(out, st.State("warning").Render("stopping… ")+st.Muted.Render(fmtClock(el)+": waiting for the step to end; "+keyName(v.ctx.Keys.Quit)+" again quits anyway (the run is kept)"))
	} else if v.running {
		// The shell equivalent, so that the operator can replay the
		// incident from a shell (the journal keeps it with the step).
		if cmd := runbooks.StepCommand(stepRef(s), v.state.Target); cmd != "" {
			out = append(out, st.Muted.Render("same as: ")+cmd)
		}
		out = append(out, v.progressLines(w)...)
	}
	out = wrapAll(out, w)
	if strings.TrimSpace(s.Text) != "" {
		text := v.md.render(s.Text, w, st.Theme.Mono)
		out = append(append(out, ""), strings.Split(strings.TrimRight(text, "\n"), "\n")...)
	}
	return result(out), resultAt
}

// noticeLines say what happened to the operator's last input: refused by
// the engine, or the step stopped.
func (v runbooksView) noticeLines() []string {
	st := v.ctx.Styles
	var out []string
	if v.lastErr != nil {
		out = append(out, st.Error.Render("refused: ")+v.lastErr.Error())
	}
	if v.stopped != "" {
		out = append(out, st.State("warning").Render("STOPPED ")+st.Bold.Render(v.stopped)+
			st.Muted.Render(": stopped before it ended (journal: interrupted); :resume offers it again"))
	}
	return out
}

// outcomeMark is a result's outcome as a mark and a word.
func (v runbooksView) outcomeMark(o runbooks.Outcome) string {
	st := v.ctx.Styles
	switch o {
	case runbooks.Failed:
		return st.State("critical").Render("✗ FAILED")
	case runbooks.Skipped:
		return st.State("warning").Render("↷ SKIPPED")
	case runbooks.Passed:
		return st.State("ok").Render("✓ PASSED")
	}
	return st.State("ok").Render("✓ " + strings.ToUpper(string(o)))
}

// resultSummary is a finished step's result in a line or two: outcome,
// step and time taken, its message (which already says the figures in
// words), the figures the message does not say, each once with its unit,
// and a failed step's error; the rest (details, rows, every figure) waits
// for enter.
func (v runbooksView) resultSummary(r runbooks.StepResult, w int) []string {
	st := v.ctx.Styles
	took := r.Ended.Sub(r.Started)
	out := []string{v.outcomeMark(r.Outcome) + " " + st.Bold.Render(r.Step) + st.Muted.Render(" in "+fmtTook(took))}
	// What a step lost (a restore's rows and window) comes first, whole,
	// whatever the message says and however long it is.
	if ls := lossFigures(r); len(ls) > 0 {
		for _, l := range packItems("data loss: ", ls, w) {
			out = append(out, st.State("warning").Render(l))
		}
	}
	// The message and the error wrap, never cut: the pane scrolls.
	if r.Message != "" && r.Message != "done" {
		out = append(out, r.Message)
	}
	if fs := summaryFigures(r); len(fs) > 0 {
		out = append(out, fitItems(fs, w))
	}
	if r.Err != nil && !strings.Contains(r.Message, r.Err.Error()) {
		out = append(out, st.Error.Render(r.Err.Error()))
	}
	if more := resultMore(r); more != "" {
		hint := "enter: " + more
		if cellWidth(hint) > w {
			hint = "enter: details"
		}
		out = append(out, st.Muted.Render(hint))
	}
	return wrapAll(out, w)
}

// isLossFigure reports whether a step's figure says what it lost
// (lost_rows, lost_window_seconds, appeals_lost_rows).
func isLossFigure(name string) bool {
	return name == "lost" || strings.HasPrefix(name, "lost_") || strings.Contains(name, "_lost")
}

// lossFigures are a result's loss figures with their units, "lost" left
// out of their labels ("12 rows", "window 58 min", "appeals 12 rows"):
// the summary always shows them, even when its message says them too.
func lossFigures(r runbooks.StepResult) []string {
	var out []string
	names := figureNamesSorted(r.Figures)
	// The total first, then the window, then each table's.
	rank := func(n string) int {
		switch {
		case n == "lost_rows" || n == "lost":
			return 0
		case strings.HasPrefix(n, "lost_"):
			return 1
		}
		return 2
	}
	sort.SliceStable(names, func(i, j int) bool { return rank(names[i]) < rank(names[j]) })
	for _, n := range names {
		if !isLossFigure(n) {
			continue
		}
		label, value := figureValue(n, r.Figures[n])
		label = strings.TrimSpace(strings.ReplaceAll(" "+label+" ", " lost ", " "))
		if label == "" {
			out = append(out, value)
			continue
		}
		out = append(out, label+" "+value)
	}
	return out
}

// fitItems is items in one line of at most w cells, " · " between them:
// those that fit whole, then how many more the full output (enter) has.
func fitItems(items []string, w int) string {
	line := ""
	for i, it := range items {
		next := it
		if i > 0 {
			next = line + " · " + it
		}
		rest := ""
		if i+1 < len(items) {
			rest = fmt.Sprintf(" · +%d more", len(items)-i-1)
		}
		if cellWidth(next+rest) > w {
			if i == 0 {
				return it // wrapped on its own lines
			}
			return line + fmt.Sprintf(" · +%d more", len(items)-i)
		}
		line = next
	}
	return line
}

// packItems lays items out after lead, " · " between them, in lines of
// at most w cells that break between items, an item wider than a line
// wrapped on its own.
func packItems(lead string, items []string, w int) []string {
	var out []string
	line := lead
	for i, it := range items {
		switch {
		case i == 0 && cellWidth(line+it) <= w:
			line += it
		case i > 0 && cellWidth(line+" · "+it) <= w:
			line += " · " + it
		default:
			if strings.TrimSpace(line) != "" {
				out = append(out, line)
			}
			line = it
			if i > 0 {
				line = "· " + it
			}
		}
	}
	return wrapAll(append(out, line), w)
}

// progressLines are a running step's state: its progress bar and counts
// when the total is known (on a line of their own when the bar would be
// too short beside them), then its message and the time it has run.
func (v runbooksView) progressLines(w int) []string {
	st := v.ctx.Styles
	el := fmtClock(v.ctx.Now().Sub(v.stepFrom))
	p := v.prog
	if p == nil {
		return wrapAll([]string{st.State("pending").Render("running… ") + st.Muted.Render(el)}, w)
	}
	var out []string
	phase := st.State("pending").Render(p.Phase + " ")
	if f := p.Fraction(); f >= 0 {
		counts := groupInt(p.Done) + "/" + groupInt(p.Total)
		if p.Unit != "" {
			counts += " " + p.Unit
		}
		if barW := min(40, w-cellWidth(p.Phase)-1-1-cellWidth(counts)); barW >= 10 {
			v.bar.SetWidth(barW)
			out = append(out, phase+v.bar.ViewAs(f)+" "+counts)
		} else {
			v.bar.SetWidth(max(10, min(40, w-cellWidth(p.Phase)-1)))
			out = append(out, phase+v.bar.ViewAs(f), counts)
		}
		phase = ""
	}
	msg := p.Message
	if msg == "" {
		msg = "running…"
	}
	out = append(out, phase+msg+st.Muted.Render(" · "+el))
	return wrapAll(out, w)
}

// groupInt is a whole count with thousands separators (5,120).
func groupInt(n int64) string {
	s := fmt.Sprintf("%d", n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// resultMore says what the full result adds to the summary, "" when
// nothing.
func resultMore(r runbooks.StepResult) string {
	var parts []string
	if n := len(r.Details); n > 0 {
		parts = append(parts, plural(n, "detail"))
	}
	shown := len(summaryFigures(r)) + len(lossFigures(r))
	if _, ok := r.Figures["seconds"]; ok {
		shown++ // the time taken, which the summary's first line says
	}
	if len(r.Figures) > shown {
		parts = append(parts, "every figure")
	}
	if r.Data != nil {
		parts = append(parts, plural(r.Data.Count, "row"))
	}
	if len(parts) == 0 {
		return ""
	}
	return "the full output (" + strings.Join(parts, ", ") + ")"
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// resultLines is a finished step's result in full: its message, its
// error, every figure with its unit, every detail and the rows of a
// query check (the first 20).
func (v runbooksView) resultLines(r runbooks.StepResult, w int) []string {
	st := v.ctx.Styles
	took := r.Ended.Sub(r.Started)
	out := []string{v.outcomeMark(r.Outcome) + " " + st.Bold.Render(r.Step) + st.Muted.Render(" in "+fmtTook(took)+" · full output (enter: summary)")}
	if r.Message != "" {
		out = append(out, r.Message)
	}
	if r.Err != nil {
		out = append(out, st.Error.Render(r.Err.Error()))
	}
	if len(r.Figures) > 0 {
		names := figureNamesSorted(r.Figures)
		out = append(out, st.Muted.Render("figures:"))
		for _, n := range names {
			out = append(out, "  "+figureText(n, r.Figures[n]))
		}
	}
	if len(r.Details) > 0 {
		out = append(out, st.Muted.Render("details:"))
		for _, d := range r.Details {
			out = append(out, "  "+d)
		}
	}
	if r.Data != nil {
		out = append(out, st.Muted.Render(strings.Join(r.Data.Columns, " │ ")))
		for i, row := range r.Data.Rows {
			if i >= 20 {
				out = append(out, st.Muted.Render(fmt.Sprintf("… %d rows in all", r.Data.Count)))
				break
			}
			out = append(out, strings.Join(row, " │ "))
		}
	}
	return wrapAll(out, w)
}

// fmtTook is the time a step took, in the unit that suits it.
func fmtTook(d time.Duration) string {
	switch {
	case d < 0:
		return "0 ms"
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return humanize.Age(d)
}

func figureNamesSorted(f map[string]float64) []string {
	names := make([]string, 0, len(f))
	for n := range f {
		names = append(names, n)
	}
	sortStrings(names)
	return names
}

// figureValue is a step's figure with its unit, read from its name's
// suffix as the actions name them (free_bytes, rto_seconds,
// free_percent, appeals_rows), and the label it goes by.
func figureValue(name string, v float64) (label, value string) {
	label = name
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		value = fmtNum(v)
	case strings.HasSuffix(name, "_bytes"):
		label, value = strings.TrimSuffix(name, "_bytes"), humanize.Bytes(int64(v))
	case name == "seconds" || strings.HasSuffix(name, "_seconds"):
		label, value = strings.TrimSuffix(strings.TrimSuffix(name, "seconds"), "_"), fmtTook(time.Duration(v*float64(time.Second)))
	case strings.HasSuffix(name, "_percent"):
		label, value = strings.TrimSuffix(name, "_percent"), fmt.Sprintf("%.1f%%", v)
	case strings.HasSuffix(name, "_rows"):
		label, value = strings.TrimSuffix(name, "_rows"), fmtGrouped(v)+" rows"
	case name == "ok" || name == "objectives_met":
		value = "no"
		if v != 0 {
			value = "yes"
		}
	default:
		value = fmtGrouped(v)
	}
	if label == "" {
		label = "took"
	}
	return strings.ReplaceAll(label, "_", " "), value
}

// fmtGrouped is a whole count with thousands separators (1,000,000), any
// other number as fmtNum writes it.
func fmtGrouped(v float64) string {
	if v != math.Trunc(v) || math.Abs(v) < 10000 || math.Abs(v) >= 1e15 {
		return fmtNum(v)
	}
	digits := fmt.Sprintf("%.0f", math.Abs(v))
	var b strings.Builder
	if v < 0 {
		b.WriteByte('-')
	}
	for i, c := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// figureText is a figure as the full output lists it: label, value with
// its unit.
func figureText(name string, v float64) string {
	label, value := figureValue(name, v)
	return label + " " + value
}

// summaryFigures are the figures a result's summary shows: those its
// message does not already say (the message says most in words: "66.8
// GiB free of 250.0 GiB (26.7%)"), without the time taken (the summary's
// first line says it), each once with its unit.
func summaryFigures(r runbooks.StepResult) []string {
	var out []string
	for _, n := range figureNamesSorted(r.Figures) {
		if n == "seconds" || isLossFigure(n) {
			continue
		}
		v := r.Figures[n]
		label, value := figureValue(n, v)
		if saysFigure(r.Message, n, v, value) {
			continue
		}
		out = append(out, label+" "+value)
	}
	return out
}

// saysFigure reports whether msg already says figure name's value v
// (value as the summary would write it): in the same words, as a plain
// or grouped number, or, for a time, as Go writes a duration ("58m0s",
// "4.2s").
func saysFigure(msg, name string, v float64, value string) bool {
	says := []string{value, fmtNum(v), fmtGrouped(v), fmt.Sprintf("%.1f", v)}
	if name == "seconds" || strings.HasSuffix(name, "_seconds") {
		d := time.Duration(v * float64(time.Second))
		says = append(says, d.Round(time.Second).String(), d.Round(time.Millisecond).String(), d.Round(100*time.Millisecond).String())
	}
	for _, s := range says {
		if saysValue(msg, s) {
			return true
		}
	}
	return false
}

// saysValue reports whether msg holds value as a whole, not as a part
// of a longer number ("5" is not in "1.5" nor in "50").
func saysValue(msg, value string) bool {
	if value == "" {
		return false
	}
	for i := 0; i <= len(msg)-len(value); {
		j := strings.Index(msg[i:], value)
		if j < 0 {
			return false
		}
		j += i
		k := j + len(value)
		longer := j > 0 && (isDigit(msg[j-1]) || msg[j-1] == '.' && j > 1 && isDigit(msg[j-2]))
		if k < len(msg) && (isDigit(msg[k]) || (msg[k] == '.' || msg[k] == ',') && k+1 < len(msg) && isDigit(msg[k+1])) {
			longer = true
		}
		if !longer {
			return true
		}
		i = j + 1
	}
	return false
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

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
	v.mode, v.last, v.lastErr, v.note, v.stopped = rbRun, nil, nil, "", ""
	v.scroll.Top()
	// A run started or resumed: the next start looks for unfinished runs
	// again (this one may be left unfinished).
	v.details, v.checked, v.offer = false, "", nil
	var pre tea.Cmd
	v, pre = v.prefetchBackups()
	return v, tea.Batch(v.rtoTick(), pre)
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
		if v.last != nil {
			full := k.Enter
			full.SetHelp(keyName(k.Enter), "full output")
			return []key.Binding{k.Back, k.Journal, full}
		}
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

// scrollKey moves the run screen's right column for the scroll keys
// as every pane of the console scrolls (scroll.go), the same whether a
// step runs or not; it reports whether msg was one.
func (v *runbooksView) scrollKey(msg tea.KeyPressMsg) bool {
	lines, room, _ := v.runPane()
	v.scroll.Fit(len(lines), room)
	return v.scroll.Key(msg, v.ctx.Keys)
}

// toggleDetails shows the last result in full, scrolled to it, or back
// as its summary.
func (v runbooksView) toggleDetails() (runbooksView, tea.Cmd) {
	if v.last == nil {
		return v, flash("no step has finished yet in this console: its full output shows here once one has", false)
	}
	v.details = !v.details
	v.scroll.Top()
	if v.details {
		lines, room, at := v.runPane()
		v.scroll.Fit(len(lines), room)
		v.scroll.ScrollTo(at)
	}
	return v, nil
}

// runUnderWay reports whether the console drives a run that stands at a
// step: quitting leaves it unfinished, so the root asks first.
func (v runbooksView) runUnderWay() bool {
	return v.run != nil && v.state.Status == runbooks.RunRunning && v.curOK
}

// quitQuestion is what the root asks before quitting with a run under
// way.
func (v runbooksView) quitQuestion() string {
	q := fmt.Sprintf("a run is under way at step %d of %d: quit anyway? y/N (it stays resumable)", v.cur.Index+1, v.cur.Total)
	if cellWidth(q) > v.ctx.Width-1 {
		// The hints bar's line, which cuts what does not fit: the short
		// question, whole, with its answer.
		q = "quit? the run stays resumable y/N"
	}
	return q
}

// pauseRunCmd pauses the run under way before the console quits: its
// state says where and why it stopped, and it is resumed from there
// (opening its runbook offers it; 'repops runbook resume' continues it).
// Nil when there is no run under way.
func (v runbooksView) pauseRunCmd(why string) tea.Cmd {
	if !v.runUnderWay() {
		return nil
	}
	run := v.run
	why = fmt.Sprintf("%s at step %d of %d", why, v.cur.Index+1, v.cur.Total)
	return func() tea.Msg {
		_ = run.Stop(why)
		return nil
	}
}

// metricCheckText is a metric check as the operator reads it: the
// panel's (or rule's) title and the condition it must meet, e.g.
// "Appeal processing p95 within the alert threshold (≤ 1000 ms)". rules
// are the rules in force (the last refresh's; the defaults before one).
func metricCheckText(c runbooks.MetricCond, rules []metrics.Rule) string {
	if len(rules) == 0 {
		rules = metrics.DefaultRules()
	}
	title, unit := c.Name, ""
	for _, p := range metrics.PanelDefs() {
		if p.Name == c.Name {
			title, unit = p.Title, p.Unit
		}
	}
	if title == c.Name {
		for _, r := range rules {
			if r.Name == c.Name {
				title, unit = r.Title, r.Unit
			}
		}
	}
	var conds []string
	switch c.Within {
	case runbooks.WithinAlert, runbooks.WithinTarget:
		what := "the alert threshold"
		if c.Within == runbooks.WithinTarget {
			what = "its target"
		}
		cond := "within " + what
		if r, err := runbooks.MetricRule(c.Name, c.Within, rules); err == nil {
			if c.Within == runbooks.WithinTarget {
				cond += " (" + opSign(r.TargetOp()) + " " + fmtWithUnit(r.Target, r.TargetUnit()) + ")"
			} else {
				cond += " (" + opSign(r.WithinAlertOp()) + " " + fmtWithUnit(r.Alert, r.Unit) + ")"
			}
		}
		conds = append(conds, cond)
	}
	if c.Below != nil {
		conds = append(conds, "below "+fmtWithUnit(*c.Below, unit))
	}
	if c.Above != nil {
		conds = append(conds, "above "+fmtWithUnit(*c.Above, unit))
	}
	if c.State != "" {
		conds = append(conds, "state "+c.State)
	}
	if c.StateNot != "" {
		conds = append(conds, "state not "+c.StateNot)
	}
	if len(conds) == 0 {
		return "metric " + title
	}
	return title + " " + strings.Join(conds, ", ")
}
