package runbooks

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/repops/repops/config"
	"github.com/repops/repops/db"
	"github.com/repops/repops/metrics"
	"github.com/repops/repops/ops"
	"github.com/repops/repops/sim"
)

// demoDB builds a small demo database (the real migrations and rows) in a
// temp dir and returns its config.
func demoDB(t *testing.T) *config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "architect.db")
	if _, err := sim.GenerateDemo(context.Background(), path, sim.DemoOptions{Appeals: 3000, Seed: 7}, nil); err != nil {
		t.Fatalf("demo database: %v", err)
	}
	return testConfig(t, path)
}

// runService runs the simulated service writing to the database for the
// rest of the test and returns it.
func runService(t *testing.T, cfg *config.Config) *sim.Sim {
	t.Helper()
	s, err := sim.New(sim.Options{DBPath: cfg.Database.Path, Listen: "127.0.0.1:0", Speed: 60, Seed: 3, Tick: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("start the simulated service: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("simulated service: %v", err)
		}
	})
	// Let it commit something before the procedure starts.
	for i := 0; i < 100 && s.Stats().Writes == 0; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	return s
}

// fakeEnv wraps the real Env; a set function field replaces its method.
type fakeEnv struct {
	Env
	act     func(ctx context.Context, action string, params map[string]string, p ops.Progress) (ActionResult, error)
	metrics MetricReader
	mu      sync.Mutex
	calls   []string
}

var _ Env = (*fakeEnv)(nil)

func (f *fakeEnv) Act(ctx context.Context, action string, params map[string]string, p ops.Progress) (ActionResult, error) {
	f.mu.Lock()
	f.calls = append(f.calls, action)
	f.mu.Unlock()
	if f.act != nil {
		return f.act(ctx, action, params, p)
	}
	return f.Env.Act(ctx, action, params, p)
}

func (f *fakeEnv) Metrics(ctx context.Context) (MetricReader, error) {
	if f.metrics != nil {
		return f.metrics, nil
	}
	return f.Env.Metrics(ctx)
}

func newEnv(cfg *config.Config) *OpsEnv {
	return NewOpsEnv(EnvConfig{Config: cfg, Actor: ops.Actor{User: "tester", Host: "test", Session: "t1"}})
}

func newEngine(cfg *config.Config, env Env) *Engine {
	return NewEngine(env, EngineOptions{StateDir: cfg.StateDir(), Actor: ops.Actor{User: "tester", Host: "test", Session: "t1"}, Vars: VarsFromConfig(cfg)})
}

func journal(t *testing.T, cfg *config.Config) []ops.Entry {
	t.Helper()
	j, err := ops.OpenJournal(cfg.StateDir())
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

func mustParse(t *testing.T, src string) *Runbook {
	t.Helper()
	rb, err := Parse("test.md", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return rb
}

func count(t *testing.T, cfg *config.Config, query string) int64 {
	t.Helper()
	r, err := db.OpenRead(context.Background(), cfg.Database.Path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var n int64
	if err := r.QueryRow(query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// answer is the input a test gives to each step it meets, by name; steps
// not named are ticked off (manual) or run with the confirmation.
func drive(t *testing.T, run *Run, answers map[string]StepInput) []StepResult {
	t.Helper()
	var out []StepResult
	for i := 0; !run.Done() && i < 100; i++ {
		cur, ok := run.Current()
		if !ok {
			break
		}
		in, ok := answers[cur.Step.Name]
		if !ok && cur.NeedsConfirm {
			in.Confirm = cur.ConfirmWord
		}
		res, err := run.Do(context.Background(), in, nil)
		if err != nil {
			t.Fatalf("step %q: %v", cur.Step.Name, err)
		}
		out = append(out, res)
	}
	return out
}

func TestEscalationEndToEnd(t *testing.T) {
	cfg := demoDB(t)
	cfg.Console.Escalation.Levels = []config.Contact{{Level: 3, Name: "Infra", Contact: "+1 555 0100"}, {Level: 4, Name: "Dana (DBA)", Contact: "dana@example.com"}}
	runService(t, cfg)
	cat, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := cat.Get("emergency-escalation")
	env := NewOpsEnv(EnvConfig{Config: cfg, Actor: ops.Actor{User: "tester", Host: "test", Session: "t1"},
		Metrics: func(context.Context) (MetricReader, error) {
			return MetricMap{"api_error_rate": {Value: 3.2, State: "critical"}}, nil
		}})
	run, err := newEngine(cfg, env).Start(rb)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	if cur, _ := run.Current(); cur.Step.Name != "Level 1: gather system state" {
		t.Fatalf("first step %q", cur.Step.Name)
	}
	page := run.Runbook().Steps[run.Runbook().StepIndex("Level 3: page infrastructure team")]
	if !strings.Contains(page.Text, "Infra +1 555 0100") {
		t.Errorf("level 3 step does not name the configured contact: %q", page.Text)
	}
	results := drive(t, run, map[string]StepInput{
		"Decide the severity":              {Note: "critical: api_error_rate 3.2% > 1%"},
		"Page on-call engineer":            {Note: "paged alice via opsgenie at 03:12"},
		"On-call engineer answered":        {Note: "alice answered 03:15"},
		"Level 4: database administrator":  {Skip: true, Reason: "not a database problem"},
		"Level 5: incident commander":      {Skip: true, Reason: "resolved at level 3"},
		"Document response and resolution": {Note: "bad deploy rolled back"},
	})
	if st := run.State(); st.Status != RunFinished {
		t.Fatalf("run %s: %s", st.Status, st.Note)
	}
	if len(results) != len(rb.Steps) {
		t.Errorf("%d results for %d steps", len(results), len(rb.Steps))
	}
	if g := results[0]; g.Outcome != Done || g.Figures["api_error_rate"] != 3.2 || g.Figures["appeals_rows"] < 3000 {
		t.Errorf("gather_state: %+v", g)
	}
	var paged, answered, skipped, end bool
	for _, e := range journal(t, cfg) {
		if e.RunID != run.ID() {
			continue
		}
		switch {
		case e.Step == "Page on-call engineer" && e.Outcome == ops.OutcomeOK && e.Params["note"] == "paged alice via opsgenie at 03:12":
			paged = true
		case e.Step == "On-call engineer answered" && e.Outcome == ops.OutcomeOK && e.Params["note"] == "alice answered 03:15":
			answered = !e.Time.IsZero()
		case e.Step == "Level 4: database administrator" && e.Outcome == ops.OutcomeSkipped && e.Params["reason"] == "not a database problem":
			skipped = true
		case e.Action == "runbook.end" && e.Outcome == ops.OutcomeOK:
			end = true
		}
		if e.Actor.User != "tester" {
			t.Errorf("entry by %q", e.Actor.User)
		}
	}
	if !paged || !answered || !skipped || !end {
		t.Errorf("journal: paged %v answered %v skipped %v end %v", paged, answered, skipped, end)
	}
}

func TestArchiveEndToEnd(t *testing.T) {
	cfg := demoDB(t)
	svc := runService(t, cfg)
	old := `SELECT COUNT(*) FROM appeals WHERE created_at < datetime('now', '-1 year') AND status IN ('approved','denied','expired')`
	before := count(t, cfg, old)
	if before == 0 {
		t.Fatal("the demo database has no appeals older than a year")
	}
	rb := mustParse(t, `---
id: archive-test
title: Archive
severity: info
when: [disk_free]
---
## Rows to archive
`+"```repops"+`
query: "`+old+`"
expect: {min: 1}
`+"```"+`

## Archive appeals older than 1 year
`+"```repops"+`
action: archive
params: {appeals_older_than: 365d, messages_older_than: 182d, batch_rows: 500}
confirm: typed
expect: {figure: verified, min: 1}
`+"```"+`

## Nothing left behind
`+"```repops"+`
query: "`+old+`"
expect: {value: "0"}
`+"```"+`
`)
	run, err := newEngine(cfg, newEnv(cfg)).Start(rb)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	var events int
	var mu sync.Mutex
	for !run.Done() {
		cur, _ := run.Current()
		res, err := run.Do(context.Background(), StepInput{Confirm: cur.ConfirmWord}, func(ops.ProgressEvent) { mu.Lock(); events++; mu.Unlock() })
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome == Failed {
			t.Fatalf("step %q failed: %v (%s)", res.Step, res.Err, res.Message)
		}
		if res.Kind == Action && res.Figures["rows"] < float64(before) {
			t.Errorf("archived %v rows, want at least %d", res.Figures["rows"], before)
		}
	}
	if run.State().Status != RunFinished {
		t.Fatalf("run %s", run.State().Status)
	}
	if n := count(t, cfg, `SELECT COUNT(*) FROM appeals_archive`); n < before {
		t.Errorf("appeals_archive has %d rows, want >= %d", n, before)
	}
	if events == 0 {
		t.Error("no progress event was forwarded")
	}
	if st := svc.Stats(); st.WriteErrors != 0 {
		t.Errorf("the service's writes failed during the archive: %d (%s)", st.WriteErrors, st.LastError)
	}
}

// A check that tries to write is refused by the parser, by the engine for
// a runbook built in code, and by SQLite on the read-only connection.
func TestCheckCannotWrite(t *testing.T) {
	cfg := demoDB(t)
	before := count(t, cfg, "SELECT COUNT(*) FROM appeals")
	writes := []string{
		"DELETE FROM appeals",
		"INSERT INTO appeals (user_id, reason, status, created_at, updated_at) VALUES ('x','y','pending','2020-01-01 00:00:00','2020-01-01 00:00:00')",
		"PRAGMA user_version = 42",
		"ATTACH '" + filepath.Join(filepath.Dir(cfg.Database.Path), "evil.db") + "' AS evil",
		"CREATE TABLE evil (a)",
	}
	for _, q := range writes {
		t.Run("parse "+strings.Fields(q)[0], func(t *testing.T) {
			src := goodHeader + "## W\n```repops\nquery: \"" + strings.ReplaceAll(q, `"`, `\"`) + "\"\n```\n"
			if _, err := Parse("w.md", []byte(src)); err == nil || !strings.Contains(err.Error(), "read-only") {
				t.Errorf("parse accepted %q: %v", q, err)
			}
		})
		t.Run("engine "+strings.Fields(q)[0], func(t *testing.T) {
			rb := &Runbook{ID: "w", Title: "W", Steps: []Step{{Name: "W", Kind: Check, Query: q, OnFailure: OnFailure{Mode: Stop}}}}
			run, err := newEngine(cfg, newEnv(cfg)).Start(rb)
			if err != nil {
				t.Fatal(err)
			}
			defer run.Close()
			res, err := run.Do(context.Background(), StepInput{}, nil)
			if err != nil || res.Outcome != Failed || !errors.Is(res.Err, ErrWriteSQL) {
				t.Errorf("engine ran %q: %+v, %v", q, res, err)
			}
		})
		t.Run("sqlite "+strings.Fields(q)[0], func(t *testing.T) {
			r, err := db.OpenRead(context.Background(), cfg.Database.Path, db.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if _, err := QueryReadOnly(context.Background(), r, cfg.Database.Path, q); err == nil {
				// ATTACH may be refused only on first use; prove nothing was made.
				if _, serr := os.Stat(filepath.Join(filepath.Dir(cfg.Database.Path), "evil.db")); serr == nil {
					t.Errorf("the read-only connection ran %q and created a file", q)
				} else if !strings.HasPrefix(q, "ATTACH") {
					t.Errorf("the read-only connection ran %q", q)
				}
			}
		})
	}
	if after := count(t, cfg, "SELECT COUNT(*) FROM appeals"); after != before {
		t.Errorf("appeals %d -> %d", before, after)
	}
	if v := count(t, cfg, "PRAGMA user_version"); v == 42 {
		t.Error("user_version was changed")
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(cfg.Database.Path), "evil.db")); err == nil {
		t.Error("ATTACH created evil.db")
	}
}

const destructiveRunbook = `---
id: resume-test
title: Resume test
severity: info
when: [x]
---
## Look
Look at the dashboard.

## Count
` + "```repops" + `
query: SELECT COUNT(*) FROM appeals
expect: {min: 1}
` + "```" + `

## Vacuum it
` + "```repops" + `
action: vacuum
confirm: typed
` + "```" + `

## After
Tick.
`

// A typed confirmation that does not match, or none, runs nothing and
// changes nothing: not the database, not the run state, not the journal.
func TestConfirmationMismatch(t *testing.T) {
	cfg := demoDB(t)
	env := &fakeEnv{Env: newEnv(cfg), act: func(context.Context, string, map[string]string, ops.Progress) (ActionResult, error) {
		return ActionResult{Message: "vacuumed"}, nil
	}}
	run, err := newEngine(cfg, env).Start(mustParse(t, destructiveRunbook))
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	drive1 := func(in StepInput) {
		if _, err := run.Do(context.Background(), in, nil); err != nil {
			t.Fatal(err)
		}
	}
	drive1(StepInput{})
	drive1(StepInput{})
	cur, _ := run.Current()
	if !cur.NeedsConfirm || cur.ConfirmWord != "architect.db" {
		t.Fatalf("current %+v", cur)
	}
	stateFile := statePath(cfg.StateDir(), run.ID())
	stateBefore, _ := os.ReadFile(stateFile)
	journalBefore := len(journal(t, cfg))
	for _, c := range []struct {
		name    string
		confirm string
		want    error
	}{
		{"wrong name", "architect", ErrConfirmMismatch},
		{"other database", "other.db", ErrConfirmMismatch},
		{"case differs", "Architect.db", ErrConfirmMismatch},
		{"empty is cancel", "", ErrCancelled},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := run.Do(context.Background(), StepInput{Confirm: c.confirm}, nil)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), "nothing was run") {
				t.Errorf("error does not say nothing was run: %v", err)
			}
		})
	}
	if len(env.calls) != 0 {
		t.Errorf("actions ran: %v", env.calls)
	}
	if after, _ := os.ReadFile(stateFile); string(after) != string(stateBefore) {
		t.Error("the run state changed")
	}
	if n := len(journal(t, cfg)); n != journalBefore {
		t.Errorf("journal grew from %d to %d entries", journalBefore, n)
	}
	if cur2, _ := run.Current(); cur2.Index != cur.Index {
		t.Errorf("the run moved to step %d", cur2.Index)
	}
	t.Run("skip needs a reason", func(t *testing.T) {
		if _, err := run.Do(context.Background(), StepInput{Skip: true}, nil); !errors.Is(err, ErrNeedReason) {
			t.Errorf("err = %v", err)
		}
	})
	drive1(StepInput{Confirm: "architect.db"})
	if len(env.calls) != 1 || env.calls[0] != "vacuum" {
		t.Errorf("calls %v", env.calls)
	}
}

// A run whose process dies in the middle of a destructive step resumes at
// that step, which is re-offered and not re-run without an explicit
// re-run confirmation.
func TestResumeAfterCrash(t *testing.T) {
	cfg := demoDB(t)
	var ran int
	env := &fakeEnv{Env: newEnv(cfg)}
	env.act = func(context.Context, string, map[string]string, ops.Progress) (ActionResult, error) {
		ran++
		if ran == 1 {
			runtime.Goexit() // the process "dies" inside the action
		}
		return ActionResult{Message: "vacuumed"}, nil
	}
	run, err := newEngine(cfg, env).Start(mustParse(t, destructiveRunbook))
	if err != nil {
		t.Fatal(err)
	}
	id := run.ID()
	if _, err := run.Do(context.Background(), StepInput{Note: "looked"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := run.Do(context.Background(), StepInput{}, nil); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = run.Do(context.Background(), StepInput{Confirm: "architect.db"}, nil)
	}()
	<-done
	run.Close() // the kernel drops a dead process's flock

	t.Run("a second process cannot drive a held run", func(t *testing.T) {
		r1, err := newEngine(cfg, env).Resume(id, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r1.Close()
		if _, err := newEngine(cfg, env).Resume(id, nil); err == nil || !strings.Contains(err.Error(), "another repops") {
			t.Errorf("second resume: %v", err)
		}
	})

	e2 := newEngine(cfg, env)
	run2, err := e2.Resume("", nil) // the newest resumable run
	if err != nil {
		t.Fatal(err)
	}
	defer run2.Close()
	if run2.ID() != id {
		t.Fatalf("resumed %s, want %s", run2.ID(), id)
	}
	cur, ok := run2.Current()
	if !ok || cur.Step.Name != "Vacuum it" || !cur.Interrupted {
		t.Fatalf("current = %+v", cur)
	}
	if st := run2.State(); st.Steps[0].Outcome != Done || st.Steps[0].Note != "looked" || st.Steps[1].Outcome != Passed {
		t.Errorf("earlier steps lost: %+v", st.Steps[:2])
	}
	if _, err := run2.Do(context.Background(), StepInput{Confirm: "architect.db"}, nil); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("re-ran an interrupted destructive step without Rerun: %v", err)
	}
	if ran != 1 {
		t.Fatalf("action ran %d times", ran)
	}
	res, err := run2.Do(context.Background(), StepInput{Confirm: "architect.db", Rerun: true}, nil)
	if err != nil || res.Outcome != Done || ran != 2 {
		t.Fatalf("rerun: %+v %v (ran %d)", res, err, ran)
	}
	if _, err := run2.Do(context.Background(), StepInput{}, nil); err != nil {
		t.Fatal(err)
	}
	if st := run2.State(); st.Status != RunFinished {
		t.Errorf("status %s", st.Status)
	}
	if _, err := e2.Resume(id, nil); err == nil || !strings.Contains(err.Error(), "finished") {
		t.Errorf("resumed a finished run: %v", err)
	}
}

func TestOnFailure(t *testing.T) {
	cfg := demoDB(t)
	rb := mustParse(t, `---
id: flow
title: Flow
severity: info
when: [x]
---
## Error rate
`+"```repops"+`
metric: appeal_error_rate
below: 5
on_failure: continue
`+"```"+`

## No data
`+"```repops"+`
metric: missing_panel
state_not: critical
on_failure: {goto: Fix}
`+"```"+`

## Unreached
Never offered.

## Fix
Fix it.

## Must fail
`+"```repops"+`
query: SELECT COUNT(*) FROM appeals
expect: {rows: 0}
`+"```"+`

## After
Not reached.
`)
	env := &fakeEnv{Env: newEnv(cfg), metrics: MetricMap{"appeal_error_rate": {Value: 7.5, State: "critical"}}}
	run, err := newEngine(cfg, env).Start(rb)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	var names []string
	var outcomes []Outcome
	for !run.Done() {
		res, err := run.Do(context.Background(), StepInput{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, res.Step)
		outcomes = append(outcomes, res.Outcome)
	}
	want := "Error rate,No data,Fix,Must fail"
	if got := strings.Join(names, ","); got != want {
		t.Errorf("steps %s, want %s", got, want)
	}
	if outcomes[0] != Failed || outcomes[1] != Failed || outcomes[2] != Done || outcomes[3] != Failed {
		t.Errorf("outcomes %v", outcomes)
	}
	st := run.State()
	if st.Status != RunFailed || st.CurrentStep() != "Must fail" {
		t.Errorf("status %s at %q", st.Status, st.CurrentStep())
	}
	if _, err := run.Do(context.Background(), StepInput{}, nil); !errors.Is(err, ErrRunOver) {
		t.Errorf("Do on a failed run: %v", err)
	}
	// A failed run resumes at the failed step.
	run.Close()
	r2, err := newEngine(cfg, env).Resume(st.RunID, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if cur, _ := r2.Current(); cur.Step.Name != "Must fail" {
		t.Errorf("resumed at %q", cur.Step.Name)
	}
	if err := r2.Abort(""); !errors.Is(err, ErrNeedReason) {
		t.Errorf("abort without reason: %v", err)
	}
	if err := r2.Abort("test over"); err != nil {
		t.Fatal(err)
	}
	if _, err := newEngine(cfg, env).Resume(st.RunID, nil); err == nil {
		t.Error("an aborted run resumed")
	}
}

// Every catalogue runbook dry-runs against a real database without
// changing it: Plan reads nothing, and the file stays byte for byte.
func TestDryRunChangesNothing(t *testing.T) {
	cfg := demoDB(t)
	before, err := os.ReadFile(cfg.Database.Path)
	if err != nil {
		t.Fatal(err)
	}
	cat, _ := Builtin()
	for _, rb := range cat.List() {
		if len(Plan(rb, cfg.Database.Path)) == 0 {
			t.Errorf("%s: empty plan", rb.ID)
		}
	}
	after, _ := os.ReadFile(cfg.Database.Path)
	if string(after) != string(before) {
		t.Error("the dry run changed the database")
	}
	if runs, _ := ListRuns(cfg.StateDir()); len(runs) != 0 {
		t.Errorf("the dry run left %d runs", len(runs))
	}
}

// The backup runbook, then the restore runbook, end to end while the
// simulated service writes: the restored database is the backup's, the
// run finishes, and the journal has the restore step with its figures.
func TestBackupThenRestoreEndToEnd(t *testing.T) {
	cfg := demoDB(t)
	svc := runService(t, cfg)
	cat, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	env := newEnv(cfg)
	for _, id := range []string{"backup", "restore-from-backup"} {
		rb, _ := cat.Get(id)
		run, err := newEngine(cfg, env).Start(rb)
		if err != nil {
			t.Fatal(err)
		}
		results := drive(t, run, map[string]StepInput{
			"Announce the restore": {Note: "told #reputation-incidents"},
			"Stop services":        {Skip: true, Reason: "online restore under the simulated service"},
			"Start services":       {Skip: true, Reason: "not stopped"},
		})
		run.Close()
		for _, r := range results {
			if r.Outcome == Failed {
				t.Fatalf("%s: step %q failed: %v (%s)", id, r.Step, r.Err, r.Message)
			}
		}
		if st := run.State(); st.Status != RunFinished {
			t.Fatalf("%s: %s: %s", id, st.Status, st.Note)
		}
		if id == "backup" {
			// Let the service write past the backup.
			w := svc.Stats().Writes
			for i := 0; i < 200 && svc.Stats().Writes < w+3; i++ {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	var restored bool
	for _, e := range journal(t, cfg) {
		if e.Step == "Restore the database" && e.Outcome == ops.OutcomeOK && e.Figures["appeals_rows"] > 0 {
			restored = true
		}
	}
	if !restored {
		t.Error("no journal entry for the restore step with its figures")
	}
}

// Metric conditions read the metrics engine's snapshot of the running
// service, through SnapshotReader.
func TestMetricCheckAgainstService(t *testing.T) {
	cfg := demoDB(t)
	svc := runService(t, cfg)
	me, err := metrics.NewEngine(metrics.EngineOptions{MetricsURL: svc.MetricsURL(), DatabasePath: cfg.Database.Path})
	if err != nil {
		t.Fatal(err)
	}
	defer me.Close()
	env := NewOpsEnv(EnvConfig{Config: cfg, Actor: ops.Actor{User: "tester", Host: "test"},
		Metrics: func(ctx context.Context) (MetricReader, error) { return SnapshotReader(me.Cycle(ctx)), nil }})
	rb := mustParse(t, goodHeader+"## Up\n```repops\nmetric: service_up\nabove: 0.5\nstate_not: critical\n```\n"+
		"## Down\n```repops\nmetric: service_up\nbelow: 0.5\non_failure: continue\n```\n"+
		"## Missing\n```repops\nmetric: no_such_panel\nstate: ok\non_failure: continue\n```\n")
	run, err := newEngine(cfg, env).Start(rb)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	want := []Outcome{Passed, Failed, Failed}
	for i := 0; !run.Done(); i++ {
		res, err := run.Do(context.Background(), StepInput{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != want[i] {
			t.Errorf("step %q: %s (%s, %v), want %s", res.Step, res.Outcome, res.Message, res.Err, want[i])
		}
		if i == 2 && (res.Err == nil || !strings.Contains(res.Err.Error(), "no data")) {
			t.Errorf("missing panel: %v", res.Err)
		}
	}
}
