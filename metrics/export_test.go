package metrics

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func ruleByName(t *testing.T, name string) Rule {
	t.Helper()
	for _, r := range DefaultRules() {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no rule %s", name)
	return Rule{}
}

func yamlQuote(s string) string {
	b, _ := yaml.Marshal(s)
	return strings.TrimSpace(string(b))
}

// expAlert renders one expected alert of a promtool alert_rule_test.
func expAlert(r Rule, target bool, summary string) string {
	state, sev, panel := "critical", r.Severity, r.Panel
	if target {
		state, sev, panel = "warning", SeverityInfo, r.TargetOn()
	}
	s := fmt.Sprintf("          - exp_labels:\n              severity: %s\n              state: %s\n              rule: %s\n              panel: %s\n", sev, state, r.Name, panel)
	s += fmt.Sprintf("            exp_annotations:\n              summary: %s\n              description: %s\n", yamlQuote(summary), yamlQuote(r.Description))
	if r.Runbook != "" {
		s += "              runbook: " + r.Runbook + "\n"
	}
	return s
}

// TestRulesExportPromtool writes the default rules as the export does and
// has promtool check them and run unit tests: the console's thresholds,
// for durations and severities fire the same alerts in Prometheus.
func TestRulesExportPromtool(t *testing.T) {
	promtool := requirePromtool(t)
	dir := t.TempDir()
	b, err := ExportRules(DefaultRules(), time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	rulesFile := filepath.Join(dir, "repops.rules.yml")
	if err := os.WriteFile(rulesFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", rulesFile).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s\n%s", err, out, b)
	}

	sub := ruleByName(t, "appeal_submission_rate")
	backup := ruleByName(t, "backup_age")
	disk := ruleByName(t, "disk_free")
	test := `rule_files: [repops.rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'reputation_appeals_submitted_total'
        values: '0+150x12'
      - series: 'reputation_appeal_errors_total'
        values: '0x12'
      - series: 'repops_backup_age_seconds'
        values: '7200x12'
      - series: 'repops_disk_free_bytes'
        values: '5x12'
      - series: 'repops_disk_total_bytes'
        values: '100x12'
    promql_expr_test:
      - expr: round(repops:appeal_submission_rate, 0.001)
        eval_time: 8m
        exp_samples:
          - labels: '{}'
            value: 150
    alert_rule_test:
      - eval_time: 3m
        alertname: ReputationAppealSubmissionRate
        exp_alerts: []
      - eval_time: 8m
        alertname: ReputationAppealSubmissionRate
        exp_alerts:
` + expAlert(sub, false, "Appeal submission rate: 150/min > alert threshold 100/min") + `
      - eval_time: 2m
        alertname: ReputationAppealSubmissionRateOutsideTarget
        exp_alerts:
` + expAlert(sub, true, "Appeal submission rate: 150/min outside target <= 100/min") + `
      - eval_time: 8m
        alertname: ReputationAppealErrorRate
        exp_alerts: []
      - eval_time: 8m
        alertname: ReputationAppealErrorRateOutsideTarget
        exp_alerts: []
      - eval_time: 1m
        alertname: ReputationBackupAge
        exp_alerts:
` + expAlert(backup, false, "Backup age: 2 h > alert threshold 1 h") + `
      - eval_time: 3m
        alertname: ReputationDiskFree
        exp_alerts: []
      - eval_time: 10m
        alertname: ReputationDiskFree
        exp_alerts:
` + expAlert(disk, false, "Disk free: 5 % < alert threshold 10 %") + `
      - eval_time: 10m
        alertname: ReputationNegotiationDuration
        exp_alerts: []
`
	runPromtoolTest(t, dir, test)
}

func TestAlertName(t *testing.T) {
	if got := AlertName("appeal_error_rate", false); got != "ReputationAppealErrorRate" {
		t.Fatal(got)
	}
	if got := AlertName("disk_free", true); got != "ReputationDiskFreeOutsideTarget" {
		t.Fatal(got)
	}
}

func TestPerInstance(t *testing.T) {
	cases := map[string]string{
		`sum(rate(x[1m])) * 60`: `sum by (instance) (rate(x[1m])) * 60`,
		`1000 * histogram_quantile(0.95, sum by (le) (rate(b[1m])))`:                  `1000 * histogram_quantile(0.95, sum by (le, instance) (rate(b[1m])))`,
		`100 * sum(rate(e[1m])) / clamp_min(sum(rate(s[1m])), 1e-9)`:                  `100 * sum by (instance) (rate(e[1m])) / clamp_min(sum by (instance) (rate(s[1m])), 1e-9)`,
		`min(up{job="reputation"})`:                                                   `min by (instance) (up{job="reputation"})`,
		`100 * max(reputation_db_connections_active / reputation_db_connections_max)`: `100 * max by (instance) (reputation_db_connections_active / reputation_db_connections_max)`,
	}
	for in, want := range cases {
		if got := PerInstance(in); got != want {
			t.Errorf("PerInstance(%q)\n got %q\nwant %q", in, got, want)
		}
	}
}
