package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/metrics"
)

// amDaemon is a real Alertmanager (Debian's prometheus-alertmanager) on a
// loopback port until the test ends; a missing binary fails the test with
// the install hint.
func amDaemon(t *testing.T, amConfig string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		t.Fatalf("prometheus-alertmanager not found (%v): install it: apt-get install prometheus-alertmanager", err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte(amConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.path="+dir, "--web.listen-address="+addr, "--cluster.listen-address=")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		select {
		case <-exited:
			t.Fatalf("alertmanager exited early:\n%s", logs.String())
		default:
		}
		if resp, err := http.Get(base + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
	}
	t.Fatalf("alertmanager not ready at %s after 20 s:\n%s", base, logs.String())
	return ""
}

// amPost posts v to Alertmanager's v2 API at path and returns the answer.
func amPost(t *testing.T, base, path string, v any) []byte {
	t.Helper()
	body, _ := json.Marshal(v)
	resp, err := http.Post(base+"/api/v2/"+path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	out.ReadFrom(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("post %s: HTTP %d: %s", path, resp.StatusCode, out.String())
	}
	return out.Bytes()
}

// amAlert posts one alert; endsAt zero leaves it firing, a past endsAt
// resolves it.
func amAlert(t *testing.T, base, name, severity, summary string, startsAt, endsAt time.Time) {
	t.Helper()
	labels := map[string]string{"alertname": name, "instance": "node-1:9090"}
	if severity != "" {
		labels["severity"] = severity
	}
	a := map[string]any{"labels": labels, "annotations": map[string]string{"summary": summary},
		"startsAt": startsAt.UTC().Format(time.RFC3339)}
	if !endsAt.IsZero() {
		a["endsAt"] = endsAt.UTC().Format(time.RFC3339)
	}
	amPost(t, base, "alerts", []map[string]any{a})
}

// amStatusConfig writes a config with every rule disabled but keep, the
// service's metrics off (metricsURL "" ) or at metricsURL, and
// Alertmanager at amURL.
func amStatusConfig(t *testing.T, amURL, metricsURL string, keep ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("monitoring:\n  metrics_enabled: false\nconsole:\n  sources:\n")
	fmt.Fprintf(&b, "    alertmanager_url: %s\n    timeout: 1s\n", amURL)
	if metricsURL != "" {
		fmt.Fprintf(&b, "    metrics_url: %s\n", metricsURL)
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
	p := filepath.Join(t.TempDir(), "status.yml")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestStatusCountsAlertmanager: with a real Alertmanager as a source, its
// active alerts make the verdict (critical: exit 2, warning: exit 1, an
// unknown severity: a warning), appear one line each in the text and in
// --json's alertmanager_alerts; a resolved or silenced alert leaves the
// verdict OK (the silenced one listed as such).
func TestStatusCountsAlertmanager(t *testing.T) {
	dir := migTestEnv(t)
	path := filepath.Join(dir, "architect.db")
	if _, _, code, err := runRepopsCmd(t, "demo", "--db", path, "--appeals", "300", "--summary"); code != 0 {
		t.Fatalf("demo: %v", err)
	}
	am := amDaemon(t, "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n")
	cfg := amStatusConfig(t, am, "")
	status := func(t *testing.T, args ...string) (string, int) {
		t.Helper()
		out, errOut, code, _ := runRepopsCmd(t, append([]string{"--config", cfg, "--db", path, "status", "--interval", "0"}, args...)...)
		return out + errOut, code
	}
	statusJSONDoc := func(t *testing.T) (statusJSON, int) {
		t.Helper()
		out, _, code, _ := runRepopsCmd(t, "--config", cfg, "--db", path, "status", "--interval", "0", "--json")
		var doc statusJSON
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("--json: %v\n%s", err, out)
		}
		return doc, code
	}
	// waitExit polls status until it exits want (Alertmanager takes an
	// alert at once, but give it a few seconds).
	waitExit := func(t *testing.T, want int) string {
		t.Helper()
		var out string
		var code int
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
			if out, code = status(t); code == want {
				return out
			}
		}
		t.Fatalf("status: exit %d, want %d\n%s", code, want, out)
		return ""
	}

	t.Run("no alerts is ok", func(t *testing.T) {
		out := waitExit(t, exitOK)
		if !strings.HasPrefix(out, "repops status: OK") || !strings.Contains(out, "alertmanager: 0 active") || !strings.Contains(out, "alertmanager up") {
			t.Fatalf("text:\n%s", out)
		}
		doc, code := statusJSONDoc(t)
		if code != exitOK || doc.AlertmanagerAlerts == nil || len(doc.AlertmanagerAlerts) != 0 {
			t.Fatalf("--json: exit %d %+v", code, doc)
		}
	})

	starts := time.Now().Add(-2 * time.Minute).UTC().Truncate(time.Second)
	t.Run("a critical alert is CRITICAL", func(t *testing.T) {
		amAlert(t, am, "ReputationAppealErrorRate", "critical", "Appeal error rate: 7 % > alert threshold 5 %", starts, time.Time{})
		out := waitExit(t, exitCritical)
		t.Logf("status with a critical Alertmanager alert:\n%s", out)
		if !strings.HasPrefix(out, "repops status: CRITICAL") {
			t.Fatalf("text:\n%s", out)
		}
		var line string
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "ReputationAppealErrorRate") {
				line = l
			}
		}
		for _, want := range []string{"CRITICAL", "critical", "since " + starts.Format("2006-01-02 15:04:05Z"), "Appeal error rate: 7 %"} {
			if !strings.Contains(line, want) {
				t.Fatalf("alert line %q lacks %q\n%s", line, want, out)
			}
		}
		doc, code := statusJSONDoc(t)
		if code != exitCritical || doc.Status != "CRITICAL" || len(doc.AlertmanagerAlerts) != 1 {
			t.Fatalf("--json: exit %d %+v", code, doc)
		}
		a := doc.AlertmanagerAlerts[0]
		if a.Alertname != "ReputationAppealErrorRate" || a.Severity != "critical" || a.State != "active" || a.Verdict != "critical" ||
			!a.StartsAt.Equal(starts) || a.Labels["instance"] != "node-1:9090" || a.Labels["alertname"] != "ReputationAppealErrorRate" {
			t.Fatalf("alertmanager_alerts[0] %+v", a)
		}
	})

	t.Run("resolved is ok again", func(t *testing.T) {
		amAlert(t, am, "ReputationAppealErrorRate", "critical", "Appeal error rate: 7 % > alert threshold 5 %", starts, time.Now().Add(-time.Second))
		waitExit(t, exitOK)
		if doc, _ := statusJSONDoc(t); len(doc.AlertmanagerAlerts) != 0 {
			t.Fatalf("a resolved alert is listed: %+v", doc.AlertmanagerAlerts)
		}
	})

	t.Run("a warning alert is WARNING", func(t *testing.T) {
		amAlert(t, am, "ReputationSlowNegotiations", "warning", "Negotiations slow", starts, time.Time{})
		out := waitExit(t, exitWarning)
		if !strings.HasPrefix(out, "repops status: WARNING") || !strings.Contains(out, "ReputationSlowNegotiations") {
			t.Fatalf("text:\n%s", out)
		}
		doc, code := statusJSONDoc(t)
		if code != exitWarning || len(doc.AlertmanagerAlerts) != 1 || doc.AlertmanagerAlerts[0].Severity != "warning" {
			t.Fatalf("--json: exit %d %+v", code, doc)
		}
	})

	t.Run("silenced is listed and ok", func(t *testing.T) {
		amPost(t, am, "silences", map[string]any{
			"matchers":  []map[string]any{{"name": "alertname", "value": "ReputationSlowNegotiations", "isRegex": false, "isEqual": true}},
			"startsAt":  time.Now().Add(-time.Second).UTC().Format(time.RFC3339),
			"endsAt":    time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
			"createdBy": "repops test", "comment": "known",
		})
		out := waitExit(t, exitOK)
		t.Logf("status with a silenced alert:\n%s", out)
		if !strings.Contains(out, "alertmanager: 0 active, 1 silenced or inhibited") || !strings.Contains(out, "silenced") ||
			!strings.Contains(out, "ReputationSlowNegotiations") {
			t.Fatalf("text:\n%s", out)
		}
		doc, code := statusJSONDoc(t)
		if code != exitOK || len(doc.AlertmanagerAlerts) != 1 {
			t.Fatalf("--json: exit %d %+v", code, doc)
		}
		if a := doc.AlertmanagerAlerts[0]; a.State != "silenced" || a.Verdict != "ok" || len(a.SilencedBy) != 1 {
			t.Fatalf("silenced alert %+v", a)
		}
	})

	t.Run("an unknown severity is a warning", func(t *testing.T) {
		amAlert(t, am, "SomethingOdd", "page", "graded by nobody", starts, time.Time{})
		waitExit(t, exitWarning)
		amAlert(t, am, "SomethingOdd", "page", "graded by nobody", starts, time.Now().Add(-time.Second))
		waitExit(t, exitOK)
	})

	t.Run("with a fresh collector, alerts are read live", func(t *testing.T) {
		// The collector's state has appeal_error_rate pending for 1 min
		// (for 5m): a WARNING; Alertmanager's critical alert, not in the
		// state, makes it CRITICAL.
		cfgC := amStatusConfig(t, am, deadURL(t), "appeal_error_rate")
		collectorStateFor(t, path, os.Getpid(), time.Now(), time.Minute)
		run := func(args ...string) (string, int) {
			out, errOut, code, _ := runRepopsCmd(t, append([]string{"--config", cfgC, "--db", path, "status", "--interval", "0"}, args...)...)
			return out + errOut, code
		}
		if out, code := run(); code != exitWarning || !strings.Contains(out, "verdicts: the collector's") {
			t.Fatalf("collector, no active alert: exit %d\n%s", code, out)
		}
		amAlert(t, am, "ReputationDiskLow", "critical", "Disk low", starts, time.Time{})
		var out string
		var code int
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline) && code != exitCritical; time.Sleep(300 * time.Millisecond) {
			collectorStateFor(t, path, os.Getpid(), time.Now(), time.Minute)
			out, code = run()
		}
		if code != exitCritical || !strings.Contains(out, "verdicts: the collector's") || !strings.Contains(out, "ReputationDiskLow") {
			t.Fatalf("collector + critical Alertmanager alert: exit %d\n%s", code, out)
		}
		collectorStateFor(t, path, os.Getpid(), time.Now(), time.Minute)
		jout, _ := run("--json")
		var doc statusJSON
		if err := json.Unmarshal([]byte(jout), &doc); err != nil {
			t.Fatalf("%v\n%s", err, jout)
		}
		found := false
		for _, a := range doc.AlertmanagerAlerts {
			found = found || (a.Alertname == "ReputationDiskLow" && a.State == "active")
		}
		if doc.ExitCode != exitCritical || doc.Provisional || !found {
			t.Fatalf("--json from the collector: %+v", doc)
		}
		amAlert(t, am, "ReputationDiskLow", "critical", "Disk low", starts, time.Now().Add(-time.Second))
	})
}

// TestStatusAlertmanagerUnreachable: a dead Alertmanager makes the
// verdict UNKNOWN, naming it, only when nothing worse is known; with a
// critical rule it stays CRITICAL.
func TestStatusAlertmanagerUnreachable(t *testing.T) {
	dir := migTestEnv(t)
	path := filepath.Join(dir, "architect.db")
	if _, _, code, err := runRepopsCmd(t, "demo", "--db", path, "--appeals", "300", "--summary"); code != 0 {
		t.Fatalf("demo: %v", err)
	}
	dead := strings.TrimSuffix(deadURL(t), "/metrics")
	run := func(cfg string, args ...string) (string, int) {
		out, errOut, code, _ := runRepopsCmd(t, append([]string{"--config", cfg, "--db", path, "status", "--interval", "0"}, args...)...)
		return out + errOut, code
	}
	cfg := amStatusConfig(t, dead, "")
	out, code := run(cfg)
	t.Logf("status with a dead Alertmanager:\n%s", out)
	if code != exitUnknown || !strings.HasPrefix(out, "repops status: UNKNOWN (source alertmanager DEAD") || !strings.Contains(out, "alertmanager DEAD") {
		t.Fatalf("dead Alertmanager alone: exit %d\n%s", code, out)
	}
	jout, _ := run(cfg, "--json")
	var doc statusJSON
	if err := json.Unmarshal([]byte(jout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, jout)
	}
	if doc.ExitCode != exitUnknown || !strings.Contains(doc.AlertmanagerError, "alertmanager") || !strings.Contains(doc.AlertmanagerError, dead) {
		t.Fatalf("--json: %+v", doc)
	}
	// No backup: backup_age is critical; the dead Alertmanager hides
	// nothing.
	cfg = amStatusConfig(t, dead, "", "backup_age")
	if out, code := run(cfg); code != exitCritical || !strings.HasPrefix(out, "repops status: CRITICAL") || !strings.Contains(out, "alertmanager DEAD") {
		t.Fatalf("dead Alertmanager, critical rule: exit %d\n%s", code, out)
	}
}
