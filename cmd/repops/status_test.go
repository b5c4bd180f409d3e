package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/repops/repops/metrics"
)

// statusConfig writes a config that keeps only the named rules, with the
// service's /metrics at metricsURL ("" for none).
func statusConfig(t *testing.T, dir, metricsURL string, keep ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("monitoring:\n  metrics_enabled: false\nconsole:\n")
	if metricsURL != "" {
		fmt.Fprintf(&b, "  sources:\n    metrics_url: %s\n    timeout: 500ms\n", metricsURL)
	}
	b.WriteString("  rules:\n")
	kept := map[string]bool{}
	for _, k := range keep {
		kept[k] = true
	}
	for _, r := range metrics.DefaultRules() {
		if !kept[r.Name] {
			fmt.Fprintf(&b, "    - name: %s\n      disabled: true\n", r.Name)
		}
	}
	p := filepath.Join(dir, "status.yml")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// deadURL is a /metrics URL on a loopback port nobody listens on.
func deadURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/metrics"
}

func TestStatusExitCodes(t *testing.T) {
	dir := migTestEnv(t)
	path := filepath.Join(dir, "architect.db")
	if _, _, code, err := runRepopsCmd(t, "demo", "--db", path, "--appeals", "300", "--summary"); code != 0 {
		t.Fatalf("demo: %v", err)
	}
	for _, tc := range []struct {
		name    string
		metrics string
		keep    []string
		before  []string // a command run first
		want    int
		text    string
	}{
		{name: "no backup is critical", keep: []string{"backup_age"}, want: exitCritical, text: "CRITICAL"},
		{name: "no drill is a warning", keep: []string{"dr_drill_age"}, want: exitWarning, text: "WARNING"},
		{name: "a dead source is unknown, not zero", metrics: "dead", keep: []string{"appeal_error_rate"}, want: exitUnknown, text: "UNKNOWN"},
		{name: "a fresh backup is ok", keep: []string{"backup_age"}, before: []string{"backup"}, want: exitOK, text: "OK"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := ""
			if tc.metrics == "dead" {
				url = deadURL(t)
			}
			cfg := statusConfig(t, t.TempDir(), url, tc.keep...)
			if tc.before != nil {
				if out, errOut, code, err := runRepopsCmd(t, append([]string{"--config", cfg, "--db", path}, tc.before...)...); code != 0 {
					t.Fatalf("%v: %d %v\n%s%s", tc.before, code, err, out, errOut)
				}
			}
			out, _, code, err := runRepopsCmd(t, "--config", cfg, "--db", path, "status", "--interval", "0")
			if code != tc.want || !isSilent(err) {
				t.Fatalf("exit %d (%v), want %d\n%s", code, err, tc.want, out)
			}
			if !strings.HasPrefix(out, "repops status: "+tc.text) {
				t.Fatalf("text output:\n%s", out)
			}
			out, _, code, _ = runRepopsCmd(t, "--config", cfg, "--db", path, "status", "--interval", "0", "--json")
			var doc statusJSON
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("--json: %v\n%s", err, out)
			}
			if code != tc.want || doc.ExitCode != tc.want || doc.Status != tc.text {
				t.Fatalf("--json: exit %d, document %d %s\n%s", code, doc.ExitCode, doc.Status, out)
			}
			if tc.metrics == "dead" {
				for _, p := range doc.Panels {
					if p.Name == metrics.PanelAppealErrorRate && p.Value != nil {
						t.Fatalf("a dead source gave the value %v", *p.Value)
					}
				}
			}
		})
	}
	t.Run("a negative interval is a usage error", func(t *testing.T) {
		if _, _, code, _ := runRepopsCmd(t, "--db", path, "status", "--interval", "-1s"); code != exitUsage {
			t.Fatalf("exit %d", code)
		}
	})
}

// TestStatusTextSpeaksNagios: the text output uses only OK, WARNING,
// CRITICAL and UNKNOWN (a pending alert is a WARNING that says when it
// turns critical, exit 1), prints a dead source's error once, not on
// every line it leaves unknown, and keeps the name column within its
// width whatever the rule's title.
func TestStatusTextSpeaksNagios(t *testing.T) {
	dir := migTestEnv(t)
	path := filepath.Join(dir, "architect.db")
	if _, _, code, err := runRepopsCmd(t, "demo", "--db", path, "--appeals", "300", "--summary"); code != 0 {
		t.Fatalf("demo: %v", err)
	}
	url := deadURL(t)
	cfg := statusConfig(t, t.TempDir(), url, "service_down", "appeal_error_rate", "appeal_processing_latency", "api_error_rate")
	out, _, code, _ := runRepopsCmd(t, "--config", cfg, "--db", path, "status", "--interval", "0")
	if code != exitWarning {
		t.Fatalf("exit %d, want %d (pending is a warning)\n%s", code, exitWarning, out)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if !strings.HasPrefix(lines[0], "repops status: WARNING (pending: Service metrics endpoint critical in 1m unless it clears)") {
		t.Fatalf("headline %q", lines[0])
	}
	if strings.Contains(out, "PENDING") {
		t.Fatalf("PENDING is not a Nagios state:\n%s", out)
	}
	dial := "connection refused"
	if n := strings.Count(out, dial); n != 1 {
		t.Fatalf("the source's error is printed %d times, want once:\n%s", n, out)
	}
	// The value column starts at the same column on every rule's line,
	// after the name column (the state, then the name).
	valueCol := 2 + 9 + 1 + statusNameWidth + 1
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l, "  UNKNOWN") {
			continue
		}
		if r := []rune(l); len(r) < valueCol+7 || string(r[valueCol:valueCol+7]) != "unknown" || r[valueCol-1] != ' ' {
			t.Fatalf("the name column overflows into the value's:\n%s", l)
		}
	}
	if !strings.Contains(out, "Appeal processing latency") {
		t.Fatalf("the long title is missing:\n%s", out)
	}
	out, _, code, _ = runRepopsCmd(t, "--config", cfg, "--db", path, "status", "--interval", "0", "--json")
	var doc statusJSON
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != exitWarning || doc.Status != "WARNING" {
		t.Fatalf("--json: exit %d %v, status %q", code, err, doc.Status)
	}
	for _, al := range doc.Alerts {
		if al.Rule == "service_down" && (al.State != "warning" || !al.Pending || al.CriticalInSeconds == nil) {
			t.Fatalf("--json: the pending alert reads %+v", al)
		}
	}
}
