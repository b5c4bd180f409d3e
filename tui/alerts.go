package tui

import (
	"fmt"
	"sort"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/repops/repops/internal/humanize"
	"github.com/repops/repops/metrics"
)

// alertsView lists every rule with its state, and the selected rule's
// detail: what it means, why it is in its state, since when, its history
// of transitions, and its runbook.
type alertsView struct {
	ctx      *ProgramContext
	state    loadState
	snap     metrics.Snapshot
	selected int
}

func newAlertsView(ctx *ProgramContext) alertsView { return alertsView{ctx: ctx} }

func (v alertsView) rules() []metrics.AlertStatus {
	out := append([]metrics.AlertStatus(nil), v.snap.Alerts...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].State.Rank() > out[j].State.Rank() })
	return out
}

// Update handles the view's own messages and keys; it does no I/O.
func (v alertsView) Update(msg tea.Msg) (alertsView, tea.Cmd) {
	k := v.ctx.Keys
	switch msg := msg.(type) {
	case snapshotMsg:
		if len(msg.snap.Alerts) > 0 || msg.err == nil {
			v.snap, v.state = msg.snap, stateReady
		}
	case tea.KeyPressMsg:
		n := len(v.snap.Alerts)
		switch {
		case key.Matches(msg, k.Up):
			v.selected = max(0, v.selected-1)
		case key.Matches(msg, k.Down):
			v.selected = min(max(0, n-1), v.selected+1)
		case key.Matches(msg, k.Top):
			v.selected = 0
		case key.Matches(msg, k.Bottom):
			v.selected = max(0, n-1)
		case key.Matches(msg, k.OpenRunbook, k.Enter):
			rs := v.rules()
			if len(rs) == 0 {
				return v, nil
			}
			a := rs[min(v.selected, len(rs)-1)]
			if a.Runbook == "" {
				return v, flash("no runbook is linked to "+a.Rule.Title, true)
			}
			id := a.Runbook
			return v, func() tea.Msg { return switchViewMsg{to: viewRunbooks, runbook: id} }
		}
	}
	return v, nil
}

// Hints are the view's keys for the key-hints bar.
func (v alertsView) Hints() []key.Binding {
	k := v.ctx.Keys
	return []key.Binding{k.Up, k.Down, k.OpenRunbook, k.Back}
}

// View draws the view in the body's width and height.
func (v alertsView) View() string {
	st := v.ctx.Styles
	w, h := v.ctx.Width, v.ctx.bodyHeight()
	now := v.ctx.Now()
	lines := []string{st.Title.Render("Alerts") + st.Muted.Render("  every rule of the guide's table and its maintenance checks")}
	if v.state != stateReady {
		return strings.Join(append(lines, st.Muted.Render("loading: the first refresh is running…")), "\n")
	}
	rs := v.rules()
	if len(rs) > 0 {
		count := alertCountWords(rs, len(rs), w-8)
		if about := "every rule of the guide's table and its maintenance checks"; cellWidth(count)+3+cellWidth(about) <= w-8 {
			count += " · " + about
		}
		lines[0] = st.Title.Render("Alerts") + "  " + st.MutedText(count)
	}
	listH := min(len(rs), max(3, h/2-1))
	sel := min(v.selected, max(0, len(rs)-1))
	off := max(0, sel-listH+1)
	openKey := ""
	if ks := v.ctx.Keys.OpenRunbook.Keys(); len(ks) > 0 {
		openKey = ks[0]
	}
	lines = append(lines, alertRows(v.ctx, v.snap, rs[off:min(len(rs), off+listH)], sel-off, w, openKey)...)
	if len(rs) == 0 {
		lines = append(lines, st.Muted.Render("no rules are configured"))
		return strings.Join(lines, "\n")
	}
	a := rs[sel]
	lines = append(lines, "", st.Title.Render(a.Rule.Title)+" "+st.Badge(a.State.String()))
	detail := []string{
		alertThresholds(v.snap, a),
		"now: " + alertFigure(a, v.snap, now),
	}
	if !a.ActiveSince.IsZero() {
		detail = append(detail, fmt.Sprintf("beyond the alert threshold since %s (%s)", a.ActiveSince.In(now.Location()).Format("15:04:05"), humanize.Age(now.Sub(a.ActiveSince))))
	}
	if a.Rule.Description != "" {
		detail = append(detail, a.Rule.Description)
	}
	if a.Runbook != "" {
		detail = append(detail, "runbook "+a.Runbook+" (o or enter opens it)")
	}
	for i, d := range detail {
		if a.Rule.Description != "" && i == len(detail)-1-oneIf(a.Runbook != "") {
			for _, l := range wrapWords(a.Rule.Description, w-1, "") {
				lines = append(lines, " "+st.MutedText(l))
			}
			continue
		}
		for _, l := range wrapWords(d, w-1, "   ") {
			lines = append(lines, " "+l)
		}
	}
	if len(a.History) > 0 {
		lines = append(lines, st.Muted.Render(" history:"))
		for i := len(a.History) - 1; i >= 0 && len(lines) < h; i-- {
			t := a.History[i]
			lines = append(lines, truncate(fmt.Sprintf("   %s %s → %s  %s", t.Time.In(now.Location()).Format("15:04:05"),
				st.State(t.From.String()).Render(t.From.String()), st.State(t.To.String()).Render(t.To.String()), fmtValue(t.Value, unitOf(v.snap, a.Rule.Panel, a.Rule.Unit))), w))
		}
	}
	if len(v.snap.External) > 0 && len(lines) < h-1 {
		lines = append(lines, "", st.Title.Render("Alertmanager"))
		for _, e := range v.snap.External {
			lines = append(lines, truncate(fmt.Sprintf(" %s %-24s %s %s", st.State(severityState(e.Severity)).Render(padRight(strings.ToUpper(e.Severity), 9)),
				e.Name, e.Summary, st.Muted.Render(e.State+" since "+e.StartsAt.In(now.Location()).Format("15:04"))), w))
		}
	}
	if len(lines) > h {
		lines = lines[:h]
	}
	return strings.Join(lines, "\n")
}

// alertThresholds is a rule's figures and thresholds on one line, each
// with its panel's unit: "value 45.7 h · target <72 h · fires when >24 h
// for 15 min, as a severity warning alert (respond within 30 minutes)".
// The state a firing rule shows is CRITICAL whatever its severity, so the
// two are never put side by side as if they could disagree: the severity
// says how the alert is routed, not how bad the figure is.
func alertThresholds(snap metrics.Snapshot, a metrics.AlertStatus) string {
	r := a.Rule
	alertUnit := unitOf(snap, r.Panel, r.Unit)
	targetUnit := unitOf(snap, r.TargetOn(), r.Unit)
	parts := []string{"value " + fmtValue(a.Value, alertUnit)}
	if r.TargetOn() != r.Panel {
		parts[0] += " (" + panelTitle(snap, r.Panel) + ")"
		if a.TargetValue.OK || r.HasTarget() {
			parts = append(parts, panelTitle(snap, r.TargetOn())+" "+fmtValue(a.TargetValue, targetUnit))
		}
	}
	if t := fmtTarget(r.Target, targetUnit, r); t != "" {
		parts = append(parts, "target "+t)
	}
	if al := fmtAlert(r.Alert, alertUnit, r); al != "" {
		s := "fires when " + al
		if r.For > 0 {
			s += " for " + humanize.Age(r.For)
		}
		s += ", as a severity " + r.Severity + " alert"
		if m := severityMeaning(r.Severity); m != "" {
			s += " (" + m + ")"
		}
		parts = append(parts, s)
	} else {
		parts = append(parts, "no alert threshold: outside its target the rule shows WARNING")
	}
	return strings.Join(parts, " · ")
}

// severityMeaning is what a severity asks of the on-call engineer, in the
// guide's "Alert Response" words.
func severityMeaning(s string) string {
	switch s {
	case metrics.SeverityCritical:
		return "page the on-call engineer"
	case metrics.SeverityWarning:
		return "respond within 30 minutes"
	case metrics.SeverityInfo:
		return "monitor and document"
	}
	return ""
}

// alertCountWords counts the rules of listed that are not OK, by state,
// in words that agree with the rows listed (a WARNING row is counted):
// "2 not OK (0 critical, 2 warning) of 18 rules". Critical is always
// named; pending, warning and unknown when there are any. Narrower than
// width, the breakdown keeps critical only: "2 not OK (0 critical) of 18
// rules".
func alertCountWords(listed []metrics.AlertStatus, total, width int) string {
	n := map[metrics.State]int{}
	bad := 0
	for _, a := range listed {
		if a.State != metrics.StateOK {
			n[a.State]++
			bad++
		}
	}
	parts := []string{fmt.Sprintf("%d critical", n[metrics.StateCritical])}
	for _, s := range []metrics.State{metrics.StatePending, metrics.StateWarning, metrics.StateUnknown} {
		if n[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[s], s))
		}
	}
	long := fmt.Sprintf("%d not OK (%s) of %d rules", bad, strings.Join(parts, ", "), total)
	if cellWidth(long) <= width {
		return long
	}
	short := fmt.Sprintf("%d not OK (%d critical) of %d rules", bad, n[metrics.StateCritical], total)
	if cellWidth(short) <= width {
		return short
	}
	return fmt.Sprintf("%d not OK of %d", bad, total)
}

// panelTitle is the title of panel name, or its name.
func panelTitle(snap metrics.Snapshot, name string) string {
	if p, ok := snap.Panel(name); ok && p.Title != "" {
		return p.Title
	}
	return name
}

func oneIf(b bool) int {
	if b {
		return 1
	}
	return 0
}
