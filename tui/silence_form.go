package tui

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/repops/repops/metrics"
)

// silencePresets are the form's durations; an acknowledgement has its own
// (it ends with its run anyway, and lasts at most 4h).
var (
	silencePresets = []time.Duration{time.Hour, 4 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}
	ackPresets     = []time.Duration{time.Hour, 4 * time.Hour}
)

// Keys of the alerts view's silence actions.
var (
	alertSortKey  = key.NewBinding(key.WithKeys("O"), key.WithHelp("O", "order"))
	silenceKey    = key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "silence"))
	ackKey        = key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "ack"))
	presetKeys    = key.NewBinding(key.WithKeys("left", "right", "tab", "shift+tab"), key.WithHelp("←/→", "duration"))
	formEnterHint = key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "create"))
	formEscHint   = key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel"))
)

// silenceForm is the silence (or acknowledgement) of one alert being
// made: its matchers are the alert's labels; the operator picks a
// duration and must write a comment; the preview says what it would
// silence before enter creates it.
type silenceForm struct {
	open     bool
	title    string
	labels   map[string]string
	preset   int
	ack      bool
	runID    string
	comment  textinput.Model
	preview  *SilencePreview
	err      string
	creating bool
}

// matchersText is the labels as matchers: {alertname="X", rule="y"}.
func matchersText(labels map[string]string) string {
	names := make([]string, 0, len(labels))
	for k := range labels {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%s=%q", k, labels[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func (f silenceForm) presets() []time.Duration {
	if f.ack {
		return ackPresets
	}
	return silencePresets
}

// newSilenceForm opens the form for alert a; runID set makes it an
// acknowledgement of that run.
func newSilenceForm(ctx *ProgramContext, a metrics.AlertStatus, runID string) silenceForm {
	ti := textinput.New()
	ti.Prompt = "> "
	ti.Placeholder = "why: ticket, incident, what you are doing (required)"
	ti.SetVirtualCursor(true)
	ti.SetStyles(inputStyles(ctx.Styles))
	ti.CharLimit = 500
	ti.SetWidth(max(10, ctx.Width-14))
	f := silenceForm{open: true, title: a.Rule.Title, labels: metrics.AlertLabels(a.Rule, a.State), comment: ti}
	if runID != "" {
		f.ack, f.runID, f.preset = true, runID, 1
		f.comment.SetValue("acknowledged: runbook run " + runID + " is dealing with it")
	}
	f.comment.Focus()
	return f
}

// previewCmd asks the service what the form's silence would silence.
func (f silenceForm) previewCmd(svc SilenceService, snap metrics.Snapshot) tea.Cmd {
	labels := f.labels
	k := matchersText(labels)
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), silenceTimeout)
		defer cancel()
		return silencePreviewMsg{key: k, p: svc.Preview(ctx, labels, snap)}
	}
}

// update handles a key in the form: the preset keys, enter, esc; the
// rest is the comment's text. done reports that the form closed.
func (f silenceForm) update(msg tea.KeyPressMsg, svc SilenceService) (silenceForm, tea.Cmd) {
	n := len(f.presets())
	switch msg.String() {
	case "esc":
		f.open = false
		return f, flash("silence cancelled: nothing created", false)
	case "right", "tab":
		f.preset = (f.preset + 1) % n
		return f, nil
	case "left", "shift+tab":
		f.preset = (f.preset + n - 1) % n
		return f, nil
	case "enter":
		if f.creating {
			return f, nil
		}
		comment := strings.TrimSpace(f.comment.Value())
		if comment == "" {
			f.err = "a comment is required (why, a ticket, an incident): nothing created"
			return f, nil
		}
		f.err, f.creating = "", true
		req := SilenceRequest{Labels: f.labels, Duration: f.presets()[f.preset], Comment: comment, Ack: f.ack, RunID: f.runID}
		return f, func() tea.Msg {
			ctx, cancel := context.WithTimeout(context.Background(), silenceTimeout)
			defer cancel()
			info, err := svc.Create(ctx, req)
			return silenceCreatedMsg{info: info, err: err}
		}
	}
	var c tea.Cmd
	f.comment, c = f.comment.Update(msg)
	if f.err != "" && strings.TrimSpace(f.comment.Value()) != "" {
		f.err = ""
	}
	return f, c
}

// view draws the form in width w.
func (f silenceForm) view(ctx *ProgramContext, backend string) []string {
	st := ctx.Styles
	w := ctx.Width
	what := "Silence"
	if f.ack {
		what = "Acknowledge"
	}
	where := "  in Alertmanager"
	if backend != "alertmanager" {
		where = "  kept by repops in its state dir (no Alertmanager configured)"
	}
	lines := []string{truncate(st.Title.Render(what+" "+f.title)+st.Muted.Render(where), ctx.Width)}
	for _, l := range wrapWords("matchers "+matchersText(f.labels), w-1, "         ") {
		lines = append(lines, " "+l)
	}
	if f.ack {
		lines = append(lines, " "+st.MutedText("tied to run "+f.runID+": it ends when the run ends"))
	}
	var ds []string
	for i, d := range f.presets() {
		s := fmtPreset(d)
		if i == f.preset {
			s = st.Selected.Render("[" + s + "]")
		} else {
			s = " " + s + " "
		}
		ds = append(ds, s)
	}
	lines = append(lines, " duration "+strings.Join(ds, " ")+st.MutedText("  ←/→"))
	lines = append(lines, " comment  "+f.comment.View())
	if f.err != "" {
		lines = append(lines, " "+st.Error.Render(truncate(f.err, w-2)))
	}
	switch {
	case f.preview == nil:
		lines = append(lines, st.Muted.Render(" preview: asking what it would silence…"))
	default:
		lines = append(lines, fmt.Sprintf(" preview: would silence %d firing alert(s)", len(f.preview.Alerts)))
		for i, a := range f.preview.Alerts {
			if i == 5 {
				lines = append(lines, st.Muted.Render(fmt.Sprintf("   … and %d more", len(f.preview.Alerts)-5)))
				break
			}
			lines = append(lines, truncate("   "+a, w))
		}
		if f.preview.Err != "" {
			lines = append(lines, " "+st.StateText("warning", truncate("not in the preview: "+f.preview.Err, w-2)))
		}
	}
	if f.creating {
		lines = append(lines, st.Muted.Render(" creating…"))
	}
	return lines
}

// fmtPreset is 1h, 4h, 24h, 7d.
func fmtPreset(d time.Duration) string {
	if d >= 48*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return fmt.Sprintf("%dh", d/time.Hour)
}

// formHints are the form's keys for the key-hints bar.
func formHints() []key.Binding { return []key.Binding{presetKeys, formEnterHint, formEscHint} }
