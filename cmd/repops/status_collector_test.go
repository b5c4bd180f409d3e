package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/metrics"
)

// collectorStateFor writes, in the state dir status reads
// ($XDG_STATE_HOME/repops), a collector state for the database at path:
// appeal_error_rate (for 5m) beyond its alert threshold since activeFor,
// written by pid at written.
func collectorStateFor(t *testing.T, path string, pid int, written time.Time, activeFor time.Duration) {
	t.Helper()
	abs, _ := filepath.Abs(path)
	since := written.Add(-activeFor)
	v := 32.5
	st := metrics.CollectorState{Version: 1, Pid: pid, Written: written, IntervalSeconds: 1, Database: abs,
		Rules: []metrics.RuleRecord{{Rule: "appeal_error_rate", State: "pending", Since: since, ActiveSince: &since,
			LastKnown: &written, Value: &v, Reason: "32.5 % > 5 %"}}}
	dir := filepath.Join(os.Getenv("XDG_STATE_HOME"), "repops")
	if err := metrics.WriteCollectorState(metrics.CollectorStatePath(dir), st); err != nil {
		t.Fatal(err)
	}
}

// TestStatusReadsTheCollector: with a fresh collector's state, a rule
// beyond its alert threshold for 6 minutes (for 5m) is CRITICAL (exit 2)
// without sampling; a stale state (its writer gone, or written long ago)
// is ignored and status says its verdicts are provisional.
func TestStatusReadsTheCollector(t *testing.T) {
	dir := migTestEnv(t)
	path := filepath.Join(dir, "architect.db")
	if _, _, code, err := runRepopsCmd(t, "demo", "--db", path, "--appeals", "300", "--summary"); code != 0 {
		t.Fatalf("demo: %v", err)
	}
	cfg := statusConfig(t, t.TempDir(), deadURL(t), "appeal_error_rate")
	status := func(t *testing.T, args ...string) (string, int) {
		t.Helper()
		out, errOut, code, _ := runRepopsCmd(t, append([]string{"--config", cfg, "--db", path, "status", "--interval", "0"}, args...)...)
		return out + errOut, code
	}

	collectorStateFor(t, path, os.Getpid(), time.Now(), 6*time.Minute)
	start := time.Now()
	out, code := status(t)
	took := time.Since(start)
	if code != exitCritical || !strings.HasPrefix(out, "repops status: CRITICAL") || !strings.Contains(out, "verdicts: the collector's") {
		t.Errorf("fresh collector, 6 min beyond for 5m: exit %d\n%s", code, out)
	}
	t.Logf("status with a fresh collector: %s", took)
	out, code = status(t, "--json")
	var doc statusJSON
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if code != exitCritical || doc.Provisional || doc.CollectorPid != os.Getpid() || len(doc.Alerts) != 1 || doc.Alerts[0].State != "critical" {
		t.Errorf("--json with a fresh collector: exit %d %+v", code, doc)
	}

	// Pending for 3 minutes: a warning, critical in 2m.
	collectorStateFor(t, path, os.Getpid(), time.Now(), 3*time.Minute)
	if out, code := status(t); code != exitWarning || !strings.Contains(out, "critical in 2m") {
		t.Errorf("fresh collector, 3 min beyond for 5m: exit %d\n%s", code, out)
	}

	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skip(err)
	}
	for name, write := range map[string]func(){
		"dead writer": func() { collectorStateFor(t, path, dead.Process.Pid, time.Now(), 6*time.Minute) },
		"old state":   func() { collectorStateFor(t, path, os.Getpid(), time.Now().Add(-time.Minute), 6*time.Minute) },
	} {
		t.Run(name, func(t *testing.T) {
			write()
			out, code := status(t)
			// The stale state is ignored: status judges itself (the
			// service is dead here: UNKNOWN, not the collector's CRITICAL).
			if code == exitCritical || strings.Contains(out, "the collector's") {
				t.Errorf("stale state: exit %d\n%s", code, out)
			}
			out, _ = status(t, "--json")
			var doc statusJSON
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if doc.CollectorPid != 0 || len(doc.Alerts) != 1 || doc.Alerts[0].Judge != "status" || doc.Alerts[0].State == "critical" {
				t.Errorf("stale state --json: %+v", doc)
			}
		})
	}
}

// TestExporterIsTheCollector: the exporter judges the rules every refresh
// and keeps their states in the state dir, fresh while it runs; once it
// stops, the state goes stale two of its write periods after its last
// write.
func TestExporterIsTheCollector(t *testing.T) {
	a, _, errb := testApp(t)
	a.cfg.Console.RefreshInterval = 100 * time.Millisecond
	a.cfg.Console.Sources.MetricsURL = deadURL(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runExporter(ctx, a, &exporterOptions{listen: "127.0.0.1:0"}, nil) }()
	path := metrics.CollectorStatePath(a.cfg.StateDir())
	deadline := time.Now().Add(10 * time.Second)
	var st metrics.CollectorState
	for {
		var err error
		st, err = metrics.ReadCollectorState(path)
		if err == nil && st.Fresh(time.Now(), a.cfg.Database.Path) == nil && len(st.Rules) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no fresh collector state after 10 s: %v %v\n%s", err, st.Fresh(time.Now(), a.cfg.Database.Path), errb)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st.Pid != os.Getpid() {
		t.Errorf("state written by pid %d", st.Pid)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("exporter: %v", err)
	}
	st, err := metrics.ReadCollectorState(path)
	if err != nil {
		t.Fatal(err)
	}
	period := time.Duration(st.IntervalSeconds * float64(time.Second))
	if period < metrics.MinPersistEvery {
		t.Errorf("the state says it is written every %s, under the minimum %s", period, metrics.MinPersistEvery)
	}
	if err := st.Fresh(st.Written.Add(2*period+time.Millisecond), a.cfg.Database.Path); err == nil {
		t.Error("the stopped exporter's state is still fresh two write periods after its last write")
	}
	// The exporter also recorded its frames for the console's time
	// travel (history.db in the state dir).
	tl, err := metrics.OpenTimeline(context.Background(), metrics.TimelinePath(a.cfg.StateDir()), metrics.TimelineOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	f, err := tl.At(context.Background(), time.Now())
	if err != nil || len(f.Rules) == 0 || len(f.Panels) == 0 {
		t.Fatalf("the exporter's history: frame with %d rules, %d panels, err %v", len(f.Rules), len(f.Panels), err)
	}
}
