package metrics

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// RuleFile is a Prometheus rule file (rule_files:) as the export writes it.
type RuleFile struct {
	Groups []RuleGroup `yaml:"groups"`
}

// RuleGroup is one group of a rule file.
type RuleGroup struct {
	Name  string     `yaml:"name"`
	Rules []PromRule `yaml:"rules"`
}

// PromRule is a Prometheus recording or alerting rule.
type PromRule struct {
	Record      string            `yaml:"record,omitempty"`
	Alert       string            `yaml:"alert,omitempty"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// RecordName is the recording rule that computes a panel: repops:<panel>.
func RecordName(panel string) string { return "repops:" + panel }

// AlertName is the alert of a rule, Reputation<CamelCase name>; the
// target's alert adds OutsideTarget.
func AlertName(rule string, target bool) string {
	var b strings.Builder
	b.WriteString("Reputation")
	for _, part := range strings.Split(rule, "_") {
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	if target {
		b.WriteString("OutsideTarget")
	}
	return b.String()
}

// ExportRuleFile builds the Prometheus rules equivalent to rules, in one
// group (Prometheus evaluates a group's rules in order, so each alert sees
// the recording rules above it fresh):
//   - a recording rule repops:<panel> per panel a rule judges, with the
//     panel's PromQL (the service's metrics) or, for what only repops
//     knows, the expression over 'repops exporter' metrics;
//   - per rule, an alert strictly beyond the alert threshold with the
//     rule's for and severity (labels state="critical"), and an alert
//     outside the target (state="warning", severity info, no for) where
//     the rule has one: at the target's boundary unless the rule's target
//     is inclusive (Rule.OutsideTargetOp), as the console judges.
//
// Thresholds are in the panels' units, as in the console. Annotations carry
// the summary, the description and the runbook id.
func ExportRuleFile(rules []Rule) (RuleFile, error) {
	g := RuleGroup{Name: "repops"}
	recorded := map[string]bool{}
	record := func(panel string) error {
		if recorded[panel] {
			return nil
		}
		d, ok := panelDef(panel)
		if !ok {
			return fmt.Errorf("no panel named %q", panel)
		}
		expr := d.PromQL
		if expr == "" || !hasKind(d.Sources, KindPrometheus) && !hasKind(d.Sources, KindScrape) && !hasKind(d.Sources, KindLitestream) {
			expr = d.PromQLExporter
		}
		if expr == "" {
			return fmt.Errorf("panel %q has no PromQL", panel)
		}
		recorded[panel] = true
		g.Rules = append(g.Rules, PromRule{Record: RecordName(panel), Expr: expr})
		return nil
	}
	for _, r := range rules {
		if err := record(r.Panel); err != nil {
			return RuleFile{}, fmt.Errorf("rule %q: %w", r.Name, err)
		}
		if err := record(r.TargetOn()); err != nil {
			return RuleFile{}, fmt.Errorf("rule %q: %w", r.Name, err)
		}
	}
	for _, r := range rules {
		// The guide's boundaries exactly, as the console judges them: the
		// alert fires strictly beyond its threshold ("> 100/min"), the
		// target is missed at its boundary unless the rule's target is
		// inclusive ("< 8 active": 8 is outside).
		op := r.AlertOp()
		if r.HasAlert() {
			pr := PromRule{
				Alert: AlertName(r.Name, false),
				Expr:  fmt.Sprintf("%s %s %s", RecordName(r.Panel), op, promFloat(r.Alert)),
				Labels: map[string]string{
					"severity": r.Severity, "state": "critical", "rule": r.Name, "panel": r.Panel,
				},
				Annotations: map[string]string{
					"summary":     fmt.Sprintf("%s: {{ $value | humanize }}%s %s alert threshold %s", r.Title, unitSuffix(r.Unit), op, fmtValue(r.Alert, r.Unit)),
					"description": r.Description,
				},
			}
			if r.For > 0 {
				pr.For = model.Duration(r.For).String()
			}
			if r.Runbook != "" {
				pr.Annotations["runbook"] = r.Runbook
			}
			g.Rules = append(g.Rules, pr)
		}
		if r.HasTarget() {
			pr := PromRule{
				Alert: AlertName(r.Name, true),
				Expr:  fmt.Sprintf("%s %s %s", RecordName(r.TargetOn()), r.OutsideTargetOp(), promFloat(r.Target)),
				Labels: map[string]string{
					"severity": SeverityInfo, "state": "warning", "rule": r.Name, "panel": r.TargetOn(),
				},
				Annotations: map[string]string{
					"summary":     fmt.Sprintf("%s: {{ $value | humanize }}%s outside target %s %s", r.Title, unitSuffix(r.TargetUnit()), r.TargetOp(), fmtValue(r.Target, r.TargetUnit())),
					"description": r.Description,
				},
			}
			if r.Runbook != "" {
				pr.Annotations["runbook"] = r.Runbook
			}
			g.Rules = append(g.Rules, pr)
		}
	}
	return RuleFile{Groups: []RuleGroup{g}}, nil
}

// ExportRules renders ExportRuleFile as YAML with a header comment.
func ExportRules(rules []Rule, generated time.Time) ([]byte, error) {
	f, err := ExportRuleFile(rules)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Prometheus rules for the reputation system, written by 'repops rules export'\n")
	fmt.Fprintf(&b, "# at %s from the same rules the console evaluates (thresholds in the\n", generated.UTC().Format(time.RFC3339))
	b.WriteString("# panels' units). The repops_* series come from 'repops exporter'; the\n")
	b.WriteString("# service's scrape job must be named \"reputation\", Litestream's \"litestream\".\n")
	b.WriteString("# Check: promtool check rules FILE\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return nil, fmt.Errorf("encode rules: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode rules: %w", err)
	}
	return b.Bytes(), nil
}

func promFloat(v float64) string {
	if math.IsInf(v, 1) {
		return "+Inf"
	}
	if math.IsInf(v, -1) {
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func unitSuffix(unit string) string {
	switch unit {
	case "":
		return ""
	case "/min":
		return "/min"
	default:
		return " " + unit
	}
}
