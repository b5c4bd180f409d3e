package runbooks

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/repops/repops/config"
)

// Vars are the values of the placeholders a runbook's text may use, such
// as {{db.name}}: the operator reads the real path, contact or port, not a
// generic one. Built from the config by VarsFromConfig.
type Vars map[string]string

// varDocs lists every placeholder a runbook may use.
var varDocs = map[string]string{
	"db.path":            "the database file",
	"db.name":            "its base name (the typed confirmation)",
	"backup.dir":         "the backup directory",
	"state.dir":          "repops' state dir (journal, run state, reports)",
	"metrics.url":        "the service's /metrics URL",
	"metrics.port":       "the service's metrics port",
	"pprof.url":          "the service's CPU profile URL on the metrics port",
	"environment":        "development, staging, production or drill",
	"escalation.on_call": "the on-call contacts (the guide's /etc/opsgenie/contacts)",
	"escalation.email":   "the escalation address",
	"escalation.channel": "the incident channel",
	"escalation.level1":  "support level 1 contact",
	"escalation.level2":  "support level 2 contact",
	"escalation.level3":  "support level 3 contact (infrastructure team)",
	"escalation.level4":  "support level 4 contact (database administrator)",
	"escalation.level5":  "support level 5 contact (incident commander)",
}

// VarNames lists the placeholder names, sorted.
func VarNames() []string {
	var out []string
	for k := range varDocs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func knownVar(name string) bool { _, ok := varDocs[name]; return ok }

var placeholderRE = regexp.MustCompile(`\{\{\s*([a-z0-9_.]+)\s*\}\}`)

// placeholders returns the placeholder names used in text.
func placeholders(text string) []string {
	var out []string
	for _, m := range placeholderRE.FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	return out
}

// levelRoles are the guide's five support levels.
var levelRoles = [5]string{
	"check dashboards, review logs (the on-call engineer)",
	"execute the appropriate runbook (the on-call engineer)",
	"page the infrastructure team",
	"database administrator",
	"incident commander",
}

// VarsFromConfig fills the placeholders from the effective config.
func VarsFromConfig(cfg *config.Config) Vars {
	v := Vars{
		"db.path":            cfg.Database.Path,
		"db.name":            filepath.Base(cfg.Database.Path),
		"backup.dir":         cfg.BackupDir(),
		"state.dir":          cfg.StateDir(),
		"metrics.url":        cfg.MetricsURL(),
		"metrics.port":       fmt.Sprint(cfg.Monitoring.MetricsPort),
		"pprof.url":          fmt.Sprintf("http://localhost:%d/debug/pprof/profile", cfg.Monitoring.MetricsPort),
		"environment":        cfg.Environment,
		"escalation.on_call": orNone(cfg.Console.Escalation.OnCall, "console.escalation.on_call"),
		"escalation.email":   orNone(cfg.Console.Escalation.Email, "console.escalation.email"),
		"escalation.channel": orNone(cfg.Console.Escalation.IncidentChannel, "console.escalation.incident_channel"),
	}
	for i := 1; i <= 5; i++ {
		var who []string
		for _, c := range cfg.Console.Escalation.Levels {
			if c.Level == i {
				who = append(who, strings.TrimSpace(c.Name+" "+c.Contact))
			}
		}
		val := fmt.Sprintf("%s: no contact configured (set console.escalation.levels with level: %d)", levelRoles[i-1], i)
		if len(who) > 0 {
			val = levelRoles[i-1] + ": " + strings.Join(who, ", ")
		}
		v[fmt.Sprintf("escalation.level%d", i)] = val
	}
	return v
}

func orNone(s, key string) string {
	if s == "" {
		return "(not configured: set " + key + ")"
	}
	return s
}

// Expand returns a copy of rb with the placeholders in its intro and step
// texts replaced by vars; a placeholder without a value is left as it is.
func (rb *Runbook) Expand(vars Vars) *Runbook {
	out := *rb
	rep := func(s string) string {
		return placeholderRE.ReplaceAllStringFunc(s, func(m string) string {
			name := placeholderRE.FindStringSubmatch(m)[1]
			if v, ok := vars[name]; ok {
				return v
			}
			return m
		})
	}
	out.Intro = rep(rb.Intro)
	out.Steps = make([]Step, len(rb.Steps))
	for i, s := range rb.Steps {
		s.Text = rep(s.Text)
		out.Steps[i] = s
	}
	return &out
}
