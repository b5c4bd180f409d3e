package tui

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/repops/repops/internal/humanize"
	"github.com/repops/repops/metrics"
)

// The dashboard's tabs: the guide's five Grafana dashboards.
const (
	tabOverview = iota
	tabAppeals
	tabNegotiation
	tabML
	tabInfra
	tabCount
)

var tabTitles = [tabCount]string{"Overview", "Appeals", "Negotiation", "ML", "Infrastructure"}

// keyPanels are the guide's "Key Metrics to Monitor", in its order.
var keyPanels = []string{
	metrics.PanelSubmissionRate, metrics.PanelAppealErrorRate, metrics.PanelProcessingP95,
	metrics.PanelNegotiationAvg, metrics.PanelNegotiationP95, metrics.PanelMLLatencyP99,
	metrics.PanelDBConnections, metrics.PanelAPIErrorRate,
}

// tabPanels are the panels each other tab shows, in order.
var tabPanels = [tabCount][]string{
	tabAppeals: {metrics.PanelSubmissionRate, metrics.PanelAppealErrorRate, metrics.PanelProcessingP95,
		metrics.PanelPendingAppeals, metrics.PanelAPIErrorRate, metrics.PanelServiceUp},
	tabNegotiation: {metrics.PanelNegotiationAvg, metrics.PanelNegotiationP95},
	tabML:          {metrics.PanelMLLatencyP99, metrics.PanelPredictionLatency, metrics.PanelMLConfidence},
	tabInfra: {metrics.PanelDatabaseSize, metrics.PanelWALSize, metrics.PanelDiskFree,
		metrics.PanelDBConnections, metrics.PanelDBConnectionsUsage, metrics.PanelBackupAge,
		metrics.PanelIntegrityAge, metrics.PanelIntegrityOK, metrics.PanelSchemaPending, metrics.PanelDrillAge,
		metrics.PanelServiceCPU, metrics.PanelServiceMemory},
}

// replicationPanels are Litestream's figures, on the Infra tab when
// replication is configured (a Litestream source in the snapshot): the lag
// first, as it is what the RPO is judged on.
var replicationPanels = []string{metrics.PanelReplicationLag, metrics.PanelLastSyncAge,
	metrics.PanelReplicationWAL, metrics.PanelReplicaErrors, metrics.PanelReplicaVerifyAge, metrics.PanelReplicaVerifyOK}

// infraPanels is the Infra tab's panels: the replication panels after the
// WAL's when Litestream is watched, left out when replication is off
// (they would only say that no source computes them).
func (v dashboardView) infraPanels() []string {
	names := tabPanels[tabInfra]
	if !v.replicationWatched() {
		return names
	}
	out := make([]string, 0, len(names)+len(replicationPanels))
	for _, n := range names {
		out = append(out, n)
		if n == metrics.PanelWALSize {
			out = append(out, replicationPanels...)
		}
	}
	return out
}

// replicationWatched reports whether Litestream is a source of the
// snapshot (replication configured); otherwise its panels are left out.
func (v dashboardView) replicationWatched() bool {
	for _, src := range v.snap.Sources {
		if src.Kind == metrics.KindLitestream {
			return true
		}
	}
	return false
}

// hiddenPanel reports whether panel name is left out of the dashboard:
// a replication panel while replication is off.
func (v dashboardView) hiddenPanel(name string) bool {
	if v.replicationWatched() {
		return false
	}
	for _, r := range replicationPanels {
		if r == name {
			return true
		}
	}
	return false
}

// snapshotMsg is one refresh: the engine's snapshot (or why there is none)
// and the procedure lock as read at the same time.
type snapshotMsg struct {
	snap    metrics.Snapshot
	err     error
	lock    *lockView
	gen     int
	elapsed time.Duration
	// spark is each panel's sparkline series from the engine's history
	// (nil when the source keeps none: the snapshot's Recent is used).
	spark map[string][]float64
	// silenceWarnings are the expiry guard's warnings for snap.
	silenceWarnings []string
}

// lockView is the procedure lock as the dashboard shows it.
type lockView struct {
	Holder, Purpose string
	Since           time.Time
	PID             int
	Stale           bool
}

// dashboardView is the first screen: the key metrics, the alerts with the
// runbook one key away, the database, the nodes; and the four other tabs.
type dashboardView struct {
	ctx      *ProgramContext
	tab      int
	state    loadState
	err      error
	snap     metrics.Snapshot
	lock     *lockView
	spark    map[string][]float64
	selected int // index into firing()
	// lockAt, when set, is the moment of the past the lock line is told
	// at (travelView); zero: now.
	lockAt time.Time
	// others is the snapshot the "Other figures" are drawn from
	// (holdOthers).
	others metrics.Snapshot
	// figOff is the first line of the overview's "Other figures" shown:
	// when they do not all fit, j past the last alert, pgdn/pgup, g/G
	// scroll them (clamped to what the current size and figures allow).
	figOff int
	// travel is the time cursor and the history read for it; markAt the
	// sparklines' cursor cell while it is drawn (timetravel.go).
	travel travelState
	markAt int
}

func newDashboardView(ctx *ProgramContext) dashboardView {
	return dashboardView{ctx: ctx}
}

// Update handles the view's own messages and keys; it does no I/O.
func (v dashboardView) Update(msg tea.Msg) (dashboardView, tea.Cmd) {
	k := v.ctx.Keys
	switch msg := msg.(type) {
	case travelFrameMsg:
		return v.onTravelFrame(msg), nil
	case tea.MouseClickMsg:
		return v.travelClick(msg)
	case snapshotMsg:
		v.lock = msg.lock
		if msg.err != nil && len(msg.snap.Panels) == 0 {
			v.err = msg.err
			if v.state != stateReady {
				v.state = stateError
			}
			return v, nil
		}
		v.snap, v.err, v.state, v.spark = msg.snap, msg.err, stateReady, msg.spark
		v.others = holdOthers(v.others, msg.snap)
		if n := len(v.firing()); v.selected >= n {
			v.selected = max(0, n-1)
		}
		v.figOff = v.clampFigOff(v.figOff)
	case rowClickMsg:
		return v.onRowClick(msg)
	case tea.KeyPressMsg:
		if nv, c, ok := v.travelKey(msg); ok {
			return nv, c
		}
		if v.tab == tabOverview && v.state == stateReady {
			if nv, ok := v.scrollKey(msg); ok {
				return nv, nil
			}
		}
		switch {
		case key.Matches(msg, k.NextTab):
			v.tab = (v.tab + 1) % tabCount
		case key.Matches(msg, k.PrevTab):
			v.tab = (v.tab + tabCount - 1) % tabCount
		case key.Matches(msg, k.Tab1):
			v.tab = tabOverview
		case key.Matches(msg, k.Tab2):
			v.tab = tabAppeals
		case key.Matches(msg, k.Tab3):
			v.tab = tabNegotiation
		case key.Matches(msg, k.Tab4):
			v.tab = tabML
		case key.Matches(msg, k.Tab5):
			v.tab = tabInfra
		case key.Matches(msg, k.Up):
			v.selected = max(0, v.selected-1)
		case key.Matches(msg, k.Down):
			v.selected = min(max(0, len(v.firing())-1), v.selected+1)
		case key.Matches(msg, k.OpenRunbook, k.Enter):
			return v, v.openSelected()
		}
	}
	return v, nil
}

// firing is the rules that need attention, worst first: critical,
// pending, warning, then configured rules with no data.
func (v dashboardView) firing() []metrics.AlertStatus {
	var out []metrics.AlertStatus
	for _, a := range v.snap.Alerts {
		if a.State == metrics.StateOK || (a.State == metrics.StateUnknown && !a.Configured) {
			continue
		}
		out = append(out, a)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if ri, rj := out[i].State.Rank(), out[j].State.Rank(); ri != rj {
			return ri > rj
		}
		return out[i].Since.Before(out[j].Since)
	})
	return out
}

// Hints are the view's keys for the key-hints bar.
//
// In the order they give way at 80 columns: the alert's runbook (when one
// fires), the alerts, the runbooks and finding one by name (a newcomer's
// way to any procedure, so never dropped at 80 columns), the journal, the
// tables, the tabs.
func (v dashboardView) Hints() []key.Binding {
	k := v.ctx.Keys
	var hints []key.Binding
	if len(v.firing()) > 0 {
		o := k.OpenRunbook
		o.SetHelp(o.Help().Key, "alert's runbook")
		hints = append(hints, o)
	}
	find := key.NewBinding(key.WithKeys(k.Filter.Keys()...), key.WithHelp(k.Filter.Help().Key, "find runbook"))
	find.SetEnabled(k.Filter.Enabled())
	return append(hints, k.Alerts, k.Runbooks, find, k.Journal, k.Tables, k.NextTab)
}

// tabsLine is the tab bar with the overall state at the right: the
// headline, which the tabs give way to at any width (tabBar).
func (v dashboardView) tabsLine() string {
	state := ""
	if v.state == stateReady {
		state = v.snap.Verdict().String()
	}
	return tabBar(v.ctx.Styles, v.ctx.Width, v.tab, state)
}

// View draws the view in the body's width and height.
func (v dashboardView) View() string {
	if v.travel.active() {
		return v.travelView()
	}
	st := v.ctx.Styles
	h := v.ctx.bodyHeight()
	lines := []string{v.tabsLine()}
	switch v.state {
	case stateLoading:
		lines = append(lines, "", st.Muted.Render("  loading: the first refresh is running…"))
		return strings.Join(lines, "\n")
	case stateError:
		lines = append(lines, "", st.Error.Render("  no figures: ")+truncate(v.err.Error(), v.ctx.Width-16))
		return strings.Join(lines, "\n")
	}
	lines = append(lines, v.lockLines()...)
	switch v.tab {
	case tabOverview:
		lines = append(lines, v.overview()...)
	case tabInfra:
		lines = append(lines, v.tabRows(v.infraPanels(), h-len(lines)-4)...)
		lines = append(lines, v.infraExtra()...)
	default:
		lines = append(lines, v.tabRows(tabPanels[v.tab], h-len(lines)-3)...)
		lines = append(lines, v.tabExtra(v.tab)...)
	}
	if len(lines) > h {
		lines = lines[:h]
	}
	return strings.Join(lines, "\n")
}

// tabRows is a tab's panels in at most limit lines: when they do not all
// fit, the last line counts the rest and says where every figure is.
func (v dashboardView) tabRows(names []string, limit int) []string {
	var have []string
	for _, n := range names {
		if _, ok := v.snap.Panel(n); ok {
			have = append(have, n)
		}
	}
	limit = max(1, limit)
	if len(have) <= limit {
		return v.panelRows(have, limit)
	}
	out := v.panelRows(have[:limit-1], limit-1)
	return append(out, v.ctx.Styles.Muted.Render(truncate(fmt.Sprintf(" … +%d more figures: tab 1 scrolls through them all", len(have)-(limit-1)), v.ctx.Width)))
}

// lockLine shows another operator's running procedure.
func (v dashboardView) lockLine() string {
	st := v.ctx.Styles
	l := v.lock
	if l.Stale {
		return truncate(st.State("warning").Render("⚠ stale procedure lock")+st.Muted.Render(fmt.Sprintf(" left by %s (pid %d, %s, since %s): the next procedure takes it over",
			l.Holder, l.PID, l.Purpose, v.local(l.Since).Format("15:04"))), v.ctx.Width)
	}
	return truncate(st.State("pending").Render("⚙ running: ")+fmt.Sprintf("%s by %s since %s (%s ago, pid %d)",
		l.Purpose, l.Holder, v.local(l.Since).Format("15:04"), humanize.GlanceAge(v.lockNow().Sub(l.Since)), l.PID), v.ctx.Width)
}

// lockNow is the moment the lock line is told at: now, or the moment of
// the past the dashboard shows (travelView).
func (v dashboardView) lockNow() time.Time {
	if !v.lockAt.IsZero() {
		return v.lockAt
	}
	return v.ctx.Now()
}

func (v dashboardView) local(t time.Time) time.Time { return t.In(v.ctx.Now().Location()) }

// section is a titled rule: "── Key metrics ──────".
func (v dashboardView) section(title, right string) string {
	st := v.ctx.Styles
	tw, rw := lenRunes(title), 0
	r := ""
	if right != "" {
		r = " " + st.MutedText(right) + " "
		rw = lenRunes(right) + 2
	}
	fill := v.ctx.Width - tw - rw - 4
	if fill < 0 {
		return truncate(st.MutedText("─ ")+st.titlePaint.on(title)+r, v.ctx.Width)
	}
	return st.MutedText("─ ") + st.titlePaint.on(title) + " " + st.MutedText(strings.Repeat("─", fill)) + r + st.MutedText("─")
}

// overviewPlan is how the overview tab shares its height at the current
// size: the key metrics (with every other figure that is not OK promoted
// among them), the alerts, the nodes, the database box, and what is left
// for the other figures, which scroll when they do not fit.
type overviewPlan struct {
	top       []string // the key metrics rows, in the guide's order
	others    []string // the other figures, not OK first
	db        []string
	alertRows int // the limit given to alertLines
	nodeRows  int
	figLines  int // lines for the other figures below their header
	cols      int // cells a line in the other figures; 1: one full row each
	total     int // lines the other figures take in all
}

// room is the overview's height below the tab bar and the lock line.
func (v dashboardView) room() int {
	r := v.ctx.bodyHeight() - 1
	if v.lock != nil {
		r--
	}
	return r
}

// plan shares the overview's height by priority: not-OK figures and the
// alerts first, then the database box and the key metrics that are OK;
// the other figures take the rest, scrolled and counted in their header
// when they do not all fit. It is computed the same way by View and by
// the scroll keys, so that the offset is clamped to what is drawn.
func (v dashboardView) plan() overviewPlan {
	room := v.room()
	var p overviewPlan
	p.top, p.others = v.figureGroups()
	p.db = v.dbLines(room >= 24)
	alertNeed := max(1, len(v.firing())+len(v.snap.External))
	nodes := len(v.snap.Nodes) > 1
	// Headers: key metrics, alerts, database, other figures; one line
	// at least for the other figures, and for the nodes.
	fixed := 4 + len(p.db) + 1
	if nodes {
		fixed += 2
	}
	keyRoom := room - fixed - min(alertNeed, 3)
	p.top, p.others = v.demote(p.top, p.others, keyRoom)
	left := room - 1 - len(p.top) - 1 - 1 - len(p.db) - 2
	if nodes {
		p.nodeRows = min(len(v.snap.Nodes), max(1, left/3))
		left -= p.nodeRows + 1
	}
	p.alertRows = max(1, min(alertNeed, left))
	left -= p.alertRows
	p.figLines = max(0, left+1)
	p.cols = 1
	if len(p.others) > p.figLines {
		// Denser: compact "name value state" cells side by side, as
		// many as the width holds at 36 cells or more each.
		p.cols = max(1, (v.ctx.Width+1)/(figCellMin+1))
	}
	p.total = (len(p.others) + p.cols - 1) / p.cols
	return p
}

// figCellMin is the narrowest compact figure cell: a title of 16, a value
// of 10, a state word of 8, and their gaps.
const figCellMin = 36

// figureGroups splits the snapshot's panels into the key metrics rows
// and the other figures. A panel that is WARNING, PENDING or CRITICAL, or
// that a rule in such a state judges, joins the key metrics (right after
// the key metric its rule shares, else at the end): the figure that fires
// is never below the fold. The other figures come not OK first.
func (v dashboardView) figureGroups() (top, others []string) {
	isKey := map[string]bool{}
	for _, n := range keyPanels {
		isKey[n] = true
	}
	var promoted []string
	for _, p := range v.snap.Panels {
		switch {
		case v.hiddenPanel(p.Name):
		case isKey[p.Name]:
		case v.needsEye(p):
			promoted = append(promoted, p.Name)
		default:
			others = append(others, p.Name)
		}
	}
	placed := map[string]bool{}
	for _, n := range keyPanels {
		if _, ok := v.snap.Panel(n); !ok {
			continue
		}
		top = append(top, n)
		for _, q := range promoted {
			if !placed[q] && v.shareRule(n, q) {
				top, placed[q] = append(top, q), true
			}
		}
	}
	for _, q := range promoted {
		if !placed[q] {
			top = append(top, q)
		}
	}
	sortByState(v.snap, others)
	return top, others
}

// needsEye reports whether panel p is beyond its target, or judged by a
// rule that is.
func (v dashboardView) needsEye(p metrics.Panel) bool {
	if p.State.Rank() >= metrics.StateWarning.Rank() {
		return true
	}
	for _, a := range v.snap.Alerts {
		if (a.Rule.Panel == p.Name || a.Rule.TargetOn() == p.Name) && a.State.Rank() >= metrics.StateWarning.Rank() {
			return true
		}
	}
	return false
}

// shareRule reports whether one rule judges both panels a and b.
func (v dashboardView) shareRule(a, b string) bool {
	for _, al := range v.snap.Alerts {
		r := al.Rule
		if (r.Panel == a || r.TargetOn() == a) && (r.Panel == b || r.TargetOn() == b) {
			return true
		}
	}
	return false
}

// sortByState orders panel names worst state first, keeping their order
// within a state.
func sortByState(snap metrics.Snapshot, names []string) {
	rank := func(n string) int {
		p, _ := snap.Panel(n)
		return p.State.Rank()
	}
	sort.SliceStable(names, func(i, j int) bool { return rank(names[i]) > rank(names[j]) })
}

// demote moves key metrics to the other figures until the key rows fit
// in room, the last first, by class: OK, then no data, then those OK
// themselves whose rule is not (needsEye); a figure WARNING or worse is
// moved only when there are more of them than lines, the least severe
// first, and then it heads the other figures, visible or counted in
// their header.
func (v dashboardView) demote(top, others []string, room int) ([]string, []string) {
	class := func(name string) int {
		p, _ := v.snap.Panel(name)
		switch {
		case p.State.Rank() >= metrics.StateWarning.Rank():
			return 1 + p.State.Rank() // 3 warning, 4 pending, 5 critical
		case v.needsEye(p):
			return 2
		case p.State == metrics.StateUnknown:
			return 1
		}
		return 0
	}
	var moved []string
	room = max(1, room)
	for c := 0; c <= 5 && len(top) > room; c++ {
		for i := len(top) - 1; i >= 0 && len(top) > room; i-- {
			if class(top[i]) == c {
				moved = append([]string{top[i]}, moved...)
				top = append(top[:i:i], top[i+1:]...)
			}
		}
	}
	if len(moved) == 0 {
		return top, others
	}
	others = append(moved, others...)
	sortByState(v.snap, others)
	return top, others
}

// clampFigOff keeps the other figures' offset within what is drawn.
func (v dashboardView) clampFigOff(off int) int {
	p := v.plan()
	return max(0, min(off, p.total-p.figLines))
}

// scrollKey handles the overview's scroll keys: j past the last alert
// and k back to the first line scroll the other figures, so that j/k go
// through the alerts then the figures; pgdn/pgup move by a page, g/G to
// the top and the bottom.
func (v dashboardView) scrollKey(msg tea.KeyPressMsg) (dashboardView, bool) {
	k := v.ctx.Keys
	page := max(1, v.plan().figLines)
	switch {
	case key.Matches(msg, k.Down):
		if v.selected < len(v.firing())-1 {
			return v, false
		}
		v.figOff = v.clampFigOff(v.figOff + 1)
	case key.Matches(msg, k.Up):
		if v.figOff == 0 {
			return v, false
		}
		v.figOff = v.clampFigOff(v.figOff - 1)
	case key.Matches(msg, k.PageDown):
		v.figOff = v.clampFigOff(v.figOff + page)
	case key.Matches(msg, k.PageUp):
		v.figOff = v.clampFigOff(v.figOff - page)
	case key.Matches(msg, k.Top):
		v.figOff, v.selected = 0, 0
	case key.Matches(msg, k.Bottom):
		v.figOff = v.clampFigOff(math.MaxInt32)
	default:
		return v, false
	}
	return v, true
}

func (v dashboardView) overview() []string {
	var out []string
	p := v.plan()
	firing := v.firing()
	out = append(out, v.overviewHead(p, firing)...)
	out = append(out, v.alertLines(firing, p.alertRows)...)
	if len(v.snap.Nodes) > 1 {
		out = append(out, v.section("Nodes", fmt.Sprintf("%d instances", len(v.snap.Nodes))))
		out = append(out, v.nodeLines(p.nodeRows)...)
	}
	out = append(out, v.section("Database", v.snap.DB.Path))
	out = append(out, p.db...)
	if len(p.others) > 0 {
		out = append(out, v.otherFigures(p)...)
	}
	return out
}

// othersEvery is how often the overview's "Other figures" take new
// values while every figure keeps its state.
const othersEvery = 5 * time.Second

// holdOthers is the snapshot the "Other figures" are drawn from: held
// (from the snapshot of up to othersEvery ago) while no figure changed
// state, else the new one.
//
// Decision: the other figures are those within their targets (a figure
// that is not OK is promoted into the key metrics, plan), and their last
// digits moving at every refresh were most of what an idle dashboard sent
// over SSH once the key metrics were at glance precision. Held for 5 s,
// they say the same to a reader for a fifth of the bytes; a change of
// state, and every key metric, is drawn at the refresh that sees it.
func holdOthers(held, snap metrics.Snapshot) metrics.Snapshot {
	if held.Time.IsZero() || snap.Time.Sub(held.Time) >= othersEvery || snap.Time.Before(held.Time) || len(held.Panels) != len(snap.Panels) {
		return snap
	}
	for i, p := range snap.Panels {
		if q := held.Panels[i]; q.Name != p.Name || q.State != p.State || q.Value.OK != p.Value.OK {
			return snap
		}
	}
	return held
}

// otherFigures is the overview's last section: the figures that are
// neither key metrics nor promoted, one full row each when they all fit,
// else in compact cells; when even those do not fit, the header counts
// the figures above and below the lines shown.
func (v dashboardView) otherFigures(p overviewPlan) []string {
	off := max(0, min(v.figOff, p.total-p.figLines))
	shown := min(p.figLines, p.total-off)
	above := off * p.cols
	below := max(0, len(p.others)-(off+shown)*p.cols)
	right := "tabs 2-5 group them"
	switch {
	case above > 0 && below > 0:
		right = fmt.Sprintf("↑%d · +%d more figures: pgdn/j to scroll", above, below)
	case below > 0:
		right = fmt.Sprintf("+%d more figures: pgdn/j to scroll", below)
	case above > 0:
		right = fmt.Sprintf("↑%d above: pgup/k to scroll back", above)
	}
	out := []string{v.section("Other figures", right)}
	// The figures as last held (holdOthers; a moment of the past when the
	// dashboard shows one: travelView).
	if !v.others.Time.IsZero() {
		v.snap = v.others
	}
	// Their sparklines end at the last complete cell: the newest cell's
	// average moves at every refresh, and the other figures' did not need
	// to (a change of state is drawn at once all the same).
	if v.spark != nil && v.markAt <= 0 {
		done := make(map[string][]float64, len(v.spark))
		for name, series := range v.spark {
			done[name] = series[:max(0, len(series)-1)]
		}
		v.spark = done
	}
	if p.cols == 1 {
		return append(out, v.panelRows(p.others[off:off+shown], shown)...)
	}
	cellW := (v.ctx.Width - 1 - 2*(p.cols-1)) / p.cols
	for l := off; l < off+shown; l++ {
		var cells []string
		for c := 0; c < p.cols; c++ {
			if i := l*p.cols + c; i < len(p.others) {
				cells = append(cells, v.figureCell(p.others[i], cellW))
			}
		}
		out = append(out, " "+strings.Join(cells, "  "))
	}
	return out
}

// figureCell is one figure in width cells: title, value, state in words
// and colour ("Last backup      30 min OK      ").
func (v dashboardView) figureCell(name string, width int) string {
	st := v.ctx.Styles
	const valueW, stateW = 10, 8
	p, _ := v.snap.Panel(name)
	titleW := max(1, width-valueW-stateW-2)
	state := p.State.String()
	return padRight(cutWords(p.Title, titleW), titleW) + " " +
		st.BoldText(fmt.Sprintf("%*s", valueW, truncate(fmtPanel(p), valueW))) + " " +
		st.StateText(state, padRight(strings.ToUpper(state), stateW))
}

// ruleFor finds the rule that judges panel name, for its comparison.
func (v dashboardView) ruleFor(name string) (metrics.Rule, bool) {
	for _, a := range v.snap.Alerts {
		if a.Rule.Panel == name || a.Rule.TargetOn() == name {
			return a.Rule, true
		}
	}
	return metrics.Rule{}, false
}

// The panel rows' fixed columns: the value's and the state's widths.
const panelValueW, panelStateW = 11, 9

// panelColumns is the panel rows' layout at one width: the title's width,
// the target's (0: none), whether the alert column shows, and the columns
// left for the sparkline (or an unknown value's reason). panelRows draws
// with it; a click on a sparkline (timetravel.go) maps a column with it.
type panelColumns struct {
	title, target int
	alert         bool
	rest          int
}

func panelLayout(w int) panelColumns {
	c := panelColumns{title: 26, target: 16, alert: w >= 110}
	if w < 100 {
		c.title = 23
	}
	// Under 72 columns the target goes: the state still says where the
	// figure stands.
	if w < 72 {
		c.target = 0
	}
	used := c.title + 1 + panelValueW + 1 + panelStateW + 1
	if c.target > 0 {
		used += c.target + 1
	}
	if c.alert {
		used += 16 + 1
	}
	c.rest = w - used
	return c
}

// panelRows renders one line per panel: title, value, target, state in
// words and colour, and a sparkline (or, when unknown, the reason).
func (v dashboardView) panelRows(names []string, limit int) []string {
	st := v.ctx.Styles
	cols := panelLayout(v.ctx.Width)
	titleW, targetW, showAlert := cols.title, cols.target, cols.alert
	const valueW, stateW = panelValueW, panelStateW
	var out []string
	for _, name := range names {
		if len(out) >= max(1, limit) {
			break
		}
		p, ok := v.snap.Panel(name)
		if !ok {
			continue
		}
		rule, hasRule := v.ruleFor(name)
		target := ""
		alert := ""
		if hasRule {
			target = fmtTarget(p.Target, p.Unit, rule)
			alert = fmtAlert(p.Alert, p.Unit, rule)
		}
		if target != "" {
			target = "target " + target
		} else if alert != "" && !showAlert {
			target = "alert " + alert
		}
		if targetW == 0 {
			target = ""
		}
		state := p.State.String()
		// Widths are known column by column: the line is built from
		// paints, and its width is counted, not measured.
		line := padRight(" "+p.Title, titleW) + " " +
			st.BoldText(fmt.Sprintf("%*s", valueW, truncate(fmtPanel(p), valueW))) + " "
		used := titleW + 1 + valueW + 1
		if targetW > 0 {
			line += st.MutedText(padRight(target, targetW)) + " "
			used += targetW + 1
		}
		if showAlert {
			a := ""
			if alert != "" {
				a = "alert " + alert
			}
			line += st.MutedText(padRight(a, 16)) + " "
			used += 17
		}
		line += st.StateText(state, padRight(strings.ToUpper(state), stateW)) + " "
		used += stateW + 1
		rest := cols.rest
		if !p.Value.OK {
			reason := p.Value.Reason
			if reason == "" {
				reason = "no data"
			}
			line += st.StateText("unknown", truncate(reason, rest))
		} else if rest >= 4 {
			series := p.Recent
			if sp, ok := v.spark[p.Name]; ok {
				series = sp
			}
			line += st.StateText(state, v.markSpark(series, rest))
		}
		out = append(out, line)
	}
	return out
}

// alertLines lists the active rules, the selected one marked, each with
// since when and its runbook one key away; then Alertmanager's alerts.
func (v dashboardView) alertLines(firing []metrics.AlertStatus, limit int) []string {
	st := v.ctx.Styles
	w := v.ctx.Width
	var out []string
	if len(firing) == 0 && len(v.snap.External) == 0 {
		return []string{st.State("ok").Render(" all clear") + st.Muted.Render(fmt.Sprintf(": every configured rule is within its target (%d rules)", len(v.snap.Alerts)))}
	}
	openKey := ""
	if ks := v.ctx.Keys.OpenRunbook.Keys(); len(ks) > 0 {
		openKey = ks[0]
	}
	n := alertsShown(len(firing), limit)
	more := len(firing) - n
	out = append(out, alertRows(v.ctx, v.snap, firing[:n], v.selected, w, openKey)...)
	if more > 0 {
		out = append(out, st.Muted.Render(fmt.Sprintf(" … %d more: press a for every alert", more)))
	}
	for _, e := range v.snap.External {
		if len(out) >= limit {
			break
		}
		line := fmt.Sprintf("  %s %-24s %s %s", st.State(severityState(e.Severity)).Render(padRight(strings.ToUpper(e.Severity), 9)),
			truncate(e.Name, 24), e.Summary, st.Muted.Render("alertmanager, since "+v.local(e.StartsAt).Format("15:04")))
		out = append(out, truncate(line, w))
	}
	return out
}

func severityState(s string) string {
	switch s {
	case metrics.SeverityCritical:
		return "critical"
	case metrics.SeverityWarning:
		return "warning"
	default:
		return "unknown"
	}
}

// nodeLines lists the instances of a fleet, one per line.
func (v dashboardView) nodeLines(limit int) []string {
	st := v.ctx.Styles
	var out []string
	for i, n := range v.snap.Nodes {
		if len(out) >= limit {
			break
		}
		if len(out) == limit-1 && len(v.snap.Nodes)-i > 1 {
			out = append(out, st.Muted.Render(fmt.Sprintf(" … %d more nodes", len(v.snap.Nodes)-i)))
			break
		}
		state := n.State.String()
		up := st.State("ok").Render("up")
		if !n.Up {
			up, state = st.State("critical").Render("DOWN"), "critical"
		}
		var figs []string
		for _, name := range []string{metrics.PanelAppealErrorRate, metrics.PanelProcessingP95, metrics.PanelAPIErrorRate} {
			if val, ok := n.Panels[name]; ok {
				p, _ := v.snap.Panel(name)
				figs = append(figs, fmt.Sprintf("%s %s", shortTitle(name), fmtValue(val, p.Unit)))
			}
		}
		line := fmt.Sprintf(" %-28s %s %s  %s", truncate(n.Instance, 28), up, st.State(state).Render(padRight(strings.ToUpper(state), 9)), st.Muted.Render(strings.Join(figs, " · ")))
		out = append(out, truncate(line, v.ctx.Width))
	}
	return out
}

func shortTitle(panel string) string {
	switch panel {
	case metrics.PanelAppealErrorRate:
		return "errors"
	case metrics.PanelProcessingP95:
		return "p95"
	case metrics.PanelAPIErrorRate:
		return "api 5xx"
	}
	return panel
}

// dbLines is the database box: sizes, schema, backup, check, disk.
func (v dashboardView) dbLines(withTables bool) []string {
	st := v.ctx.Styles
	d := v.snap.DB
	now := v.ctx.Now()
	w := v.ctx.Width
	if d.Err != "" && d.FileBytes == 0 {
		return []string{st.Error.Render(" database unavailable: ") + truncate(d.Err, w-24)}
	}
	schema := st.State("ok").Render(fmt.Sprintf("schema v%d valid", d.SchemaVersion))
	if !d.SchemaValid {
		msg := fmt.Sprintf("schema v%d of v%d", d.SchemaVersion, d.LatestSchema)
		if len(d.SchemaProblems) > 0 {
			msg += ": " + d.SchemaProblems[0]
		}
		schema = st.State("warning").Render(msg)
	}
	l1 := fmt.Sprintf(" file %s · WAL %s · ", humanize.Bytes(d.FileBytes), humanize.Bytes(d.WALBytes)) + schema
	if d.DiskTotal > 0 {
		l1 += st.Muted.Render(fmt.Sprintf(" · disk free %s (%.0f%%)", humanize.Bytes(d.DiskFree), 100*float64(d.DiskFree)/float64(d.DiskTotal)))
	}
	backup := st.State("critical").Render("no backup found")
	if !d.LastBackup.IsZero() {
		bs := "ok"
		if p, ok := v.snap.Panel(metrics.PanelBackupAge); ok {
			bs = p.State.String()
		}
		backup = "last backup " + st.State(bs).Render(humanize.GlanceAge(now.Sub(d.LastBackup))+" ago") + st.Muted.Render(" ("+v.local(d.LastBackup).Format("01-02 15:04")+")")
	}
	check := st.State("warning").Render("no integrity check recorded")
	if !d.LastCheck.IsZero() {
		res := st.State("ok").Render("passed")
		if !d.LastCheckOK {
			res = st.State("critical").Render("FAILED")
		}
		check = fmt.Sprintf("last %s check %s %s ago", d.LastCheckMode, res, humanize.GlanceAge(now.Sub(d.LastCheck)))
	}
	out := []string{truncate(l1, w), truncate(" "+backup+" · "+check, w)}
	if withTables && len(d.Tables) > 0 {
		var parts []string
		for _, t := range d.Tables {
			p := fmt.Sprintf("%s %s rows", t.Name, fmtCount(t.Rows))
			if t.Bytes >= 0 {
				p += " " + humanize.Bytes(t.Bytes)
			}
			parts = append(parts, p)
		}
		out = append(out, truncate(st.Muted.Render(" "+strings.Join(parts, " · ")), w))
	}
	return out
}

// tabExtra is what the Appeals, Negotiation and ML tabs add below their
// panels: the database's own figures for them.
func (v dashboardView) tabExtra(tab int) []string {
	st := v.ctx.Styles
	d := v.snap.DB
	switch tab {
	case tabAppeals:
		return []string{"", v.section("Appeals in the database", ""),
			fmt.Sprintf(" pending %s · negotiating %s", fmtCount(d.PendingAppeals), fmtCount(d.NegotiatingAppeals))}
	case tabNegotiation:
		return []string{"", v.section("Negotiations", ""),
			fmt.Sprintf(" appeals negotiating now %s", fmtCount(d.NegotiatingAppeals)),
			st.Muted.Render(" the guide's target: average under 72 h; alert when p95 over 24 h")}
	case tabML:
		return []string{"", st.Muted.Render(" the guide's target: p99 under 100 ms; alert over 500 ms")}
	}
	return nil
}

// infraExtra adds days until the disk is full, from the database's growth.
func (v dashboardView) infraExtra() []string {
	d := v.snap.DB
	st := v.ctx.Styles
	out := []string{"", v.section("Capacity", "")}
	if d.DiskTotal <= 0 {
		return append(out, st.State("unknown").Render(" disk free unknown: the database source did not measure its filesystem"))
	}
	line := fmt.Sprintf("disk free %s of %s on the database's filesystem", humanize.Bytes(d.DiskFree), humanize.Bytes(d.DiskTotal))
	if days, ok := v.daysUntilFull(); ok {
		line += fmt.Sprintf(" · at the current growth, full in %s", days)
	} else {
		line += " · not growing over the recent history"
	}
	for _, l := range wrapWords(line, v.ctx.Width-1, "") {
		out = append(out, " "+l)
	}
	if !v.replicationWatched() && v.ctx.ReplicationNote != "" {
		for _, l := range wrapWords("replication "+v.ctx.ReplicationNote, v.ctx.Width-1, "") {
			out = append(out, " "+st.Muted.Render(l))
		}
	}
	return out
}

// daysUntilFull extrapolates the database size panel's recent growth.
func (v dashboardView) daysUntilFull() (string, bool) {
	p, ok := v.snap.Panel(metrics.PanelDatabaseSize)
	if !ok || len(p.Recent) < 2 {
		return "", false
	}
	first, last, n := math.NaN(), math.NaN(), 0
	fi := 0
	for i, x := range p.Recent {
		if math.IsNaN(x) {
			continue
		}
		if math.IsNaN(first) {
			first, fi = x, i
		}
		last, n = x, i
	}
	if math.IsNaN(first) || n == fi || last <= first {
		return "", false
	}
	interval := v.ctx.Config.Console.RefreshInterval
	if interval <= 0 {
		interval = time.Second
	}
	perSec := (last - first) * 1024 * 1024 / (float64(n-fi) * interval.Seconds())
	secs := float64(v.snap.DB.DiskFree) / perSec
	return humanize.Age(time.Duration(secs * float64(time.Second))), true
}
