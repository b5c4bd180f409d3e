package tui

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/progress"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/glamour/v2"
	"charm.land/lipgloss/v2"

	"github.com/repops/repops/ops"
	"github.com/repops/repops/runbooks"
)

// RunbookService is the runbook catalogue and engine as the console drives
// them. List, Get and ForAlert are in-memory lookups; Start writes the run
// state and the journal, so the console calls it only from a Cmd.
type RunbookService interface {
	List() []*runbooks.Runbook
	Get(id string) (*runbooks.Runbook, bool)
	ForAlert(rule string) []*runbooks.Runbook
	Start(rb *runbooks.Runbook) (RunbookRun, error)
	// Resume continues a run kept in the state dir ("" for the newest
	// resumable one) at the step where it stopped.
	Resume(runID string) (RunbookRun, error)
}

// RunbookRun is one run in progress; *runbooks.Run implements it. It is
// driven by one goroutine at a time: the console calls Do, Stop and Close
// only from Cmds, one after the other.
type RunbookRun interface {
	ID() string
	Current() (runbooks.Current, bool)
	Do(ctx context.Context, in runbooks.StepInput, p ops.Progress) (runbooks.StepResult, error)
	State() runbooks.RunState
	Stop(reason string) error
	Close()
}

var _ RunbookRun = (*runbooks.Run)(nil)

// RunbookEngine joins a catalogue and an engine into a RunbookService.
type RunbookEngine struct {
	Catalogue *runbooks.Catalogue
	Engine    *runbooks.Engine
}

var _ RunbookService = RunbookEngine{}

// List implements RunbookService.
func (r RunbookEngine) List() []*runbooks.Runbook { return r.Catalogue.List() }

// Get implements RunbookService.
func (r RunbookEngine) Get(id string) (*runbooks.Runbook, bool) { return r.Catalogue.Get(id) }

// ForAlert implements RunbookService.
func (r RunbookEngine) ForAlert(rule string) []*runbooks.Runbook { return r.Catalogue.ForAlert(rule) }

// Resume implements RunbookService.
func (r RunbookEngine) Resume(runID string) (RunbookRun, error) {
	run, err := r.Engine.Resume(runID, r.Catalogue)
	if err != nil {
		return nil, err
	}
	return run, nil
}

// Problems implements RunbookProblems: the override files the catalogue
// skipped.
func (r RunbookEngine) Problems() []error { return r.Catalogue.Problems }

// RunbookProblems is implemented by a RunbookService whose catalogue
// skipped files of the override directory (runbooks.Catalogue.Problems).
// Problems is an in-memory lookup, like List; each problem reads
// "file:line: message". The list shows them as warnings above the
// runbooks, which are all there.
type RunbookProblems interface {
	Problems() []error
}

var _ RunbookProblems = RunbookEngine{}

// Start implements RunbookService.
func (r RunbookEngine) Start(rb *runbooks.Runbook) (RunbookRun, error) {
	run, err := r.Engine.Start(rb)
	if err != nil {
		return nil, err
	}
	return run, nil
}

// The runbooks view's modes.
type rbMode int

const (
	rbList rbMode = iota // the catalogue, filterable
	rbRead               // one runbook's text and steps
	rbRun                // a run, step by step
)

// What the text input is reading.
type rbInput int

const (
	inNone rbInput = iota
	inFilter
	inConfirm
	inReason
	inNote
)

type runStartedMsg struct {
	run   RunbookRun
	cur   runbooks.Current
	curOK bool
	state runbooks.RunState
	err   error
}

// stepEventMsg is one message from a running step: progress, or the end.
type stepEventMsg struct {
	ch       <-chan tea.Msg
	progress *ops.ProgressEvent
}

type stepDoneMsg struct {
	res   runbooks.StepResult
	err   error
	cur   runbooks.Current
	curOK bool
	state runbooks.RunState
}

// rtoTickMsg redraws the RTO timer once a second while a run with an
// objective is under way.
type rtoTickMsg struct{ runID string }

// runbooksView lists, reads and runs runbooks.
type runbooksView struct {
	ctx    *ProgramContext
	svc    RunbookService
	mode   rbMode
	all    []*runbooks.Runbook
	filter string
	sel    int
	book   *runbooks.Runbook
	scroll int

	input   textinput.Model
	reading rbInput

	// The run.
	run      RunbookRun
	starting bool
	cur      runbooks.Current
	curOK    bool
	state    runbooks.RunState
	running  bool // a step is being done
	stepFrom time.Time
	// cancel cancels the running step's context (q, esc, ctrl+c): a
	// check's query is interrupted, an action's procedure stops.
	cancel context.CancelFunc
	// stopping: the running step was asked to stop and has not returned
	// yet; stopped names the step that the operator stopped, until the
	// next step starts.
	stopping bool
	stopped  string
	prog     *ops.ProgressEvent
	last     *runbooks.StepResult
	lastErr  error
	note     string

	bar progress.Model
	md  *mdCache
}

func newRunbooksView(ctx *ProgramContext, svc RunbookService) runbooksView {
	in := textinput.New()
	in.SetStyles(inputStyles(ctx.Styles))
	in.CharLimit = 200
	bar := progress.New(progress.WithoutPercentage(), progress.WithFillCharacters('█', '░'))
	if !ctx.Styles.Theme.Mono {
		bar = progress.New(progress.WithoutPercentage(), progress.WithFillCharacters('█', '░'), progress.WithColors(ctx.Styles.Theme.Accent))
	}
	v := runbooksView{ctx: ctx, svc: svc, input: in, bar: bar, md: newMDCache()}
	if svc != nil && catalogueReady(svc) {
		v.all = svc.List()
	}
	return v
}

// RunbookLoader is a RunbookService whose catalogue may still be loading
// when the console starts (it is parsed while the first frame is drawn):
// Loaded is closed once it is. Its methods wait for it.
type RunbookLoader interface {
	RunbookService
	Loaded() <-chan struct{}
}

// catalogueReady reports whether svc's catalogue can be read without
// waiting.
func catalogueReady(svc RunbookService) bool {
	l, ok := svc.(RunbookLoader)
	if !ok {
		return true
	}
	select {
	case <-l.Loaded():
		return true
	default:
		return false
	}
}

// runbooksLoadedMsg brings the catalogue's list once it is loaded.
type runbooksLoadedMsg struct{ all []*runbooks.Runbook }

// load waits, off the event loop, for a catalogue still loading; nil
// when it is already in memory.
func (v runbooksView) load() tea.Cmd {
	if v.svc == nil || catalogueReady(v.svc) {
		return nil
	}
	svc := v.svc
	return func() tea.Msg { return runbooksLoadedMsg{all: svc.List()} }
}

// capturing: the view is reading text, or a step runs on the run screen,
// so letters are not global keys. While a step runs the run screen holds
// the keyboard so that q and esc reach it and stop the step (the root
// would otherwise quit or leave); the view keys still switch views
// (onRunningKey).
func (v runbooksView) capturing() bool {
	return v.reading != inNone || v.mode == rbRun && v.running
}

// busy: a step is running (quitting would interrupt it).
func (v runbooksView) busy() bool { return v.running }

// handlesBack: esc means something inside the view (leave the run or the
// runbook for the list) rather than "back to the dashboard".
func (v runbooksView) handlesBack() bool { return v.mode != rbList || v.filter != "" }

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

// open shows runbook id, and starts a run of it when start is set.
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
	svc, old := v.svc, v.run
	pause := v.run != nil && v.state.Status == runbooks.RunRunning
	return v, addressed(viewRunbooks, func() tea.Msg {
		if old != nil {
			if pause {
				_ = old.Stop("the operator resumed another run")
			}
			old.Close()
		}
		run, err := svc.Resume(runID)
		if err != nil {
			return runStartedMsg{err: err}
		}
		cur, ok := run.Current()
		return runStartedMsg{run: run, cur: cur, curOK: ok, state: run.State()}
	})
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
	svc, rb, old := v.svc, v.book, v.run
	pause := v.run != nil && v.state.Status == runbooks.RunRunning
	return v, addressed(viewRunbooks, func() tea.Msg {
		if old != nil {
			// The run under way is paused (resumable with 'repops runbook
			// resume'), and its lock released.
			if pause {
				_ = old.Stop("the operator started runbook " + rb.ID)
			}
			old.Close()
		}
		run, err := svc.Start(rb)
		if err != nil {
			return runStartedMsg{err: err}
		}
		cur, ok := run.Current()
		return runStartedMsg{run: run, cur: cur, curOK: ok, state: run.State()}
	})
}

// doStep starts the current step with the operator's input: the view
// keeps the cancel func of the step's context so that q, esc or ctrl+c
// can stop it.
func (v runbooksView) doStep(in runbooks.StepInput) (runbooksView, tea.Cmd) {
	ctx, cancel := context.WithCancel(context.Background())
	v.running, v.stepFrom, v.lastErr = true, v.ctx.Now(), nil
	v.cancel, v.stopping, v.stopped = cancel, false, ""
	return v, doStepCmd(ctx, v.run, in)
}

// doStepCmd does the current step in the background under ctx; progress
// events and the end arrive one at a time through a channel that the
// returned Cmd reads and re-issues (waitStepCmd).
func doStepCmd(ctx context.Context, run RunbookRun, in runbooks.StepInput) tea.Cmd {
	ch := make(chan tea.Msg, 64)
	go func() {
		defer close(ch)
		res, err := run.Do(ctx, in, func(e ops.ProgressEvent) {
			select {
			case ch <- e:
			default: // the console is behind: drop this event, a newer one follows
			}
		})
		cur, ok := run.Current()
		ch <- stepDoneMsg{res: res, err: err, cur: cur, curOK: ok, state: run.State()}
	}()
	return waitStepCmd(ch)
}

func waitStepCmd(ch <-chan tea.Msg) tea.Cmd {
	return addressed(viewRunbooks, func() tea.Msg {
		m, ok := <-ch
		if !ok {
			return nil
		}
		if e, isEv := m.(ops.ProgressEvent); isEv {
			return stepEventMsg{ch: ch, progress: &e}
		}
		return m
	})
}

func (v runbooksView) rtoTick() tea.Cmd {
	if v.run == nil || v.book == nil || v.book.Objectives.RTO == 0 || v.state.Status != runbooks.RunRunning {
		return nil
	}
	id := v.state.RunID
	return addressed(viewRunbooks, tea.Tick(time.Second, func(time.Time) tea.Msg { return rtoTickMsg{runID: id} }))
}

// Update handles the view's own messages and keys; it does no I/O.
func (v runbooksView) Update(msg tea.Msg) (runbooksView, tea.Cmd) {
	switch msg := msg.(type) {
	case runStartedMsg:
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
	case stepEventMsg:
		v.prog = msg.progress
		return v, waitStepCmd(msg.ch)
	case stepDoneMsg:
		stepName := v.cur.Step.Name // the step that ran
		if msg.res.Step != "" {
			stepName = msg.res.Step
		}
		v.running, v.prog = false, nil
		v.cur, v.curOK, v.state = msg.cur, msg.curOK, msg.state
		if v.cancel != nil {
			v.cancel() // the step is over: release its context
			v.cancel = nil
		}
		if v.stopping {
			v.stopping = false
			if msg.err != nil && errors.Is(msg.err, context.Canceled) {
				// Stopped by the operator: not a verdict on the step. The
				// engine paused the run with the step still to do.
				v.stopped, v.last, v.lastErr, v.note, v.scroll = stepName, nil, nil, "", 0
				return v, flash(fmt.Sprintf("stopped %q: the run is paused; :resume offers the step again", v.stopped), false)
			}
		}
		if msg.err != nil {
			v.lastErr = msg.err
			if errors.Is(msg.err, runbooks.ErrCancelled) {
				return v, flash("cancelled: nothing was run", false)
			}
			return v, nil
		}
		res := msg.res
		v.last, v.lastErr, v.note, v.scroll = &res, nil, "", 0
		return v, nil
	case rtoTickMsg:
		if v.run != nil && msg.runID == v.state.RunID {
			return v, v.rtoTick()
		}
		return v, nil
	case tea.KeyPressMsg:
		if v.reading != inNone {
			return v.onInputKey(msg)
		}
		switch v.mode {
		case rbList:
			return v.onListKey(msg)
		case rbRead:
			return v.onReadKey(msg)
		case rbRun:
			return v.onRunKey(msg)
		}
	}
	return v, nil
}

func (v runbooksView) ask(what rbInput, prompt, placeholder string) (runbooksView, tea.Cmd) {
	v.reading = what
	v.input.Reset()
	v.input.Prompt = prompt
	v.input.Placeholder = placeholder
	v.input.SetWidth(max(10, v.ctx.Width-lipgloss.Width(prompt)-2))
	if what == inFilter {
		v.input.SetValue(v.filter)
	}
	return v, v.input.Focus()
}

func (v runbooksView) onInputKey(msg tea.KeyPressMsg) (runbooksView, tea.Cmd) {
	what := v.reading
	switch msg.String() {
	case "esc":
		v.reading = inNone
		v.input.Blur()
		if what == inConfirm {
			return v, flash("cancelled: nothing was run", false)
		}
		return v, nil
	case "enter":
		v.reading = inNone
		v.input.Blur()
		val := strings.TrimSpace(v.input.Value())
		switch what {
		case inFilter:
			v.filter, v.sel = val, 0
		case inNote:
			v.note = val
		case inReason:
			if val == "" {
				return v, flash("skipping needs a reason: nothing was skipped", true)
			}
			return v.doStep(runbooks.StepInput{Skip: true, Reason: val, Note: v.note})
		case inConfirm:
			if val == "" {
				return v, flash("cancelled: nothing was run (the default)", false)
			}
			return v.doStep(runbooks.StepInput{Confirm: val, Note: v.note, Rerun: v.cur.Interrupted})
		}
		return v, nil
	}
	var c tea.Cmd
	v.input, c = v.input.Update(msg)
	if what == inFilter {
		v.filter, v.sel = v.input.Value(), 0
	}
	return v, c
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
	case key.Matches(msg, k.Down, k.PageDown):
		v.scroll++
		return v, nil
	case key.Matches(msg, k.Up, k.PageUp):
		v.scroll = max(0, v.scroll-1)
		return v, nil
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
// (the view is capturing): q, esc and ctrl+c stop the step, by cancelling
// its context; once asked, q (or ctrl+c) again quits anyway and esc
// leaves for the list, the step ending in the background. The view keys
// switch views as always; the step's keys wait for its result; the other
// global keys (command line, pause, screenshot) wait for the step to end
// or stop. The root forwards ctrl+c here while a step runs, and the view
// answers it as q.
func (v runbooksView) onRunningKey(msg tea.KeyPressMsg) (runbooksView, tea.Cmd) {
	k := v.ctx.Keys
	switch {
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
	case key.Matches(msg, k.Down, k.PageDown):
		v.scroll++
		return v, nil
	case key.Matches(msg, k.Up, k.PageUp):
		v.scroll = max(0, v.scroll-1)
		return v, nil
	case key.Matches(msg, k.Do, k.Skip, k.Note):
		return v, flash("the step is running: wait for its result, or stop it with "+keyName(k.Back)+" or "+keyName(k.Quit), false)
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
	return v, flash("a step is running: "+keyName(k.Back)+" or "+keyName(k.Quit)+" stops it", false)
}

// stopStep cancels the running step's context: go-sqlite3 interrupts a
// check's query (sqlite3_interrupt), an action's procedure sees its
// context done. The step's end still arrives as a stepDoneMsg, which
// says it was stopped.
func (v runbooksView) stopStep() (runbooksView, tea.Cmd) {
	if v.cancel != nil {
		v.cancel()
	}
	v.stopping = true
	return v, flash(fmt.Sprintf("stopping step %q…", v.cur.Step.Name), false)
}

// keyName is the first key of a binding, as its help shows it.
func keyName(b key.Binding) string {
	if h := b.Help().Key; h != "" {
		return h
	}
	if ks := b.Keys(); len(ks) > 0 {
		return ks[0]
	}
	return "?"
}

// Hints are the view's keys for the key-hints bar.
func (v runbooksView) Hints() []key.Binding {
	k := v.ctx.Keys
	switch v.mode {
	case rbRead:
		start := k.Enter
		start.SetHelp(k.Enter.Help().Key, "start the run")
		return []key.Binding{start, k.Down, k.Back}
	case rbRun:
		if v.running {
			stop := key.NewBinding(key.WithKeys(append(k.Back.Keys(), k.Quit.Keys()...)...),
				key.WithHelp(keyName(k.Back)+"/"+keyName(k.Quit), "stop the step"))
			if v.stopping {
				stop.SetHelp(keyName(k.Quit), "quit anyway")
			}
			return []key.Binding{stop, k.Down, k.Dashboard}
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
	return []key.Binding{k.Enter, k.Filter, k.Up, k.Down}
}

// View draws the view in the body's width and height.
func (v runbooksView) View() string {
	st := v.ctx.Styles
	if v.svc == nil {
		return st.Title.Render("Runbooks") + "\n" + st.Error.Render("runbooks unavailable: the catalogue could not be loaded (see the console's start-up message)")
	}
	var body string
	switch v.mode {
	case rbList:
		body = v.listView()
	case rbRead:
		body = v.readView()
	case rbRun:
		body = v.runView()
	}
	if v.reading != inNone {
		lines := strings.Split(body, "\n")
		h := v.ctx.bodyHeight()
		if len(lines) > h-1 {
			lines = lines[:h-1]
		}
		for len(lines) < h-1 {
			lines = append(lines, "")
		}
		body = strings.Join(append(lines, v.input.View()), "\n")
	}
	return body
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
			obj = "RTO " + fmtAge(rb.Objectives.RTO)
		}
		sev := st.State(severityState(rb.Severity)).Render(padRight(rb.Severity, 8))
		idW := 0
		for _, b := range list {
			idW = max(idW, cellWidth(b.ID))
		}
		idW = min(30, max(16, idW))
		// Below 100 columns the step count goes (the runbook's page
		// shows it) so that ids and titles keep their words.
		tail := fmt.Sprintf("%-7s", obj)
		if w >= 100 {
			tail = fmt.Sprintf("%2d steps %-8s", len(rb.Steps), obj)
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

func (v runbooksView) readView() string {
	st := v.ctx.Styles
	rb := v.book
	w, h := v.ctx.Width, v.ctx.bodyHeight()
	head := st.Title.Render(rb.Title) + st.Muted.Render(fmt.Sprintf("  %s · %s · %d steps", rb.ID, rb.Severity, len(rb.Steps)))
	if rb.Objectives.RTO > 0 {
		head += st.Muted.Render(fmt.Sprintf(" · RTO %s RPO %s", fmtAge(rb.Objectives.RTO), fmtAge(rb.Objectives.RPO)))
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

func scrollLines(text string, off, room int) []string {
	ls := strings.Split(strings.TrimRight(text, "\n"), "\n")
	off = min(off, max(0, len(ls)-room))
	ls = ls[off:]
	if len(ls) > room {
		ls = ls[:room]
	}
	return ls
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
			out = append(out, st.Muted.Render("check (read-only): "+oneLine(s.Query)))
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

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// wrapAll wraps each line to w cells.
func wrapAll(lines []string, w int) []string {
	var out []string
	for _, l := range lines {
		if lipgloss.Width(l) <= w {
			out = append(out, l)
			continue
		}
		out = append(out, strings.Split(lipgloss.NewStyle().Width(w).Render(l), "\n")...)
	}
	return out
}

// mdCache keeps rendered Markdown by text and width: glamour takes
// milliseconds, the view is drawn at every message.
type mdCache struct {
	entries map[mdKey]string
}

type mdKey struct {
	text  string
	width int
	mono  bool
}

func newMDCache() *mdCache { return &mdCache{entries: map[mdKey]string{}} }

func (c *mdCache) render(text string, width int, mono bool) string {
	k := mdKey{text, width, mono}
	if s, ok := c.entries[k]; ok {
		return s
	}
	style := "dark"
	if mono {
		style = "notty"
	}
	out := text
	if r, err := glamour.NewTermRenderer(glamour.WithStandardStyle(style), glamour.WithWordWrap(max(20, width-4))); err == nil {
		if s, err := r.Render(text); err == nil {
			out = strings.Trim(s, "\n")
		}
	}
	if len(c.entries) > 64 {
		c.entries = map[mdKey]string{}
	}
	c.entries[k] = out
	return out
}
