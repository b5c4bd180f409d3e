package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/internal/testsupport"
	"github.com/repops/repops/metrics"
	"github.com/repops/repops/ops"
	"github.com/repops/repops/sim"
	"github.com/repops/repops/state"
)

func TestDemoCreatesThenReuses(t *testing.T) {
	dir := migTestEnv(t)
	t.Setenv("DATABASE_PATH", filepath.Join(dir, "service.db")) // not the demo's
	out, _, code, err := runRepopsCmd(t, "demo", "--appeals", "400", "--seed", "4", "--summary")
	if code != 0 {
		t.Fatalf("demo: %d %v\n%s", code, err, out)
	}
	path := filepath.Join(dir, defaultDemoPath)
	for _, want := range []string{"generating the demo database " + defaultDemoPath + ": 400 appeals, seed 4",
		"schema version 3", "schema valid (version 3, 5 tables, 8 indexes)", "NAME", "appeal_negotiation_messages"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if ok, _ := sim.IsDemo(path); !ok {
		t.Fatalf("%s is not a demo database", path)
	}
	if _, err := os.Stat(filepath.Join(dir, "service.db")); err == nil {
		t.Error("the demo touched DATABASE_PATH")
	}

	before := testsupport.SnapshotFiles(t, path)
	out, _, code, _ = runRepopsCmd(t, "demo", "--appeals", "400", "--summary")
	if code != 0 || !strings.Contains(out, "using the demo database") || strings.Contains(out, "generating") {
		t.Errorf("second run: %d\n%s", code, out)
	}
	before.AssertUnchanged(t, path)
	// --summary only prints: no backup, check or drill.
	for _, p := range []string{filepath.Join(dir, "data/demo/backups"), filepath.Join(dir, "data/demo/state")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("demo --summary created %s", p)
		}
	}

	out, _, code, _ = runRepopsCmd(t, "demo", "--appeals", "300", "--fresh", "--summary")
	if code != 0 || !strings.Contains(out, "generating the demo database") {
		t.Errorf("--fresh: %d\n%s", code, out)
	}
}

func TestDemoRefusesNonDemoFile(t *testing.T) {
	dir := migTestEnv(t)
	path := filepath.Join(dir, "architect.db")
	if _, _, code, err := runRepopsCmd(t, "--db", path, "migrate", "apply", "--create"); code != 0 {
		t.Fatal(err)
	}
	before := testsupport.SnapshotFiles(t, path)
	for _, args := range [][]string{{"demo", "--summary"}, {"demo", "--fresh", "--summary"}} {
		_, _, code, err := runRepopsCmd(t, append([]string{"--db", path}, args...)...)
		if code == 0 || err == nil || !strings.Contains(err.Error(), "is not a demo database") {
			t.Errorf("%v: exit %d, %v", args, code, err)
		}
	}
	before.AssertUnchanged(t, path)
}

// demoRun runs 'repops demo' past its preparation: the console then
// refuses to open without a terminal, which is all this test needs.
func demoRun(t *testing.T, args ...string) (stderr string) {
	t.Helper()
	_, stderr, code, err := runRepopsCmd(t, append([]string{"demo", "--appeals", "400", "--seed", "4"}, args...)...)
	if code != exitUsage || err == nil || !strings.Contains(err.Error(), "needs a terminal") {
		t.Fatalf("demo: exit %d, %v\n%s", code, err, stderr)
	}
	return stderr
}

// demoRules evaluates the rules the preparation is for, on the demo's
// state and backup dirs, as the console does.
func demoRules(t *testing.T, dir string) map[string]metrics.State {
	t.Helper()
	e, err := metrics.NewEngine(metrics.EngineOptions{DatabasePath: filepath.Join(dir, defaultDemoPath),
		StateDir: filepath.Join(dir, "data/demo/state"), BackupDir: filepath.Join(dir, "data/demo/backups")})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	snap := e.Cycle(context.Background())
	out := map[string]metrics.State{}
	for _, a := range snap.Alerts {
		switch a.Rule.Name {
		case "backup_age", "integrity_check_failed", "integrity_check_age", "dr_drill_age":
			out[a.Rule.Name] = a.State
		}
	}
	return out
}

// TestDemoStartsHealthy: before the console opens, 'repops demo' takes a
// backup, checks integrity and runs a DR drill on its own database,
// journaled, and says so in one line, so that the rules on them are ok;
// the next start reuses what is recent.
func TestDemoStartsHealthy(t *testing.T) {
	dir := migTestEnv(t)
	backups := filepath.Join(dir, "data/demo/backups")
	stateDir := filepath.Join(dir, "data/demo/state")

	stderr := demoRun(t)
	if !strings.Contains(stderr, "demo: took a backup, checked integrity and ran a DR drill so the demo starts healthy") ||
		!strings.Contains(stderr, "press S to rehearse an incident") {
		t.Errorf("first start: stderr lacks the note:\n%s", stderr)
	}
	list, err := state.ListBackups(backups)
	if err != nil || len(list) != 1 {
		t.Fatalf("backups after the first start: %v %v", list, err)
	}
	for _, f := range []string{recordFile(stateDir, "check"), recordFile(stateDir, "drill"), filepath.Join(stateDir, ops.JournalFile)} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("no %s in the demo's state dir: %v", f, err)
		}
	}
	j, err := ops.OpenJournal(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := j.Entries(time.Time{})
	j.Close()
	if err != nil {
		t.Fatal(err)
	}
	journaled := map[string]string{}
	for _, e := range entries {
		journaled[e.Action] = e.Outcome
	}
	if journaled["backup"] == "" || journaled["drill"] == "" {
		t.Errorf("journal: %v, want the backup and the drill", journaled)
	}
	for name, st := range demoRules(t, dir) {
		if st != metrics.StateOK {
			t.Errorf("rule %s is %s after the demo's preparation", name, st)
		}
	}
	drill, _ := os.Stat(recordFile(stateDir, "drill"))
	check, _ := os.Stat(recordFile(stateDir, "check"))

	stderr = demoRun(t)
	if !strings.Contains(stderr, "demo: reused the backup taken 0 min ago so the demo starts healthy") {
		t.Errorf("second start: stderr\n%s", stderr)
	}
	if list, _ := state.ListBackups(backups); len(list) != 1 {
		t.Errorf("second start took another backup: %v", list)
	}
	drill2, _ := os.Stat(recordFile(stateDir, "drill"))
	check2, _ := os.Stat(recordFile(stateDir, "check"))
	if !drill2.ModTime().Equal(drill.ModTime()) || !check2.ModTime().Equal(check.ModTime()) {
		t.Error("second start ran the drill or the check again, though both were recent")
	}
}

// TestDemoKeepsOutOfOtherBackups: when the backup dir (as a config may
// name it) holds another database's backups, the demo takes no backup and
// runs no drill there, and says why.
func TestDemoKeepsOutOfOtherBackups(t *testing.T) {
	dir := migTestEnv(t)
	backups := filepath.Join(dir, "data/demo/backups")
	other := filepath.Join(dir, "service.db")
	if _, _, code, err := runRepopsCmd(t, "--db", other, "migrate", "apply", "--create"); code != 0 {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "data/demo"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, code, err := runRepopsCmd(t, "--db", other, "backup", "--dir", backups); code != 0 {
		t.Fatal(err)
	}
	stderr := demoRun(t)
	if !strings.Contains(stderr, "took no backup: data/demo/backups holds backups of another database (service_") {
		t.Errorf("stderr lacks why no backup was taken:\n%s", stderr)
	}
	if !strings.Contains(stderr, "checked integrity") || strings.Contains(stderr, "DR drill") {
		t.Errorf("want the check and no drill:\n%s", stderr)
	}
	if list, _ := state.ListBackups(backups); len(list) != 1 {
		t.Errorf("the demo added to another database's backups: %v", list)
	}
	if _, err := os.Stat(recordFile(filepath.Join(dir, "data/demo/state"), "drill")); err == nil {
		t.Error("a drill ran on another database's backup")
	}
}

// recordFile is the state dir's record of kind (check, drill) of the one
// database recorded there (state.CheckRecordPath), "" when there is none.
func recordFile(stateDir, kind string) string {
	m, _ := filepath.Glob(filepath.Join(stateDir, "records", kind+"-*.json"))
	if len(m) == 0 {
		return filepath.Join(stateDir, "records", kind+"-none")
	}
	return m[0]
}
