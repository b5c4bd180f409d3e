package tui

import (
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/repops/repops/runbooks"
)

func (m Model) scenarioMenu() string {
	st := m.ctx.Styles
	lines := []string{st.Title.Render("Simulator scenarios") + st.Muted.Render("  rehearse an incident: the simulated service starts misbehaving"), ""}
	names := m.opts.Sim.Scenarios()
	for i, s := range names {
		cur := ""
		if s == m.scenario || (m.scenario == "" && s == "normal") {
			cur = st.Accent.Render("  ◂ now")
		}
		// Only the keys that are bound are shown: 1-9 in the menu, the
		// scenario keys (F1…F9) from anywhere.
		label := "    "
		if i < len(m.scenarioBindings()) {
			k := keyName(m.scenarioBindings()[i])
			if len(k) <= 3 && strings.HasPrefix(k, "f") {
				k = strings.ToUpper(k) // f9 -> F9
			}
			label = fmt.Sprintf("%d/%s", i+1, k)
		}
		lines = append(lines, fmt.Sprintf("  %s  %s%s", st.HintKey.Render(label), s, cur))
	}
	n := min(len(names), len(m.scenarioBindings()))
	lines = append(lines, "", st.Muted.Render(fmt.Sprintf("  press a number (or F1…F%d from anywhere); esc closes", n)))
	return strings.Join(lines, "\n")
}

// banner is two lines: environment, database, last refresh, state of the
// refresh; then the health of each source (a dead one says so).
func (m Model) banner() []string {
	st := m.ctx.Styles
	w := m.ctx.Width
	cfg := m.ctx.Config
	left := st.Env(cfg.Environment) + " " + st.Banner.Render("repops")
	if m.ctx.Identity != "" {
		// Over SSH: who this session is and what its role lets it do,
		// before the path, which a narrow terminal truncates.
		left += st.Muted.Render(" · ") + st.Accent.Render(m.ctx.Identity)
	}
	left += st.Muted.Render(" · ") + cfg.Database.Path
	if m.ctx.ReadOnly {
		left += " " + st.State("warning").Render("[READ-ONLY]")
	}
	var right string
	switch {
	case m.paused:
		right = st.State("pending").Render("PAUSED")
		if !m.lastRefresh.IsZero() {
			right += st.Muted.Render(" at " + m.lastRefresh.In(m.ctx.Now().Location()).Format("15:04:05"))
		}
	case m.lastRefresh.IsZero():
		right = st.Muted.Render("loading…")
	default:
		right = st.Muted.Render("refreshed ") + m.lastRefresh.In(m.ctx.Now().Location()).Format("15:04:05") +
			st.Muted.Render(" every "+m.refreshInterval().String())
	}
	if m.refreshErr != nil {
		right = st.Error.Render("refresh failed") + " " + right
	}
	gap := w - lipgloss.Width(left) - lipgloss.Width(right)
	line1 := left + spaces(max(1, gap)) + right
	if gap < 1 {
		line1 = truncate(left, max(0, w-lipgloss.Width(right)-1)) + " " + right
	}
	// Sources.
	var parts []string
	if m.refreshErr != nil {
		parts = append(parts, st.Error.Render(m.refreshErr.Error()))
	}
	// The expiry guard first: a silence about to end on a firing alert
	// is the next page.
	for _, g := range m.guard {
		parts = append(parts, st.State("warning").Render("⚠ "+g))
	}
	for _, s := range m.snap.Sources {
		if s.Up {
			parts = append(parts, st.State("ok").Render("● ")+s.Name+st.Muted.Render(" up"))
		} else {
			reason := s.Err
			if reason == "" {
				reason = "not answering"
			}
			parts = append(parts, st.State("critical").Render("✖ "+s.Name+" DEAD")+st.Muted.Render(": "+reason))
		}
	}
	if r := m.runbooks; r.run != nil && r.state.Status == runbooks.RunRunning && m.focus != viewRunbooks {
		// The run under way stays in sight from every view, with its
		// objective's timer.
		part := fmt.Sprintf("⚙ %s %d/%d", r.state.RunbookID, r.cur.Index+1, r.cur.Total)
		if r.book != nil && r.book.Objectives.RTO > 0 {
			el := m.ctx.Now().Sub(r.state.StartedAt)
			state := "pending"
			if el >= r.book.Objectives.RTO {
				state = "critical"
			}
			part += " " + st.State(state).Render(fmtClock(el)+" of RTO "+fmtClock(r.book.Objectives.RTO))
		}
		parts = append(parts, st.Accent.Render(part))
	}
	if m.scenario != "" {
		parts = append(parts, st.Accent.Render("scenario "+m.scenario))
	}
	line2 := " " + strings.Join(parts, st.Muted.Render("  "))
	if len(parts) == 0 {
		line2 = st.Muted.Render(" sources: waiting for the first refresh")
	}
	return []string{truncate(line1, w), truncate(line2, w)}
}

// hintsBar is the bottom line: a flash message, the command line, or the
// focused view's keys and the global ones.
func (m Model) hintsBar() string {
	st := m.ctx.Styles
	w := m.ctx.Width
	if m.cmdActive {
		return truncate(m.cmdline.View(), w)
	}
	if m.flash != "" {
		if m.flashIsErr {
			return truncate(st.Error.Render(m.flash), w)
		}
		return truncate(st.Accent.Render(m.flash), w)
	}
	hints := m.focused().Hints()
	k := m.ctx.Keys
	// A prompt or the backup chooser holds the keyboard: the global keys
	// type into it, so only its own are shown.
	// (A run in progress captures keys too, but the global ones still
	// work there: they stay.)
	prompting := m.focus == viewRunbooks && (m.runbooks.prompting() || m.runbooks.mode == rbList && m.runbooks.filter.Editing()) ||
		m.focus != viewRunbooks && m.capturing()
	for _, b := range k.ShortHelp() {
		if prompting {
			break
		}
		if m.paused && sameKeys(b, k.Pause) {
			// The pause key resumes while the refresh is paused.
			b.SetHelp(b.Help().Key, "resume refresh")
		}
		hints = append(hints, b)
	}
	if m.ctx.Demo && !prompting {
		hints = append(hints, k.Scenario)
	}
	var parts []string
	used := 0
	// The help key's hint always stays: the others give way to it.
	helpW := 0
	if h := k.Help.Help(); !prompting && len(k.Help.Keys()) > 0 && h.Key != "" {
		helpW = lenRunes(h.Key) + 1 + lenRunes(h.Desc) + 2
	}
	for _, b := range hints {
		h := b.Help()
		if len(b.Keys()) == 0 || h.Key == "" {
			continue
		}
		var s string
		sw := lenRunes(h.Key) + 1 + lenRunes(h.Desc) + 2
		if !b.Enabled() || (m.ctx.ReadOnly && writes(k, b)) {
			s = st.HintOff.Render(h.Key+" "+h.Desc) + st.MutedText(" (off)")
			sw += 6
		} else {
			s = st.hintKeyPaint.on(h.Key) + " " + st.hintDescPaint.on(h.Desc)
		}
		isHelp := helpW > 0 && b.Help().Key == k.Help.Help().Key
		if used+sw > w || (!isHelp && helpW > 0 && used+sw+helpW > w) {
			if isHelp || helpW == 0 {
				break
			}
			continue
		}
		parts = append(parts, s)
		used += sw
		if isHelp {
			helpW = 0
		}
	}
	return " " + strings.Join(parts, "  ")
}

// tabShortTitles are the dashboard's tab names when the full ones leave
// no room for the overall state.
var tabShortTitles = [tabCount]string{"Overview", "Appeals", "Negot.", "ML", "Infra"}

// tabBar is the dashboard's top line: the tabs at the left, the overall
// state at the right ("" while there is none yet). The state is the
// headline and never gives way: the tabs shorten first (short names; then
// numbers only but the active tab's name; then closer together), then
// the word "overall" goes, and only then, narrower than any terminal the
// console is meant for (about 36 columns), are the tabs cut.
func tabBar(st Styles, width, active int, state string) string {
	line, _ := tabBarLayout(st, width, active, state)
	return line
}

// tabSpan is the columns a tab's label takes on the tab bar, from (the
// first) to to (past the last); the zero span is a tab not drawn.
type tabSpan struct{ from, to int }

// tabSpans is where each tab is on the tab bar, for a click on it.
type tabSpans [tabCount]tabSpan

// tabAt is the tab drawn at column x, -1 for none.
func (s tabSpans) tabAt(x int) int {
	for i, sp := range s {
		if x >= sp.from && x < sp.to {
			return i
		}
	}
	return -1
}

// clip keeps the spans of a tab bar of total columns within the first
// width: when it is cut, the last of them holds the ellipsis.
func (s tabSpans) clip(total, width int) tabSpans {
	if total > width {
		width--
	}
	for i := range s {
		s[i].to = min(s[i].to, width)
		if s[i].from >= s[i].to {
			s[i] = tabSpan{}
		}
	}
	return s
}

// tabBarLayout is tabBar and the columns each tab's label takes on it.
func tabBarLayout(st Styles, width, active int, state string) (string, tabSpans) {
	const (
		full = iota
		short
		numbers
	)
	var spans tabSpans
	left := func(names int, sep string) string {
		parts := make([]string, 0, tabCount)
		col, sepW := 0, lipgloss.Width(sep)
		for i := range tabCount {
			label := fmt.Sprint(i + 1)
			switch {
			case i == active || names == full:
				label += " " + tabTitles[i]
			case names == short:
				label += " " + tabShortTitles[i]
			}
			if i == active {
				parts = append(parts, st.TabActive.Render(label))
			} else {
				parts = append(parts, st.TabInactive.Render(label))
			}
			lw := lipgloss.Width(parts[i])
			spans[i] = tabSpan{from: col, to: col + lw}
			col += lw + sepW
		}
		return strings.Join(parts, st.Muted.Render(sep))
	}
	if state == "" {
		for _, names := range []int{full, short, numbers} {
			if l := left(names, " │ "); lipgloss.Width(l) <= width {
				return l, spans
			}
		}
		l := left(numbers, " ")
		return truncate(l, width), spans.clip(lipgloss.Width(l), width)
	}
	badge := st.Badge(state)
	labelled := st.Muted.Render("overall ") + badge
	const gap = 2
	for _, c := range []struct {
		names      int
		sep, right string
	}{
		{full, " │ ", labelled},
		{short, " │ ", labelled},
		{numbers, " │ ", labelled},
		{numbers, " ", labelled},
		{numbers, " ", badge},
	} {
		l := left(c.names, c.sep)
		if n := width - lipgloss.Width(l) - lipgloss.Width(c.right); n >= gap {
			return l + spaces(n) + c.right, spans
		}
	}
	bw := lipgloss.Width(badge)
	if width <= bw {
		return truncate(badge, width), tabSpans{}
	}
	l := left(numbers, " ")
	return truncate(l, width-bw-1) + " " + badge, spans.clip(lipgloss.Width(l), width-bw-1)
}

// flashTTL is how long a status message (a flash) stays in the place of
// the key hints when no key is pressed: the hints come back after it.
const flashTTL = 5 * time.Second

// flashExpireMsg asks whether flash number seq has been shown long
// enough (flashTTL by the console's clock, ProgramContext.Now).
type flashExpireMsg struct{ seq int }

func flashExpireCmd(seq int, after time.Duration) tea.Cmd {
	return tea.Tick(after, func(time.Time) tea.Msg { return flashExpireMsg{seq: seq} })
}

// timeFlash starts the timer of a flash that the update from a flash
// prev, for msg, has just shown: a new text, or any text shown by a key
// or a flash message (a key clears the flash first, so a flash after it
// is new). It returns nil when there is nothing new to time.
func (m *Model) timeFlash(prev string, msg tea.Msg) tea.Cmd {
	if m.flash == "" {
		return nil
	}
	renewed := m.flash != prev
	switch msg.(type) {
	case tea.KeyPressMsg, flashMsg:
		renewed = true
	}
	if !renewed {
		return nil
	}
	m.flashAt = m.ctx.Now()
	m.flashSeq++
	return flashExpireCmd(m.flashSeq, flashTTL)
}

// onFlashExpire takes the flash away once it has been shown for flashTTL
// (by the console's clock), so the key hints come back without a key; a
// question waiting for its answer (quit with a run under way) stays.
func (m Model) onFlashExpire(msg flashExpireMsg) (tea.Model, tea.Cmd) {
	if msg.seq != m.flashSeq || m.flash == "" || m.quitAsk || m.quitArmed {
		return m, nil
	}
	if left := flashTTL - m.ctx.Now().Sub(m.flashAt); left > 0 {
		return m, flashExpireCmd(msg.seq, left)
	}
	m.flash, m.flashIsErr = "", false
	return m, nil
}
