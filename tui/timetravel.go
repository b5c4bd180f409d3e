package tui

// Going back in time (issue 17): the collector's history (metrics'
// timeline, history.db in the state dir) lets the operator scrub the
// dashboard back. [ and ] move a time cursor (by the refresh interval in
// the last hour, then by minutes), { and } by an hour, esc (or ] past
// now) returns to live; a click on a sparkline column puts the cursor
// there. While the cursor is set every panel's value, every alert's
// state, the overall state and the procedure lock are the recorded ones,
// a banner says which moment is shown, the sparklines mark the cursor and
// the journal's events (backup, restore, silence, runbook step, scenario)
// are marked on a time axis. The live refresh goes on underneath; only
// reads happen, so the read-only console scrubs too.
//
// Decisions:
//   - The cursor is an absolute time: the live refresh does not move it,
//     the banner's "(-12m)" grows as time passes.
//   - The window drawn around it is 120 cells, the cursor travelCursorCell
//     from the right so that it shows at 80 columns (17 cells of
//     sparkline) with a few cells after it: a cell is ten refreshes in the
//     last hour (the live sparklines' cell), a minute before.
//   - Reads run in a Cmd, tagged with a sequence number: a key held down
//     sends many, and only the answer to the newest is shown.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/repops/repops/metrics"
	"github.com/repops/repops/ops"
)

// TimeMachine is the collector's history as the console reads it. At is
// the frame nearest at or before t (metrics.ErrNoFrame when none);
// SeriesAll the panels' sparklines from from to to in points cells (NaN
// for a gap). Both may block on the disk: the console calls them from a
// Cmd only. cmd/repops implements it over the engine's metrics.Timeline.
type TimeMachine interface {
	At(ctx context.Context, t time.Time) (metrics.Frame, error)
	SeriesAll(ctx context.Context, panels []string, from, to time.Time, points int) (map[string][]float64, error)
}

// The time travel's bounds and window.
const (
	travelCells      = 120
	travelCursorCell = 6 // cells from the right edge: 5 after the cursor
	travelRefreshFor = time.Hour
	travelKeep       = 7 * 24 * time.Hour
	travelReadLimit  = 5 * time.Second
)

// travelState is the dashboard's time cursor and what was read for it.
type travelState struct {
	store   TimeMachine
	journal JournalStore

	at      time.Time // zero: live
	seq     int
	loaded  bool // the answer to seq came
	frame   metrics.Frame
	err     error
	spark   map[string][]float64
	from    time.Time // the window's first cell
	cell    time.Duration
	events  []travelEvent
	cursorI int // the cursor's cell in the window
}

// travelEvent is a journal entry marked on the time axis.
type travelEvent struct {
	at    time.Time
	mark  rune
	words string
}

// travelFrameMsg is the history read for the cursor.
type travelFrameMsg struct {
	seq    int
	frame  metrics.Frame
	err    error
	spark  map[string][]float64
	events []travelEvent
}

// active reports whether the cursor is set.
func (t travelState) active() bool { return !t.at.IsZero() }

// handlesBack: esc returns to live first (the root asks before it
// handles esc itself).
func (v dashboardView) handlesBack() bool { return v.travel.active() }

// refreshStep is the cursor's step in the last hour: the refresh
// interval, at least a second (the history's resolution).
func (v dashboardView) refreshStep() time.Duration {
	return max(v.ctx.Config.Console.RefreshInterval, time.Second)
}

// travelKey handles the time keys; ok false for another key.
func (v dashboardView) travelKey(msg tea.KeyPressMsg) (dashboardView, tea.Cmd, bool) {
	k := v.ctx.Keys
	now := v.ctx.Now()
	at := v.travel.at
	if at.IsZero() {
		at = now
	}
	switch {
	case key.Matches(msg, k.TimeBack):
		at = v.stepBack(at, now)
	case key.Matches(msg, k.TimeForward):
		if !v.travel.active() {
			return v, nil, true
		}
		at = v.stepForward(at, now)
	case key.Matches(msg, k.TimeHourBack):
		at = at.Add(-time.Hour)
	case key.Matches(msg, k.TimeHourForward):
		if !v.travel.active() {
			return v, nil, true
		}
		at = at.Add(time.Hour)
	case key.Matches(msg, k.Back) && v.travel.active():
		at = time.Time{}
	default:
		return v, nil, false
	}
	nv, c := v.setCursor(at, now)
	return nv, c, true
}

// stepBack is one step back from at: the refresh interval within the
// last hour, else to the previous minute.
func (v dashboardView) stepBack(at, now time.Time) time.Time {
	step := v.refreshStep()
	if now.Sub(at) < travelRefreshFor {
		return at.Add(-step).Truncate(step)
	}
	return at.Add(-time.Minute).Truncate(time.Minute)
}

// stepForward is stepBack's opposite.
func (v dashboardView) stepForward(at, now time.Time) time.Time {
	step := v.refreshStep()
	if now.Sub(at) <= travelRefreshFor {
		return at.Add(step).Truncate(step)
	}
	return at.Add(time.Minute).Truncate(time.Minute)
}

// setCursor moves the cursor to at (live when at is zero or not before
// now), clamped to the history's seven days, and reads that moment.
func (v dashboardView) setCursor(at, now time.Time) (dashboardView, tea.Cmd) {
	if at.IsZero() || !at.Before(now) {
		v.travel.at, v.travel.loaded, v.travel.err = time.Time{}, false, nil
		v.travel.seq++
		return v, nil
	}
	if oldest := now.Add(-travelKeep); at.Before(oldest) {
		at = oldest.Truncate(time.Minute).Add(time.Minute)
	}
	t := &v.travel
	t.at = at
	t.seq++
	t.cell = sparkBucket(v.ctx.Config.Console.RefreshInterval)
	if now.Sub(at) >= travelRefreshFor {
		t.cell = time.Minute
	}
	t.cursorI = travelCells - travelCursorCell
	t.from = at.Truncate(t.cell).Add(-time.Duration(t.cursorI) * t.cell)
	if t.store == nil {
		t.loaded, t.err = true, errors.New("no history: this console records none (the state dir's history.db)")
		return v, nil
	}
	return v, addressed(viewDashboard, readTravelCmd(t.store, t.journal, t.seq, at, t.from, t.cell, v.panelNames()))
}

// panelNames is every panel the snapshot has, for their sparklines.
func (v dashboardView) panelNames() []string {
	out := make([]string, 0, len(v.snap.Panels))
	for _, p := range v.snap.Panels {
		out = append(out, p.Name)
	}
	return out
}

// readTravelCmd reads the frame at at, the window's sparklines and the
// journal's events in the window.
func readTravelCmd(store TimeMachine, journal JournalStore, seq int, at, from time.Time, cell time.Duration, panels []string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), travelReadLimit)
		defer cancel()
		msg := travelFrameMsg{seq: seq}
		msg.frame, msg.err = store.At(ctx, at)
		to := from.Add(travelCells * cell)
		if msg.err == nil || errors.Is(msg.err, metrics.ErrNoFrame) {
			var err error
			if msg.spark, err = store.SeriesAll(ctx, panels, from, to, travelCells); err != nil {
				msg.err = err
			}
		}
		if journal != nil {
			// A journal that cannot be read only loses the markers.
			if entries, err := journal.Entries(from); err == nil {
				for _, e := range entries {
					if e.Time.Before(to) {
						if ev, ok := journalMark(e); ok {
							msg.events = append(msg.events, ev)
						}
					}
				}
			}
		}
		return msg
	}
}

// journalMark is the axis mark of a journal entry: B backup, R restore,
// S silence, K a runbook step, Z a scenario switch; ok false for others
// (and for an entry that only says a procedure started).
func journalMark(e ops.Entry) (travelEvent, bool) {
	ev := travelEvent{at: e.Time, words: e.Action}
	switch {
	case e.Outcome == ops.OutcomeStarted:
		return ev, false
	case e.Action == "backup":
		ev.mark = 'B'
	case e.Action == "restore":
		ev.mark = 'R'
	case strings.HasPrefix(e.Action, "silence"):
		ev.mark = 'S'
	case strings.HasPrefix(e.Action, "scenario"):
		ev.mark, ev.words = 'Z', "scenario "+e.Target
	case e.Runbook != "":
		ev.mark, ev.words = 'K', "step "+e.Runbook+"/"+e.Step
	default:
		return ev, false
	}
	if e.Outcome != "" && e.Outcome != ops.OutcomeOK {
		ev.words += " " + e.Outcome
	}
	return ev, true
}

// onTravelFrame takes the answer to the newest read.
func (v dashboardView) onTravelFrame(msg travelFrameMsg) dashboardView {
	if msg.seq != v.travel.seq || !v.travel.active() {
		return v
	}
	t := &v.travel
	t.loaded, t.frame, t.err, t.spark, t.events = true, msg.frame, msg.err, msg.spark, msg.events
	return v
}

// travelClick puts the cursor on the sparkline column clicked: the
// sparklines end at the right edge, a cell a column.
func (v dashboardView) travelClick(msg tea.MouseClickMsg) (dashboardView, tea.Cmd) {
	off := v.ctx.Width - 1 - msg.X // cells from the right edge
	if msg.X < v.ctx.Width-sparkWidth(v.ctx.Width) || off < 0 || !v.sparkLine(msg.Y) {
		return v, nil
	}
	now := v.ctx.Now()
	var at time.Time
	if v.travel.active() {
		i := travelCells - 1 - off
		if i < 0 {
			return v, nil
		}
		at = v.travel.from.Add(time.Duration(i)*v.travel.cell + v.travel.cell - time.Millisecond)
	} else {
		// The live sparklines: cells of sparkBucket aligned to the
		// clock, the newest the current one (history.go).
		b := sparkBucket(v.ctx.Config.Console.RefreshInterval)
		at = now.Truncate(b).Add(-time.Duration(off) * b).Add(b - time.Millisecond)
	}
	return v.setCursor(at, now)
}

// sparkLine reports whether body line y ends in a sparkline or the time
// axis: a click elsewhere (an alert, a figure) is not a time.
func (v dashboardView) sparkLine(y int) bool {
	if v.state != stateReady {
		return false
	}
	lines := strings.Split(v.View(), "\n")
	if y <= 0 || y >= len(lines) {
		return false
	}
	r := []rune(ansi.Strip(lines[y]))
	sw := min(sparkWidth(v.ctx.Width), len(r))
	if sw < 4 {
		return false
	}
	drawn := false
	for _, c := range r[len(r)-sw:] {
		switch {
		case strings.ContainsRune("▁▂▃▄▅▆▇█┃─│BRSKZ", c):
			drawn = true
		case c != ' ':
			return false
		}
	}
	return drawn
}

// sparkWidth is how many columns the panel rows' sparklines take at
// width w (panelLayout: the layout panelRows draws with).
func sparkWidth(w int) int { return max(0, panelLayout(w).rest) }

// travelSnapshot is the snapshot the frame describes, judged by the live
// rules: the recorded states, the values at that moment; the database
// box and the sources stay live (they are not in the history).
func (v dashboardView) travelSnapshot() metrics.Snapshot {
	f := v.travel.frame
	st := metrics.CollectorState{}
	for name, s := range f.Rules {
		rec := metrics.RuleRecord{Rule: name, State: s.String(), Since: f.Time, Reason: "recorded at " + f.Time.UTC().Format("15:04:05") + " UTC"}
		st.Rules = append(st.Rules, rec)
	}
	for _, p := range v.snap.Panels {
		pr := metrics.PanelRecord{Name: p.Name, Reason: "not recorded at that moment"}
		if fp, ok := f.Panels[p.Name]; ok && !math.IsNaN(fp.Last) {
			x := fp.Last
			pr.Value = &x
		} else if ok {
			pr.Reason = "no data at that moment"
		}
		st.Panels = append(st.Panels, pr)
	}
	rules := make([]metrics.Rule, 0, len(v.snap.Alerts))
	for _, a := range v.snap.Alerts {
		rules = append(rules, a.Rule)
	}
	snap := st.Snapshot(f.Time, rules)
	for i := range snap.Alerts {
		if p, ok := f.Panels[snap.Alerts[i].Rule.Panel]; ok && !math.IsNaN(p.Last) {
			snap.Alerts[i].Value = metrics.Known(p.Last)
		}
		// A rule the frame does not name was not judged then.
		if _, ok := f.Rules[snap.Alerts[i].Rule.Name]; !ok {
			snap.Alerts[i].Configured = false
		}
	}
	// The sources' health is live, not recorded: only Litestream's
	// presence is kept (the Infra tab's layout); so the tab bar's overall
	// state is the recorded rules' and not today's sources'.
	snap.DB = v.snap.DB
	for _, s := range v.snap.Sources {
		if s.Kind == metrics.KindLitestream {
			s.Up, s.Err = true, ""
			snap.Sources = append(snap.Sources, s)
		}
	}
	return snap
}

// LockWords is the procedure lock as the history records it (a line of
// tab-separated holder, purpose, pid and since): what cmd/repops passes
// as metrics.EngineOptions.TimelineLock. "" for no lock.
func LockWords(info *ops.LockInfo, present bool) string {
	if info == nil || !present {
		return ""
	}
	return strings.Join([]string{info.Actor.String(), info.Purpose, strconv.Itoa(info.PID),
		strconv.FormatInt(info.Since.Unix(), 10), strconv.FormatBool(info.Stale)}, "\t")
}

// parseLockWords reads LockWords back; nil for no lock.
func parseLockWords(s string) *lockView {
	if s == "" {
		return nil
	}
	f := strings.Split(s, "\t")
	for len(f) < 5 {
		f = append(f, "")
	}
	pid, _ := strconv.Atoi(f[2])
	secs, _ := strconv.ParseInt(f[3], 10, 64)
	stale, _ := strconv.ParseBool(f[4])
	return &lockView{Holder: f[0], Purpose: f[1], PID: pid, Since: time.Unix(secs, 0).UTC(), Stale: stale}
}

// travelView is the dashboard at the cursor: the live view drawn from
// the recorded frame, with the banner and the time axis under the tabs.
func (v dashboardView) travelView() string {
	w := v
	w.travel.at = time.Time{} // draw through the live path once
	t := v.travel
	if t.loaded && t.err == nil {
		w.snap, w.lock, w.spark = v.travelSnapshot(), parseLockWords(t.frame.Lock), t.spark
		w.others = w.snap // the past's figures, not the live ones held
		w.lockAt = t.frame.Time
		w.markAt = t.cursorI
	} else if t.loaded && t.spark != nil {
		w.spark, w.markAt = t.spark, t.cursorI
	}
	lines := strings.Split(w.View(), "\n")
	head := []string{lines[0], v.travelBanner(), v.travelAxis()}
	lines = append(head, lines[1:]...)
	if h := v.ctx.bodyHeight(); len(lines) > h {
		lines = lines[:h]
	}
	return strings.Join(lines, "\n")
}

// travelBanner: "viewing 2026-12-05 14:03 UTC (-12m) · ] forward · esc live".
func (v dashboardView) travelBanner() string {
	st := v.ctx.Styles
	t := v.travel
	now := v.ctx.Now()
	layout := "2006-01-02 15:04 UTC"
	if now.Sub(t.at) < travelRefreshFor {
		layout = "2006-01-02 15:04:05 UTC"
	}
	when := "viewing " + t.at.UTC().Format(layout) + " (-" + travelAge(now.Sub(t.at)) + ")"
	keys := " · " + firstKey(v.ctx.Keys.TimeForward) + " forward · " + firstKey(v.ctx.Keys.Back) + " live"
	note := ""
	switch {
	case !t.loaded:
		note = " · reading the history…"
	case errors.Is(t.err, metrics.ErrNoFrame):
		note = " · nothing recorded that far back"
	case t.err != nil:
		note = " · " + t.err.Error()
	case t.frame.Tier == metrics.TierMinute:
		note = " · minute " + t.frame.Time.UTC().Format("15:04") + " (last value)"
	}
	return truncate(st.State("pending").Render(when)+st.Muted.Render(keys+note), v.ctx.Width)
}

// travelAge is how far back the cursor is, exact to the unit shown:
// "45s", "12m", "1h12m", "3d4h".
func travelAge(d time.Duration) string {
	d = max(d, 0)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		return strings.TrimSuffix(fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute)), "00m")
	}
	return strings.TrimSuffix(fmt.Sprintf("%dd%dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)), "0h")
}

// sparkCell is how much time a sparkline cell covers as drawn: the time
// window's cell while the cursor is set, else the live one.
func (v dashboardView) sparkCell() time.Duration {
	if v.markAt > 0 && v.travel.cell > 0 {
		return v.travel.cell
	}
	return sparkBucket(v.ctx.Config.Console.RefreshInterval)
}

func firstKey(b key.Binding) string {
	if ks := b.Keys(); len(ks) > 0 {
		return ks[0]
	}
	return "?"
}

// travelAxis is the window's time axis, right-aligned like the
// sparklines: ─ a cell, │ the cursor, a letter for a journal event; at
// its left the newest event at or before the cursor.
func (v dashboardView) travelAxis() string {
	st := v.ctx.Styles
	t := v.travel
	cells := []rune(strings.Repeat("─", travelCells))
	cells[t.cursorI] = '│'
	var last *travelEvent
	for i, e := range t.events {
		if j := int(e.at.Sub(t.from) / t.cell); j >= 0 && j < travelCells {
			cells[j] = e.mark
		}
		if !e.at.After(t.at) {
			last = &t.events[i]
		}
	}
	left := " " + t.cell.String() + " a cell · no journal event in view"
	if last != nil {
		left = " " + last.at.UTC().Format("01-02 15:04") + " " + last.words
	} else if len(t.events) > 0 {
		left = " " + t.cell.String() + " a cell · B backup R restore S silence K step Z scenario"
	}
	axisW := min(travelCells, max(0, v.ctx.Width-lenRunes(left)-1))
	axisW = max(axisW, min(travelCells, sparkWidth(v.ctx.Width)))
	left = truncate(left, v.ctx.Width-axisW-1)
	pad := max(0, v.ctx.Width-lenRunes(left)-axisW)
	return st.Muted.Render(left+strings.Repeat(" ", pad)) + st.Accent.Render(string(cells[travelCells-axisW:]))
}

// markSpark marks the cursor's cell on a sparkline of width cells drawn
// from series (travelView sets markAt; -1 or unset draws it plain).
func (v dashboardView) markSpark(series []float64, width int) string {
	s := sparkline(series, width)
	if v.markAt <= 0 || len(series) != travelCells {
		return s
	}
	r := []rune(s)
	if col := width - (travelCells - v.markAt); col >= 0 && col < len(r) {
		r[col] = '┃'
	}
	return string(r)
}
