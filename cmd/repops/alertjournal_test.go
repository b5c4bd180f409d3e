package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/internal/testsupport"
	"github.com/repops/repops/metrics"
	"github.com/repops/repops/ops"
)

func errorRateRule(t *testing.T) metrics.Rule {
	t.Helper()
	for _, r := range metrics.DefaultRules() {
		if r.Name == "appeal_error_rate" {
			return r
		}
	}
	t.Fatal("no appeal_error_rate rule")
	return metrics.Rule{}
}

// change is a snapshot at at in which the rule went from -> to at v.
func change(r metrics.Rule, at time.Time, from, to metrics.State, v float64) metrics.Snapshot {
	return metrics.Snapshot{Time: at,
		Alerts:  []metrics.AlertStatus{{Rule: r, State: to, Value: metrics.Known(v)}},
		Changes: []metrics.RuleChange{{Rule: r, Transition: metrics.Transition{Time: at, From: from, To: to, Value: metrics.Known(v)}, Reason: "errors / submissions"}}}
}

func readJournalAll(t *testing.T, dir string) []ops.Entry {
	t.Helper()
	j, err := ops.OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	es, err := j.Entries(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// TestAlertJournalOneCollector: two collectors on one state dir (the
// exporter and a console) judge the same transitions; only the holder of
// collector.lock journals them, and when it exits the other takes over
// at its next cycle. The resolved entry carries the worst value seen.
func TestAlertJournalOneCollector(t *testing.T) {
	dir := t.TempDir()
	r := errorRateRule(t)
	r.For = 5 * time.Second
	t0 := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	var errOut testsupport.Buffer
	first, second := newAlertJournal(dir, &errOut), newAlertJournal(dir, &errOut)
	for _, aj := range []*alertJournal{first, second} {
		aj.Observe(change(r, t0, metrics.StateOK, metrics.StatePending, 6.5))
	}
	for _, aj := range []*alertJournal{first, second} {
		aj.Observe(metrics.Snapshot{Time: t0.Add(time.Second), Alerts: []metrics.AlertStatus{{Rule: r, State: metrics.StatePending, Value: metrics.Known(24.5)}}})
		// Judged critical at the refresh after the for (5 s) elapsed.
		firing := change(r, t0.Add(5800*time.Millisecond), metrics.StatePending, metrics.StateCritical, 21)
		firing.Alerts[0].ActiveSince = t0
		aj.Observe(firing)
	}
	first.Close(5 * time.Second)
	second.Observe(change(r, t0.Add(60*time.Second), metrics.StateCritical, metrics.StateOK, 0.5))
	second.Close(5 * time.Second)

	es := readJournalAll(t, dir)
	var got []string
	for _, e := range es {
		got = append(got, e.Outcome)
		if e.Action != "alert" || e.Target != "ReputationAppealErrorRate" || e.Figures["threshold"] != 5 || e.Message != "errors / submissions" {
			t.Errorf("entry %+v", e)
		}
	}
	if strings.Join(got, " ") != "pending firing resolved" {
		t.Fatalf("journaled %v, want each transition once: pending firing resolved", got)
	}
	if es[0].Actor.Session == es[2].Actor.Session {
		t.Errorf("the resolved entry is from the same collector as the first: the second did not take over")
	}
	if es[2].Figures["worst"] != 24.5 || es[1].Figures["value"] != 21 || !es[0].Time.Equal(t0) {
		t.Errorf("figures %v %v, time %s: want the worst 24.5 on the resolved entry and the transition's own time", es[2].Figures, es[1].Figures, es[0].Time)
	}
	if !es[1].Time.Equal(t0.Add(5 * time.Second)) {
		t.Errorf("firing journaled at %s, want when the for elapsed, %s", es[1].Time, t0.Add(5*time.Second))
	}
	if _, err := os.Stat(filepath.Join(dir, CollectorLockFile)); err != nil {
		t.Errorf("no lock file: %v", err)
	}
	if errOut.String() != "" {
		t.Errorf("stderr: %s", errOut.String())
	}
}

// TestAlertJournalDropsRatherThanBlocks: when the writer is behind and the
// queue is full, Observe drops a transition and counts it, and the count
// is journaled once the writer catches up; Observe never waits.
func TestAlertJournalDropsRatherThanBlocks(t *testing.T) {
	dir := t.TempDir()
	r := errorRateRule(t)
	t0 := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	var errOut testsupport.Buffer
	// The writer is not started until the queue has overflowed.
	aj := &alertJournal{stateDir: dir, errOut: &errOut, worst: map[string]float64{}, actor: ops.CurrentActor("collector-test"),
		queue: make(chan ops.Entry, 2), done: make(chan struct{})}
	states := []metrics.State{metrics.StateOK, metrics.StatePending, metrics.StateCritical, metrics.StateOK, metrics.StatePending, metrics.StateCritical}
	for i := 1; i < len(states); i++ {
		aj.Observe(change(r, t0.Add(time.Duration(i)*time.Second), states[i-1], states[i], float64(i)))
	}
	go aj.write()
	aj.Close(5 * time.Second)
	es := readJournalAll(t, dir)
	var alerts, dropped int
	for _, e := range es {
		switch e.Action {
		case "alert":
			alerts++
		case "journal.dropped":
			dropped += int(e.Figures["dropped"])
		}
	}
	if alerts != 2 || dropped != 3 {
		t.Errorf("%d alert entries and %d counted as dropped, want 2 and 3: %+v", alerts, dropped, es)
	}
}
