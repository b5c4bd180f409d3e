// Package tui is the console: a bubbletea v2 program showing the
// operations guide's key metrics and alert states, the database, the ops
// journal and the runbooks, and walking the operator through a runbook
// step by step.
//
// The architecture is Elm's, strictly: Update and View do no I/O; every
// read and every procedure runs in a tea.Cmd that captures values and
// returns a message. The root Model handles global keys and resizes,
// routes id-tagged envelopes to the view that asked, and forwards the
// rest to the focused view. Views share one ProgramContext.
package tui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/repops/repops/config"
	"github.com/repops/repops/metrics"
	"github.com/repops/repops/ops"
)

// Figures is where the dashboard's numbers come from: one cycle of the
// metrics engine. *metrics.Engine implements it. Cycle may block for as
// long as its slowest source (bounded by ctx); the console calls it only
// from a Cmd, never from Update.
type Figures interface {
	Cycle(ctx context.Context) metrics.Snapshot
}

// Simulator is the in-process simulated service of 'repops demo': the
// scenario keys switch its incidents. Both calls are quick and safe from
// any goroutine.
type Simulator interface {
	Scenarios() []string
	SetScenario(name string) error
}

// Options is everything the console needs. Figures and Config are
// required; a nil Journal, Tables or Runbooks makes that view show why it
// is unavailable.
type Options struct {
	Config  *config.Config
	Figures Figures
	Journal JournalStore
	// JournalErr is why the journal could not be opened, shown in its view.
	JournalErr error
	// Lock reads the procedure lock (ops.ReadLock on the state dir).
	Lock     func() (*ops.LockInfo, bool, error)
	Tables   TableSource
	Runbooks RunbookService
	Sim      Simulator
	ReadOnly bool
	// Actor is the operator, for the entries the console journals
	// itself (:incident); ops.CurrentActor("") when empty.
	Actor ops.Actor
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Started is when the console started; the journal view shows the
	// timeline from a day before it.
	Started time.Time
	// FirstCycle, when set, is a first engine cycle the caller started
	// early (while the rest of the console was being set up): the first
	// refresh takes its snapshot instead of running a cycle of its own,
	// so the first full frame comes sooner. It must deliver one snapshot.
	FirstCycle <-chan metrics.Snapshot
	// ReplicationNote is ProgramContext.ReplicationNote.
	ReplicationNote string
	// History is the collector's history, for going back in time on the
	// dashboard (timetravel.go); nil: the time keys say there is none.
	History TimeMachine
	// Silences reaches the silences (nil: the console has none).
	Silences SilenceService
	// CycleTimeout bounds one refresh; default the sources' timeout plus
	// a second, at least 2 s.
	CycleTimeout time.Duration
	// Presence is this session's seat among the others of repops serve
	// (presence.go); nil for the local console, which then shows no
	// strip and has no :who, :follow, :handover, :approve.
	Presence Presence
	// FourEyes makes every destructive step wait for a second
	// operator's approval (on for the production environment).
	FourEyes bool
	// Identity is who this console is, as 'repops serve' knows them (the
	// key's name and role, "alice · operator"): shown in the banner.
	// Empty for a console opened in a terminal.
	Identity string
	// BreakLock breaks the procedure lock as this console's actor and
	// journals it (ops.BreakLock), for :lockbreak (lockbreak.go); nil:
	// this console may not (read-only, or a served key that is not an
	// admin's).
	BreakLock func() error
}

// tickMsg asks for the next refresh.
type tickMsg struct{ gen int }

// screenWrittenMsg says where the screen was written.
type screenWrittenMsg struct {
	path string
	err  error
}

// scenarioSetMsg is the simulator's answer to a scenario switch.
type scenarioSetMsg struct {
	name string
	err  error
}

// Model is the console's root model.
type Model struct {
	ctx  *ProgramContext
	opts Options

	focus, back viewID
	dash        dashboardView
	alerts      alertsView
	tables      tablesView
	runbooks    runbooksView
	journal     journalView
	help        helpView

	// refresh state
	gen         int
	inflight    bool
	paused      bool
	lastRefresh time.Time
	lastTook    time.Duration
	snap        metrics.Snapshot
	haveSnap    bool
	refreshErr  error

	// interval, when set, is the refresh interval chosen at run time
	// (+/-, :refresh 5s); it overrides the config's (refresh.go).
	interval time.Duration

	cmdline    textinput.Model
	cmdActive  bool
	scenarios  bool // the scenario menu is open
	scenario   string
	flash      string
	flashIsErr bool
	// flashAt is when the flash was shown and flashSeq counts flashes:
	// a flash gives way to the key hints after flashTTL (statusExpireMsg).
	flashAt   time.Time
	flashSeq  int
	quitArmed bool
	// mouseOff: the operator turned mouse reporting off (:mouse), so
	// that the terminal selects text on a plain drag again.
	mouseOff bool
	// click is the last click on a list's row (rowclick.go).
	click clickState
	// quitAsk: q was pressed with a runbook run under way; the next key
	// answers "quit anyway? y/N" (onKey).
	quitAsk bool
	// lockAsk is :lockbreak's typed confirmation, open (lockbreak.go).
	lockAsk *lockBreakAsk
	// guard is the expiry guard's warnings of the last refresh, shown in
	// the banner.
	guard []string

	// stopSteps cancels the parent context of the runbook steps: the
	// console is ending (Close).
	stopSteps context.CancelFunc

	// pr is who else is on and the presence's questions (presence*.go).
	pr presenceState

	// frame caches the last drawn screen: a message that changes nothing
	// (a refresh tick) redraws nothing. ver counts the updates that may
	// have changed the screen.
	ver   uint64
	frame *frameCache
}

// frameCache is the last screen drawn and the model version it shows.
type frameCache struct {
	ver    uint64
	screen string
}

// New builds the console. The keys are rebound from the config; a bad
// binding or theme is an error for the caller to report.
func New(o Options) (Model, error) {
	if o.Config == nil || o.Figures == nil {
		return Model{}, errors.New("console: a config and a figures source are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Started.IsZero() {
		o.Started = o.Now()
	}
	theme, err := ThemeByName(o.Config.Console.Theme)
	if err != nil {
		return Model{}, err
	}
	keys := DefaultKeyMap()
	if err := keys.Rebind(o.Config.Console.Keys); err != nil {
		return Model{}, err
	}
	ctx := &ProgramContext{
		Width: 80, Height: 24, Config: o.Config, Styles: NewStyles(theme), Keys: &keys,
		Now: o.Now, ReadOnly: o.ReadOnly, Demo: o.Sim != nil, ReplicationNote: o.ReplicationNote,
		FourEyes: o.FourEyes, Identity: o.Identity,
	}
	if o.Presence != nil {
		ctx.Strip = 1
	}
	if !ctx.Demo {
		for _, b := range []*key.Binding{&keys.Scenario, &keys.Scenario1, &keys.Scenario2, &keys.Scenario3, &keys.Scenario4,
			&keys.Scenario5, &keys.Scenario6, &keys.Scenario7, &keys.Scenario8, &keys.Scenario9} {
			b.SetEnabled(false)
		}
	}
	ti := textinput.New()
	ti.Prompt = ":"
	ti.SetVirtualCursor(true)
	ti.SetStyles(inputStyles(ctx.Styles))
	ti.ShowSuggestions = true
	if o.Runbooks != nil && catalogueReady(o.Runbooks) {
		ti.SetSuggestions(commandWords(o.Runbooks, o.Sim))
	} else {
		ti.SetSuggestions(commandWords(nil, o.Sim))
	}
	// The steps' parent context: a step runs under a child of it, made
	// when the operator starts the step and cancelled by the stop key;
	// Close cancels them all.
	steps, stopSteps := context.WithCancel(context.Background())
	m := Model{
		ctx: ctx, opts: o, cmdline: ti, stopSteps: stopSteps,
		dash:     newDashboardView(ctx),
		alerts:   newAlertsView(ctx, o.Silences),
		tables:   newTablesView(ctx, o.Tables),
		runbooks: newRunbooksView(ctx, o.Runbooks, steps),
		journal:  newJournalView(ctx, o.Journal, o.Started.Add(-24*time.Hour)),
		help:     newHelpView(ctx),
		frame:    &frameCache{ver: ^uint64(0)},
	}
	m.dash.travel.store, m.dash.travel.journal = o.History, o.Journal
	m.gen, m.inflight = 1, true
	if o.Journal == nil && o.JournalErr != nil {
		m.journal.state, m.journal.err, m.journal.openErr = stateError, o.JournalErr, o.JournalErr
	}
	return m, nil
}

func inputStyles(s Styles) textinput.Styles {
	ts := textinput.DefaultDarkStyles()
	ts.Focused.Prompt = s.Accent
	ts.Focused.Text = s.Text
	ts.Cursor.Blink = false
	return ts
}

// Init starts the first refresh at once: the first frame shows the
// loading state, then the figures as soon as they come.
func (m Model) Init() tea.Cmd {
	// New set gen 1 and inflight: Init cannot change the model.
	cmds := []tea.Cmd{m.cycleCmd(m.gen), m.runbooks.load(),
		// issue 16 (runs.go): the notice of unfinished runs at start.
		m.runbooks.startNoticeCmd()}
	if m.opts.Presence != nil {
		cmds = append(cmds, readPresenceCmd(m.opts.Presence))
	}
	return tea.Batch(cmds...)
}

// Update is the root: global keys and resize, envelopes to their view,
// everything else to the focused view. A flash (status message) shown by
// the update is timed out (chrome.go's timeFlash).
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg.(type) {
	case tea.MouseMotionMsg, tea.MouseReleaseMsg:
		// Cell motion reports a drag and the release of a button: no
		// view uses them, and they must not cost a redraw.
		return m, nil
	}
	prev := m.flash
	nm, cmd := m.update(msg)
	n, ok := nm.(Model)
	if !ok {
		return nm, cmd
	}
	n = n.syncPresence(msg)
	if c := n.timeFlash(prev, msg); c != nil {
		return n, tea.Batch(cmd, c)
	}
	return n, cmd
}

func (m Model) update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if _, tick := msg.(tickMsg); !tick {
		m.ver++
	}
	if n, c, ok := m.presenceUpdate(msg); ok {
		return n, c
	}
	switch msg := msg.(type) {
	case lockReadMsg:
		return m.onLockRead(msg)
	case lockBrokenMsg:
		return m.onLockBroken(msg)
	case tea.WindowSizeMsg:
		m.ctx.Width, m.ctx.Height = max(20, msg.Width), max(5, msg.Height)
		m.cmdline.SetWidth(m.ctx.Width - 3)
		return m, nil
	case snapshotMsg:
		return m.onSnapshot(msg)
	case tickMsg:
		if msg.gen != m.gen || m.paused || m.inflight {
			return m, nil
		}
		return m, m.refreshCmd()
	case envelope:
		return m.route(msg.to, msg.msg)
	case runbooksLoadedMsg:
		m.runbooks.all = msg.all
		m.cmdline.SetSuggestions(commandWords(m.opts.Runbooks, m.opts.Sim))
		return m, nil
	case flashMsg:
		m.flash, m.flashIsErr = msg.text, msg.err
		return m, nil
	case switchViewMsg:
		return m.switchTo(msg)
	case screenWrittenMsg:
		if msg.err != nil {
			m.flash, m.flashIsErr = msg.err.Error(), true
		} else {
			m.flash, m.flashIsErr = "screen written to "+msg.path, false
		}
		return m, nil
	case scenarioSetMsg:
		if msg.err != nil {
			m.flash, m.flashIsErr = "scenario: "+msg.err.Error(), true
		} else {
			m.scenario = msg.name
			m.flash, m.flashIsErr = "simulator scenario: "+msg.name, false
		}
		return m, nil
	case flashExpireMsg:
		return m.onFlashExpire(msg)
	case tea.MouseClickMsg:
		return m.onClick(msg)
	case tea.MouseWheelMsg:
		return m.onWheel(msg)
	case tea.KeyPressMsg:
		return m.onKey(msg)
	}
	return m.forward(msg)
}

// route delivers an addressed message to its view.
func (m Model) route(to viewID, msg tea.Msg) (tea.Model, tea.Cmd) {
	var c tea.Cmd
	switch to {
	case viewDashboard:
		m.dash, c = m.dash.Update(msg)
	case viewAlerts:
		m.alerts, c = m.alerts.Update(msg)
	case viewTables:
		m.tables, c = m.tables.Update(msg)
	case viewRunbooks:
		m.runbooks, c = m.runbooks.Update(msg)
	case viewJournal:
		m.journal, c = m.journal.Update(msg)
	case viewHelp:
		m.help, c = m.help.Update(msg)
	}
	return m, c
}

func (m Model) forward(msg tea.Msg) (tea.Model, tea.Cmd) { return m.route(m.focus, msg) }

// switchTo focuses a view and starts what it needs to load.
func (m Model) switchTo(s switchViewMsg) (tea.Model, tea.Cmd) {
	if s.to != m.focus {
		m.back = m.focus
	}
	m.focus = s.to
	var cmds []tea.Cmd
	switch s.to {
	case viewJournal:
		cmds = append(cmds, m.journal.load())
	case viewTables:
		cmds = append(cmds, m.tables.load())
	case viewRunbooks:
		if s.runbook != "" {
			var c tea.Cmd
			m.runbooks, c = m.runbooks.openRunbook(s.runbook, s.start)
			cmds = append(cmds, c)
		}
	}
	return m, tea.Batch(cmds...)
}

// textCapturer is a view that reads typed text at times (a filter, a
// note): while it does, letters go to it rather than to global keys. The
// runbooks view is one; a view that adds a '/' filter implements it too.
type textCapturer interface{ capturing() bool }

// capturing reports whether the focused view is reading typed text, so
// that letters go to it rather than to global keys.
func (m Model) capturing() bool {
	if m.focus == viewRunbooks {
		return m.runbooks.capturing()
	}
	c, ok := m.focused().(textCapturer)
	return ok && c.capturing()
}

func (m Model) onKey(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	k := m.ctx.Keys
	if msg.String() == "ctrl+c" {
		// A running step on the run screen is stopped first (the view
		// quits on a second ctrl+c): it may be a long archive.
		if m.capturing() && m.runbooks.busy() {
			return m.forward(msg)
		}
		return m, tea.Quit
	}
	m.flash = ""
	// Quit confirmation with a run under way: y quits (the run paused,
	// resumable), any other key stays.
	if m.quitAsk {
		m.quitAsk = false
		if s := msg.String(); s == "y" || s == "Y" {
			return m, tea.Sequence(m.runbooks.pauseRunCmd("the operator quit the console"), tea.Quit)
		}
		m.flash, m.flashIsErr = "not quitting: the run goes on", false
		return m, nil
	}
	if m.cmdActive {
		return m.onCommandKey(msg)
	}
	if m.lockAsk != nil {
		return m.lockBreakKey(msg)
	}
	if n, c, ok := m.presenceKey(msg); ok {
		return n, c
	}
	if m.scenarios {
		return m.onScenarioKey(msg)
	}
	if m.capturing() || (m.focus == viewAlerts && m.alerts.claims(msg)) {
		return m.forward(msg)
	}
	if !key.Matches(msg, k.Quit) {
		m.quitArmed = false
	}
	switch {
	case key.Matches(msg, k.Quit):
		if m.runbooks.busy() && !m.quitArmed {
			m.quitArmed = true
			m.flash, m.flashIsErr = "a runbook step is running: press "+msg.String()+" again to quit anyway (its state is kept; 'repops runbook resume' continues it)", true
			return m, nil
		}
		if !m.runbooks.busy() && m.runbooks.runUnderWay() {
			m.quitAsk = true
			m.flash, m.flashIsErr = m.runbooks.quitQuestion(), true
			return m, nil
		}
		return m, tea.Quit
	case key.Matches(msg, k.Help):
		if m.focus == viewHelp {
			return m.switchTo(switchViewMsg{to: m.back})
		}
		return m.switchTo(switchViewMsg{to: viewHelp})
	case key.Matches(msg, k.Command):
		m.cmdActive = true
		m.cmdline.Reset()
		return m, m.cmdline.Focus()
	case key.Matches(msg, k.Pause):
		m.paused = !m.paused
		if m.paused {
			m.flash, m.flashIsErr = "refresh paused: the figures are frozen until you press "+msg.String()+" again", false
			return m, nil
		}
		if !m.inflight {
			return m, m.refreshCmd()
		}
		return m, nil
	case key.Matches(msg, k.Refresh) && m.focus != viewJournal && m.focus != viewTables:
		if m.inflight {
			return m, nil
		}
		return m, m.refreshCmd()
	case key.Matches(msg, k.Slower):
		return m.setInterval(m.stepInterval(+1))
	case key.Matches(msg, k.Faster):
		return m.setInterval(m.stepInterval(-1))
	case key.Matches(msg, k.Copy):
		return m.copyFocused()
	case key.Matches(msg, k.Screenshot):
		return m, m.writeScreenCmd()
	case key.Matches(msg, k.Back):
		// esc means something inside a view first (leave a run, close a
		// detail, clear a filter); only then back to the dashboard.
		if b, ok := m.focused().(interface{ handlesBack() bool }); ok && b.handlesBack() {
			return m.forward(msg)
		}
		if m.focus != viewDashboard {
			return m.switchTo(switchViewMsg{to: viewDashboard})
		}
		return m, nil
	case key.Matches(msg, k.Dashboard):
		return m.switchTo(switchViewMsg{to: viewDashboard})
	case key.Matches(msg, k.Alerts):
		return m.switchTo(switchViewMsg{to: viewAlerts})
	case key.Matches(msg, k.Tables):
		return m.switchTo(switchViewMsg{to: viewTables})
	case key.Matches(msg, k.Runbooks):
		return m.switchTo(switchViewMsg{to: viewRunbooks})
	case m.focus == viewDashboard && key.Matches(msg, k.Filter) && m.runbooks.mode == rbList:
		// "/ find runbook" on the dashboard (which has no list of its own
		// to filter): the runbook list with its filter started, so that
		// a runbook is found by what one types, as in the list.
		nm, c := m.switchTo(switchViewMsg{to: viewRunbooks})
		fm, c2 := nm.(Model).forward(msg)
		return fm, tea.Batch(c, c2)
	case key.Matches(msg, k.Journal):
		return m.switchTo(switchViewMsg{to: viewJournal})
	case key.Matches(msg, k.Scenario):
		m.scenarios = true
		return m, nil
	}
	if i := m.scenarioKey(msg); i >= 0 {
		return m, m.setScenarioByIndex(i)
	}
	if m.focus == viewHelp || m.focus == viewAlerts || m.focus == viewTables || m.focus == viewJournal {
		// Tab keys jump to the dashboard's tabs from anywhere.
		for _, b := range []key.Binding{k.Tab1, k.Tab2, k.Tab3, k.Tab4, k.Tab5} {
			if key.Matches(msg, b) {
				mm, c := m.switchTo(switchViewMsg{to: viewDashboard})
				m = mm.(Model)
				m.dash, _ = m.dash.Update(msg)
				return m, c
			}
		}
	}
	return m.forward(msg)
}

// scenarioKey is the index of the scenario key pressed, -1 for none.
func (m Model) scenarioKey(msg tea.KeyPressMsg) int {
	if m.opts.Sim == nil {
		return -1
	}
	for i, b := range m.scenarioBindings() {
		if key.Matches(msg, b) {
			return i
		}
	}
	return -1
}

// scenarioBindings are the keys of the scenarios, in the simulator's
// order: F1…F9 by default, as the scenario menu shows them.
func (m Model) scenarioBindings() []key.Binding {
	k := m.ctx.Keys
	return []key.Binding{k.Scenario1, k.Scenario2, k.Scenario3, k.Scenario4, k.Scenario5, k.Scenario6, k.Scenario7, k.Scenario8, k.Scenario9}
}

func (m Model) setScenarioByIndex(i int) tea.Cmd {
	names := m.opts.Sim.Scenarios()
	if i < 0 || i >= len(names) {
		return flash(fmt.Sprintf("no scenario %d: the simulator has %d", i+1, len(names)), true)
	}
	return setScenarioCmd(m.opts.Sim, names[i])
}

func setScenarioCmd(sim Simulator, name string) tea.Cmd {
	return func() tea.Msg { return scenarioSetMsg{name: name, err: sim.SetScenario(name)} }
}

func (m Model) onScenarioKey(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	m.scenarios = false
	if key.Matches(msg, m.ctx.Keys.Back) {
		return m, nil
	}
	if i := m.scenarioKey(msg); i >= 0 {
		return m, m.setScenarioByIndex(i)
	}
	s := msg.String()
	if len(s) == 1 && s[0] >= '1' && s[0] <= '9' {
		return m, m.setScenarioByIndex(int(s[0] - '1'))
	}
	return m, nil
}

// writeScreenCmd writes the current screen, without colours, to a file in
// the state dir, for the incident record.
func (m Model) writeScreenCmd() tea.Cmd {
	text := ansi.Strip(m.render())
	dir := filepath.Join(m.ctx.Config.StateDir(), "screens")
	name := "screen-" + m.ctx.Now().UTC().Format("20060102T150405.000Z") + ".txt"
	return func() tea.Msg {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return screenWrittenMsg{err: fmt.Errorf("write screen: create %s: %w", dir, err)}
		}
		p := filepath.Join(dir, name)
		lines := strings.Split(text, "\n")
		for i := range lines {
			lines[i] = strings.TrimRight(lines[i], " ")
		}
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			return screenWrittenMsg{err: fmt.Errorf("write screen to %s: %w", p, err)}
		}
		return screenWrittenMsg{path: p}
	}
}

// View draws the banner, the focused view and the key-hints bar.
func (m Model) View() tea.View {
	var screen string
	switch {
	case m.frame == nil:
		screen = m.render()
	case m.frame.ver == m.ver:
		screen = m.frame.screen
	default:
		screen = m.render()
		*m.frame = frameCache{ver: m.ver, screen: screen}
	}
	v := tea.NewView(screen)
	v.AltScreen = true
	// Clicks (a tab) and the wheel (every pane scrolls) come as messages
	// (mouse.go). While the terminal reports the mouse, a plain drag no
	// longer selects text: shift+drag does in most terminals (xterm,
	// GNOME Terminal, Konsole, kitty, WezTerm, Windows Terminal; option+
	// drag in iTerm2 and Terminal.app), and :mouse turns reporting off.
	if !m.mouseOff {
		v.MouseMode = tea.MouseModeCellMotion
	}
	v.WindowTitle = "repops " + m.ctx.Config.Environment
	if m.cmdActive {
		if c := m.cmdline.Cursor(); c != nil {
			c.Position.Y = m.ctx.Height - 1
			v.Cursor = c
		}
	}
	return v
}

// screen is what the root needs of the focused view to draw it: its body
// and its key hints. Update still routes to the concrete views.
type screen interface {
	View() string
	Hints() []key.Binding
}

// focused is the view that has the focus.
func (m Model) focused() screen {
	switch m.focus {
	case viewAlerts:
		return m.alerts
	case viewTables:
		return m.tables
	case viewRunbooks:
		return m.runbooks
	case viewJournal:
		return m.journal
	case viewHelp:
		return m.help
	default:
		return m.dash
	}
}

// render is the whole screen as a string, exactly the terminal's size.
func (m Model) render() string {
	w, h := m.ctx.Width, m.ctx.Height
	body := m.focused().View()
	if m.scenarios {
		body = m.scenarioMenu()
	}
	if m.lockAsk != nil {
		body = m.lockBreakView()
	}
	switch {
	case m.opts.Presence == nil:
	case m.pr.mode == prWho:
		body = m.whoView()
	case m.pr.mode == prFollow:
		body = m.followView()
	}
	lines := make([]string, 0, h)
	lines = append(lines, m.banner()...)
	if m.opts.Presence != nil {
		lines = append(lines, m.strip())
	}
	bh := m.ctx.bodyHeight()
	bl := strings.Split(body, "\n")
	if len(bl) > bh {
		bl = bl[:bh]
	}
	for _, l := range bl {
		lines = append(lines, truncate(l, w))
	}
	for len(lines) < h-1 {
		lines = append(lines, "")
	}
	if m.lockAsk != nil && !m.cmdActive {
		lines = append(lines, truncate(m.ctx.Styles.State("warning").Render(m.lockBreakLine()), w))
	} else if m.pr.wait != nil && !m.cmdActive {
		lines = append(lines, truncate(m.ctx.Styles.State("warning").Render(m.approvalLine()), w))
	} else {
		lines = append(lines, m.hintsBar())
	}
	return strings.Join(lines, "\n")
}

// Close releases what the console holds after the program ends: it stops
// a runbook step still running (cancelling its context), waits a bounded
// time for the step to return, then releases the lock of the run under
// way (its state stays in the state dir, to be resumed).
func (m Model) Close() {
	if m.stopSteps != nil {
		m.stopSteps()
	}
	if t := m.runbooks.task; t != nil {
		t.wait(stepEndWait)
	}
	if m.runbooks.run != nil {
		m.runbooks.run.Close()
	}
}
