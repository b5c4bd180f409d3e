package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/config"
)

func testApp(t *testing.T) (*app, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	cfg := config.Defaults()
	dir := t.TempDir()
	cfg.Database.Path = filepath.Join(dir, "architect.db")
	cfg.Console.StateDir = filepath.Join(dir, "state")
	var out, errb bytes.Buffer
	return &app{cfg: &cfg, out: &out, err: &errb}, &out, &errb
}

func TestRulesExportCommand(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found: install it: apt-get install prometheus")
	}
	a, _, errb := testApp(t)
	alert := 150.0
	a.cfg.Console.Rules = []config.RuleOverride{{Name: "appeal_submission_rate", Alert: &alert}}
	out := filepath.Join(t.TempDir(), "repops.rules.yml")
	if err := runRulesExport(a, &rulesOptions{out: out}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "repops:appeal_submission_rate > 150") {
		t.Fatalf("override not exported:\n%s", b)
	}
	if o, err := exec.Command(promtool, "check", "rules", out).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, o)
	}
	if !strings.Contains(errb.String(), "promtool check rules") {
		t.Fatalf("stderr %q", errb.String())
	}
	t.Run("bad override", func(t *testing.T) {
		a, _, _ := testApp(t)
		a.cfg.Console.Rules = []config.RuleOverride{{Name: "no_such_rule"}}
		err := runRulesExport(a, &rulesOptions{})
		if err == nil || exitCode(err) != exitUsage || !strings.Contains(err.Error(), "no_such_rule") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("unwritable dir", func(t *testing.T) {
		a, _, _ := testApp(t)
		err := runRulesExport(a, &rulesOptions{out: filepath.Join(t.TempDir(), "missing", "r.yml")})
		if err == nil || !strings.Contains(err.Error(), "directory exists") {
			t.Fatalf("err %v", err)
		}
	})
}

func TestExporterCommand(t *testing.T) {
	a, _, _ := testApp(t)
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- runExporter(ctx, a, &exporterOptions{listen: "127.0.0.1:0"}, func(addr string) { addrc <- addr })
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("exporter ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("exporter did not start")
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// No database at the path: the exporter still serves, saying so.
	for _, want := range []string{"repops_database_up 0", "repops_backups 0", "repops_journal_entries 0"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("lacks %q:\n%s", want, body)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// TestRulesListReadsAsTheGuide: TARGET is where the value stays and ALERT
// where it fires, as the guide's table reads ("< 100/min", "> 100/min"),
// not both as the condition that fires; a target judged on another panel
// names it.
func TestRulesListReadsAsTheGuide(t *testing.T) {
	a, out, _ := testApp(t)
	if err := runRulesList(a); err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			rows[f[0]] = strings.Join(f, " ")
		}
	}
	for rule, want := range map[string]string{
		// The guide's strict targets: "< 1%", "< 72 hours avg", "< 8 active".
		"appeal_error_rate":    "< 1 % > 5 %",
		"disk_free":            ">= 20 % < 10 %",
		"negotiation_duration": "< 72 h (negotiation_duration_avg) > 24 h",
		// The alert on the pool's usage in %, the target on connections.
		"db_connections": "< 8 (db_connections_active) > 80 %",
		"schema_behind":  "<= 0 > 0",
	} {
		if !strings.Contains(rows[rule], want) {
			t.Errorf("%s: %q, want it to read %q", rule, rows[rule], want)
		}
	}
}
