// Package runbooks holds the runbook format, its parser, the embedded
// catalogue of the operations guide's procedures (catalogue/*.md) and the
// engine that walks an operator through one, step by step, against the live
// database.
//
// # Format
//
// A runbook is a Markdown file with YAML front matter:
//
//	---
//	id: restore-from-backup
//	aliases: [restore]                  # other ids it answers to
//	title: Restore from backup
//	severity: critical          # critical, warning or info
//	tags: [backup, recovery]
//	when: [integrity_check, "data loss"]   # alert rule names and symptoms
//	objectives: {rto: 30m, rpo: 5m}
//	scenario: Database Corruption          # the guide's RTO/RPO row
//	---
//
// The body is CommonMark, read as the console renders it. Each top-level
// "## " heading starts a step; the heading is the step's name (unique in
// the runbook) and the Markdown under it is what the operator reads. A
// fenced block (``` or ~~~) whose info string is exactly "repops", standing
// under the heading (not in a list or a quote), holds the step's spec
// (YAML); an indented code block or an HTML comment is text whatever it
// holds, and a block marked nearly "repops" (Repops, repop, repops-check)
// is a parse error saying what was meant:
//
//	kind: manual | check | action       # inferred when left out
//	query: SELECT ...                   # check: one read-only statement
//	expect: {rows: 0}                   # or value: "ok", min: 1, max: 100, max_rows: 10
//	metric: appeal_error_rate           # check: a metric condition instead of a query
//	within: alert                       # the value is not beyond the rule's alert threshold
//	                                    # (or within: target); and/or below: 5, above,
//	                                    # state, state_not (these two judge the alert state)
//	action: restore                     # action: a name from the action catalogue
//	params: {backup: latest}
//	confirm: typed                      # required by destructive actions
//	on_failure: stop                    # or continue, or {goto: <step name>}
//
// A step without a block is manual. Text may use placeholders such as
// {{db.name}} or {{escalation.on_call}} (see Vars), filled from the config
// when a run starts. There is no shell and no write SQL: checks run one
// SELECT, WITH or read-only PRAGMA statement through the read-only
// connection (SQLite itself judges that it only reads: CheckReadOnlySQL),
// and actions are the procedures of the action catalogue (Actions). Parse
// errors name the file and line.
//
// # Engine
//
// See Engine and Run for the contract the console and the CLI drive.
package runbooks

import (
	"time"
)

// Severity levels of a runbook, as the guide's alert severities.
const (
	SeverityCritical = "critical"
	SeverityWarning  = "warning"
	SeverityInfo     = "info"
)

// Runbook is one parsed runbook: its front matter, its introduction and its
// steps. Runbooks are values; the engine never changes one.
type Runbook struct {
	ID string
	// Aliases are other ids the runbook answers to (ids that alert rules
	// or older configs use).
	Aliases    []string
	Title      string
	Severity   string
	Tags       []string
	When       []string // alert rule names and symptoms that lead here
	Objectives Objectives
	Scenario   string
	// Intro is the Markdown between the front matter and the first step.
	Intro string
	Steps []Step
	// File names where it came from: "builtin:catalogue/restore.md" or a
	// path in the override directory.
	File string
	// Source is the whole file as read.
	Source string
}

// Objectives are a procedure's recovery objectives (the guide's RTO/RPO
// table); zero when the runbook states none.
type Objectives struct {
	RTO time.Duration
	RPO time.Duration
}

// Kind is what a step does.
type Kind string

// Step kinds.
const (
	// Manual steps are done by the operator and ticked off (done, or
	// skipped with a reason), with an optional note.
	Manual Kind = "manual"
	// Check steps run a read-only query or read a metric and pass or fail.
	Check Kind = "check"
	// Action steps run a procedure of the action catalogue.
	Action Kind = "action"
)

// Step is one "##" section of a runbook.
type Step struct {
	Name string // the heading, unique in the runbook
	Text string // Markdown shown to the operator, without the spec block
	Line int    // line of the heading in the file
	Kind Kind

	// Query is a check's read-only SQL; empty for a metric check.
	Query string
	// Metric is a check's metric condition; nil for a query check.
	Metric *MetricCond
	// Expect is what a check's query or an action's figures must show.
	Expect Expect

	// Action is the action catalogue's name, Params its parameters.
	Action string
	Params map[string]string
	// Confirm is "typed" when the operator must type the database's name.
	Confirm string

	OnFailure OnFailure

	// Mitigates marks the step whose end, done or passed, stops the
	// incident's impact (spec key mitigates: true): the incident report's
	// TTM is measured to it.
	Mitigates bool

	gotoLine int // file line of on_failure's goto, for errors
}

// Destructive reports whether the step needs the typed confirmation.
func (s *Step) Destructive() bool { return s.Confirm == ConfirmTyped }

// ConfirmTyped is the confirm value of a destructive step.
const ConfirmTyped = "typed"

// MetricCond is a check on one panel of the metrics snapshot. Every set
// field must hold; a panel without data fails the check (never read as 0).
//
// Within compares the live value with a rule's threshold, as the rule
// judges it (metrics.Rule.BeyondAlert, WithinTarget): "alert", the value
// is not beyond the alert threshold (5 % passes "> 5 %", 32.5 % fails it
// whether the alert is pending or firing); "target", the value meets the
// target. The rule is the one named Name, or else the one rule judging the
// panel Name; its thresholds are those in force (the config's overrides).
// State and StateNot judge the alert state instead, which lags the value
// by the rule's for: an alert pending at 32.5 % is not "critical" yet, so
// "state_not: critical" passes it. Use Within for "back under the
// threshold"; State and StateNot remain for custom runbooks that mean the
// state.
type MetricCond struct {
	Name     string
	Below    *float64
	Above    *float64
	Within   string // "alert" or "target": the value against the rule's threshold
	State    string // the panel's (or rule's) alert state must be this
	StateNot string // the panel's (or rule's) alert state must not be this
}

// Within values of a metric condition.
const (
	WithinAlert  = "alert"
	WithinTarget = "target"
)

// Expect is the expected result of a check or an action. Unset fields are
// not checked; a check with nothing set passes when its query runs.
type Expect struct {
	Rows    *int     // exact number of rows
	MaxRows *int     // at most this many rows
	Value   *string  // first column of the first row, as text
	Min     *float64 // first column of the first row (or Figure), at least
	Max     *float64 // ... at most
	Figure  string   // for actions: which figure Min/Max apply to
}

// IsZero reports whether nothing is expected.
func (e Expect) IsZero() bool {
	return e.Rows == nil && e.MaxRows == nil && e.Value == nil && e.Min == nil && e.Max == nil && e.Figure == ""
}

// FailureMode is what a run does after a step fails.
type FailureMode string

// Failure modes.
const (
	Stop     FailureMode = "stop"
	Continue FailureMode = "continue"
	Goto     FailureMode = "goto"
)

// OnFailure is a step's on_failure: stop (the default), continue, or go to
// the named step.
type OnFailure struct {
	Mode FailureMode
	Goto string // step name when Mode is Goto
}

// StepIndex returns the index of the named step (case-insensitive), -1
// when there is none.
func (rb *Runbook) StepIndex(name string) int {
	for i := range rb.Steps {
		if equalFold(rb.Steps[i].Name, name) {
			return i
		}
	}
	return -1
}

// Destructive reports whether any step needs the typed confirmation.
func (rb *Runbook) Destructive() bool {
	for i := range rb.Steps {
		if rb.Steps[i].Destructive() {
			return true
		}
	}
	return false
}
