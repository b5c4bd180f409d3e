package metrics

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestStartFromTheCollectorState: a second engine (a console starting
// while the exporter runs, or after a console closed) starts from the
// first one's persisted state: before its first cycle Last shows the
// panels' values and the rules' states; its first cycle, which cannot
// measure a rate yet, shows the collector's value marked Carried; the
// sparkline history continues; once it measures the panel itself it
// never carries again; and a state older than the rules' window carries
// nothing.
func TestStartFromTheCollectorState(t *testing.T) {
	dir := t.TempDir()
	path := CollectorStatePath(dir)
	clock := newFakeClock()
	vs := &valueSource{vals: map[string]Value{}}
	opts := EngineOptions{Sources: []Source{vs.source(KindScrape)}, Now: clock.now, HistorySize: 100,
		PersistPath: path, PersistInterval: time.Second, DatabasePath: filepath.Join(dir, "architect.db")}
	e1, err := NewEngine(opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		vs.set(PanelAppealErrorRate, Known(float64(i)))
		e1.Cycle(context.Background())
		clock.add(time.Second)
	}
	vs.set(PanelAppealErrorRate, Known(32.5))
	e1.Cycle(context.Background()) // a transition: written at once
	st, err := ReadCollectorState(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.History == nil || len(st.History.Times) != 6 || len(st.History.Values[PanelAppealErrorRate]) != 6 {
		t.Fatalf("history: %+v", st.History)
	}
	if a := alertOf(t, Snapshot{Alerts: st.Snapshot(clock.now(), DefaultRules()).Alerts}, "appeal_error_rate"); a.State != StatePending {
		t.Fatalf("the transition to pending was not written at once: %s", a.State)
	}

	// The second engine: the service's scrape has no rate yet.
	clock.add(2 * time.Second)
	vs2 := &valueSource{vals: map[string]Value{PanelAppealErrorRate: Unknown("measuring: needs a second scrape")}}
	opts2 := opts
	opts2.Sources, opts2.PersistPath = []Source{vs2.source(KindScrape)}, ""
	e2, err := NewEngine(opts2)
	if err != nil {
		t.Fatal(err)
	}
	e2.ImportCollectorState(st, clock.now())
	first := e2.Last()
	p, ok := first.Panel(PanelAppealErrorRate)
	if !ok || !p.Value.OK || p.Value.V != 32.5 || p.Carried.IsZero() || len(p.Recent) != 6 {
		t.Fatalf("before the first cycle: %+v", p)
	}
	if a := alertOf(t, first, "appeal_error_rate"); a.State != StatePending {
		t.Fatalf("before the first cycle: %s", a.State)
	}
	snap := e2.Cycle(context.Background())
	p, _ = snap.Panel(PanelAppealErrorRate)
	if !p.Value.OK || p.Value.V != 32.5 || p.Carried.IsZero() || p.Source != "collector state" {
		t.Fatalf("first cycle: %+v", p)
	}
	if h := e2.History(PanelAppealErrorRate); len(h) != 7 || h[0] != 0 || h[5] != 32.5 {
		t.Fatalf("history after the first cycle: %v", h)
	}
	clock.add(time.Second)
	vs2.set(PanelAppealErrorRate, Known(7))
	if p, _ = e2.Cycle(context.Background()).Panel(PanelAppealErrorRate); p.Value.V != 7 || !p.Carried.IsZero() {
		t.Fatalf("measured: %+v", p)
	}
	clock.add(time.Second)
	vs2.set(PanelAppealErrorRate, Unknown("service down"))
	if p, _ = e2.Cycle(context.Background()).Panel(PanelAppealErrorRate); p.Value.OK {
		t.Fatalf("carried again after being measured: %+v", p)
	}

	// A state older than the window: history and rules, no values.
	e3, err := NewEngine(opts2)
	if err != nil {
		t.Fatal(err)
	}
	e3.ImportCollectorState(st, clock.now().Add(2*FastWindow))
	vs2.set(PanelAppealErrorRate, Unknown("measuring"))
	if p, _ = e3.Cycle(context.Background()).Panel(PanelAppealErrorRate); p.Value.OK {
		t.Fatalf("an old state carried: %+v", p)
	}
}
