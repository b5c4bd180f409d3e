package main

import (
	"context"
	"fmt"
	"github.com/repops/repops/tui"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repops/repops/incident"
	"github.com/repops/repops/metrics"
	"github.com/repops/repops/ops"
)

// CollectorLockFile is the flock a collector holds while it journals the
// alerts' transitions, in the state dir.
const CollectorLockFile = "collector.lock"

// alertQueueSize bounds the transitions waiting for the journal.
const alertQueueSize = 256

// alertJournal journals the rules' transitions of each snapshot (one
// "alert" entry per metrics.RuleChange) for a long-running collector:
// the exporter, the console.
//
// Decision: one journaling collector at a time. Several may run (the
// console beside the exporter, two consoles over SSH), each judging the
// same rules: all journaling would write every transition twice or more.
// The one that holds a non-blocking flock on STATE_DIR/collector.lock
// journals; the others try to take it at each cycle, so that when the
// holder exits (the kernel drops its flock, even on a crash) the next
// collector's next cycle takes over. A transition judged while no
// collector holds the lock is lost, at most one refresh.
//
// Decision: appends never slow the refresh. Observe only puts entries in
// a bounded queue, and a goroutine of its own appends them (each append is
// an fsync); when the queue is full an entry is dropped and counted, and
// the count is journaled as a note once there is room again.
type alertJournal struct {
	stateDir string
	actor    ops.Actor
	errOut   io.Writer

	mu     sync.Mutex
	lock   *os.File           // the flock, nil when not the holder
	worst  map[string]float64 // rule -> worst value since it left OK
	queue  chan ops.Entry
	drop   int64
	closed bool
	done   chan struct{}
}

// collectors numbers the alert journals of this process, for their
// sessions (a test runs two collectors in one process).
var collectors atomic.Int64

// newAlertJournal starts the journal's writer; Close stops it.
func newAlertJournal(stateDir string, errOut io.Writer) *alertJournal {
	aj := &alertJournal{stateDir: stateDir, errOut: errOut, worst: map[string]float64{},
		actor: ops.CurrentActor(fmt.Sprintf("collector-%d-%d", os.Getpid(), collectors.Add(1))),
		queue: make(chan ops.Entry, alertQueueSize), done: make(chan struct{})}
	go aj.write()
	return aj
}

// holds takes the collector lock when it is free; it reports whether
// this process holds it. Called with mu held.
func (aj *alertJournal) holds() bool {
	if aj.lock != nil {
		return true
	}
	if aj.stateDir == "" {
		return false
	}
	if err := os.MkdirAll(aj.stateDir, 0o700); err != nil {
		return false
	}
	f, err := os.OpenFile(filepath.Join(aj.stateDir, CollectorLockFile), os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return false
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return false
	}
	// Who holds it, for the operator who wonders (cat collector.lock).
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(fmt.Sprintf("%d %s\n", os.Getpid(), aj.actor.String())), 0)
	aj.lock = f
	return true
}

// Observe queues snap's transitions for the journal when this collector
// holds the lock. It never blocks.
func (aj *alertJournal) Observe(snap metrics.Snapshot) {
	aj.mu.Lock()
	defer aj.mu.Unlock()
	if aj.closed {
		return
	}
	changed := map[string]metrics.RuleChange{}
	for _, c := range snap.Changes {
		changed[c.Rule.Name] = c
	}
	// The worst value of each alert since it left OK, for the resolved
	// entry: the report's impact.
	for _, a := range snap.Alerts {
		if a.State == metrics.StateOK {
			if _, ok := changed[a.Rule.Name]; !ok {
				delete(aj.worst, a.Rule.Name)
			}
			continue
		}
		if !a.Value.OK || a.State == metrics.StateUnknown {
			continue
		}
		if w, ok := aj.worst[a.Rule.Name]; !ok || a.Rule.Compare == metrics.Below && a.Value.V < w || a.Rule.Compare != metrics.Below && a.Value.V > w {
			aj.worst[a.Rule.Name] = a.Value.V
		}
	}
	if len(snap.Changes) == 0 || !aj.holds() {
		return
	}
	active := map[string]time.Time{}
	for _, a := range snap.Alerts {
		active[a.Rule.Name] = a.ActiveSince
	}
	for _, c := range snap.Changes {
		e := alertEntry(c, aj.actor)
		// Decision: firing is journaled at the instant the rule's for
		// elapsed (the value beyond the threshold since ActiveSince, plus
		// for), as 'repops status' and Prometheus' activeAt + for say,
		// not at the next refresh that saw it: TTD then does not depend
		// on where the for fell between two refreshes. The refresh that
		// judged it is kept in the entry's params.
		if since := active[c.Rule.Name]; c.Transition.To == metrics.StateCritical && !since.IsZero() && c.Rule.For > 0 {
			if due := since.Add(c.Rule.For); due.Before(e.Time) {
				e.Params["judged_at"] = e.Time.UTC().Format(time.RFC3339Nano)
				e.Time = due
			}
		}
		if c.Transition.To == metrics.StateOK {
			if w, ok := aj.worst[c.Rule.Name]; ok {
				e.Figures["worst"] = w
			}
			delete(aj.worst, c.Rule.Name)
		}
		select {
		case aj.queue <- e:
		default:
			aj.drop++
		}
	}
}

// alertEntry is the journal entry of one transition.
func alertEntry(c metrics.RuleChange, actor ops.Actor) ops.Entry {
	r, tr := c.Rule, c.Transition
	e := ops.Entry{Time: tr.Time, Actor: actor, Action: incident.ActionAlert, Target: metrics.AlertName(r.Name, false),
		Outcome: alertOutcome(tr.To), Message: c.Reason, Figures: map[string]float64{},
		Params: map[string]any{"rule": r.Name, "title": r.Title, "unit": r.Unit, "compare": string(r.Compare),
			"severity": r.Severity, "from": alertOutcome(tr.From)}}
	if tr.From == metrics.StateOK {
		e.Params["from"] = "ok"
	}
	if tr.Value.OK {
		e.Figures["value"] = tr.Value.V
	}
	if r.HasAlert() {
		e.Figures["threshold"] = r.Alert
	}
	return e
}

// alertOutcome is a state's word in the journal: firing for critical,
// resolved for OK (a transition to OK is always from another state).
func alertOutcome(s metrics.State) string {
	switch s {
	case metrics.StateOK:
		return ops.OutcomeResolved
	case metrics.StatePending:
		return ops.OutcomePending
	case metrics.StateCritical:
		return ops.OutcomeFiring
	case metrics.StateWarning:
		return ops.OutcomeWarning
	}
	return ops.OutcomeUnknown
}

// write appends the queued entries until Close.
func (aj *alertJournal) write() {
	defer close(aj.done)
	var j *ops.Journal
	defer func() { j.Close() }()
	var reported bool
	for e := range aj.queue {
		if j == nil {
			var err error
			if j, err = ops.OpenJournal(aj.stateDir); err != nil {
				if !reported {
					fmt.Fprintf(aj.errOut, "repops: alert transitions not journaled: %v\n", err)
					reported = true
				}
				j = nil
				continue
			}
		}
		if _, err := j.Append(e); err != nil && !reported {
			fmt.Fprintf(aj.errOut, "repops: alert transition not journaled: %v\n", err)
			reported = true
		}
		aj.mu.Lock()
		dropped := aj.drop
		aj.drop = 0
		aj.mu.Unlock()
		if dropped > 0 {
			_, _ = j.Append(ops.Entry{Actor: aj.actor, Action: "journal.dropped", Outcome: ops.OutcomeNote,
				Figures: map[string]float64{"dropped": float64(dropped)},
				Message: fmt.Sprintf("%d alert transitions were not journaled: the journal was slower than the collector", dropped)})
		}
	}
}

// Close stops taking transitions, appends those queued (for at most
// wait) and releases the collector lock.
func (aj *alertJournal) Close(wait time.Duration) {
	aj.mu.Lock()
	if aj.closed {
		aj.mu.Unlock()
		return
	}
	aj.closed = true
	close(aj.queue)
	aj.mu.Unlock()
	t := time.NewTimer(wait)
	select {
	case <-aj.done:
	case <-t.C:
	}
	t.Stop()
	aj.mu.Lock()
	if aj.lock != nil {
		_ = unix.Flock(int(aj.lock.Fd()), unix.LOCK_UN)
		aj.lock.Close()
		aj.lock = nil
	}
	aj.mu.Unlock()
}

// journalingFigures is the metrics engine with its transitions journaled:
// what the console's refresh calls (tui.Figures).
// The engine is embedded: its history (tui.Historian, the sparklines)
// and the rest are the engine's own.
type journalingFigures struct {
	*metrics.Engine
	aj *alertJournal
}

// Cycle runs one cycle and queues its transitions.
func (f journalingFigures) Cycle(ctx context.Context) metrics.Snapshot {
	snap := f.Engine.Cycle(ctx)
	f.aj.Observe(snap)
	return snap
}

// The console draws its sparklines from the figures' history: a wrapper
// that hid it would leave them empty.
var _ tui.Historian = journalingFigures{}
