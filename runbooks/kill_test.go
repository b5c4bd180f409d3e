package runbooks

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/repops/repops/ops"
)

// TestResumeAfterKill kills (SIGKILL) a process in the middle of a
// destructive step, then resumes the run in this process: it stands at
// that step, marked interrupted, and the earlier steps keep their outcomes.
func TestResumeAfterKill(t *testing.T) {
	if os.Getenv("RUNBOOKS_KILL_CHILD") != "" {
		killChild(t)
		return
	}
	cfg := demoDB(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestResumeAfterKill$", "-test.count=1")
	cmd.Env = append(os.Environ(), "RUNBOOKS_KILL_CHILD=1", "RUNBOOKS_KILL_DB="+cfg.Database.Path, "RUNBOOKS_KILL_STATE="+cfg.StateDir())
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var runID string
	for i := 0; i < 600 && runID == ""; i++ { // at most 60 s
		time.Sleep(100 * time.Millisecond)
		runs, _ := ListRuns(cfg.StateDir())
		if len(runs) == 1 && runs[0].Steps[2].Outcome == Started {
			runID = runs[0].RunID
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if runID == "" {
		t.Fatal("the child never reached the destructive step")
	}
	var ran int
	env := &fakeEnv{Env: newEnv(cfg), act: func(context.Context, string, map[string]string, ops.Progress) (ActionResult, error) {
		ran++
		return ActionResult{Message: "vacuumed"}, nil
	}}
	run, err := newEngine(cfg, env).Resume(runID, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	cur, _ := run.Current()
	if cur.Step.Name != "Vacuum it" || !cur.Interrupted || !cur.NeedsConfirm {
		t.Fatalf("resumed at %+v", cur)
	}
	if st := run.State(); st.Steps[0].Outcome != Done || st.Steps[1].Outcome != Passed {
		t.Errorf("earlier steps: %+v", st.Steps[:2])
	}
	if _, err := run.Do(context.Background(), StepInput{Confirm: "architect.db"}, nil); err == nil || ran != 0 {
		t.Fatalf("the interrupted destructive step ran again without Rerun (ran %d): %v", ran, err)
	}
	if res, err := run.Do(context.Background(), StepInput{Confirm: "architect.db", Rerun: true}, nil); err != nil || res.Outcome != Done || ran != 1 {
		t.Fatalf("rerun: %+v, %v", res, err)
	}
	var resumed, started bool
	for _, e := range journal(t, cfg) {
		if e.RunID == runID && e.Action == "runbook.resume" {
			resumed = true
		}
		if e.RunID == runID && e.Step == "Vacuum it" && e.Outcome == ops.OutcomeStarted {
			started = true
		}
	}
	if !resumed || !started {
		t.Errorf("journal: resume %v, killed step's start %v", resumed, started)
	}
}

// killChild drives the run up to the destructive step, whose action
// blocks until the parent kills the process.
func killChild(t *testing.T) {
	cfg := testConfig(t, os.Getenv("RUNBOOKS_KILL_DB"))
	cfg.Console.StateDir = os.Getenv("RUNBOOKS_KILL_STATE")
	env := &fakeEnv{Env: newEnv(cfg), act: func(ctx context.Context, _ string, _ map[string]string, _ ops.Progress) (ActionResult, error) {
		time.Sleep(time.Minute) // killed here
		return ActionResult{}, nil
	}}
	run, err := newEngine(cfg, env).Start(mustParse(t, destructiveRunbook))
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []StepInput{{}, {}, {Confirm: filepath.Base(cfg.Database.Path)}} {
		if _, err := run.Do(context.Background(), in, nil); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("the blocking action returned")
}
