package metrics

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCollectorStateRoundTrip: an engine that persists after each cycle
// writes its rules' states; a second engine (a console starting) imports
// them and judges a rule beyond its threshold from when it began, so it
// turns critical after the rule's for counted from the first engine's
// start of it; the state read back makes the same verdict at a later now.
func TestCollectorStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := CollectorStatePath(dir)
	vs := &valueSource{vals: map[string]Value{}}
	clock := newFakeClock()
	e1, err := NewEngine(EngineOptions{Sources: []Source{vs.source(KindScrape)}, Now: clock.now, HistorySize: 10,
		PersistPath: path, PersistInterval: time.Second, DatabasePath: filepath.Join(dir, "architect.db")})
	if err != nil {
		t.Fatal(err)
	}
	vs.set(PanelAppealErrorRate, Known(32.5))
	began := clock.now()
	e1.Cycle(context.Background())
	clock.add(3 * time.Minute)
	if a := alertOf(t, e1.Cycle(context.Background()), "appeal_error_rate"); a.State != StatePending {
		t.Fatalf("first engine: %s, want pending", a.State)
	}
	if err := e1.PersistErr(); err != nil {
		t.Fatal(err)
	}
	st, err := ReadCollectorState(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pid != os.Getpid() || !st.Written.Equal(clock.now()) || len(st.Rules) == 0 {
		t.Fatalf("state: pid %d written %s, %d rules", st.Pid, st.Written, len(st.Rules))
	}
	var rec RuleRecord
	for _, r := range st.Rules {
		if r.Rule == "appeal_error_rate" {
			rec = r
		}
	}
	if rec.State != "pending" || rec.ActiveSince == nil || !rec.ActiveSince.Equal(began) || rec.Value == nil || *rec.Value != 32.5 {
		t.Fatalf("record: %+v", rec)
	}

	// The persisted state alone, read three minutes later (6 min beyond
	// the threshold, for 5m): critical.
	later := clock.now().Add(3 * time.Minute)
	if a := alertOf(t, st.Snapshot(later, DefaultRules()), "appeal_error_rate"); a.State != StateCritical {
		t.Errorf("state's snapshot 6 min in: %s, want critical", a.State)
	}
	if a := alertOf(t, st.Snapshot(clock.now(), DefaultRules()), "appeal_error_rate"); a.State != StatePending {
		t.Errorf("state's snapshot 3 min in: %s, want pending", a.State)
	}

	// A second engine, started from the state two minutes later: its
	// Last shows the known state before any cycle, and its first cycle
	// counts the for from the first engine's start.
	clock.add(2*time.Minute + 30*time.Second)
	e2, err := NewEngine(EngineOptions{Sources: []Source{vs.source(KindScrape)}, Now: clock.now, HistorySize: 10})
	if err != nil {
		t.Fatal(err)
	}
	if n := e2.ImportRuleStates(st.Rules, clock.now()); n != len(st.Rules) {
		t.Errorf("imported %d of %d", n, len(st.Rules))
	}
	if a := alertOf(t, e2.Last(), "appeal_error_rate"); a.State != StatePending || !a.ActiveSince.Equal(began) {
		t.Errorf("imported, before a cycle: %s since %s", a.State, a.ActiveSince)
	}
	a := alertOf(t, e2.Cycle(context.Background()), "appeal_error_rate")
	if a.State != StateCritical || !a.ActiveSince.Equal(began) {
		t.Errorf("second engine's first cycle 5.5 min in: %s active since %s, want critical since %s", a.State, a.ActiveSince, began)
	}

	// A state whose value was last known longer ago than the staleness
	// delta keeps no active-since: pending anew.
	e3, _ := NewEngine(EngineOptions{Sources: []Source{vs.source(KindScrape)}, Now: clock.now, HistorySize: 10})
	clock.add(10 * time.Minute)
	e3.ImportRuleStates(st.Rules, clock.now())
	if a := alertOf(t, e3.Cycle(context.Background()), "appeal_error_rate"); a.State != StatePending {
		t.Errorf("stale import: %s, want pending anew", a.State)
	}
}

// TestCollectorStateFresh: fresh only from a live writer, within two
// refresh intervals, for the same database.
func TestCollectorStateFresh(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	dbPath := filepath.Join(t.TempDir(), "architect.db")
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skip(err)
	}
	base := CollectorState{Version: collectorStateVersion, Pid: os.Getpid(), Written: now.Add(-1500 * time.Millisecond),
		IntervalSeconds: 1, Database: dbPath}
	if err := base.Fresh(now, dbPath); err != nil {
		t.Errorf("fresh state refused: %v", err)
	}
	for name, mod := range map[string]func(*CollectorState){
		"dead pid":       func(s *CollectorState) { s.Pid = dead.Process.Pid },
		"old":            func(s *CollectorState) { s.Written = now.Add(-5 * time.Second) },
		"other database": func(s *CollectorState) { s.Database = "/elsewhere/architect.db" },
	} {
		s := base
		mod(&s)
		if err := s.Fresh(now, dbPath); err == nil {
			t.Errorf("%s: taken as fresh", name)
		}
	}
}

// writerEnv makes the test binary a collector that writes its state in a
// loop (TestCollectorKilledMidWrite kills it).
const writerEnv = "REPOPS_TEST_COLLECTOR_WRITER"

func TestCollectorWriterProcess(t *testing.T) {
	path := os.Getenv(writerEnv)
	if path == "" {
		t.Skip("helper process of TestCollectorKilledMidWrite")
	}
	// A big state (many rules with long reasons) makes each write take
	// long enough to be killed in the middle.
	st := CollectorState{Version: collectorStateVersion, Pid: os.Getpid(), IntervalSeconds: 1, Database: "/db"}
	for i := range 2000 {
		v := float64(i)
		st.Rules = append(st.Rules, RuleRecord{Rule: "r" + strings.Repeat("x", i%50), State: "pending", Since: time.Now(), Value: &v,
			Reason: strings.Repeat("reason ", 40)})
	}
	for i := 0; ; i++ {
		st.Written = time.Now()
		st.IntervalSeconds = float64(i)
		if err := WriteCollectorState(path, st); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCollectorKilledMidWrite kills a collector writing its state at
// random moments: the state file is always complete JSON (a temp file cut
// short never replaces it), and the killed writer's temp files are
// recognisably its own.
func TestCollectorKilledMidWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns writers")
	}
	dir := t.TempDir()
	path := CollectorStatePath(dir)
	for round := range 8 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCollectorWriterProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), writerEnv+"="+path)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(150+37*round) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()

		b, err := os.ReadFile(path)
		if os.IsNotExist(err) {
			continue // killed before its first write completed
		}
		if err != nil {
			t.Fatal(err)
		}
		var st CollectorState
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatalf("round %d: the state is not complete JSON after a kill (%d bytes): %v", round, len(b), err)
		}
		if _, err := ReadCollectorState(path); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if st.Fresh(time.Now(), "/db") == nil {
			t.Errorf("round %d: a killed writer's state taken as fresh", round)
		}
	}
	ents, _ := os.ReadDir(dir)
	temps, states := 0, 0
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			temps++
		} else {
			states++
		}
		if e.Name() != CollectorStateFile && !strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("unexpected file %s", e.Name())
		}
	}
	t.Logf("after 8 kills: %d state file, %d temp files of killed writers", states, temps)
	if states != 1 {
		t.Errorf("no state written in 8 rounds")
	}
}
