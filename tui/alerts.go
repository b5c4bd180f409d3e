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

// alertSort is the order of the alerts view's rules.
type alertSort int

const (
	alertsByState    alertSort = iota // the worst state first
	alertsBySeverity                  // critical, warning, info; then by state
	alertsByAge                       // the latest change of state first
	alertSorts
)

func (s alertSort) String() string {
	switch s {
	case alertsBySeverity:
		return "severity"
	case alertsByAge:
		return "age"
	}
	return "state"
}

// alertsView lists every rule with its state, and the selected rule's
// detail: what it means, why it is in its state, since when, its history
// of transitions, and its runbook. Enter shows the selected rule whole
// (nothing cut, scrollable); o opens its runbook; O cycles the order
// (state, severity, age); / filters, n/N select the next or previous
// match. s silences the selected alert (silence_form.go), a acknowledges
// it when a run of its runbook is under way; :silences lists the
// silences (silences_view.go).
type alertsView struct {
	ctx      *ProgramContext
	state    loadState
	snap     metrics.Snapshot
	selected int

	filter listFilter
	sortBy alertSort
	// listOff is the list's offset as last shown (alerts_click.go).
	listOff int
	// detail: the selected rule is shown whole, scrolled by dscroll.
	detail  bool
	dscroll scroller

	// svc reaches the silences (nil: none in this console).
	svc  SilenceService
	form silenceForm
	sil  silencesList
}

func newAlertsView(ctx *ProgramContext, svc SilenceService) alertsView {
	return alertsView{ctx: ctx, svc: svc}
}

// capturing: the filter or a silence's comment is being typed, or an
// expiry waits for y/N, so letters are text, not keys.
func (v alertsView) capturing() bool { return v.filter.Editing() || v.form.open || v.sil.confirm }

// claims reports whether the view answers msg itself although the root
// binds it: a (acknowledge) in the list, + (extend) in the silences list.
func (v alertsView) claims(msg tea.KeyPressMsg) bool {
	if v.detail {
		return false
	}
	if v.sil.open {
		return key.Matches(msg, extendKey)
	}
	return key.Matches(msg, ackKey)
}

// handlesBack: esc closes the detail, the form or the silences list, or
// clears the filter, rather than leaving the view.
func (v alertsView) handlesBack() bool {
	return v.detail || v.filter.Editing() || v.filter.Active() || v.form.open || v.sil.open
}

// rules are the rules the filter keeps, in the order chosen.
func (v alertsView) rules() []metrics.AlertStatus {
	out := make([]metrics.AlertStatus, 0, len(v.snap.Alerts))
	for _, a := range v.snap.Alerts {
		if v.filter.Match(a.Rule.Title, a.Rule.Name, a.State.String(), a.Rule.Severity, a.Runbook, a.Rule.Panel) {
			out = append(out, a)
		}
	}
	sev := func(s string) int {
		switch s {
		case metrics.SeverityCritical:
			return 3
		case metrics.SeverityWarning:
			return 2
		case metrics.SeverityInfo:
			return 1
		}
		return 0
	}
	switch v.sortBy {
	case alertsBySeverity:
		sort.SliceStable(out, func(i, j int) bool {
			if si, sj := sev(out[i].Rule.Severity), sev(out[j].Rule.Severity); si != sj {
				return si > sj
			}
			return out[i].State.Rank() > out[j].State.Rank()
		})
	case alertsByAge:
		sort.SliceStable(out, func(i, j int) bool {
			if zi, zj := out[i].Since.IsZero(), out[j].Since.IsZero(); zi != zj {
				return zj
			}
			return out[i].Since.After(out[j].Since)
		})
	default:
		sort.SliceStable(out, func(i, j int) bool { return out[i].State.Rank() > out[j].State.Rank() })
	}
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
	case rowClickMsg:
		return v.onRowClick(msg), nil
	case silencePreviewMsg, silenceCreatedMsg, silencesListedMsg, silenceChangedMsg, ackRunMsg:
		return v.onSilenceMsg(msg)
	case tea.MouseWheelMsg:
		if v.detail {
			v.dscroll.Fit(len(v.detailLines()), v.detailRoom())
			v.dscroll.Wheel(msg)
		}
	case tea.KeyPressMsg:
		if v.form.open {
			var c tea.Cmd
			v.form, c = v.form.update(msg, v.svc)
			return v, c
		}
		if v.sil.open {
			return v.onSilencesKey(msg)
		}
		if v.detail {
			return v.onDetailKey(msg)
		}
		v = v.anchored()
		if handled, changed := v.filter.Key(msg, k); handled {
			if changed {
				v.selected = 0
			}
			return v, nil
		}
		n := len(v.rules())
		switch {
		case key.Matches(msg, k.Up):
			v.selected = max(0, v.selected-1)
		case key.Matches(msg, k.Down):
			v.selected = min(max(0, n-1), v.selected+1)
		case key.Matches(msg, k.Top):
			v.selected = 0
		case key.Matches(msg, k.Bottom):
			v.selected = max(0, n-1)
		case key.Matches(msg, alertSortKey):
			v.sortBy = (v.sortBy + 1) % alertSorts
			v.selected = 0
		case key.Matches(msg, silenceKey):
			return v.startSilence(false)
		case key.Matches(msg, ackKey):
			return v.startSilence(true)
		case matchStep(msg) != 0:
			if v.filter.Active() && n > 0 {
				v.selected = cycle(min(v.selected, n-1), n, matchStep(msg))
			}
		case key.Matches(msg, k.Enter):
			if n > 0 {
				v.detail, v.dscroll = true, scroller{}
			}
		case key.Matches(msg, k.OpenRunbook):
			return v, v.openRunbook()
		}
	}
	return v, nil
}

// onDetailKey scrolls the detail; o opens the runbook; esc or enter goes
// back to the list.
func (v alertsView) onDetailKey(msg tea.KeyPressMsg) (alertsView, tea.Cmd) {
	k := v.ctx.Keys
	switch {
	case key.Matches(msg, k.Back, k.Enter):
		v.detail = false
	case key.Matches(msg, k.OpenRunbook):
		return v, v.openRunbook()
	default:
		v.dscroll.Fit(len(v.detailLines()), v.detailRoom())
		v.dscroll.Key(msg, k)
	}
	return v, nil
}

// openRunbook opens the selected rule's runbook.
func (v alertsView) openRunbook() tea.Cmd {
	rs := v.rules()
	if len(rs) == 0 {
		return nil
	}
	a := rs[min(v.selected, len(rs)-1)]
	if a.Runbook == "" {
		return flash("no runbook is linked to "+a.Rule.Title, true)
	}
	id := a.Runbook
	return func() tea.Msg { return switchViewMsg{to: viewRunbooks, runbook: id} }
}

var alertEnterHint = key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "details"))

// Hints are the view's keys for the key-hints bar.
func (v alertsView) Hints() []key.Binding {
	k := v.ctx.Keys
	// The open key's hint, short, so that the list's keys fit 80 columns.
	open := key.NewBinding(key.WithKeys(k.OpenRunbook.Keys()...), key.WithHelp(k.OpenRunbook.Help().Key, "runbook"))
	open.SetEnabled(k.OpenRunbook.Enabled())
	switch {
	case v.form.open:
		return formHints()
	case v.sil.open:
		return v.silencesHints()
	case v.filter.Editing():
		return []key.Binding{filterKeepHint, filterClearHint}
	case v.detail:
		return []key.Binding{k.Up, k.Down, open, k.Back}
	case v.filter.Active():
		return []key.Binding{k.Up, k.Down, open, alertEnterHint, nextMatchKey, filterClearHint}
	}
	if v.svc == nil {
		// No silences in this console: their keys are not offered.
		return []key.Binding{k.Up, k.Down, open, alertEnterHint, k.Filter, alertSortKey, k.Back}
	}
	return []key.Binding{k.Up, k.Down, silenceKey, ackKey, open, alertEnterHint, k.Filter, alertSortKey, k.Back}
}

// View draws the view in the body's width and height.
func (v alertsView) View() string {
	st := v.ctx.Styles
	w, h := v.ctx.Width, v.ctx.bodyHeight()
	now := v.ctx.Now()
	about := "every rule of the guide's table and its maintenance checks"
	lines := []string{st.Title.Render("Alerts") + st.Muted.Render("  "+about)}
	if v.state != stateReady {
		return strings.Join(append(lines, st.Muted.Render("loading: the first refresh is running…")), "\n")
	}
	if v.sil.open {
		return v.silencesView()
	}
	rs := v.rules()
	if v.form.open {
		backend := ""
		if v.svc != nil {
			backend = v.svc.Backend()
		}
		return strings.Join(append(lines, v.form.view(v.ctx, backend)...), "\n")
	}
	if v.detail && len(rs) > 0 {
		return v.detailView()
	}
	if len(v.snap.Alerts) > 0 {
		// The filter first (it was just typed), then the count of the
		// rules not OK (of them all, whatever the filter), the order, and
		// what the list is when there is room.
		head := st.Title.Render("Alerts") + "  "
		if v.filter.Editing() || v.filter.Active() {
			head += v.filter.Header(st, len(rs), len(v.snap.Alerts)) + "  "
		}
		order := " · sort " + v.sortBy.String()
		count := alertCountWords(v.snap.Alerts, len(v.snap.Alerts), w-cellWidth(head)-cellWidth(order))
		if cellWidth(head)+cellWidth(count)+cellWidth(order)+3+cellWidth(about) <= w-8 {
			order += " · " + about
		}
		lines[0] = truncate(head+st.MutedText(count+order), w)
	}
	// The list in the shared scroller: the selected row kept in view,
	// the marker on the list's last row when not every rule fits.
	list, sel := v.listWindow(len(rs))
	off := list.Offset()
	openKey := ""
	if ks := v.ctx.Keys.OpenRunbook.Keys(); len(ks) > 0 {
		openKey = ks[0]
	}
	shown := rs[off:min(len(rs), off+list.view)]
	lines = append(lines, alertRows(v.ctx, v.snap, shown, sel-off, w, openKey)...)
	if m := list.Marker(); m != "" {
		lines = append(lines, st.Muted.Render(truncate("  "+strings.Replace(m, "lines", "rules", 1), w)))
	}
	if len(rs) == 0 {
		if len(v.snap.Alerts) > 0 {
			lines = append(lines, st.Muted.Render("no rule matches the filter; esc clears it"))
		} else {
			lines = append(lines, st.Muted.Render("no rules are configured"))
		}
		return strings.Join(lines, "\n")
	}
	a := rs[sel]
	top := len(lines)
	lines = append(lines, "", st.Title.Render(a.Rule.Title)+" "+st.Badge(a.State.String()))
	detail := []string{
		alertThresholds(v.snap, a),
		"now: " + alertFigure(a, v.snap, now),
	}
	// The runbook and its key right under the figure, so that a short
	// screen shows them; in a line that fits when it can.
	if a.Runbook != "" {
		rb := "runbook " + a.Runbook + " (o opens it; enter shows the whole alert)"
		if cellWidth(rb) > w-1 {
			rb = "runbook " + a.Runbook + " (o opens it)"
		}
		detail = append(detail, rb)
	}
	if !a.ActiveSince.IsZero() {
		detail = append(detail, fmt.Sprintf("beyond the alert threshold since %s (%s)", a.ActiveSince.In(now.Location()).Format("15:04:05"), humanize.Age(now.Sub(a.ActiveSince))))
	}
	for _, d := range detail {
		for _, l := range wrapWords(d, w-1, "   ") {
			lines = append(lines, " "+l)
		}
	}
	if a.Rule.Description != "" {
		for _, l := range wrapWords(a.Rule.Description, w-1, "") {
			lines = append(lines, " "+st.MutedText(l))
		}
	}
	if len(a.History) > 0 {
		lines = append(lines, st.Muted.Render(" history:"))
		for i := len(a.History) - 1; i >= 0 && len(a.History)-i <= 20; i-- {
			t := a.History[i]
			lines = append(lines, truncate(fmt.Sprintf("   %s %s → %s  %s", t.Time.In(now.Location()).Format("15:04:05"),
				st.State(t.From.String()).Render(t.From.String()), st.State(t.To.String()).Render(t.To.String()), fmtValue(t.Value, unitOf(v.snap, a.Rule.Panel, a.Rule.Unit))), w))
		}
	}
	if len(v.snap.External) > 0 {
		lines = append(lines, "", st.Title.Render("Alertmanager"))
		for _, e := range v.snap.External {
			lines = append(lines, truncate(fmt.Sprintf(" %s %-24s %s %s", st.State(severityState(e.Severity)).Render(padRight(strings.ToUpper(e.Severity), 9)),
				e.Name, e.Summary, st.Muted.Render(e.State+" since "+e.StartsAt.In(now.Location()).Format("15:04"))), w))
		}
	}
	if len(lines) > h {
		// The preview does not fit under the list: its own marker on
		// its last row, and where the rest is.
		var pv scroller
		pv.Fit(len(lines)-top, h-top)
		more := len(lines) - top - pv.view
		lines = append(lines[:top+pv.view], st.Muted.Render(truncate(fmt.Sprintf(" ↓ %d more: enter shows the whole alert", more), w)))
	}
	return strings.Join(lines, "\n")
}

// detailRoom is the height of the detail's scrolled part: the body less
// its title line.
func (v alertsView) detailRoom() int { return max(1, v.ctx.bodyHeight()-1) }

// detailLines are every field of the selected rule, each wrapped to the
// width with nothing cut, and its whole history.
func (v alertsView) detailLines() []string {
	rs := v.rules()
	if len(rs) == 0 {
		return nil
	}
	a := rs[min(v.selected, len(rs)-1)]
	st := v.ctx.Styles
	w := v.ctx.Width
	now := v.ctx.Now()
	unit := unitOf(v.snap, a.Rule.Panel, a.Rule.Unit)
	type field struct{ name, value string }
	fields := []field{
		{"state", strings.ToUpper(a.State.String())},
		{"now", alertFigure(a, v.snap, now)},
		{"thresholds", alertThresholds(v.snap, a)},
	}
	if !a.Since.IsZero() {
		fields = append(fields, field{"since", fmt.Sprintf("%s (%s)", a.Since.In(now.Location()).Format("2006-01-02 15:04:05"), humanize.Age(now.Sub(a.Since)))})
	}
	if !a.ActiveSince.IsZero() {
		fields = append(fields, field{"beyond", fmt.Sprintf("the alert threshold since %s (%s)", a.ActiveSince.In(now.Location()).Format("2006-01-02 15:04:05"), humanize.Age(now.Sub(a.ActiveSince)))})
	}
	fields = append(fields,
		field{"rule", a.Rule.Name},
		field{"panel", panelTitle(v.snap, a.Rule.Panel)},
		field{"severity", strings.TrimSpace(a.Rule.Severity + " " + parenthesised(severityMeaning(a.Rule.Severity)))},
		field{"meaning", a.Rule.Description},
	)
	if a.Runbook != "" {
		fields = append(fields, field{"runbook", a.Runbook + " (o opens it)"})
	}
	var out []string
	for _, f := range fields {
		if strings.TrimSpace(f.value) == "" {
			continue
		}
		out = append(out, detailField(st, f.name, 10, f.value, w)...)
	}
	if len(a.History) > 0 {
		out = append(out, "", st.Muted.Render("history, newest first:"))
		for i := len(a.History) - 1; i >= 0; i-- {
			t := a.History[i]
			out = append(out, detailField(st, "", 10, fmt.Sprintf("%s %s → %s  %s", t.Time.In(now.Location()).Format("2006-01-02 15:04:05"),
				t.From.String(), t.To.String(), fmtValue(t.Value, unit)), w)...)
		}
	}
	return out
}

// detailView is the selected rule, whole, scrollable.
func (v alertsView) detailView() string {
	st := v.ctx.Styles
	rs := v.rules()
	a := rs[min(v.selected, len(rs)-1)]
	lines := v.detailLines()
	head := st.Title.Render("Alerts") + st.Muted.Render(" › ") + st.Title.Render(a.Rule.Title) + " " + st.Badge(a.State.String()) +
		st.Muted.Render("  esc or enter: back to the list")
	v.dscroll.Fit(len(lines), v.detailRoom())
	out := append([]string{truncate(head, v.ctx.Width)}, v.dscroll.Window(lines)...)
	if m := v.dscroll.Marker(); m != "" {
		out = append(out, st.Muted.Render(m))
	}
	return strings.Join(out, "\n")
}

// parenthesised is s in parentheses, "" for "".
func parenthesised(s string) string {
	if s == "" {
		return ""
	}
	return "(" + s + ")"
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
	if bad == 0 {
		if w := fmt.Sprintf("all %d rules OK", total); cellWidth(w) <= width {
			return w
		}
		return "all OK"
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
