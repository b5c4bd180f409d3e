package tui

import (
	"context"
	"math"
	"time"

	"github.com/repops/repops/config"
	"github.com/repops/repops/metrics"
	"github.com/repops/repops/ops"
	"github.com/repops/repops/runbooks"
)

// fixedNow is the clock of every test: golden screens do not move.
var fixedNow = time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)

func clock() time.Time { return fixedNow }

// fakeFigures is a Figures built from a function field.
type fakeFigures struct {
	cycle func(ctx context.Context) metrics.Snapshot
}

var _ Figures = fakeFigures{}

func (f fakeFigures) Cycle(ctx context.Context) metrics.Snapshot { return f.cycle(ctx) }

// fakeRun is a RunbookRun built from function fields.
type fakeRun struct {
	id      string
	current func() (runbooks.Current, bool)
	do      func(ctx context.Context, in runbooks.StepInput, p ops.Progress) (runbooks.StepResult, error)
	state   func() runbooks.RunState
}

var _ RunbookRun = (*fakeRun)(nil)

func (r *fakeRun) ID() string                        { return r.id }
func (r *fakeRun) Current() (runbooks.Current, bool) { return r.current() }
func (r *fakeRun) Do(ctx context.Context, in runbooks.StepInput, p ops.Progress) (runbooks.StepResult, error) {
	return r.do(ctx, in, p)
}
func (r *fakeRun) State() runbooks.RunState { return r.state() }
func (r *fakeRun) Stop(string) error        { return nil }
func (r *fakeRun) Close()                   {}

// fakeRunbooks is a RunbookService over the embedded catalogue whose
// Start returns what start says.
type fakeRunbooks struct {
	cat   *runbooks.Catalogue
	start func(rb *runbooks.Runbook) (RunbookRun, error)
}

var _ RunbookService = fakeRunbooks{}

func (f fakeRunbooks) List() []*runbooks.Runbook                      { return f.cat.List() }
func (f fakeRunbooks) Get(id string) (*runbooks.Runbook, bool)        { return f.cat.Get(id) }
func (f fakeRunbooks) ForAlert(r string) []*runbooks.Runbook          { return f.cat.ForAlert(r) }
func (f fakeRunbooks) Start(rb *runbooks.Runbook) (RunbookRun, error) { return f.start(rb) }
func (f fakeRunbooks) Resume(runID string) (RunbookRun, error) {
	rb, _ := f.cat.Get("restore-from-backup")
	return f.start(rb)
}

// fakeSim is a Simulator recording the scenarios asked for.
type fakeSim struct{ set *[]string }

var _ Simulator = fakeSim{}

func (s fakeSim) Scenarios() []string { return []string{"normal", "appeal-flood", "error-spike"} }
func (s fakeSim) SetScenario(name string) error {
	*s.set = append(*s.set, name)
	return nil
}

// fakeJournal is a JournalStore in memory.
type fakeJournal struct {
	entries []ops.Entry
}

var _ JournalStore = (*fakeJournal)(nil)

func (j *fakeJournal) Entries(since time.Time) ([]ops.Entry, error) { return j.entries, nil }
func (j *fakeJournal) Append(e ops.Entry) (ops.Entry, error) {
	j.entries = append(j.entries, e)
	return e, nil
}

// history is a deterministic sparkline series around v.
func history(v float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v * (0.8 + 0.2*math.Sin(float64(i)/3))
	}
	return out
}

// testSnapshot is a snapshot with the appeal error rate critical, one
// warning, an unknown panel (its source dead) and a dead Alertmanager.
func testSnapshot() metrics.Snapshot {
	values := map[string]float64{
		metrics.PanelSubmissionRate: 42, metrics.PanelAppealErrorRate: 7.5, metrics.PanelProcessingP95: 420,
		metrics.PanelNegotiationAvg: 30, metrics.PanelNegotiationP95: 20, metrics.PanelMLLatencyP99: 85,
		metrics.PanelDBConnections: 3, metrics.PanelDBConnectionsUsage: 30, metrics.PanelAPIErrorRate: 0.05,
		metrics.PanelServiceUp: 1, metrics.PanelBackupAge: 0.5, metrics.PanelDiskFree: 61,
		metrics.PanelDatabaseSize: 930, metrics.PanelWALSize: 4, metrics.PanelPendingAppeals: 264,
		metrics.PanelIntegrityOK: 1, metrics.PanelIntegrityAge: 2, metrics.PanelSchemaPending: 0,
		metrics.PanelDrillAge: 40, metrics.PanelPredictionLatency: 31, metrics.PanelMLConfidence: 0.74,
		metrics.PanelServiceCPU: 35, metrics.PanelServiceMemory: 48,
	}
	states := map[string]metrics.State{metrics.PanelAppealErrorRate: metrics.StateCritical, metrics.PanelProcessingP95: metrics.StateOK}
	targets, alerts := map[string]float64{}, map[string]float64{}
	for _, r := range metrics.DefaultRules() {
		alerts[r.Panel] = r.Alert
		targets[r.TargetOn()] = r.Target
	}
	s := metrics.Snapshot{Time: fixedNow.Add(-time.Second), Duration: 4 * time.Millisecond}
	for _, d := range metrics.PanelDefs() {
		p := metrics.Panel{Name: d.Name, Title: d.Title, Unit: d.Unit, Target: math.NaN(), Alert: math.NaN(), State: metrics.StateOK, Since: fixedNow.Add(-time.Hour)}
		if v, ok := targets[d.Name]; ok {
			p.Target = v
		}
		if v, ok := alerts[d.Name]; ok {
			p.Alert = v
		}
		if v, ok := values[d.Name]; ok {
			p.Value = metrics.Known(v)
			p.Recent = history(v, 60)
			p.Source = "service"
		}
		if st, ok := states[d.Name]; ok {
			p.State = st
		}
		if d.Name == metrics.PanelMLLatencyP99 {
			p.Value, p.State, p.Recent = metrics.Unknown("service: series reputation_ml_prediction_seconds missing"), metrics.StateUnknown, nil
		}
		s.Panels = append(s.Panels, p)
	}
	for _, r := range metrics.DefaultRules() {
		a := metrics.AlertStatus{Rule: r, State: metrics.StateOK, Since: fixedNow.Add(-time.Hour), Runbook: r.Runbook, Configured: true}
		if p, ok := s.Panel(r.Panel); ok {
			a.Value = p.Value
		}
		if p, ok := s.Panel(r.TargetOn()); ok {
			a.TargetValue = p.Value
		}
		switch r.Name {
		case "appeal_error_rate":
			a.State, a.Since, a.ActiveSince = metrics.StateCritical, fixedNow.Add(-4*time.Minute), fixedNow.Add(-6*time.Minute)
			a.Reason = "7.5 % > 5 % for 6m"
			a.History = []metrics.Transition{
				{Time: fixedNow.Add(-6 * time.Minute), From: metrics.StateOK, To: metrics.StatePending, Value: metrics.Known(6.1)},
				{Time: fixedNow.Add(-4 * time.Minute), From: metrics.StatePending, To: metrics.StateCritical, Value: metrics.Known(7.5)},
			}
		case "negotiation_duration":
			a.State, a.Since, a.Reason = metrics.StateWarning, fixedNow.Add(-20*time.Minute), "80 h > target 72 h"
			a.TargetValue = metrics.Known(80)
		case "ml_prediction_latency":
			a.State, a.Reason = metrics.StateUnknown, "service: series reputation_ml_prediction_seconds missing"
		}
		s.Alerts = append(s.Alerts, a)
	}
	s.DB = metrics.DBFigures{
		Path: "/var/lib/gaia/architect.db", FileBytes: 930 << 20, WALBytes: 4 << 20,
		Tables:     []metrics.TableFigure{{Name: "appeals", Rows: 1_000_000, Bytes: 210 << 20}, {Name: "appeal_negotiation_messages", Rows: 2_800_000, Bytes: 520 << 20}},
		LastBackup: fixedNow.Add(-30 * time.Minute), LastCheck: fixedNow.Add(-48 * time.Hour), LastCheckOK: true, LastCheckMode: "quick",
		SchemaVersion: 3, LatestSchema: 3, SchemaValid: true, DiskFree: 61 << 30, DiskTotal: 100 << 30,
		PendingAppeals: 264, NegotiatingAppeals: 379,
	}
	s.Sources = []metrics.SourceHealth{
		{Name: "service", Kind: "scrape", URL: "http://127.0.0.1:9090/metrics", Up: true, LastOK: fixedNow, Latency: 3 * time.Millisecond},
		{Name: "database", Kind: "database", URL: "/var/lib/gaia/architect.db", Up: true, LastOK: fixedNow, Latency: 9 * time.Millisecond},
		{Name: "alertmanager", Kind: "alertmanager", URL: "http://127.0.0.1:9093", Err: "connection refused"},
	}
	return s
}

// testConfig is the config of the golden screens.
func testConfig(stateDir string) *config.Config {
	c := config.Defaults()
	c.Database.Path = "/var/lib/gaia/architect.db"
	c.Environment = "production"
	c.Console.StateDir = stateDir
	return &c
}

// newTestModel builds a console over the fakes.
func newTestModel(stateDir string, mod func(*Options)) Model {
	cat, err := runbooks.Builtin()
	if err != nil {
		panic(err)
	}
	snap := testSnapshot()
	o := Options{
		Config:   testConfig(stateDir),
		Figures:  fakeFigures{cycle: func(context.Context) metrics.Snapshot { return snap }},
		Journal:  &fakeJournal{},
		Runbooks: fakeRunbooks{cat: cat, start: func(rb *runbooks.Runbook) (RunbookRun, error) { return newFakeRun(rb, nil), nil }},
		Now:      clock,
		Started:  fixedNow,
	}
	if mod != nil {
		mod(&o)
	}
	m, err := New(o)
	if err != nil {
		panic(err)
	}
	return m
}

// newFakeRun is a run of rb at its first step; do (nil: every step done)
// decides each Do.
func newFakeRun(rb *runbooks.Runbook, do func(in runbooks.StepInput) (runbooks.StepResult, error)) *fakeRun {
	st := runbooks.RunState{RunID: rb.ID + "-20261129T025800Z-ab12", RunbookID: rb.ID, Title: rb.Title, Target: "/var/lib/gaia/architect.db",
		Actor: "oncall@db1", Status: runbooks.RunRunning, StartedAt: fixedNow.Add(-2 * time.Minute)}
	for _, s := range rb.Steps {
		st.Steps = append(st.Steps, runbooks.StepRecord{Name: s.Name, Kind: s.Kind})
	}
	r := &fakeRun{id: st.RunID}
	r.state = func() runbooks.RunState { return st }
	r.current = func() (runbooks.Current, bool) {
		if st.Status != runbooks.RunRunning || st.Current >= len(rb.Steps) {
			return runbooks.Current{}, false
		}
		s := rb.Steps[st.Current]
		return runbooks.Current{Index: st.Current, Total: len(rb.Steps), Step: s, NeedsConfirm: s.Destructive(), ConfirmWord: "architect.db"}, true
	}
	r.do = func(ctx context.Context, in runbooks.StepInput, p ops.Progress) (runbooks.StepResult, error) {
		s := rb.Steps[st.Current]
		if s.Destructive() && in.Confirm != "architect.db" && !in.Skip {
			return runbooks.StepResult{}, runbooks.ErrCancelled
		}
		res := runbooks.StepResult{Index: st.Current, Step: s.Name, Kind: s.Kind, Outcome: runbooks.Done, Message: "done", Started: fixedNow, Ended: fixedNow.Add(time.Second)}
		if do != nil {
			var err error
			if res, err = do(in); err != nil {
				return res, err
			}
		}
		st.Steps[st.Current].Outcome = res.Outcome
		st.Current++
		if st.Current >= len(rb.Steps) {
			st.Status = runbooks.RunFinished
		}
		return res, nil
	}
	return r
}

func nanValue() float64 { return math.NaN() }
