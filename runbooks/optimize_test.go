package runbooks

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/repops/repops/config"
	"github.com/repops/repops/db"
	"github.com/repops/repops/ops"
)

// Every name of the action catalogue runs a procedure, and every
// optimisation action is one of ops' optimisations.
func TestEveryActionIsWired(t *testing.T) {
	env := newEnv(testConfig(t, "/nonexistent/architect.db"))
	for _, name := range ActionNames() {
		if env.acts[name] == nil {
			t.Errorf("action %s has no procedure", name)
		}
	}
	for name := range env.acts {
		if _, ok := Actions()[name]; !ok {
			t.Errorf("procedure %s is not in the action catalogue", name)
		}
	}
	for _, name := range []string{"analyze", "optimize", "reindex", "vacuum", "incremental_vacuum", "checkpoint"} {
		if _, ok := optimizeOp(name); !ok {
			t.Errorf("action %s is not an ops optimisation", name)
		}
	}
	if _, ok := optimizeOp("backup"); ok {
		t.Error("backup taken for an optimisation")
	}
}

// yesInput is the answer 'repops runbook run --yes' gives: manual steps
// acknowledged, destructive ones confirmed, the rest run as they are.
func yesInput(cur Current) StepInput {
	switch {
	case cur.Step.Kind == Manual:
		return StepInput{Note: "acknowledged by --yes"}
	case cur.NeedsConfirm:
		return StepInput{Confirm: cur.ConfirmWord, Note: "confirmed by --yes"}
	}
	return StepInput{}
}

// execSQL changes a test database directly.
func execSQL(t *testing.T, cfg *config.Config, query string) {
	t.Helper()
	w, err := db.OpenWrite(context.Background(), cfg.Database.Path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Exec(query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// The catalogue runbooks that run the optimisations and the index actions
// run through unattended (--yes) on a small demo database: no step fails,
// each optimisation reports its time and the cost it said before, and ops
// journals each procedure's start and end.
func TestCatalogueRunsHeadless(t *testing.T) {
	healthy := MetricMap{
		"negotiation_duration":  {Value: 20, State: "ok"},
		"appeal_processing_p95": {Value: 120, State: "ok"},
	}
	cases := []struct {
		id    string
		setup func(t *testing.T, cfg *config.Config, env *OpsEnv)
		// check looks at the results, by step name.
		check func(t *testing.T, cfg *config.Config, res map[string]StepResult)
	}{
		{id: "database-optimization", check: func(t *testing.T, _ *config.Config, res map[string]StepResult) {
			if f := res["Vacuum (optimize file)"].Figures; f["free_pages_after"] != 0 {
				t.Errorf("free pages after VACUUM: %v", f)
			}
			if f := res["Checkpoint the WAL"].Figures; f["busy"] != 0 {
				t.Errorf("checkpoint busy with nothing else running: %v", f)
			}
		}},
		{id: "high-negotiation-latency"},
		{id: "high-cpu-usage", check: func(t *testing.T, _ *config.Config, res map[string]StepResult) {
			if f := res["Add indexes"].Figures; f["created"] != 0 || f["present"] != 4 {
				t.Errorf("create_index with every critical index present: %v (%s)", f, res["Add indexes"].Message)
			}
		}},
		{id: "performance-tuning",
			setup: func(t *testing.T, cfg *config.Config, _ *OpsEnv) {
				execSQL(t, cfg, "DROP INDEX idx_appeals_user_status")
			},
			check: func(t *testing.T, cfg *config.Config, res map[string]StepResult) {
				if f := res["Index check"].Figures; f["critical_missing"] != 1 {
					t.Errorf("index report with idx_appeals_user_status dropped: %v (%s)", f, res["Index check"].Message)
				}
				if f := res["Add missing critical indexes"].Figures; f["created"] != 1 {
					t.Errorf("create_index: %v (%s)", f, res["Add missing critical indexes"].Message)
				}
				if n := count(t, cfg, "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'index' AND name = 'idx_appeals_user_status'"); n != 1 {
					t.Error("idx_appeals_user_status was not created")
				}
			}},
		{id: "data-archival", check: func(t *testing.T, _ *config.Config, res map[string]StepResult) {
			if f := res["Vacuum"].Figures; f["pages_freed"] <= 0 {
				t.Errorf("VACUUM after the archival freed no pages: %v", f)
			}
		}},
		{id: "weekly-maintenance",
			setup: func(t *testing.T, _ *config.Config, env *OpsEnv) {
				if _, err := env.Act(context.Background(), "backup", nil, nil); err != nil {
					t.Fatalf("backup for the weekly checklist: %v", err)
				}
			}},
		{id: "monthly-maintenance"},
	}
	cat, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.id, func(t *testing.T) {
			cfg := demoDB(t)
			env := NewOpsEnv(EnvConfig{Config: cfg, Actor: ops.Actor{User: "tester", Host: "test", Session: "t1"},
				Metrics: func(context.Context) (MetricReader, error) { return healthy, nil }})
			if tc.setup != nil {
				tc.setup(t, cfg, env)
			}
			rb, ok := cat.Get(tc.id)
			if !ok {
				t.Fatalf("no runbook %s", tc.id)
			}
			run, err := newEngine(cfg, env).Start(rb)
			if err != nil {
				t.Fatal(err)
			}
			defer run.Close()
			var mu sync.Mutex
			events := map[string]int{}
			results := map[string]StepResult{}
			for i := 0; !run.Done() && i < 2*len(rb.Steps); i++ {
				cur, _ := run.Current()
				res, err := run.Do(context.Background(), yesInput(cur), func(e ops.ProgressEvent) {
					mu.Lock()
					events[cur.Step.Action]++
					mu.Unlock()
				})
				if err != nil {
					t.Fatalf("step %q: %v", cur.Step.Name, err)
				}
				if res.Outcome == Failed {
					t.Errorf("step %q failed: %v (%s)", res.Step, res.Err, res.Message)
				}
				results[res.Step] = res
			}
			if st := run.State(); st.Status != RunFinished {
				t.Fatalf("run %s: %s", st.Status, st.Note)
			}
			want := map[string]int{} // ops journal entries expected, by action
			for _, s := range rb.Steps {
				if _, ok := optimizeOp(s.Action); !ok {
					continue
				}
				op, _ := optimizeOp(s.Action)
				want["optimize."+string(op)]++
				f := results[s.Name].Figures
				for _, k := range []string{"seconds", "estimated_lock_seconds", "db_bytes_before", "db_bytes_after", "pages_freed"} {
					if _, ok := f[k]; !ok {
						t.Errorf("step %q (%s) reports no %s: %v", s.Name, s.Action, k, f)
					}
				}
				if d := results[s.Name].Details; len(d) < 2 || !strings.Contains(strings.Join(d, "\n"), "write lock") {
					t.Errorf("step %q does not show the cost it said before: %q", s.Name, d)
				}
				if events[s.Action] == 0 {
					t.Errorf("step %q forwarded no progress", s.Name)
				}
			}
			got := map[string][2]int{}
			for _, e := range journal(t, cfg) {
				n := got[e.Action]
				switch e.Outcome {
				case ops.OutcomeStarted:
					n[0]++
				case ops.OutcomeOK:
					n[1]++
				}
				got[e.Action] = n
			}
			for action, n := range want {
				if got[action][0] < n || got[action][1] < n {
					t.Errorf("journal has %d start(s) and %d ok end(s) of %s, want %d each", got[action][0], got[action][1], action, n)
				}
			}
			if tc.check != nil {
				tc.check(t, cfg, results)
			}
		})
	}
}

// The dry run with costs reads the database and shows, for each
// optimisation and index step, how long it would hold the write lock and
// what it would change; it writes nothing (file, journal, runs, lock).
func TestPlanWithCosts(t *testing.T) {
	cfg := demoDB(t)
	execSQL(t, cfg, "DROP INDEX idx_predictions_type_user")
	before, err := os.ReadFile(cfg.Database.Path)
	if err != nil {
		t.Fatal(err)
	}
	cat, _ := Builtin()
	env := newEnv(cfg)
	for _, id := range []string{"database-optimization", "performance-tuning", "data-archival"} {
		rb, _ := cat.Get(id)
		for _, p := range PlanWithCosts(context.Background(), rb, env) {
			s := rb.Steps[p.Index]
			_, isOpt := optimizeOp(s.Action)
			switch {
			case !isOpt && s.Action != "create_index":
				if p.Cost != nil {
					t.Errorf("%s: step %q (%s) has a cost: %+v", id, p.Name, s.Kind, p.Cost)
				}
			case p.Cost == nil || p.Cost.Err != "":
				t.Errorf("%s: step %q: no estimate: %+v", id, p.Name, p.Cost)
			case !strings.Contains(p.Changes, "write lock") || !strings.Contains(p.Changes, "on this database now"):
				t.Errorf("%s: step %q: changes %q say nothing of the write lock", id, p.Name, p.Changes)
			case s.Action == "vacuum" && (p.Cost.LockHold <= 0 || p.Cost.Refused != "" || len(p.Cost.Lines) < 3):
				t.Errorf("%s: vacuum estimate %+v", id, p.Cost)
			case s.Action == "create_index" && !strings.Contains(p.Cost.Summary, "creates idx_predictions_type_user"):
				t.Errorf("%s: create_index estimate %q, want it to create the dropped idx_predictions_type_user", id, p.Cost.Summary)
			}
		}
	}
	rb := mustParse(t, goodHeader+"## Rebuild a missing index\n```repops\naction: reindex\nparams: {target: no_such_index}\nconfirm: typed\n```\n")
	if p := PlanWithCosts(context.Background(), rb, env)[0]; p.Cost == nil || !strings.Contains(p.Cost.Err, "no_such_index") {
		t.Errorf("reindex of an unknown index: plan cost %+v", p.Cost)
	}
	after, _ := os.ReadFile(cfg.Database.Path)
	if string(after) != string(before) {
		t.Error("the dry run changed the database")
	}
	if es := journal(t, cfg); len(es) != 0 {
		t.Errorf("the dry run journalled %d entries", len(es))
	}
	if l, ok, _ := ops.ReadLock(cfg.StateDir()); ok && l != nil {
		t.Errorf("the dry run left the procedure lock: %+v", l)
	}
}

// Reindex end to end while the simulated service writes: the typed
// confirmation first (an empty one runs nothing), then REINDEX of every
// index and of one, the service's writes never fail, integrity is ok
// after, and the journal has the step's and the procedure's start and end.
func TestReindexEndToEnd(t *testing.T) {
	cfg := demoDB(t)
	svc := runService(t, cfg)
	rb := mustParse(t, `---
id: reindex-test
title: Reindex
severity: info
when: [wal_size]
---
## Integrity before
`+"```repops"+`
action: check
params: {mode: quick}
`+"```"+`

## Rebuild every index
`+"```repops"+`
action: reindex
confirm: typed
expect: {figure: seconds, min: 0}
`+"```"+`

## Rebuild the thread index
`+"```repops"+`
action: reindex
params: {target: idx_messages_appeal_created}
confirm: typed
`+"```"+`

## Integrity after
`+"```repops"+`
query: PRAGMA integrity_check
expect: {value: ok}
`+"```"+`
`)
	env := newEnv(cfg)
	run, err := newEngine(cfg, env).Start(rb)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	writes := svc.Stats().Writes
	var mu sync.Mutex
	events := 0
	progress := func(ops.ProgressEvent) { mu.Lock(); events++; mu.Unlock() }
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		if events == 0 {
			t.Error("no progress event was forwarded")
		}
	}()
	for !run.Done() {
		cur, _ := run.Current()
		if cur.NeedsConfirm && cur.Step.Name == "Rebuild every index" {
			if _, err := run.Do(context.Background(), StepInput{}, progress); !errors.Is(err, ErrCancelled) {
				t.Fatalf("reindex without the typed confirmation: %v", err)
			}
			for _, e := range journal(t, cfg) {
				if e.Action == "optimize.reindex" || e.Step == cur.Step.Name {
					t.Fatalf("a cancelled reindex was journalled: %+v", e)
				}
			}
		}
		res, err := run.Do(context.Background(), StepInput{Confirm: cur.ConfirmWord}, progress)
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome == Failed {
			t.Fatalf("step %q failed: %v (%s)", res.Step, res.Err, res.Message)
		}
		if res.Kind == Action && res.Step != "Integrity before" {
			if _, ok := res.Figures["estimated_lock_seconds"]; !ok {
				t.Errorf("step %q: no estimated write lock among %v", res.Step, res.Figures)
			}
		}
	}
	if st := run.State(); st.Status != RunFinished {
		t.Fatalf("run %s: %s", st.Status, st.Note)
	}
	// The service goes on writing after the rebuilds.
	for i := 0; i < 200 && svc.Stats().Writes < writes+3; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if st := svc.Stats(); st.WriteErrors != 0 || st.Writes < writes+3 {
		t.Errorf("the service's writes during the reindex: %d failed (%s), %d committed since the start", st.WriteErrors, st.LastError, st.Writes-writes)
	}
	var stepStart, stepEnd, opStart, opEnd, targetEnd, runEnd int
	for _, e := range journal(t, cfg) {
		switch {
		case e.RunID == run.ID() && strings.HasPrefix(e.Step, "Rebuild") && e.Outcome == ops.OutcomeStarted:
			stepStart++
		case e.RunID == run.ID() && strings.HasPrefix(e.Step, "Rebuild") && e.Outcome == ops.OutcomeOK:
			stepEnd++
		case e.Action == "optimize.reindex" && e.Outcome == ops.OutcomeStarted:
			opStart++
		case e.Action == "optimize.reindex" && e.Outcome == ops.OutcomeOK:
			opEnd++
			if e.Params["target"] == "idx_messages_appeal_created" {
				targetEnd++
			}
			if _, ok := e.Figures["took_seconds"]; !ok {
				t.Errorf("optimize.reindex entry without its figures: %v", e.Figures)
			}
		case e.RunID == run.ID() && e.Action == "runbook.end" && e.Outcome == ops.OutcomeOK:
			runEnd++
		}
	}
	if stepStart != 2 || stepEnd != 2 || opStart != 2 || opEnd != 2 || targetEnd != 1 || runEnd != 1 {
		t.Errorf("journal: steps %d started %d ended, reindex %d started %d ended (%d of the one index), run ended %d; want 2 2 2 2 1 1",
			stepStart, stepEnd, opStart, opEnd, targetEnd, runEnd)
	}
	r, err := db.OpenRead(context.Background(), cfg.Database.Path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var ic string
	if err := r.QueryRow("PRAGMA integrity_check").Scan(&ic); err != nil || ic != "ok" {
		t.Errorf("integrity_check after the reindex: %q %v", ic, err)
	}
}

// Each optimisation action with its parameters, through the real Env on a
// demo database: its figures, its refusals, and read-only mode.
func TestOptimisationActions(t *testing.T) {
	cfg := demoDB(t)
	env := newEnv(cfg)
	ctx := context.Background()
	// Incremental vacuum needs auto_vacuum=incremental and free pages.
	if _, err := ops.Optimize(ctx, ops.OptimizeOptions{DBPath: cfg.Database.Path, Op: ops.OpEnableIncremental,
		Recorder: ops.Recorder{StateDir: cfg.StateDir(), Actor: ops.Actor{User: "tester"}}}, nil); err != nil {
		t.Fatal(err)
	}
	execSQL(t, cfg, "DELETE FROM ml_predictions")
	cases := []struct {
		action  string
		params  map[string]string
		figures map[string]float64 // exact values wanted
		err     string             // part of the error wanted
	}{
		{action: "analyze", params: map[string]string{"target": "appeals", "analysis_limit": "100"}},
		{action: "optimize"},
		{action: "reindex", params: map[string]string{"target": "ml_predictions"}},
		{action: "reindex", params: map[string]string{"target": "no_such_table"}, err: "no_such_table"},
		{action: "incremental_vacuum", params: map[string]string{"step_pages": "16", "max_pages": "64"}, figures: map[string]float64{"pages_freed": 64}},
		{action: "checkpoint", figures: map[string]float64{"busy": 0}},
		{action: "vacuum", figures: map[string]float64{"free_pages_after": 0}},
		{action: "index_report", figures: map[string]float64{"critical_missing": 0, "duplicates": 0, "full_scans": 0}},
		{action: "create_index", params: map[string]string{"index": "idx_appeals_created"}, figures: map[string]float64{"created": 0, "present": 1}},
	}
	for _, tc := range cases {
		t.Run(tc.action+paramsText(tc.params), func(t *testing.T) {
			var events int
			res, err := env.Act(ctx, tc.action, tc.params, func(ops.ProgressEvent) { events++ })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v (%s)", err, res.Message)
			}
			for k, v := range tc.figures {
				if got, ok := res.Figures[k]; !ok || got != v {
					t.Errorf("figure %s = %v (present %v), want %v; all: %v", k, got, ok, v, res.Figures)
				}
			}
			if _, ok := optimizeOp(tc.action); ok {
				if _, ok := res.Figures["estimated_lock_seconds"]; !ok || events == 0 {
					t.Errorf("no estimated write lock (%v) or no progress (%d events)", res.Figures, events)
				}
			}
		})
	}
	ro := NewOpsEnv(EnvConfig{Config: cfg, ReadOnly: true, Actor: ops.Actor{User: "tester"}})
	for _, a := range []string{"analyze", "optimize", "reindex", "vacuum", "incremental_vacuum", "checkpoint", "create_index"} {
		if _, err := ro.Act(ctx, a, nil, nil); !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s in read-only mode: %v", a, err)
		}
	}
	if _, err := ro.Act(ctx, "index_report", nil, nil); err != nil {
		t.Errorf("index_report in read-only mode: %v", err)
	}
}
