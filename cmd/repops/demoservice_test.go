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

	"github.com/repops/repops/sim"
)

// TestDemoAnnouncesItsService: the demo prints its service's metrics
// address on stderr at start.
func TestDemoAnnouncesItsService(t *testing.T) {
	migTestEnv(t)
	stderr := demoRun(t)
	if !strings.Contains(stderr, "demo: the simulated service's metrics are at http://127.0.0.1:") {
		t.Errorf("stderr lacks the service's address:\n%s", stderr)
	}
}

// TestStatusFindsTheDemoService: with the demo's service file in the
// state dir, its process alive, 'repops status' scrapes the demo's
// service; a file of a dead process, or a config that names the metrics
// itself (METRICS_PORT), is not used.
func TestStatusFindsTheDemoService(t *testing.T) {
	dir := migTestEnv(t)
	path := filepath.Join(dir, "architect.db")
	if _, _, code, err := runRepopsCmd(t, "demo", "--db", path, "--appeals", "300", "--summary"); code != 0 {
		t.Fatalf("demo: %v", err)
	}
	s, err := sim.New(sim.Options{DBPath: path, Listen: "127.0.0.1:0", Seed: 1, Speed: 1, Tick: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	stateDir := filepath.Join(dir, ".state-home", "repops")
	t.Setenv("XDG_STATE_HOME", filepath.Dir(stateDir))

	metricsSource := func(t *testing.T) (target string, up bool, stderr string) {
		t.Helper()
		out, errOut, _, _ := runRepopsCmd(t, "--db", path, "status", "--interval", "0", "--json")
		var doc statusJSON
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("status --json: %v\n%s%s", err, out, errOut)
		}
		for _, src := range doc.Sources {
			if src.Kind == "metrics" || strings.HasSuffix(src.Target, "/metrics") {
				return src.Target, src.Up, errOut
			}
		}
		return "", false, errOut
	}

	// A live demo.
	if _, err := sim.WriteServiceFile(stateDir, sim.ServiceInfo{MetricsURL: s.MetricsURL(), Pid: os.Getpid(), Database: path}); err != nil {
		t.Fatal(err)
	}
	target, up, errOut := metricsSource(t)
	t.Logf("live demo: %s up=%v; %s", target, up, errOut)
	if target != s.MetricsURL() || !up {
		t.Errorf("live demo: metrics source %q up=%v, want %s up\n%s", target, up, s.MetricsURL(), errOut)
	}

	// The config names the service's metrics: the demo's are not used.
	t.Run("explicit METRICS_PORT wins", func(t *testing.T) {
		t.Setenv("METRICS_PORT", "9191")
		target, _, _ := metricsSource(t)
		t.Logf("METRICS_PORT: %s", target)
		if target == "" || target == s.MetricsURL() {
			t.Errorf("METRICS_PORT set, yet status scraped the demo's %s", target)
		}
	})

	// A demo that is gone (killed: its file stayed).
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no 'true' to make a dead pid:", err)
	}
	if _, err := sim.WriteServiceFile(stateDir, sim.ServiceInfo{MetricsURL: s.MetricsURL(), Pid: cmd.Process.Pid}); err != nil {
		t.Fatal(err)
	}
	if target, _, _ := metricsSource(t); target == s.MetricsURL() {
		t.Errorf("dead demo's file used: %s", target)
	}
}
