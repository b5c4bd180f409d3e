package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/repops/repops/config"
	"github.com/repops/repops/internal/testsupport"
	"github.com/repops/repops/replicate"
	"github.com/repops/repops/sim"
)

// demoLitestreamBinary is testsupport.LitestreamBinary: the real litestream.
func demoLitestreamBinary(t *testing.T) string { return testsupport.LitestreamBinary(t) }

// replicaFiles is the set of LTX files under the replica dir.
func replicaFiles(t *testing.T, dir string) map[string]bool {
	t.Helper()
	files := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // compaction removed it meanwhile
			}
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".ltx") {
			files[p] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// newFiles lists the files of now that were not in before.
func newFiles(before, now map[string]bool) []string {
	var out []string
	for f := range now {
		if !before[f] {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}

// writeRows commits n rows to the database from another process: the
// sqlite3 command-line shell, one transaction each.
func writeRows(t *testing.T, dbPath string, n int) {
	t.Helper()
	var sql strings.Builder
	sql.WriteString(".timeout 5000\nCREATE TABLE IF NOT EXISTS litestream_probe(id INTEGER PRIMARY KEY, at TEXT, pad BLOB);\n")
	for range n {
		sql.WriteString("INSERT INTO litestream_probe(at, pad) VALUES (strftime('%Y-%m-%dT%H:%M:%f','now'), randomblob(2000));\n")
	}
	cmd := exec.Command("sqlite3", dbPath)
	cmd.Stdin = strings.NewReader(sql.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v\n%s", err, out)
	}
}

// waitFor polls cond every 100 ms until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// metricsAnswer says whether Litestream's metrics endpoint at addr
// answers with its figures.
func metricsAnswer(addr string) bool {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte("litestream_"))
}

// processGone says whether no process pid exists (it was reaped).
func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// litestreamProcesses lists the pids whose command line names config.
func litestreamProcesses(config string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(config)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestDemoLitestream runs the demo's Litestream part with the real
// litestream on a small demo database: rows written from another process
// reach the file replica beside it and the metrics answer; the scenario
// replication-stopped stops the shipping and normal resumes it; stopping
// the demo leaves no litestream process behind.
func TestDemoLitestream(t *testing.T) {
	demoLitestreamBinary(t)
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Fatal("the sqlite3 command-line shell is needed to write from another process: apt-get install sqlite3")
	}
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "demo", "architect.db")
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.GenerateDemo(context.Background(), dbPath, sim.DemoOptions{Appeals: 300, Seed: 3}, nil); err != nil {
		t.Fatal(err)
	}
	base := config.Defaults()
	// The operator's own replication is never the demo's.
	base.Console.Replication.Replicas = []config.Replica{{Type: "file", Path: filepath.Join(dir, "operators-replica")}}
	cfg := demoConfig(&base, dbPath)

	var stderr bytes.Buffer
	ls, stop := startDemoLitestream(&app{cfg: &base, err: &stderr}, &cfg)
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	if ls == nil {
		t.Fatalf("the demo does not replicate:\n%s", stderr.String())
	}
	replica := filepath.Join(dir, "demo", "replica")
	rp := cfg.Console.Replication
	if len(rp.Replicas) != 1 || rp.Replicas[0].Type != "file" || rp.Replicas[0].Path != replica {
		t.Fatalf("replicas %+v, want the file replica %s", rp.Replicas, replica)
	}
	if !strings.HasPrefix(rp.MetricsAddr, "127.0.0.1:") || rp.MetricsAddr == "127.0.0.1:9092" {
		t.Errorf("metrics_addr %s, want a free loopback port", rp.MetricsAddr)
	}
	stateDir := filepath.Join(dir, "demo", "state")
	if rp.ConfigFile != filepath.Join(stateDir, demoLitestreamConfig) {
		t.Errorf("config file %s, want it in the demo's state dir", rp.ConfigFile)
	}
	if data, err := os.ReadFile(rp.ConfigFile); err != nil || !strings.Contains(string(data), "path: "+replica) {
		t.Errorf("Litestream's config %s: %v\n%s", rp.ConfigFile, err, data)
	}
	if !strings.Contains(stderr.String(), "demo: Litestream (pid ") || !strings.Contains(stderr.String(), replica) {
		t.Errorf("stderr does not say the demo replicates:\n%s", stderr.String())
	}
	pid := ls.Pid()
	if pid == 0 {
		t.Fatal("no litestream process")
	}

	// Replicating: the metrics answer, and rows from another process reach
	// the replica as LTX files.
	waitFor(t, 20*time.Second, "Litestream's metrics answer at "+rp.MetricsAddr, func() bool { return metricsAnswer(rp.MetricsAddr) })
	waitFor(t, 20*time.Second, "the replica holds LTX files", func() bool { return len(replicaFiles(t, replica)) > 0 })
	before := replicaFiles(t, replica)
	writeRows(t, dbPath, 20)
	waitFor(t, 20*time.Second, "the rows written reach the replica", func() bool { return len(newFiles(before, replicaFiles(t, replica))) > 0 })

	// The scenario: Litestream is stopped, the service is normal, nothing
	// is shipped while rows are written.
	s, err := sim.New(sim.Options{DBPath: dbPath, Listen: "127.0.0.1:0", Scenario: sim.ScenarioAppealFlood, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d := demoSim{s: s, ls: ls}
	if names := d.Scenarios(); names[len(names)-1] != ScenarioReplicationStopped || !slices.Contains(names, sim.ScenarioNormal) {
		t.Errorf("scenarios %v, want %s among them", names, ScenarioReplicationStopped)
	}
	if slices.Contains((demoSim{s: s}).Scenarios(), ScenarioReplicationStopped) {
		t.Error("the scenario is offered without Litestream")
	}
	if err := d.SetScenario(ScenarioReplicationStopped); err != nil {
		t.Fatal(err)
	}
	if s.Scenario() != sim.ScenarioNormal {
		t.Errorf("the service's scenario is %s, want normal", s.Scenario())
	}
	if ls.Running() || !processGone(pid) {
		t.Fatalf("litestream (pid %d) still runs after %s", pid, ScenarioReplicationStopped)
	}
	if metricsAnswer(rp.MetricsAddr) {
		t.Error("Litestream's metrics still answer while it is stopped")
	}
	frozen := replicaFiles(t, replica)
	writeRows(t, dbPath, 20)
	// Three sync intervals: a running Litestream ships within one.
	window := time.Now().Add(3 * rp.SyncInterval)
	for time.Now().Before(window) {
		if added := newFiles(frozen, replicaFiles(t, replica)); len(added) > 0 {
			t.Fatalf("the replica received %v while Litestream was stopped", added)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// normal: Litestream runs again (a new process) and ships the rows
	// written meanwhile.
	if err := d.SetScenario(sim.ScenarioNormal); err != nil {
		t.Fatal(err)
	}
	pid2 := ls.Pid()
	if pid2 == 0 || pid2 == pid {
		t.Fatalf("after normal: pid %d (was %d), want a new litestream", pid2, pid)
	}
	waitFor(t, 20*time.Second, "Litestream's metrics answer again", func() bool { return metricsAnswer(rp.MetricsAddr) })
	waitFor(t, 30*time.Second, "the rows written while stopped reach the replica", func() bool {
		return len(newFiles(frozen, replicaFiles(t, replica))) > 0
	})
	resumed := replicaFiles(t, replica)
	writeRows(t, dbPath, 5)
	waitFor(t, 20*time.Second, "new rows reach the replica after resuming", func() bool {
		return len(newFiles(resumed, replicaFiles(t, replica))) > 0
	})

	// The demo ends: Litestream is stopped and gone.
	stopped = true
	stop()
	if ls.Running() || !processGone(pid2) {
		t.Fatalf("litestream (pid %d) still runs after the demo stopped", pid2)
	}
	if left := litestreamProcesses(rp.ConfigFile); len(left) > 0 {
		t.Fatalf("litestream processes left behind: %v", left)
	}
	if died := ls.Died(); died != "" {
		t.Errorf("Litestream died during the test: %s", died)
	}
	if log, err := os.ReadFile(filepath.Join(stateDir, demoLitestreamLog)); err != nil || !bytes.Contains(log, []byte("replicating to")) {
		t.Errorf("Litestream's log: %v\n%s", err, log)
	}
}

// TestDemoLitestreamDiesShowsIt: a Litestream that dies during the demo is
// not restarted behind the operator's back (the lag alert is the point)
// and the demo says so when it ends.
func TestDemoLitestreamDies(t *testing.T) {
	demoLitestreamBinary(t)
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "architect.db")
	if _, err := sim.GenerateDemo(context.Background(), dbPath, sim.DemoOptions{Appeals: 100, Seed: 2}, nil); err != nil {
		t.Fatal(err)
	}
	base := config.Defaults()
	cfg := demoConfig(&base, dbPath)
	var stderr bytes.Buffer
	ls, stop := startDemoLitestream(&app{cfg: &base, err: &stderr}, &cfg)
	if ls == nil {
		t.Fatalf("the demo does not replicate:\n%s", stderr.String())
	}
	pid := ls.Pid()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the demo sees Litestream gone", func() bool { return !ls.Running() })
	stop()
	if !processGone(pid) {
		t.Errorf("pid %d still there", pid)
	}
	if !strings.Contains(stderr.String(), fmt.Sprintf("Litestream (pid %d) ended during the demo (signal: killed); its log: ", pid)) {
		t.Errorf("stderr does not say Litestream died:\n%s", stderr.String())
	}
}

// TestDemoWithoutLitestream: without the binary the demo says in one line
// that replication is off and how to install it, and configures none.
func TestDemoWithoutLitestream(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("REPOPS_LITESTREAM", filepath.Join(dir, "no-litestream"))
	base := config.Defaults()
	cfg := demoConfig(&base, filepath.Join(dir, "architect.db"))
	cfg.Console.Replication.Replicas = []config.Replica{{Type: "file", Path: filepath.Join(dir, "operators-replica")}}
	var stderr bytes.Buffer
	ls, stop := startDemoLitestream(&app{cfg: &base, err: &stderr}, &cfg)
	stop()
	if ls != nil {
		t.Fatal("the demo replicates without litestream")
	}
	if len(cfg.Console.Replication.Replicas) != 0 {
		t.Errorf("replicas %v, want none (no replication panel)", cfg.Console.Replication.Replicas)
	}
	want := "demo: replication is off: litestream is not installed; to see the replication panel, " + replicate.InstallHint + "\n"
	if stderr.String() != want {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
	if slices.Contains((demoSim{}).Scenarios(), ScenarioReplicationStopped) {
		t.Error("the scenario is offered without Litestream")
	}
	if err := (demoSim{}).SetScenario(ScenarioReplicationStopped); err == nil || !strings.Contains(err.Error(), "does not replicate") {
		t.Errorf("SetScenario without Litestream: %v", err)
	}
}
