package tui

import (
	"strings"

	"github.com/repops/repops/internal/humanize"
	"github.com/repops/repops/metrics"
)

// alertRowCols is one alert's columns in words, before they are fitted to
// the screen's width.
type alertRowCols struct {
	state, title, figure string
	clock, age           string // since when: "05:59" and "16 s"
	runbook              string
	// silenced is "silenced (2h left)" for a silenced alert: it takes the
	// since column's place, which matters less while it is silenced.
	silenced string
}

// alertRows lays out alerts as aligned columns: state, title, the figure
// against its threshold, since when, and the runbook. The marked row gets
// "▸" and the key that opens its runbook. When the width is short, the
// lower-priority columns shrink or go, whole, in this order: the runbook
// id (the marked row keeps its key hint), the age after the clock, the
// word "since", the hint; words are never cut unless the figure alone
// does not fit.
func alertRows(ctx *ProgramContext, snap metrics.Snapshot, alerts []metrics.AlertStatus, marked, width int, openKey string) []string {
	st := ctx.Styles
	now := ctx.Now()
	cols := make([]alertRowCols, len(alerts))
	titleW, figW, figNeed, rbW := 0, 0, 0, 0
	for i, a := range alerts {
		c := alertRowCols{
			state:   strings.ToUpper(a.State.String()),
			title:   a.Rule.Title,
			figure:  alertFigure(a, snap, now),
			runbook: a.Runbook,
		}
		if !a.Since.IsZero() {
			c.clock = a.Since.In(now.Location()).Format("15:04")
			c.age = humanize.GlanceAge(now.Sub(a.Since))
		}
		if a.Silenced != nil {
			word := "silenced"
			if a.Silenced.Ack {
				word = "acked"
			}
			c.silenced = word + " (" + humanize.Age(a.Silenced.EndsAt.Sub(now)) + " left)"
		}
		cols[i] = c
		titleW = max(titleW, cellWidth(c.title))
		figW = max(figW, cellWidth(c.figure))
		if a.Value.OK {
			figNeed = max(figNeed, cellWidth(c.figure))
		} else {
			// Why a figure is unknown is cut, but never to nothing: the
			// since column goes first.
			figNeed = max(figNeed, min(cellWidth(c.figure), reasonNeed))
		}
		rbW = max(rbW, cellWidth(c.runbook))
	}
	titleW, figW, figNeed = min(titleW, 32), min(figW, 60), min(figNeed, 36)
	hint := ""
	if openKey != "" {
		hint = "[" + openKey + "]"
	}
	// Layouts from the fullest to the barest: since's form and the
	// runbook column's form.
	type layout struct {
		since  func(c alertRowCols) string
		sinceW int
		rb     int // 2 id with hint, 1 hint only, 0 none
	}
	full := func(c alertRowCols) string {
		if c.silenced != "" {
			return c.silenced
		}
		if c.clock == "" {
			return ""
		}
		return "since " + c.clock + " (" + c.age + ")"
	}
	short := func(c alertRowCols) string {
		if c.silenced != "" {
			return c.silenced
		}
		if c.clock == "" {
			return ""
		}
		return "since " + c.clock
	}
	bare := func(c alertRowCols) string {
		if c.silenced != "" {
			// The word alone where the time left does not fit.
			return strings.Fields(c.silenced)[0]
		}
		return c.clock
	}
	none := func(alertRowCols) string { return "" }
	sinceW := func(f func(alertRowCols) string) int {
		n := 0
		for _, c := range cols {
			n = max(n, cellWidth(f(c)))
		}
		return n
	}
	layouts := []layout{
		{full, sinceW(full), 2}, {short, sinceW(short), 2},
		{full, sinceW(full), 1}, {short, sinceW(short), 1},
		{bare, sinceW(bare), 1}, {bare, sinceW(bare), 0},
		{none, 0, 1}, {none, 0, 0},
	}
	// The since column and the gap before it; none without it.
	sinceCol := func(l layout) int {
		if l.sinceW == 0 {
			return 0
		}
		return 2 + l.sinceW
	}
	// The state column is as wide as its longest word (PENDING, WARNING,
	// CRITICAL), not wider.
	stateW := 7
	for _, c := range cols {
		stateW = max(stateW, cellWidth(c.state))
	}
	lead := 2 + stateW + 1 // marker, state, space
	rbWidth := func(l layout) int {
		switch {
		case l.rb == 2 && rbW > 0:
			return 2 + cellWidth(hint) + 1 + rbW
		case l.rb >= 1 && hint != "":
			return 2 + cellWidth(hint)
		}
		return 0
	}
	pick := layouts[len(layouts)-1]
	for _, l := range layouts {
		if lead+titleW+2+figNeed+sinceCol(l)+rbWidth(l) <= width {
			pick = l
			break
		}
	}
	// The figure column takes the room left, up to its longest figure
	// (a reason why a figure is unknown is cut first). When even the
	// barest layout is too wide, the title column gives first (down to
	// 16 cells), then the figure; both are cut between words.
	tw := titleW
	rest := func() int { return width - lead - tw - 2 - sinceCol(pick) - rbWidth(pick) }
	if over := figNeed - rest(); over > 0 {
		tw -= min(over, max(0, tw-16))
	}
	fw := max(0, min(figW, rest()))
	out := make([]string, 0, len(alerts))
	for i, c := range cols {
		mark := "  "
		if i == marked {
			mark = st.Accent.Render("▸ ")
		}
		state := strings.ToLower(c.state)
		line := mark + st.StateText(state, padRight(c.state, stateW)) + " " + padRight(cutWords(c.title, tw), tw) + "  " +
			padRight(cutWords(c.figure, fw), fw)
		if pick.sinceW > 0 {
			line += "  " + st.MutedText(padRight(pick.since(c), pick.sinceW))
		}
		rb := ""
		switch {
		case pick.rb == 2 && c.runbook != "":
			if i == marked {
				rb = hint + " " + c.runbook
			} else {
				rb = spaces(cellWidth(hint)+1) + c.runbook
			}
		case pick.rb >= 1 && i == marked && c.runbook != "" && hint != "":
			rb = hint
		}
		if rb != "" {
			line += "  " + st.Accent.Render(rb)
		}
		out = append(out, truncate(strings.TrimRight(line, " "), width))
	}
	return out
}

// reasonNeed is the room an unknown figure's reason keeps in an alert
// row ("no data: service…") before the since column gives way.
const reasonNeed = 20

// cutWords shortens s to width cells at a word boundary, with an ellipsis
// ("Appeal processing…"); a single word longer than width is cut in it.
func cutWords(s string, width int) string {
	if cellWidth(s) <= width {
		return s
	}
	if width <= 1 {
		return truncate(s, width)
	}
	r := []rune(s)
	for i := len(r) - 1; i > 0; i-- {
		if r[i] == ' ' && cellWidth(string(r[:i])) <= width-1 {
			return strings.TrimRight(string(r[:i]), " ,:·") + "…"
		}
	}
	return truncate(s, width)
}
