package tui

import (
	"image/color"
	"strings"

	"charm.land/lipgloss/v2"
)

// Styles is every style the views use, built once from one Theme.
type Styles struct {
	Theme Theme

	Text, Muted, Accent, Bold, Error lipgloss.Style
	Title                            lipgloss.Style
	Panel, PanelFocused              lipgloss.Style
	TabActive, TabInactive           lipgloss.Style
	Selected                         lipgloss.Style
	HintKey, HintDesc, HintOff       lipgloss.Style
	Banner                           lipgloss.Style
	Input                            lipgloss.Style

	states map[string]lipgloss.Style
	badges map[string]lipgloss.Style
	envs   map[string]lipgloss.Style

	// Paints of the styles drawn most often (every panel row at every
	// refresh): the same escape sequences as Render, without its cost.
	statePaints                       map[string]paint
	mutedPaint, boldPaint, titlePaint paint
	hintKeyPaint, hintDescPaint       paint
}

// paint is a style's escape sequences before and after a text. For one
// line with no width, padding or border, pre+text+post is what the
// style's Render gives, at a fraction of the cost.
type paint struct{ pre, post string }

// paintSentinel is a private-use rune no text of the console contains.
const paintSentinel = "\uE000"

func newPaint(st lipgloss.Style) paint {
	r := st.Render(paintSentinel)
	i := strings.Index(r, paintSentinel)
	if i < 0 {
		return paint{}
	}
	return paint{pre: r[:i], post: r[i+len(paintSentinel):]}
}

// on paints text (one line).
func (p paint) on(text string) string {
	if text == "" {
		return ""
	}
	return p.pre + text + p.post
}

// StateText paints one line of text in a state's style.
func (s Styles) StateText(state, text string) string {
	p, ok := s.statePaints[state]
	if !ok {
		p = s.statePaints["unknown"]
	}
	return p.on(text)
}

// MutedText paints one line of text muted.
func (s Styles) MutedText(text string) string { return s.mutedPaint.on(text) }

// BoldText paints one line of text bold.
func (s Styles) BoldText(text string) string { return s.boldPaint.on(text) }

// NewStyles builds the styles of theme t.
func NewStyles(t Theme) Styles {
	fg := func(c color.Color) lipgloss.Style {
		s := lipgloss.NewStyle()
		if !t.Mono && c != nil {
			s = s.Foreground(c)
		}
		return s
	}
	border := lipgloss.NewStyle().Border(lipgloss.RoundedBorder())
	if !t.Mono {
		border = border.BorderForeground(t.Border)
	}
	s := Styles{
		Theme:        t,
		Text:         fg(t.Text),
		Muted:        fg(t.Muted),
		Accent:       fg(t.Accent).Bold(true),
		Bold:         lipgloss.NewStyle().Bold(true),
		Error:        fg(t.Critical).Bold(true),
		Title:        fg(t.Accent).Bold(true),
		Panel:        border.Padding(0, 1),
		PanelFocused: border.Padding(0, 1),
		TabActive:    fg(t.Accent).Bold(true).Reverse(t.Mono),
		TabInactive:  fg(t.Muted),
		Selected:     lipgloss.NewStyle().Reverse(true),
		HintKey:      fg(t.Accent).Bold(true),
		HintDesc:     fg(t.Muted),
		HintOff:      fg(t.Muted).Faint(true),
		Banner:       lipgloss.NewStyle().Bold(true),
		Input:        fg(t.Accent),
	}
	if !t.Mono {
		s.PanelFocused = s.PanelFocused.BorderForeground(t.Accent)
	}
	s.states = map[string]lipgloss.Style{
		"ok":       fg(t.OK),
		"warning":  fg(t.Warning).Bold(true),
		"pending":  fg(t.Pending).Bold(true),
		"critical": fg(t.Critical).Bold(true),
		"unknown":  fg(t.Unknown).Faint(t.Mono),
	}
	s.statePaints = map[string]paint{}
	for name, st := range s.states {
		s.statePaints[name] = newPaint(st)
	}
	s.mutedPaint, s.boldPaint, s.titlePaint = newPaint(s.Muted), newPaint(s.Bold), newPaint(s.Title)
	s.hintKeyPaint, s.hintDescPaint = newPaint(s.HintKey), newPaint(s.HintDesc)
	s.badges = map[string]lipgloss.Style{}
	for name, c := range map[string]color.Color{"ok": t.OK, "warning": t.Warning, "pending": t.Pending, "critical": t.Critical, "unknown": t.Unknown} {
		b := lipgloss.NewStyle().Bold(true)
		if t.Mono {
			if name == "critical" || name == "pending" {
				b = b.Reverse(true)
			}
		} else {
			b = b.Foreground(lipgloss.Color("0")).Background(c)
		}
		s.badges[name] = b
	}
	s.envs = map[string]lipgloss.Style{}
	for name, c := range map[string]color.Color{"production": t.Production, "staging": t.Staging, "development": t.Development, "drill": t.Drill, "": t.OtherEnv} {
		b := lipgloss.NewStyle().Bold(true).Padding(0, 1)
		if t.Mono {
			b = b.Reverse(true)
		} else {
			b = b.Foreground(lipgloss.Color("15")).Background(c)
		}
		s.envs[name] = b
	}
	return s
}

// State is the text style for a state name (ok, warning, pending,
// critical, unknown).
func (s Styles) State(state string) lipgloss.Style {
	if st, ok := s.states[state]; ok {
		return st
	}
	return s.states["unknown"]
}

// Badge renders a state as a word in its colour: " CRITICAL ".
func (s Styles) Badge(state string) string {
	b, ok := s.badges[state]
	if !ok {
		b, state = s.badges["unknown"], "unknown"
	}
	return b.Render(" " + strings.ToUpper(state) + " ")
}

// Env renders the environment name in the environment's colour:
// production red, staging yellow, development green, drill magenta.
func (s Styles) Env(env string) string {
	b, ok := s.envs[strings.ToLower(env)]
	if !ok {
		b = s.envs[""]
	}
	if env == "" {
		env = "unknown environment"
	}
	return b.Render(strings.ToUpper(env))
}
