package metrics

// Starting from a collector's state: a console (or an exporter) that
// starts where the last collector left off. Its first frame shows the
// rules' states, the panels' last values and their sparklines instead of
// a screen of UNKNOWN while its own rates need a second scrape.
//
// Decisions:
//   - The history is imported only into an engine that has none, and only
//     points older than now; the carried values are shown until the engine
//     measures the panel itself, and never longer than FastWindow after
//     the collector measured them (a rate older than its window is not
//     the rate now). The panel says so (Panel.Carried).
//   - Only a state written within FastWindow is carried at all; the rules'
//     states follow ImportRuleStates' own staleness rule.

import (
	"math"
	"strings"
	"time"
)

// maxPersistPoints bounds the history in the collector state: five minutes
// at a refresh a second, about 3 KiB a panel in JSON.
const maxPersistPoints = 300

// carried is a panel's value from a collector's state.
type carried struct {
	v  float64
	at time.Time
}

// ruleSignature is the rules' states in snap, to see when one changes.
func ruleSignature(snap Snapshot) string {
	var b strings.Builder
	for _, a := range snap.Alerts {
		b.WriteString(a.Rule.Name)
		b.WriteByte('=')
		b.WriteString(a.State.String())
		b.WriteByte('/')
		b.WriteString(a.Judge)
		b.WriteByte(';')
	}
	return b.String()
}

// historyRecord is the newest n points of every panel's history.
func (e *Engine) historyRecord(n int) *HistoryRecord {
	e.mu.Lock()
	defer e.mu.Unlock()
	times := e.times.last(n)
	if len(times) == 0 {
		return nil
	}
	h := &HistoryRecord{Times: times, Values: map[string][]*float64{}}
	for _, d := range e.defs {
		pts := e.hist[d.Name].last(len(times))
		vals := make([]*float64, len(pts))
		known := false
		for i, v := range pts {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				x := v
				vals[i], known = &x, true
			}
		}
		if known {
			h.Values[d.Name] = vals
		}
	}
	return h
}

// ImportCollectorState starts the engine from st, a collector's state for
// the same database: the rules' states (ImportRuleStates), the panels'
// history when the engine has none, and, when st was written within
// FastWindow of now, the panels' last values, shown until the engine
// measures them. Before the first cycle Last is st's snapshot. It returns
// how many rules it took.
func (e *Engine) ImportCollectorState(st CollectorState, now time.Time) int {
	n := e.ImportRuleStates(st.Rules, now)
	rules := e.Rules()
	e.mu.Lock()
	defer e.mu.Unlock()
	if h := st.History; h != nil && len(e.times.last(1)) == 0 {
		for i, t := range h.Times {
			if t >= float64(now.UnixNano())/1e9 {
				break
			}
			e.times.push(t)
			for _, d := range e.defs {
				x := math.NaN()
				if vals := h.Values[d.Name]; i < len(vals) && vals[i] != nil {
					x = *vals[i]
				}
				e.hist[d.Name].push(x)
			}
		}
	}
	age := now.Sub(st.Written)
	if age < 0 || age > FastWindow {
		return n
	}
	e.carry = map[string]carried{}
	for _, p := range st.Panels {
		if p.Value != nil {
			e.carry[p.Name] = carried{v: *p.Value, at: st.Written}
		}
	}
	if e.last.Time.IsZero() || len(e.last.Panels) == 0 {
		snap := st.Snapshot(now, rules)
		for i := range snap.Panels {
			p := &snap.Panels[i]
			if r := e.hist[p.Name]; r != nil {
				p.Recent = r.last(e.opts.SnapshotHistory)
			}
			if p.Value.OK {
				p.Carried = st.Written
			}
		}
		snap.DB = e.last.DB
		e.last = snap
	}
	return n
}

// carryInto puts the carried values into values for the panels the cycle
// could not measure and the engine has not measured since it started,
// and returns when each carried value was measured. A panel measured once
// is never carried again.
func (e *Engine) carryInto(now time.Time, values map[string]Value, sourceOf map[string]string) map[string]time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.carry) == 0 {
		return nil
	}
	out := map[string]time.Time{}
	for name, c := range e.carry {
		switch v := values[name]; {
		case v.OK:
			delete(e.carry, name)
		case now.Sub(c.at) > FastWindow:
			delete(e.carry, name)
		default:
			values[name] = Known(c.v)
			sourceOf[name] = "collector state"
			out[name] = c.at
		}
	}
	return out
}
