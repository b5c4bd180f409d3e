package tui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"
)

// command is one parsed ':' command line.
type command struct {
	verb string
	arg  string
}

// parseCommand reads ":alerts", ":run restore", ":scenario error-spike".
func parseCommand(line string) command {
	f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), ":"))
	if len(f) == 0 {
		return command{}
	}
	c := command{verb: strings.ToLower(f[0])}
	if len(f) > 1 {
		c.arg = strings.Join(f[1:], " ")
	}
	return c
}

// commandWords are the completions the command line offers.
func commandWords(rb RunbookService, sim Simulator) []string {
	words := []string{"overview", "appeals", "negotiation", "ml", "infra", "infrastructure", "dashboard",
		"alerts", "silences", "tables", "runbooks", "runs", "backups", "drill", "journal", "help", "pause", "resume", "write", "export", "quit",
		"refresh", "refresh 1s", "refresh 5s", "refresh 30s", "mouse", "mouse on", "mouse off", "lockbreak",
		"incident start", "incident note", "incident note --mitigated", "incident end"}
	// "resume" alone resumes the refresh when it is paused, else the
	// newest resumable runbook run; "resume RUNID" resumes that run.
	if rb != nil {
		for _, r := range rb.List() {
			words = append(words, "run "+r.ID, "open "+r.ID)
		}
	}
	if sim != nil {
		for _, s := range sim.Scenarios() {
			words = append(words, "scenario "+s)
		}
	}
	return words
}

func (m Model) onCommandKey(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	switch msg.String() {
	case "esc":
		m.cmdActive = false
		m.cmdline.Blur()
		return m, nil
	case "enter":
		m.cmdActive = false
		m.cmdline.Blur()
		return m.execCommand(parseCommand(m.cmdline.Value()))
	}
	var c tea.Cmd
	m.cmdline, c = m.cmdline.Update(msg)
	return m, c
}

// execCommand runs a ':' command: jump to a view or a tab, open or start a
// runbook by id, switch the simulator's scenario, pause, write the screen,
// export the journal, quit.
func (m Model) execCommand(c command) (tea.Model, tea.Cmd) {
	tab := func(t int) (tea.Model, tea.Cmd) {
		mm, cmd := m.switchTo(switchViewMsg{to: viewDashboard})
		n := mm.(Model)
		n.dash.tab = t
		return n, cmd
	}
	switch c.verb {
	case "":
		return m, nil
	case "who", "follow", "handover", "approve", "deny":
		return m.presenceCommand(c) // presence_cmds.go
	case "lockbreak", "breaklock":
		return m.lockBreakCommand() // lockbreak.go
	case "overview", "dashboard", "d":
		return tab(tabOverview)
	case "appeals":
		return tab(tabAppeals)
	case "negotiation", "negotiations":
		return tab(tabNegotiation)
	case "ml":
		return tab(tabML)
	case "infra", "infrastructure":
		return tab(tabInfra)
	case "alerts":
		return m.switchTo(switchViewMsg{to: viewAlerts})
	case "silences", "silence":
		mm, cmd := m.switchTo(switchViewMsg{to: viewAlerts})
		n := mm.(Model)
		var c tea.Cmd
		n.alerts, c = n.alerts.openSilences()
		return n, tea.Batch(cmd, c)
	case "tables":
		return m.switchTo(switchViewMsg{to: viewTables})
	case "runbooks", "runbook":
		if c.arg != "" {
			return m.switchTo(switchViewMsg{to: viewRunbooks, runbook: c.arg})
		}
		return m.switchTo(switchViewMsg{to: viewRunbooks})
	case "open", "show":
		return m.switchTo(switchViewMsg{to: viewRunbooks, runbook: c.arg})
	case "run", "start":
		if c.arg == "" {
			return m, flash("run what? :run <runbook id> (r lists them)", true)
		}
		return m.switchTo(switchViewMsg{to: viewRunbooks, runbook: c.arg, start: true})
	case "resume":
		if m.paused && c.arg == "" {
			m.paused = false
			if !m.inflight {
				return m, m.refreshCmd()
			}
			return m, nil
		}
		mm, cmd := m.switchTo(switchViewMsg{to: viewRunbooks})
		n := mm.(Model)
		var rc tea.Cmd
		n.runbooks, rc = n.runbooks.resumeRun(c.arg)
		return n, tea.Batch(cmd, rc)
	case "runs", "backups", "drill":
		// Screens of the runbooks view (runs.go, backups_view.go): they
		// only read the state and backup dirs.
		mm, cmd := m.switchTo(switchViewMsg{to: viewRunbooks})
		n := mm.(Model)
		var rc tea.Cmd
		switch c.verb {
		case "runs":
			n.runbooks, rc = n.runbooks.openRuns()
		case "backups":
			n.runbooks, rc = n.runbooks.openBackups()
		default:
			n.runbooks, rc = n.runbooks.openDrill()
		}
		return n, tea.Batch(cmd, rc)
	case "journal", "log":
		return m.switchTo(switchViewMsg{to: viewJournal})
	case "help":
		return m.switchTo(switchViewMsg{to: viewHelp})
	case "pause":
		m.paused = true
		return m, nil
	case "refresh", "interval":
		if c.arg == "" {
			m.flash, m.flashIsErr = fmt.Sprintf("refresh every %s: :refresh 5s (or +/-) changes it", m.refreshInterval()), false
			return m, nil
		}
		d, err := parseInterval(c.arg)
		if err != nil {
			m.flash, m.flashIsErr = err.Error(), true
			return m, nil
		}
		return m.setInterval(d)
	case "mouse":
		return m.setMouse(c.arg)
	case "write", "w", "screenshot":
		return m, m.writeScreenCmd()
	case "export":
		mm, cmd := m.switchTo(switchViewMsg{to: viewJournal})
		n := mm.(Model)
		return n, tea.Batch(cmd, func() tea.Msg { return envelope{to: viewJournal, msg: exportRequestMsg{}} })
	case "scenario":
		if m.opts.Sim == nil {
			return m, flash("scenarios exist only in 'repops demo'", true)
		}
		if c.arg == "" {
			// The scenarios are a list to choose from, not an error
			// message cut at the width of the screen.
			m.scenarios = true
			return m, nil
		}
		return m, setScenarioCmd(m.opts.Sim, c.arg)
	case "incident":
		return m.incidentCommand(c.arg)
	case "quit", "q":
		return m, tea.Quit
	}
	return m, flash(commandsLine(fmt.Sprintf("unknown command %q: try ", c.verb), keyName(m.ctx.Keys.Help), m.ctx.Width-1), true)
}

// commandGroups are the ':' commands as the help lists them, in groups:
// the dashboard's tabs, the other views, runbooks, the simulator, the
// console itself.
var commandGroups = [][]string{
	{"overview", "appeals", "negotiation", "ml", "infra"},
	{"alerts", "tables", "runbooks", "journal", "help"},
	{"run <runbook-id>", "open <runbook-id>", "resume [run-id]", "runs"},
	{"backups", "drill", "lockbreak"},
	{"scenario [name]", "incident start|note|end"},
	{"refresh [interval]", "mouse [on|off]"},
	{"pause", "resume", "write", "export", "quit"},
}

// commandListHead starts the help's list of ':' commands; the lines after
// the first are indented under its end.
const commandListHead = ": commands: "

// commandList lays every ':' command out in lines of at most width cells,
// so that none is cut at 80 columns or at 60: a group stays on one line
// when it fits there, groups share a line (separated by " · ") when they
// fit together, and a group wider than a line wraps between commands,
// never inside one. Below 20 columns a command is cut.
func commandList(width int) []string {
	indent := spaces(cellWidth(commandListHead))
	if width < 40 {
		indent = "  "
	}
	var out []string
	line, empty := commandListHead, true
	flush := func() {
		out = append(out, truncate(line, width))
		line, empty = indent, true
	}
	for _, g := range commandGroups {
		// Commands with an argument are set further apart, so that
		// "run <id>" reads as one.
		sep := " "
		for _, c := range g {
			if strings.Contains(c, " ") {
				sep = "  "
			}
		}
		group := strings.Join(g, sep)
		if !empty && cellWidth(line)+3+cellWidth(group) > width {
			flush()
		}
		if cellWidth(line)+cellWidth(group) <= width {
			if !empty {
				line += " · "
			}
			line += group
			empty = false
			continue
		}
		// Wider than a line: wrap between its commands.
		for _, c := range g {
			switch {
			case empty:
				line += c
			case cellWidth(line)+cellWidth(sep)+cellWidth(c) <= width:
				line += sep + c
			default:
				flush()
				line += c
			}
			empty = false
		}
	}
	flush()
	return out
}

// commandsLine is one line of at most width cells: head, then as many
// ':' commands as fit, then how many more there are and where to see
// them all (the help, opened with helpKey, lists them).
func commandsLine(head, helpKey string, width int) string {
	var all []string
	seen := map[string]bool{}
	for _, g := range commandGroups {
		for _, c := range g {
			if !seen[c] {
				seen[c] = true
				all = append(all, c)
			}
		}
	}
	line := head
	for i, c := range all {
		sep := ", "
		if i == 0 {
			sep = ""
		}
		rest := len(all) - i - 1
		tail := ""
		if rest > 0 {
			tail = fmt.Sprintf(" …%d more (%s lists them)", rest, helpKey)
		}
		if cellWidth(line)+cellWidth(sep)+cellWidth(c)+cellWidth(tail) > width {
			return strings.TrimRight(line, " ") + fmt.Sprintf(" …%d more (%s lists them)", len(all)-i, helpKey)
		}
		line += sep + c
	}
	return line
}

// exportRequestMsg asks the journal view to export once its entries are
// loaded.
type exportRequestMsg struct{}
