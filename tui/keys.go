package tui

import (
	"fmt"
	"sort"
	"strings"

	"charm.land/bubbles/v2/key"
)

// KeyMap is every key the console answers to. Each binding has an action
// name (the map key in config.Console.Keys) so an operator can rebind it:
//
//	console:
//	  keys:
//	    quit: ["q", "ctrl+c"]
//	    runbooks: ["R"]
//
// Stop (stop the running step) is a control key, ctrl+x: x and s are the
// step's own keys (do, skip) and a slip of the finger must not stop a long
// archive, even though it is built to be stopped and resumed.
type KeyMap struct {
	Quit, Help, Command, Pause, Refresh, Screenshot, Back key.Binding
	Slower, Faster, Copy                                  key.Binding
	Dashboard, Alerts, Tables, Runbooks, Journal          key.Binding
	NextTab, PrevTab                                      key.Binding
	Tab1, Tab2, Tab3, Tab4, Tab5                          key.Binding
	Up, Down, PageUp, PageDown, Top, Bottom               key.Binding
	Enter, OpenRunbook, Filter                            key.Binding
	Do, Skip, Stop, Note, Export                          key.Binding
	Scenario                                              key.Binding
	TimeBack, TimeForward, TimeHourBack, TimeHourForward  key.Binding
	Scenario1, Scenario2, Scenario3, Scenario4            key.Binding
	Scenario5, Scenario6, Scenario7, Scenario8, Scenario9 key.Binding
}

// DefaultKeyMap is the console's keys before the config's overrides.
func DefaultKeyMap() KeyMap {
	b := func(help, desc string, keys ...string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
	}
	return KeyMap{
		Quit:       b("q", "quit", "q", "ctrl+c"),
		Help:       b("?", "help", "?"),
		Command:    b(":", "command", ":"),
		Pause:      b("p", "pause refresh", "p"),
		Refresh:    b("ctrl+r", "refresh now", "ctrl+r"),
		Screenshot: b("w", "write screen to file", "w"),
		Slower:     b("+", "refresh less often", "+"),
		Faster:     b("-", "refresh more often", "-"),
		// y copies the focused value (the database path, the alert's
		// runbook, the run id) to the clipboard with OSC 52, which the
		// terminal honours even over SSH (clipboard.go).
		Copy:        b("y", "copy value to clipboard", "y"),
		Back:        b("esc", "back", "esc"),
		Dashboard:   b("d", "dashboard", "d"),
		Alerts:      b("a", "alerts", "a"),
		Tables:      b("t", "tables", "t"),
		Runbooks:    b("r", "runbooks", "r"),
		Journal:     b("l", "journal (log)", "l"),
		NextTab:     b("tab", "next tab", "tab"),
		PrevTab:     b("shift+tab", "previous tab", "shift+tab"),
		Tab1:        b("1", "overview", "1"),
		Tab2:        b("2", "appeals", "2"),
		Tab3:        b("3", "negotiation", "3"),
		Tab4:        b("4", "ml", "4"),
		Tab5:        b("5", "infrastructure", "5"),
		Up:          b("↑/k", "up", "up", "k"),
		Down:        b("↓/j", "down", "down", "j"),
		PageUp:      b("pgup", "page up", "pgup", "ctrl+u"),
		PageDown:    b("pgdn/space", "page down", "pgdown", "space", "ctrl+d"),
		Top:         b("home/g", "top", "home", "g"),
		Bottom:      b("end/G", "bottom", "end", "G"),
		Enter:       b("enter", "open / start", "enter"),
		OpenRunbook: b("o", "open the alert's runbook", "o"),
		Filter:      b("/", "filter", "/"),
		Do:          b("x", "do the step", "x"),
		Skip:        b("s", "skip the step", "s"),
		Stop:        b("ctrl+x", "stop the running step", "ctrl+x"),
		Note:        b("n", "add a note", "n"),
		Export:      b("e", "export to file", "e"),
		Scenario:    b("S", "simulator scenario", "S"),
		// Going back in time on the dashboard (timetravel.go).
		TimeBack:        b("[", "back in time", "["),
		TimeForward:     b("]", "forward in time", "]"),
		TimeHourBack:    b("{", "an hour back", "{"),
		TimeHourForward: b("}", "an hour forward", "}"),
		Scenario1:       b("f1", "scenario 1", "f1"),
		Scenario2:       b("f2", "scenario 2", "f2"),
		Scenario3:       b("f3", "scenario 3", "f3"),
		Scenario4:       b("f4", "scenario 4", "f4"),
		Scenario5:       b("f5", "scenario 5", "f5"),
		Scenario6:       b("f6", "scenario 6", "f6"),
		Scenario7:       b("f7", "scenario 7", "f7"),
		Scenario8:       b("f8", "scenario 8", "f8"),
		Scenario9:       b("f9", "scenario 9", "f9"),
	}
}

// named maps each action name to its binding, for rebinding and help.
func (k *KeyMap) named() map[string]*key.Binding {
	return map[string]*key.Binding{
		"quit": &k.Quit, "help": &k.Help, "command": &k.Command, "pause": &k.Pause,
		"refresh": &k.Refresh, "screenshot": &k.Screenshot, "back": &k.Back,
		"refresh_slower": &k.Slower, "refresh_faster": &k.Faster, "copy": &k.Copy,
		"dashboard": &k.Dashboard, "alerts": &k.Alerts, "tables": &k.Tables,
		"runbooks": &k.Runbooks, "journal": &k.Journal,
		"next_tab": &k.NextTab, "prev_tab": &k.PrevTab,
		"tab_overview": &k.Tab1, "tab_appeals": &k.Tab2, "tab_negotiation": &k.Tab3,
		"tab_ml": &k.Tab4, "tab_infrastructure": &k.Tab5,
		"up": &k.Up, "down": &k.Down, "page_up": &k.PageUp, "page_down": &k.PageDown,
		"top": &k.Top, "bottom": &k.Bottom,
		"enter": &k.Enter, "open_runbook": &k.OpenRunbook, "filter": &k.Filter,
		"do": &k.Do, "skip": &k.Skip, "stop": &k.Stop, "note": &k.Note, "export": &k.Export,
		"scenario":  &k.Scenario,
		"time_back": &k.TimeBack, "time_forward": &k.TimeForward,
		"time_hour_back": &k.TimeHourBack, "time_hour_forward": &k.TimeHourForward,
		"scenario_1": &k.Scenario1, "scenario_2": &k.Scenario2, "scenario_3": &k.Scenario3,
		"scenario_4": &k.Scenario4, "scenario_5": &k.Scenario5, "scenario_6": &k.Scenario6,
		"scenario_7": &k.Scenario7, "scenario_8": &k.Scenario8, "scenario_9": &k.Scenario9,
	}
}

// ActionNames lists the names config.Console.Keys accepts, sorted.
func (k *KeyMap) ActionNames() []string {
	var out []string
	for n := range k.named() {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Rebind applies the config's overrides: action name -> keys. An unknown
// action or an empty key list is an error that names the valid actions.
func (k *KeyMap) Rebind(overrides map[string][]string) error {
	named := k.named()
	names := make([]string, 0, len(overrides))
	for n := range overrides {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		keys := overrides[name]
		b, ok := named[name]
		if !ok {
			return fmt.Errorf("console.keys: unknown action %q (valid: %s)", name, strings.Join(k.ActionNames(), ", "))
		}
		if len(keys) == 0 {
			return fmt.Errorf("console.keys.%s: give at least one key", name)
		}
		b.SetKeys(keys...)
		b.SetHelp(strings.Join(keys, "/"), b.Help().Desc)
	}
	return nil
}

// ShortHelp is the global part of the key-hints bar (help.KeyMap).
func (k KeyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Help, k.Command, k.Pause, k.Screenshot, k.Quit}
}

// FullHelp is every key, grouped, for the help view (help.KeyMap).
func (k KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Dashboard, k.Alerts, k.Tables, k.Runbooks, k.Journal, k.Help, k.Command, k.Back, k.Quit},
		{k.NextTab, k.PrevTab, k.Tab1, k.Tab2, k.Tab3, k.Tab4, k.Tab5, k.Pause, k.Refresh, k.Slower, k.Faster, k.Screenshot,
			k.TimeBack, k.TimeForward, k.TimeHourBack, k.TimeHourForward},
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom, k.Enter, k.OpenRunbook, k.Filter, k.Copy},
		{k.Do, k.Skip, k.Stop, k.Note, k.Export, k.Scenario, k.Scenario1, k.Scenario9},
	}
}
