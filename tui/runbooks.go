package tui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/progress"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/glamour/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/repops/repops/metrics"
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
	return engineRun{run}, nil
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
	return engineRun{run}, nil
}

// StepParamsSetter is a RunbookRun whose current step's action parameters
// can be set for its next Do: the console's backup chooser gives the
// backup that a restore, a verification or a drill uses, as the CLI's
// flags do. SetStepParams is called from the step's Cmd, just before Do.
type StepParamsSetter interface {
	SetStepParams(params map[string]string) error
}

// engineRun is a *runbooks.Run whose current step's parameters the
// console can set (StepParamsSetter).
type engineRun struct{ *runbooks.Run }

var (
	_ RunbookRun       = engineRun{}
	_ StepParamsSetter = engineRun{}
)

// SetStepParams sets params on the current step of the run's own copy of
// the runbook (runbooks.Runbook.Expand copies the steps of every run; the
// map is replaced, never written into, so the catalogue's stays as it
// is). The engine then runs the action with them and journals them with
// the step.
func (r engineRun) SetStepParams(params map[string]string) error {
	cur, ok := r.Current()
	if !ok {
		return fmt.Errorf("run %s has no step to set %v on", r.ID(), params)
	}
	rb := r.Runbook()
	s := &rb.Steps[cur.Index]
	merged := make(map[string]string, len(s.Params)+len(params))
	for k, val := range s.Params {
		merged[k] = val
	}
	for k, val := range params {
		merged[k] = val
	}
	s.Params = merged
	return nil
}

// The runbooks view's modes.
type rbMode int

const (
	rbList rbMode = iota // the catalogue, filterable
	rbRead               // one runbook's text and steps
	rbRun                // a run, step by step
	// The screens of runs.go and backups_view.go.
	rbRuns      // :runs, the runs in the state dir
	rbRunResult // a finished run's results, read-only
	rbBackups   // :backups, the database's backups
	rbChoose    // the backup a step uses, chosen before it runs
	rbManifest  // one backup's manifest
	rbDrill     // :drill, the last DR drill's report
)

// What the text input is reading.
type rbInput int

const (
	inNone rbInput = iota
	inConfirm
	inReason
	inNote
	// inOffer: a runbook with an unfinished run was opened; the view asks
	// whether to resume it (r) or start a new run (n), one key.
	inOffer
)

// runbooksView lists, reads and runs runbooks. It has three modes, each
// in a file of its own with its keys and its screen: the list
// (runbooks_list.go), a runbook's page (runbooks_show.go) and a run
// (runbooks_run.go), whose steps are done as in runbooks_step.go. This
// file holds the view, its routing and what the modes share.
type runbooksView struct {
	ctx    *ProgramContext
	svc    RunbookService
	mode   rbMode
	all    []*runbooks.Runbook
	filter listFilter // the list's (runbooks_list.go)
	sel    int
	book   *runbooks.Runbook
	// scroll is where the page (rbRead) or the run's right column (rbRun)
	// is scrolled to.
	scroll scroller
	// vars fill the placeholders ({{db.path}}) of a runbook's page, as
	// the engine fills them for a run (runbooks.VarsFromConfig).
	vars runbooks.Vars

	// The unfinished runs of the open runbook: checked is the runbook
	// whose runs in the state dir were looked up since it was opened (or
	// since the operator chose a new run); offer is its newest
	// unfinished run, which the page offers to resume.
	checked string
	offer   *runbooks.RunState

	input   textinput.Model
	reading rbInput

	// listOff is the list's offset as last shown (runbooks_click.go).
	listOff int

	// The run.
	run      RunbookRun
	starting bool
	cur      runbooks.Current
	curOK    bool
	state    runbooks.RunState
	running  bool // a step is being done
	stepFrom time.Time
	// base is the parent of every step's context; the root cancels it
	// when the console ends (Model.Close).
	base context.Context
	// cancel cancels the running step's context (the stop key, q, esc,
	// ctrl+c): a check's query is interrupted, an action's procedure
	// stops. doStep makes it in Update; the step's Cmd captures the
	// context.
	cancel context.CancelFunc
	// task is the step started last, which the root waits for when the
	// console ends.
	task *stepTask
	// stopping: the running step was asked to stop and has not returned
	// yet; stopped names the step that the operator stopped, until the
	// next step starts.
	stopping bool
	stopped  string
	prog     *ops.ProgressEvent
	last     *runbooks.StepResult
	lastErr  error
	note     string
	// details: the last result is shown in full (its details, every
	// figure, its rows) rather than as its summary; enter toggles it.
	details bool

	bar progress.Model
	md  *mdCache

	// bk: the backups, the chooser, a manifest and the drill report
	// (backups_view.go); runs: the runs in the state dir (runs.go).
	bk   backupsState
	runs runsState
	// manifestFrom is the mode esc goes back to from a manifest.
	manifestFrom rbMode
	// choice is the step's parameters the operator chose (the backup),
	// given to the step's next Do (StepParamsSetter).
	choice map[string]string
	// unfinished counts the unfinished runs in the state dir, as last
	// read (at start, or by :runs).
	unfinished int
	// rules are the alert rules in force, as the last refresh judged
	// with them: a metric check's condition is told with their
	// thresholds.
	rules []metrics.Rule
	// askPrompt is the open prompt's text when it is too wide to share
	// a line with what is typed: it goes on the lines above the input.
	askPrompt string
}

// newRunbooksView builds the view; base is the parent context of the
// steps it runs, cancelled by the root when the console ends.
func newRunbooksView(ctx *ProgramContext, svc RunbookService, base context.Context) runbooksView {
	in := textinput.New()
	in.SetStyles(inputStyles(ctx.Styles))
	in.CharLimit = 200
	bar := progress.New(progress.WithoutPercentage(), progress.WithFillCharacters('█', '░'))
	if !ctx.Styles.Theme.Mono {
		bar = progress.New(progress.WithoutPercentage(), progress.WithFillCharacters('█', '░'), progress.WithColors(ctx.Styles.Theme.Accent))
	}
	v := runbooksView{ctx: ctx, svc: svc, base: base, input: in, bar: bar, md: newMDCache()}
	if ctx.Config != nil {
		v.vars = runbooks.VarsFromConfig(ctx.Config)
	}
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
	// The chooser holds the keyboard too: its letters (m, s) are its own,
	// and a slip must not leave a step half chosen.
	return v.reading != inNone || v.mode == rbRun && v.running || v.mode == rbList && v.filter.Editing() ||
		v.mode == rbChoose || v.mode == rbManifest && v.manifestFrom == rbChoose
}

// busy: a step is running (quitting would interrupt it).
func (v runbooksView) busy() bool { return v.running }

// handlesBack: esc means something inside the view (leave the run or the
// runbook for the list) rather than "back to the dashboard".
func (v runbooksView) handlesBack() bool {
	return v.mode != rbList || v.filter.Editing() || v.filter.Active()
}

// Update handles the view's own messages and keys; it does no I/O.
func (v runbooksView) Update(msg tea.Msg) (runbooksView, tea.Cmd) {
	switch msg := msg.(type) {
	case snapshotMsg:
		if msg.err == nil && len(msg.snap.Alerts) > 0 {
			v.rules = make([]metrics.Rule, 0, len(msg.snap.Alerts))
			for _, a := range msg.snap.Alerts {
				v.rules = append(v.rules, a.Rule)
			}
		}
		return v, nil
	case runStartedMsg:
		return v.onRunStarted(msg)
	case unfinishedRunsMsg:
		return v.onUnfinishedRuns(msg)
	case stepEventMsg:
		return v.onStepEvent(msg)
	case stepDoneMsg:
		return v.onStepDone(msg)
	case rtoTickMsg:
		return v.onRTOTick(msg)
	case backupsMsg:
		return v.onBackups(msg)
	case drillReportMsg:
		return v.onDrillReport(msg)
	case runsMsg:
		return v.onRuns(msg)
	case unfinishedNoticeMsg:
		return v.onUnfinishedNotice(msg)
	case rowClickMsg:
		return v.onRowClick(msg)
	case tea.MouseWheelMsg:
		switch v.mode {
		case rbManifest:
			lines, room := v.manifestPane()
			v.bk.scroll.Fit(len(lines), room)
			v.bk.scroll.Wheel(msg)
		case rbDrill:
			lines, room := v.drillPane()
			v.bk.scroll.Fit(len(lines), room)
			v.bk.scroll.Wheel(msg)
		case rbRunResult:
			lines, room := v.runResultPane()
			v.runs.scroll.Fit(len(lines), room)
			v.runs.scroll.Wheel(msg)
		case rbRead:
			lines, room := v.readPane()
			v.scroll.Fit(len(lines), room)
			v.scroll.Wheel(msg)
		case rbRun:
			lines, room, _ := v.runPane()
			v.scroll.Fit(len(lines), room)
			v.scroll.Wheel(msg)
		}
		return v, nil
	case tea.KeyPressMsg:
		if v.reading != inNone {
			return v.onInputKey(msg)
		}
		v = v.anchored()
		switch v.mode {
		case rbList:
			return v.onListKey(msg)
		case rbRead:
			return v.onReadKey(msg)
		case rbRun:
			return v.onRunKey(msg)
		case rbRuns:
			return v.onRunsKey(msg)
		case rbRunResult:
			return v.onRunResultKey(msg)
		case rbBackups:
			return v.onBackupsKey(msg)
		case rbChoose:
			return v.onChooseKey(msg)
		case rbManifest:
			return v.onManifestKey(msg)
		case rbDrill:
			return v.onDrillKey(msg)
		}
	}
	return v, nil
}

func (v runbooksView) ask(what rbInput, prompt, placeholder string) (runbooksView, tea.Cmd) {
	v.reading = what
	v.input.Reset()
	v.input.Prompt = prompt
	v.input.Placeholder = placeholder
	v.askPrompt = ""
	if what != inOffer && lipgloss.Width(prompt)+askRoom > v.ctx.Width {
		// Too wide to leave room for the text beside it: the prompt goes
		// above, the input on a line of its own, so that what is typed
		// is always seen whole.
		v.askPrompt = strings.TrimSpace(prompt)
		v.input.Prompt = "› "
	}
	v.input.SetWidth(max(10, v.ctx.Width-lipgloss.Width(v.input.Prompt)-2))
	return v, v.input.Focus()
}

// askRoom is the room a prompt leaves for the text typed beside it; a
// prompt that leaves less goes on a line of its own.
const askRoom = 20

// inputLines are the open prompt's lines, at the bottom of the view:
// the input, with the prompt above it when it is too wide to share its
// line.
func (v runbooksView) inputLines() []string {
	if v.reading == inOffer {
		return []string{v.offerPrompt()}
	}
	if v.askPrompt == "" {
		return []string{v.input.View()}
	}
	var out []string
	for _, l := range wrapWords(v.askPrompt, v.ctx.Width, "") {
		out = append(out, v.ctx.Styles.Accent.Render(l))
	}
	return append(out, v.input.View())
}

// prompting: a prompt (a confirmation, a reason, a note) or the backup
// chooser is open: enter answers it, esc cancels, and the other keys
// type into it or are the chooser's.
func (v runbooksView) prompting() bool {
	return v.reading == inConfirm || v.reading == inReason || v.reading == inNote || v.mode == rbChoose
}

// promptHints are the keys while a prompt is open.
func (v runbooksView) promptHints() []key.Binding {
	k := v.ctx.Keys
	ok := k.Enter
	ok.SetHelp(keyName(k.Enter), "confirm")
	cancel := k.Back
	cancel.SetHelp(keyName(k.Back), "cancel")
	return []key.Binding{ok, cancel}
}

func (v runbooksView) onInputKey(msg tea.KeyPressMsg) (runbooksView, tea.Cmd) {
	what := v.reading
	if what == inOffer {
		return v.onOfferKey(msg)
	}
	switch msg.String() {
	case "esc":
		v.reading = inNone
		v.input.Blur()
		if what == inConfirm {
			v.choice = nil
			return v, flash("cancelled: nothing was run", false)
		}
		return v, nil
	case "enter":
		v.reading = inNone
		v.input.Blur()
		val := strings.TrimSpace(v.input.Value())
		switch what {
		case inNote:
			v.note = val
		case inReason:
			if val == "" {
				return v, flash("skipping needs a reason: nothing was skipped", true)
			}
			return v.doStep(runbooks.StepInput{Skip: true, Reason: val, Note: v.note})
		case inConfirm:
			if val == "" {
				v.choice = nil
				return v, flash("cancelled: nothing was run (the default)", false)
			}
			// Four eyes (presence_approval.go) may ask a second operator first.
			return v.confirmed(runbooks.StepInput{Confirm: val, Note: v.note, Rerun: v.cur.Interrupted})
		}
		return v, nil
	}
	var c tea.Cmd
	v.input, c = v.input.Update(msg)
	return v, c
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
	if v.reading == inConfirm || v.reading == inReason || v.reading == inNote {
		return v.promptHints()
	}
	switch v.mode {
	case rbRead:
		return v.readHints()
	case rbRun:
		return v.runHints()
	case rbRuns, rbRunResult:
		return v.runsHints()
	case rbBackups, rbChoose, rbManifest, rbDrill:
		return v.backupHints()
	}
	return v.listHints()
}

// View draws the view in the body's width and height.
func (v runbooksView) View() string {
	st := v.ctx.Styles
	if v.svc == nil && (v.mode == rbList || v.mode == rbRead || v.mode == rbRun) {
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
	case rbRuns:
		body = v.runsView()
	case rbRunResult:
		body = v.runResultView()
	case rbBackups:
		body = v.backupsView()
	case rbChoose:
		body = v.chooseView()
	case rbManifest:
		body = v.manifestView()
	case rbDrill:
		body = v.drillView()
	}
	if v.reading != inNone {
		lines := strings.Split(body, "\n")
		h := v.ctx.bodyHeight()
		tail := v.inputLines()
		if len(tail) > h {
			tail = tail[len(tail)-h:]
		}
		if len(lines) > h-len(tail) {
			lines = lines[:h-len(tail)]
		}
		for len(lines) < h-len(tail) {
			lines = append(lines, "")
		}
		body = strings.Join(append(lines, tail...), "\n")
	}
	return body
}

// paneRows are lines shown in a pane of room rows through sc (the
// console's shared scroller, scroll.go): the lines in view, and on the
// last row, when they do not all fit, where the view is.
func paneRows(st Styles, sc scroller, lines []string, room int) []string {
	sc.Fit(len(lines), room)
	out := sc.Window(lines)
	if m := sc.Marker(); m != "" {
		out = append(out, st.Muted.Render(m))
	}
	return out
}

// wrapAll wraps each line to w cells, between words where it can; the
// lines it makes carry no padding.
func wrapAll(lines []string, w int) []string {
	var out []string
	for _, l := range lines {
		if lipgloss.Width(l) <= w {
			out = append(out, l)
			continue
		}
		for _, part := range strings.Split(lipgloss.NewStyle().Width(w).Render(l), "\n") {
			if plain := ansi.Strip(part); strings.HasSuffix(plain, " ") {
				part = ansi.Truncate(part, ansi.StringWidth(strings.TrimRight(plain, " ")), "")
			}
			out = append(out, part)
		}
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
