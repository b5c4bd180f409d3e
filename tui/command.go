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
		"alerts", "tables", "runbooks", "journal", "help", "pause", "resume", "write", "export", "quit"}
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
	case "journal", "log":
		return m.switchTo(switchViewMsg{to: viewJournal})
	case "help":
		return m.switchTo(switchViewMsg{to: viewHelp})
	case "pause":
		m.paused = true
		return m, nil
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
		return m, setScenarioCmd(m.opts.Sim, c.arg)
	case "quit", "q":
		return m, tea.Quit
	}
	return m, flash(fmt.Sprintf("unknown command %q: try overview, alerts, tables, runbooks, journal, run <id>, help", c.verb), true)
}

// exportRequestMsg asks the journal view to export once its entries are
// loaded.
type exportRequestMsg struct{}
