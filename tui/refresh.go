package tui

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/repops/repops/metrics"
)

// refreshInterval is the interval chosen at run time (+/-, :refresh),
// else config.Console.RefreshInterval, 1 s by default.
func (m Model) refreshInterval() time.Duration {
	if m.interval > 0 {
		return m.interval
	}
	if d := m.ctx.Config.Console.RefreshInterval; d > 0 {
		return d
	}
	return time.Second
}

// The interval chosen at run time is kept within these bounds: faster
// than twice a second would load the database for nothing, slower than
// an hour is a pause (p) by another name.
const (
	minInterval = 500 * time.Millisecond
	maxInterval = time.Hour
)

// intervalSteps are the intervals + and - go through.
var intervalSteps = []time.Duration{
	500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second,
	15 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute,
	10 * time.Minute, 30 * time.Minute, time.Hour,
}

// stepInterval is the next interval of intervalSteps after the current
// one (dir > 0: longer; dir < 0: shorter), clamped to the ends.
func (m Model) stepInterval(dir int) time.Duration {
	cur := m.refreshInterval()
	if dir > 0 {
		for _, d := range intervalSteps {
			if d > cur {
				return d
			}
		}
		return intervalSteps[len(intervalSteps)-1]
	}
	for i := len(intervalSteps) - 1; i >= 0; i-- {
		if intervalSteps[i] < cur {
			return intervalSteps[i]
		}
	}
	return intervalSteps[0]
}

// parseInterval reads an interval typed after :refresh: a Go duration
// ("5s", "1m30s", "500ms") or a bare number of seconds ("5").
func parseInterval(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	d, err := time.ParseDuration(s)
	if err != nil {
		n, nerr := strconv.ParseFloat(s, 64)
		if nerr != nil {
			return 0, fmt.Errorf("refresh interval %q: give a duration such as 5s, 500ms or 1m", s)
		}
		d = time.Duration(n * float64(time.Second))
	}
	if d < minInterval || d > maxInterval {
		return 0, fmt.Errorf("refresh interval %s: keep it between %s and %s", d, minInterval, maxInterval)
	}
	return d, nil
}

// setInterval makes d the refresh interval from now on. The tick already
// waiting (of the old interval) is dropped by a new generation and one of
// the new interval is started, unless a refresh is in flight (its answer
// starts the next tick) or the refresh is paused.
func (m Model) setInterval(d time.Duration) (tea.Model, tea.Cmd) {
	d = max(minInterval, min(maxInterval, d))
	m.interval = d
	msg := "refresh every " + d.String()
	if m.paused {
		msg += " once resumed (paused: p resumes)"
	}
	m.flash, m.flashIsErr = msg, false
	if m.paused || m.inflight {
		return m, nil
	}
	m.gen++
	return m, m.tickCmd()
}

// refreshCmd runs one engine cycle and reads the lock, bounded by a
// timeout so that a dead endpoint never stalls the refresh.
func (m *Model) refreshCmd() tea.Cmd {
	m.inflight = true
	m.gen++
	return m.cycleCmd(m.gen)
}

// cycleCmd is the refresh of generation gen.
func (m Model) cycleCmd(gen int) tea.Cmd {
	fig, lock, sil := m.opts.Figures, m.opts.Lock, m.opts.Silences
	var first <-chan metrics.Snapshot
	if gen == 1 {
		first = m.opts.FirstCycle
	}
	bucket := sparkBucket(m.refreshInterval())
	timeout := m.opts.CycleTimeout
	if timeout <= 0 {
		timeout = max(2*time.Second, m.ctx.Config.Console.Sources.Timeout+time.Second)
	}
	return func() tea.Msg {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		out := snapshotMsg{gen: gen}
		done := make(chan metrics.Snapshot, 1)
		if first != nil {
			go func() { done <- <-first }()
		} else {
			go func() { done <- fig.Cycle(ctx) }()
		}
		select {
		case s := <-done:
			out.snap = s
			if h, ok := fig.(Historian); ok {
				out.spark = sparkFromHistory(h, s, bucket)
			}
		case <-ctx.Done():
			out.err = fmt.Errorf("the refresh took longer than %s: a source is not answering", timeout)
		}
		if lock != nil {
			if info, ok, err := lock(); err == nil && ok && info != nil {
				out.lock = &lockView{Holder: info.Actor.String(), Purpose: info.Purpose, Since: info.Since, PID: info.PID, Stale: info.Stale}
			}
		}
		if sil != nil && out.err == nil {
			out.silenceWarnings = sil.Warnings(out.snap.Time, out.snap)
		}
		out.elapsed = time.Since(start)
		return out
	}
}

func (m Model) tickCmd() tea.Cmd {
	gen := m.gen
	return tea.Tick(m.refreshInterval(), func(time.Time) tea.Msg { return tickMsg{gen: gen} })
}

// sparkFromHistory buckets each panel's history for its sparkline.
func sparkFromHistory(h Historian, s metrics.Snapshot, bucket time.Duration) map[string][]float64 {
	points := int(int64(sparkCells)*int64(bucket)/int64(time.Second)) + 1
	ts := h.HistoryTimes(points)
	out := make(map[string][]float64, len(s.Panels))
	for _, p := range s.Panels {
		out[p.Name] = bucketHistory(h.HistoryN(p.Name, points), ts, bucket, sparkCells)
	}
	return out
}

func (m Model) onSnapshot(msg snapshotMsg) (tea.Model, tea.Cmd) {
	if msg.gen != m.gen {
		return m, nil
	}
	m.inflight = false
	m.lastTook = msg.elapsed
	m.resolveRunbooks(msg.snap.Alerts)
	m.refreshErr = msg.err
	if msg.err == nil {
		m.guard = msg.silenceWarnings
		m.snap, m.haveSnap = msg.snap, true
		m.lastRefresh = msg.snap.Time
		if m.lastRefresh.IsZero() {
			m.lastRefresh = m.ctx.Now()
		}
	}
	var cmds []tea.Cmd
	var c tea.Cmd
	m.dash, c = m.dash.Update(msg)
	cmds = append(cmds, c)
	m.alerts, c = m.alerts.Update(msg)
	cmds = append(cmds, c)
	m.runbooks, c = m.runbooks.Update(msg)
	cmds = append(cmds, c)
	if m.focus == viewTables && !m.tables.loading && m.tables.state == stateReady && m.ctx.Now().Sub(m.tables.at) >= time.Minute {
		// Sizes take a scan of the file: once a minute while the view is
		// open, which also gives the growth column its figures.
		m.tables.loading = true
		cmds = append(cmds, m.tables.load())
	}
	if m.focus == viewJournal {
		// The timeline follows what happens (another operator's steps too).
		cmds = append(cmds, m.journal.load())
	}
	if !m.paused {
		cmds = append(cmds, m.tickCmd())
	}
	return m, tea.Batch(cmds...)
}

// resolveRunbooks makes sure each alert names a runbook of the catalogue:
// when the rule's runbook is not in it, the catalogue's best runbook for
// the rule (runbooks' when:) is offered instead. In-memory lookups only.
func (m Model) resolveRunbooks(alerts []metrics.AlertStatus) {
	rb := m.opts.Runbooks
	// Until the catalogue is loaded the rules' own runbook ids stand (the
	// next refresh resolves them): the first frame never waits for the
	// catalogue's parsing.
	if rb == nil || !catalogueReady(rb) {
		return
	}
	for i := range alerts {
		a := &alerts[i]
		if a.Runbook != "" {
			if _, ok := rb.Get(a.Runbook); ok {
				continue
			}
		}
		if found := rb.ForAlert(a.Rule.Name); len(found) > 0 {
			a.Runbook = found[0].ID
		}
	}
}
