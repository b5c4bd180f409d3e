package runbooks

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/internal/testsupport"
	"github.com/repops/repops/ops"
)

// TestDrillStepMissedObjective: a runbook's drill step whose drill
// restores and verifies a backup too old for the scenario's RPO is not
// shown done (✓): the step fails with the WARNING and the misses in its
// error, and on_failure decides what comes next (here: continue to the
// review). The drill's own journal entry is a warning.
func TestDrillStepMissedObjective(t *testing.T) {
	path := testsupport.MigratedDB(t)
	cfg := testConfig(t, path)
	if _, err := ops.Backup(context.Background(), ops.BackupOptions{DBPath: path, Dir: cfg.BackupDir(),
		Now: func() time.Time { return time.Now().Add(-2 * time.Hour) }}, nil); err != nil {
		t.Fatal(err)
	}
	rb := mustParse(t, goodHeader+"## Drill\n\n```repops\naction: drill\nparams: {backup: latest}\non_failure: continue\n```\n\n## Review\n\nRead the report.\n")
	run, err := newEngine(cfg, newEnv(cfg)).Start(rb)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	res, err := run.Do(context.Background(), StepInput{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != Failed || res.Err == nil || !strings.Contains(res.Err.Error(), "WARNING") ||
		!strings.Contains(res.Err.Error(), "objective missed: RPO 5 min") {
		t.Fatalf("drill step: outcome %q err %v: want failed with the WARNING", res.Outcome, res.Err)
	}
	if !strings.Contains(res.Message, "WARNING") {
		t.Errorf("drill step message %q does not say WARNING", res.Message)
	}
	if cur, ok := run.Current(); !ok || cur.Step.Name != "Review" {
		t.Errorf("after the drill step: %+v, %v; want the review offered (on_failure: continue)", cur.Step.Name, ok)
	}
	var drill, step string
	for _, e := range journal(t, cfg) {
		switch {
		case e.Action == "drill" && e.Outcome != ops.OutcomeStarted:
			drill = e.Outcome
		case e.Action == "runbook.step" && e.Step == "Drill":
			step = e.Outcome
		}
	}
	if drill != ops.OutcomeWarning || step != ops.OutcomeFailed {
		t.Errorf("journal: drill %q, step %q; want %q and %q", drill, step, ops.OutcomeWarning, ops.OutcomeFailed)
	}
}
