package tui

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/repops/repops/internal/humanize"
	"github.com/repops/repops/runbooks"
)

// The runs kept in the state dir (:runs, rbRuns): the unfinished ones
// first (paused, failed, running), then the recent finished ones; enter
// resumes an unfinished run or shows a finished one's results, read-only
// (rbRunResult). At start the console says when runs are unfinished
// (startNoticeCmd).

// maxFinishedRuns is how many finished (or aborted) runs :runs lists
// after the unfinished ones: the recent ones.
const maxFinishedRuns = 20

// runsState is what :runs read and where it stands.
type runsState struct {
	list    []runbooks.RunState
	damaged int
	err     error
	loaded  bool
	sel     int
	off     int // the list's offset as last shown (runbooks_click.go)
	ret     rbMode
	// shown is the finished run whose results are shown; scroll scrolls
	// them.
	shown  *runbooks.RunState
	scroll scroller
}

// runsMsg is the runs read from the state dir.
type runsMsg struct {
	list    []runbooks.RunState
	damaged int
	err     error
}

// unfinishedNoticeMsg is the count of unfinished runs at start.
type unfinishedNoticeMsg struct{ n int }

// runOrder ranks a run's status for :runs: paused, failed and running
// runs first (in that order), then the others.
func runOrder(s runbooks.RunStatus) int {
	switch s {
	case runbooks.RunPaused:
		return 0
	case runbooks.RunFailed:
		return 1
	case runbooks.RunRunning:
		return 2
	}
	return 3
}

// readRuns reads the runs kept in stateDir (as runbooks.ListRuns does,
// but a damaged file is counted and passed over rather than hiding every
// run), sorted for :runs: unfinished first, most recently updated first
// within each status, then at most maxFinishedRuns finished ones.
func readRuns(stateDir string) (list []runbooks.RunState, damaged int, err error) {
	files, err := filepath.Glob(filepath.Join(stateDir, "runbooks", "*.json"))
	if err != nil {
		return nil, 0, err
	}
	for _, f := range files {
		st, err := runbooks.LoadRun(stateDir, strings.TrimSuffix(filepath.Base(f), ".json"))
		if err != nil {
			damaged++
			continue
		}
		st.Source = ""
		list = append(list, *st)
	}
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if oa, ob := runOrder(a.Status), runOrder(b.Status); oa != ob {
			return oa < ob
		}
		return a.UpdatedAt.After(b.UpdatedAt)
	})
	finished := 0
	out := list[:0]
	for _, st := range list {
		if !st.Status.Resumable() {
			finished++
			if finished > maxFinishedRuns {
				continue
			}
		}
		out = append(out, st)
	}
	return out, damaged, nil
}

// startNoticeCmd counts the unfinished runs in the state dir when the
// console starts, for its one-line notice.
func (v runbooksView) startNoticeCmd() tea.Cmd {
	if v.ctx.Config == nil || v.svc == nil {
		return nil
	}
	dir := v.ctx.Config.StateDir()
	return addressed(viewRunbooks, func() tea.Msg {
		list, _, err := readRuns(dir)
		if err != nil {
			return nil
		}
		n := 0
		for _, st := range list {
			if st.Status.Resumable() {
				n++
			}
		}
		if n == 0 {
			return nil
		}
		return unfinishedNoticeMsg{n: n}
	})
}

// unfinishedNotice is the start's notice for n unfinished runs.
func unfinishedNotice(n int) string {
	if n == 1 {
		return "1 unfinished run: :runs lists it"
	}
	return fmt.Sprintf("%d unfinished runs: :runs lists them", n)
}

func (v runbooksView) onUnfinishedNotice(msg unfinishedNoticeMsg) (runbooksView, tea.Cmd) {
	v.unfinished = msg.n
	return v, flash(unfinishedNotice(msg.n), false)
}

// openRuns shows the runs (:runs), read again.
func (v runbooksView) openRuns() (runbooksView, tea.Cmd) {
	if v.mode != rbRuns && v.mode != rbRunResult {
		v.runs.ret = v.mode
		if v.mode == rbChoose || v.mode == rbManifest || v.mode == rbBackups || v.mode == rbDrill {
			v.runs.ret = rbList
		}
	}
	v.mode = rbRuns
	if v.ctx.Config == nil {
		return v, nil
	}
	dir := v.ctx.Config.StateDir()
	return v, addressed(viewRunbooks, func() tea.Msg {
		list, damaged, err := readRuns(dir)
		return runsMsg{list: list, damaged: damaged, err: err}
	})
}

func (v runbooksView) onRuns(msg runsMsg) (runbooksView, tea.Cmd) {
	var was string
	if v.runs.loaded && v.runs.sel < len(v.runs.list) {
		was = v.runs.list[v.runs.sel].RunID
	}
	v.runs.list, v.runs.damaged, v.runs.err, v.runs.loaded = msg.list, msg.damaged, msg.err, true
	v.runs.sel = 0
	for i, st := range v.runs.list {
		if st.RunID == was {
			v.runs.sel = i
		}
	}
	n := 0
	for _, st := range v.runs.list {
		if st.Status.Resumable() {
			n++
		}
	}
	v.unfinished = n
	return v, nil
}

// onRunsKey: enter opens the selected run: resumes an unfinished one,
// shows a finished one's results.
func (v runbooksView) onRunsKey(msg tea.KeyPressMsg) (runbooksView, tea.Cmd) {
	k := v.ctx.Keys
	n := len(v.runs.list)
	switch {
	case key.Matches(msg, k.Back):
		v.mode = v.runs.ret
		return v, nil
	case key.Matches(msg, k.Up):
		v.runs.sel = max(0, v.runs.sel-1)
	case key.Matches(msg, k.Down):
		v.runs.sel = min(max(0, n-1), v.runs.sel+1)
	case key.Matches(msg, k.Top):
		v.runs.sel = 0
	case key.Matches(msg, k.Bottom):
		v.runs.sel = max(0, n-1)
	case key.Matches(msg, k.PageUp):
		v.runs.sel = max(0, v.runs.sel-v.runsRoom()/2)
	case key.Matches(msg, k.PageDown):
		v.runs.sel = min(max(0, n-1), v.runs.sel+v.runsRoom()/2)
	case key.Matches(msg, k.Enter):
		if n == 0 {
			return v, nil
		}
		return v.openRunOf(v.runs.list[min(v.runs.sel, n-1)])
	}
	return v, nil
}

// openRunOf resumes st when it is unfinished (or goes back to it when
// this console drives it), else shows its results.
func (v runbooksView) openRunOf(st runbooks.RunState) (runbooksView, tea.Cmd) {
	if v.run != nil && v.state.RunID == st.RunID && v.state.Status.Resumable() {
		v.mode = rbRun
		return v, nil
	}
	if st.Status.Resumable() {
		return v.resumeRun(st.RunID)
	}
	s := st
	v.runs.shown = &s
	v.runs.scroll.Top()
	v.mode = rbRunResult
	return v, nil
}

// runsRoom is the rows the list of runs has: two a run.
func (v runbooksView) runsRoom() int { return max(2, v.ctx.bodyHeight()-3) }

// runLines are a run as :runs lists it, in two lines of at most w cells:
// the run id, its state, step N of M and the actor; then the runbook and
// when the run started and was last updated.
func (v runbooksView) runLines(st runbooks.RunState, sel bool, w int) []string {
	s := v.ctx.Styles
	now := v.ctx.Now()
	mark := "  "
	if sel {
		mark = s.Accent.Render("▸ ")
	}
	at := fmt.Sprintf("step %d of %d", min(st.Current+1, len(st.Steps)), len(st.Steps))
	if !st.Status.Resumable() {
		at = fmt.Sprintf("%d steps", len(st.Steps))
	}
	line1 := mark + st.RunID + " " + s.State(runStatusState(st.Status)).Render(padRight(string(st.Status), 8)) + " " + padRight(at, 13) + " " + s.Muted.Render(st.Actor)
	line2 := "    " + st.RunbookID + s.Muted.Render(fmt.Sprintf(" · started %s ago · updated %s ago", humanize.Age(now.Sub(st.StartedAt)), humanize.Age(now.Sub(st.UpdatedAt))))
	return []string{truncate(line1, w), truncate(line2, w)}
}

func (v runbooksView) runsView() string {
	lines := v.runsHead()
	off, end := v.runsWindow()
	sel := min(v.runs.sel, max(0, len(v.runs.list)-1))
	for i := off; i < end; i++ {
		lines = append(lines, v.runLines(v.runs.list[i], i == sel, v.ctx.Width)...)
	}
	if more := len(v.runs.list) - end; more > 0 {
		lines = append(lines, v.ctx.Styles.Muted.Render(fmt.Sprintf("  ↓ %d more", more)))
	}
	return strings.Join(lines, "\n")
}

// runsWindow is the runs [off, end) the list shows, the selected one in
// view.
func (v runbooksView) runsWindow() (off, end int) {
	room := v.runsRoom() / runRowLines
	n := len(v.runs.list)
	off = listOffset(v.runs.off, min(v.runs.sel, max(0, n-1)), n, room)
	return off, min(n, off+room)
}

// runRowLines is the lines a run takes in the list (runLines).
const runRowLines = 2

// runsHead is the list's lines above the runs.
func (v runbooksView) runsHead() []string {
	s := v.ctx.Styles
	w := v.ctx.Width
	head := s.Title.Render("Runs")
	if v.runs.loaded {
		head += s.Muted.Render(fmt.Sprintf("  %d unfinished · %d recent finished", v.unfinished, len(v.runs.list)-v.unfinished))
	}
	lines := []string{truncate(head, w)}
	switch {
	case v.runs.err != nil:
		lines = append(lines, s.Error.Render(truncate("could not read the runs: "+v.runs.err.Error(), w)))
	case !v.runs.loaded:
		lines = append(lines, s.Muted.Render("reading the runs…"))
	case len(v.runs.list) == 0:
		lines = append(lines, s.Muted.Render("no runbook runs in the state dir"))
	}
	if v.runs.damaged > 0 {
		lines = append(lines, s.State("warning").Render(truncate(fmt.Sprintf("⚠ %d run files could not be read ('repops runbook runs' says why)", v.runs.damaged), w)))
	}
	return lines
}

// runResultPane is a finished run's results: when and by whom, then
// every step's outcome, message, note, reason and figures.
func (v runbooksView) runResultPane() (lines []string, room int) {
	s := v.ctx.Styles
	w := v.ctx.Width
	room = max(1, v.ctx.bodyHeight()-1)
	st := v.runs.shown
	if st == nil {
		return nil, room
	}
	out := []string{
		s.State(runStatusState(st.Status)).Render(string(st.Status)) + s.Muted.Render(" · run ") + st.RunID,
		s.Muted.Render("by ") + st.Actor + s.Muted.Render(" on ") + st.Target,
		s.Muted.Render("started ") + st.StartedAt.UTC().Format("2006-01-02 15:04:05Z"),
	}
	if !st.EndedAt.IsZero() {
		out = append(out, s.Muted.Render("ended ")+st.EndedAt.UTC().Format("2006-01-02 15:04:05Z")+s.Muted.Render(" after "+fmtTook(st.EndedAt.Sub(st.StartedAt))))
	}
	if st.Note != "" {
		out = append(out, s.Muted.Render("note: ")+st.Note)
	}
	out = append(out, "")
	for i, rec := range st.Steps {
		mark := s.Muted.Render("·")
		switch rec.Outcome {
		case runbooks.Done, runbooks.Passed:
			mark = s.State("ok").Render("✓")
		case runbooks.Failed:
			mark = s.State("critical").Render("✗")
		case runbooks.Skipped:
			mark = s.State("warning").Render("↷")
		case runbooks.Started:
			mark = s.State("pending").Render("…")
		}
		outcome := string(rec.Outcome)
		if outcome == "" {
			outcome = "not reached"
		}
		line := fmt.Sprintf("%s %d. %s", mark, i+1, s.Bold.Render(rec.Name)) + s.Muted.Render(" · "+outcome)
		if !rec.EndedAt.IsZero() && !rec.StartedAt.IsZero() {
			line += s.Muted.Render(" in " + fmtTook(rec.EndedAt.Sub(rec.StartedAt)))
		}
		out = append(out, line)
		if rec.Message != "" && rec.Message != "done" {
			out = append(out, "   "+rec.Message)
		}
		if rec.Reason != "" {
			out = append(out, "   "+s.Muted.Render("reason: ")+rec.Reason)
		}
		if rec.Note != "" {
			out = append(out, "   "+s.Muted.Render("note: ")+rec.Note)
		}
		if len(rec.Figures) > 0 {
			var fs []string
			for _, n := range figureNamesSorted(rec.Figures) {
				fs = append(fs, figureText(n, rec.Figures[n]))
			}
			out = append(out, "   "+s.Muted.Render(strings.Join(fs, " · ")))
		}
	}
	return wrapAll(out, w), room
}

func (v runbooksView) runResultView() string {
	s := v.ctx.Styles
	title := "Run"
	if v.runs.shown != nil {
		title = v.runs.shown.Title
	}
	body, room := v.runResultPane()
	lines := append([]string{truncate(s.Title.Render(title)+s.Muted.Render(" · results (read-only)"), v.ctx.Width)}, paneRows(s, v.runs.scroll, body, room)...)
	return strings.Join(lines, "\n")
}

func (v runbooksView) onRunResultKey(msg tea.KeyPressMsg) (runbooksView, tea.Cmd) {
	k := v.ctx.Keys
	if key.Matches(msg, k.Back) {
		v.mode = rbRuns
		return v, nil
	}
	lines, room := v.runResultPane()
	v.runs.scroll.Fit(len(lines), room)
	v.runs.scroll.Key(msg, k)
	return v, nil
}

// runsHints are the keys of :runs and of a finished run's results.
func (v runbooksView) runsHints() []key.Binding {
	k := v.ctx.Keys
	if v.mode == rbRunResult {
		return []key.Binding{k.Down, k.PageDown, k.Back}
	}
	open := k.Enter
	open.SetHelp(keyName(k.Enter), "resume / show")
	return []key.Binding{open, k.Up, k.Down, k.Back}
}
