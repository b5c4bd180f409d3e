package tui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
)

// The runbooks' list and the help use the shared `/` filter (filter.go).

// countFor is how many runbooks the list keeps for filter text.
func countFor(m Model, text string) int {
	v := m.runbooks
	v.filter = listFilter{text: text}
	return len(v.filtered())
}

func TestRunbookListFilter(t *testing.T) {
	m := loaded(t, nil)
	m, cmd := step(t, m, press("r"))
	m = drain(t, m, cmd)
	all := m.runbooks.filtered()
	var one, many string
	for _, rb := range all {
		if one == "" && countFor(m, rb.ID) == 1 {
			one = rb.ID
		}
		for _, tag := range append(rb.Tags, rb.Severity) {
			if many == "" && tag != "" && countFor(m, tag) >= 3 {
				many = tag
			}
		}
	}
	if one == "" || many == "" {
		t.Fatalf("no filter word with one match (%q) or with three (%q)", one, many)
	}

	// One match: the first enter keeps the filter and opens the runbook.
	m, _ = step(t, m, press("/"))
	if !m.capturing() {
		t.Fatal("/ did not start the filter")
	}
	m = typeText(t, m, one)
	if !strings.Contains(plain(m), "/"+one+"▏") {
		t.Errorf("the head does not show the filter being typed:\n%s", plain(m))
	}
	m, cmd = step(t, m, press("enter"))
	m = drain(t, m, cmd)
	if m.runbooks.mode != rbRead || m.runbooks.book.ID != one {
		t.Fatalf("/%s enter: mode %v, want the runbook's page", one, m.runbooks.mode)
	}
	m, _ = step(t, m, press("esc"))
	if m.runbooks.mode != rbList || m.runbooks.filter.Text() != one || m.runbooks.filter.Editing() {
		t.Fatalf("esc from the page: mode %v filter %q editing %v", m.runbooks.mode, m.runbooks.filter.Text(), m.runbooks.filter.Editing())
	}

	// `/` starts fresh; several matches: enter only keeps the filter.
	m, _ = step(t, m, press("/"))
	m = typeText(t, m, many)
	if got := m.runbooks.filter.Text(); got != many {
		t.Fatalf("/ then %q: filter %q, want a fresh one", many, got)
	}
	m, _ = step(t, m, press("enter"))
	n := countFor(m, many)
	if m.runbooks.mode != rbList || m.runbooks.filter.Editing() || len(m.runbooks.filtered()) != n {
		t.Fatalf("/%s enter: mode %v editing %v, %d listed, want %d", many, m.runbooks.mode, m.runbooks.filter.Editing(), len(m.runbooks.filtered()), n)
	}
	// n and N go round the matches.
	for _, c := range []struct {
		key  string
		want int
	}{{"n", 1}, {"n", 2}, {"N", 1}, {"N", 0}, {"N", n - 1}, {"n", 0}} {
		m, _ = step(t, m, press(c.key))
		if m.runbooks.sel != c.want {
			t.Fatalf("%s: selected %d, want %d", c.key, m.runbooks.sel, c.want)
		}
	}
	m, _ = step(t, m, press("n"))
	want := m.runbooks.filtered()[1].ID
	m, cmd = step(t, m, press("enter"))
	m = drain(t, m, cmd)
	if m.runbooks.mode != rbRead || m.runbooks.book.ID != want {
		t.Fatalf("enter on the second match: mode %v", m.runbooks.mode)
	}
	// esc back to the list, esc clears the filter, esc leaves.
	m, _ = step(t, m, press("esc"))
	m, _ = step(t, m, press("esc"))
	if m.focus != viewRunbooks || m.runbooks.filter.Active() || len(m.runbooks.filtered()) != len(all) {
		t.Fatalf("esc on a filtered list: focus %v filter %q", m.focus, m.runbooks.filter.Text())
	}
	// esc while typing clears it too; then a word with no match.
	m, _ = step(t, m, press("/"))
	m = typeText(t, m, "zzzqqq")
	if !strings.Contains(plain(m), "no runbook matches") {
		t.Errorf("no match is not said:\n%s", plain(m))
	}
	m, _ = step(t, m, press("esc"))
	if m.runbooks.filter.Active() || m.capturing() || m.focus != viewRunbooks {
		t.Fatalf("esc while typing: filter %q capturing %v focus %v", m.runbooks.filter.Text(), m.capturing(), m.focus)
	}
	m, _ = step(t, m, press("esc"))
	if m.focus != viewDashboard {
		t.Fatalf("esc on the plain list: focus %v, want the dashboard", m.focus)
	}
}

func TestHelpFilter(t *testing.T) {
	m := loaded(t, nil)
	m, _ = step(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	m, _ = step(t, m, press("?"))
	if m.focus != viewHelp {
		t.Fatalf("focus %v", m.focus)
	}
	m, _ = step(t, m, press("/"))
	m = typeText(t, m, "page")
	out := plain(m)
	for _, want := range []string{"/page▏", "page up", "page down", "Moving"} {
		if !strings.Contains(out, want) {
			t.Errorf("the help filtered by page lacks %q:\n%s", want, out)
		}
	}
	for _, not := range []string{"quit", "Views", "refresh now"} {
		if strings.Contains(out, not) {
			t.Errorf("the help filtered by page shows %q:\n%s", not, out)
		}
	}
	// q is text while typing: the console does not quit.
	m, cmd := step(t, m, press("q"))
	if cmd != nil {
		if _, quit := cmd().(tea.QuitMsg); quit {
			t.Fatal("q while typing the help's filter quit")
		}
	}
	m, _ = step(t, m, tea.KeyPressMsg{Code: tea.KeyBackspace})
	m, _ = step(t, m, press("enter"))
	if m.help.filter.Editing() || m.help.filter.Text() != "page" {
		t.Fatalf("enter: editing %v filter %q", m.help.filter.Editing(), m.help.filter.Text())
	}
	// n/N bring the matches to the top, round.
	_, at := m.help.filteredLines()
	if len(at) < 2 {
		t.Fatalf("%d matches of page", len(at))
	}
	m, _ = step(t, m, press("n"))
	if m.help.match != 1 {
		t.Fatalf("n: match %d, want 1", m.help.match)
	}
	m, _ = step(t, m, press("N"))
	m, _ = step(t, m, press("N"))
	if m.help.match != len(at)-1 {
		t.Fatalf("N N: match %d, want %d", m.help.match, len(at)-1)
	}
	// `/` starts fresh; esc clears; esc leaves the help.
	m, _ = step(t, m, press("/"))
	m = typeText(t, m, "filter")
	if m.help.filter.Text() != "filter" || !strings.Contains(plain(m), "/filter▏") {
		t.Fatalf("/ then filter: %q", m.help.filter.Text())
	}
	m, _ = step(t, m, press("enter"))
	m, _ = step(t, m, press("esc"))
	if m.focus != viewHelp || m.help.filter.Active() || !strings.Contains(plain(m), "Views") {
		t.Fatalf("esc on the filtered help: focus %v filter %q", m.focus, m.help.filter.Text())
	}
	m, _ = step(t, m, press("esc"))
	if m.focus == viewHelp {
		t.Fatal("esc on the plain help stayed in the help")
	}
}
