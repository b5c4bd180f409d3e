// Package metrics is where the console's numbers come from and how they are
// judged: sources (the service's /metrics scraped directly, a Prometheus
// server's HTTP API, Alertmanager's v2 alerts, and the database itself),
// rates and histogram quantiles computed as Prometheus computes them,
// bounded history for sparklines, the alert rules of the operations guide
// and their evaluation, the Prometheus rules export and the exporter.
//
// It is plain Go with context.Context: the CLI, the console and tests use the
// same Engine. One Engine.Cycle collects every source concurrently (each
// bounded by a timeout), computes every panel, evaluates every rule and
// returns an immutable Snapshot. A value that could not be obtained is never
// shown as zero: it is a Value with OK false and the reason.
package metrics

import (
	"context"
	"math"
	"time"
)

// State is the judgement of one panel, rule or node. The zero value is
// StateUnknown, so that a figure nobody computed is never taken for "ok".
type State int

// The states, from "no data" to "firing".
const (
	// StateUnknown: no data (source down, stale, series missing); the
	// reason says which.
	StateUnknown State = iota
	// StateOK: within target.
	StateOK
	// StateWarning: outside target, not beyond the alert threshold.
	StateWarning
	// StatePending: beyond the alert threshold for less than the rule's
	// For duration.
	StatePending
	// StateCritical: beyond the alert threshold for at least For: the
	// alert fires.
	StateCritical
)

// String is the lower-case name: unknown, ok, warning, pending, critical.
func (s State) String() string {
	switch s {
	case StateOK:
		return "ok"
	case StateWarning:
		return "warning"
	case StatePending:
		return "pending"
	case StateCritical:
		return "critical"
	default:
		return "unknown"
	}
}

// Rank orders states by how much they need attention, for "worst of":
// ok 0 < unknown 1 < warning 2 < pending 3 < critical 4 (the usual Nagios
// precedence: CRITICAL over WARNING over UNKNOWN over OK).
func (s State) Rank() int {
	switch s {
	case StateOK:
		return 0
	case StateWarning:
		return 2
	case StatePending:
		return 3
	case StateCritical:
		return 4
	default:
		return 1
	}
}

// ExitCode is the Nagios plugin exit code: 0 OK, 1 WARNING (warning or
// pending), 2 CRITICAL, 3 UNKNOWN.
func (s State) ExitCode() int {
	switch s {
	case StateOK:
		return 0
	case StateWarning, StatePending:
		return 1
	case StateCritical:
		return 2
	default:
		return 3
	}
}

// Worst returns the state of higher Rank.
func Worst(a, b State) State {
	if b.Rank() > a.Rank() {
		return b
	}
	return a
}

// Compare says on which side of its thresholds a rule's figure is bad.
type Compare string

const (
	// Above: the figure is bad when greater than the threshold (latency,
	// error rate).
	Above Compare = "above"
	// Below: the figure is bad when less than the threshold (free disk).
	Below Compare = "below"
)

// Beyond reports whether v is on the bad side of threshold t (strictly:
// the guide's "> 100/min" is not breached at exactly 100).
func (c Compare) Beyond(v, t float64) bool {
	if c == Below {
		return v < t
	}
	return v > t
}

// Severities, as the guide's "Alert Response" section names them.
const (
	SeverityCritical = "critical" // page the on-call engineer
	SeverityWarning  = "warning"  // respond within 30 minutes
	SeverityInfo     = "info"     // monitor and document
)

// Panel names: the figures the console shows. Each rule judges one of them.
// Units are chosen as the guide states its thresholds.
const (
	PanelSubmissionRate     = "appeal_submission_rate"    // appeals per minute
	PanelAppealErrorRate    = "appeal_error_rate"         // % of submissions failing
	PanelProcessingP95      = "appeal_processing_p95"     // ms
	PanelNegotiationAvg     = "negotiation_duration_avg"  // hours
	PanelNegotiationP95     = "negotiation_duration_p95"  // hours
	PanelMLLatencyP99       = "ml_prediction_p99"         // ms
	PanelMLConfidence       = "ml_confidence_avg"         // 0..1
	PanelDBConnections      = "db_connections_active"     // connections
	PanelDBConnectionsUsage = "db_connections_usage"      // % of max
	PanelAPIErrorRate       = "api_error_rate"            // % of requests 5xx
	PanelServiceUp          = "service_up"                // 1 up, 0 down
	PanelBackupAge          = "backup_age"                // hours
	PanelDiskFree           = "disk_free"                 // % free on the database's filesystem
	PanelIntegrityAge       = "integrity_check_age"       // days
	PanelIntegrityOK        = "integrity_check_ok"        // 1 passed, 0 failed
	PanelWALSize            = "wal_size"                  // MiB
	PanelPendingAppeals     = "pending_appeals"           // appeals
	PanelDrillAge           = "dr_drill_age"              // days
	PanelSchemaPending      = "schema_pending_migrations" // migrations not applied
	PanelSchemaProblems     = "schema_problems"           // other differences from the migrations' schema
	PanelDatabaseSize       = "database_size"             // MiB (file + WAL)
	PanelPredictionLatency  = "ml_prediction_latency_avg" // ms, from the database
	PanelServiceCPU         = "service_cpu"               // % of one core, as top counts it
	PanelServiceMemory      = "service_memory"            // MiB resident
)

// PanelDef describes one panel: how it is titled, its unit, and how each
// source computes it. The console lays panels out in PanelDefs order.
type PanelDef struct {
	Name  string
	Title string
	Unit  string // "/min", "%", "ms", "h", "d", "MiB", "" (a count or ratio)
	// PromQL computes the panel on a Prometheus server (the Prometheus
	// source and the rules export use the same expression); "" when the
	// panel is known to repops only (see PromQLExporter).
	PromQL string
	// PromQLExporter computes the panel from 'repops exporter' metrics
	// scraped by Prometheus; used by the rules export when PromQL is "".
	PromQLExporter string
	// Sources lists the source kinds that can produce the panel, in the
	// order of preference ("scrape", "prometheus", "database").
	Sources []string
	// Description is one line for the help screen.
	Description string
}

// Rule is one alert rule: which panel it judges, the target (ok within
// it, warning outside), the alert threshold (pending, then critical after
// For), the severity when it fires and the runbook to offer.
type Rule struct {
	// Name is the stable id (snake_case), used by config overrides.
	Name string `json:"name" yaml:"name"`
	// Title is what the operator reads, e.g. "Appeal submission rate".
	Title string `json:"title" yaml:"title"`
	// Panel is the panel the alert threshold applies to.
	Panel string `json:"panel" yaml:"panel"`
	// TargetPanel is the panel the target applies to when it differs from
	// Panel (the guide judges negotiation duration's target on the average
	// and its alert on p95); "" means Panel.
	TargetPanel string `json:"target_panel,omitempty" yaml:"target_panel,omitempty"`
	// Unit of Target and Alert, as the panel's.
	Unit string `json:"unit" yaml:"unit"`
	// Target: within it the rule is ok. NaN means no target (ok until the
	// alert threshold).
	Target float64 `json:"target" yaml:"target"`
	// TargetInclusive says the target's boundary value is within target
	// (<= Target for Compare Above, >= Target for Below). False, the
	// default, is strict, as the guide's key metrics state their targets
	// ("< 8 active", "< 1%"): at exactly 8 the figure is outside target.
	// See Rule.WithinTarget and Rule.TargetOp.
	TargetInclusive bool `json:"target_inclusive,omitempty" yaml:"target_inclusive,omitempty"`
	// Alert: beyond it the rule is pending, then critical after For.
	// NaN means no alert threshold (the rule only warns). Beyond is
	// strict, as the guide's "> 100/min": exactly 100 does not alert
	// (Rule.BeyondAlert).
	Alert float64 `json:"alert" yaml:"alert"`
	// Compare says which side of the thresholds is bad.
	Compare Compare `json:"compare" yaml:"compare"`
	// For is how long the figure must stay beyond Alert before the rule
	// is critical (Prometheus' "for").
	For time.Duration `json:"for" yaml:"for"`
	// Severity when it fires: critical, warning or info.
	Severity string `json:"severity" yaml:"severity"`
	// Runbook is the id of the runbook to offer, e.g.
	// "appeal-submission-failing".
	Runbook string `json:"runbook,omitempty" yaml:"runbook,omitempty"`
	// Description says what it means and where to look first.
	Description string `json:"description" yaml:"description"`
}

// HasTarget reports whether the rule has a target.
func (r Rule) HasTarget() bool { return !math.IsNaN(r.Target) }

// HasAlert reports whether the rule has an alert threshold.
func (r Rule) HasAlert() bool { return !math.IsNaN(r.Alert) }

// TargetOn is the panel the target applies to.
func (r Rule) TargetOn() string {
	if r.TargetPanel != "" {
		return r.TargetPanel
	}
	return r.Panel
}

// Value is one figure, or why there is none. OK false means unknown: the
// console shows the reason, never a zero.
type Value struct {
	V      float64
	OK     bool
	Reason string // why unknown; empty when OK
}

// Known is a value that was obtained.
func Known(v float64) Value { return Value{V: v, OK: true} }

// Unknown is a value that could not be obtained, with the reason.
func Unknown(reason string) Value { return Value{Reason: reason} }

// Panel is one panel of a Snapshot.
type Panel struct {
	Name, Title, Unit string
	Value             Value
	// Source is the name of the source the value came from ("" when
	// unknown).
	Source string
	// Target and Alert are the thresholds of the rule judging this panel
	// (NaN when none).
	Target, Alert float64
	// State is the panel's state (the worst of the rules on it; unknown
	// when the value is).
	State State
	// Since is when the panel entered State.
	Since time.Time
	// Recent is the newest points of the panel's history, oldest first,
	// at most EngineOptions.SnapshotHistory; NaN where the value was
	// unknown. The full history is Engine.History.
	Recent []float64
	// Carried, when set, is when a collector measured Value: the engine
	// has not measured the panel itself yet since it started (a rate needs
	// two scrapes), and shows the collector's last value meanwhile.
	Carried time.Time
}

// SourceHealth is how a source fared in the last cycle.
type SourceHealth struct {
	Name string
	Kind string // "scrape", "prometheus", "alertmanager", "database"
	URL  string // endpoint or database path
	Up   bool
	// Err is the last error, one line; "" when up.
	Err string
	// LastOK is the last time the source answered; zero if never.
	LastOK time.Time
	// Latency of the last collection.
	Latency time.Duration
	// Warnings the source returned with an answer (Prometheus' warnings
	// and infos), one line each.
	Warnings []string
}

// Transition is one change of a rule's state.
type Transition struct {
	Time     time.Time
	From, To State
	Value    Value
}

// AlertStatus is the evaluation of one rule.
type AlertStatus struct {
	Rule  Rule
	State State
	// Value is the panel's value the alert threshold is judged on;
	// TargetValue the one the target is judged on (the same panel unless
	// Rule.TargetPanel is set).
	Value, TargetValue Value
	// ActiveSince is when the value first went beyond the alert threshold
	// (pending, then critical); zero when it is not beyond it.
	ActiveSince time.Time
	// Since is when the rule entered State.
	Since time.Time
	// Reason says why, in one line ("123/min > 100/min for 2m", or the
	// unknown reason).
	Reason string
	// Runbook is the id of the runbook to offer (Rule.Runbook).
	Runbook string
	// Configured is false when no configured source can ever produce the
	// panel (for example latency percentiles with no metrics endpoint and
	// no Prometheus): the rule is unknown and Snapshot.Overall ignores it.
	Configured bool
	// History is the newest transitions, oldest first (bounded, see
	// EngineOptions.TransitionHistory).
	History []Transition
	// Judge is who timed the rule's for: "" for repops itself,
	// JudgePrometheus when the state is Prometheus' (promrules.go).
	Judge string
	// Silenced is the silence (or acknowledgement) that covers the alert
	// now, nil when none does. The state stays what it is: a silenced
	// critical alert is CRITICAL and silenced, never OK (silence.go).
	Silenced *SilenceRef
}

// ExternalAlert is an alert read from Alertmanager.
type ExternalAlert struct {
	Name        string // the alertname label
	Severity    string // the severity label
	Summary     string // the summary (or description) annotation
	Instance    string // the instance label
	State       string // active, suppressed, unprocessed
	Fingerprint string
	StartsAt    time.Time
	Labels      map[string]string
	Annotations map[string]string
	// EndsAt is when Alertmanager takes the alert for resolved.
	EndsAt time.Time
	// SilencedBy and InhibitedBy are the silences and the inhibiting
	// alerts (fingerprints) that suppress the alert.
	SilencedBy  []string
	InhibitedBy []string
}

// Node is one instance of the service in a fleet, from the Prometheus
// source's per-instance series.
type Node struct {
	Instance string
	Up       bool
	// State is the worst state of the node's panels judged by the rules.
	State  State
	Panels map[string]Value
}

// TableFigure is the size of one table or index, from db.TableSizes.
type TableFigure struct {
	Name string
	// Kind is "table" or "index"; Table is the table an index belongs to
	// (a table's own name for a table).
	Kind, Table string
	// Rows is the number of rows (entries, for an index); -1 when
	// unknown. Estimated says it is an estimate, RowSource where it came
	// from (db.RowsCounted, db.RowsStat1, db.RowsRowidBounds): tables
	// under 100k rows are counted, larger ones estimated, for speed.
	Rows      int64
	Estimated bool
	RowSource string
	// Pages and Bytes the b-tree occupies (overflow pages included, from
	// dbstat); -1 when unknown.
	Pages int64
	Bytes int64
}

// DBFigures are what the database source measured. Times are zero and
// values unknown when not measured.
type DBFigures struct {
	Path      string
	FileBytes int64 // the database file, measured every cycle
	WALBytes  int64 // its -wal, measured every cycle

	// Tables (largest first; SQLite's internal sqlite_* tables left out)
	// and Indexes (grouped by table, largest first) come from the newest
	// size measurement, which runs in the background every few minutes
	// (see DatabaseSource); empty until the first one finishes.
	Tables  []TableFigure
	Indexes []TableFigure
	// PageSize (bytes), PageCount and FreePages (on the freelist: space
	// VACUUM would return) are from the same measurement.
	PageSize, PageCount, FreePages int64
	// SizesAt is when the newest size measurement started (the
	// collection clock); SizesTook how long it took. Zero until the first.
	SizesAt   time.Time
	SizesTook time.Duration
	// SizesErr is why the last size measurement failed, "" when it did
	// not; the previous figures, if any, are kept.
	SizesErr string

	LastBackup     time.Time
	LastBackupPath string
	BackupAge      Value // hours; +Inf (known) when there is no backup
	Backups        int   // finished backups in the backup dir

	LastCheck     time.Time
	LastCheckOK   bool
	LastCheckMode string
	CheckProblems []string
	LastDrill     time.Time
	LastDrillOK   bool
	LastDrillRTO  time.Duration
	SchemaVersion int64
	LatestSchema  int64
	// SchemaValid is true when db.Validate found no problem: every
	// migration applied and known, no checksum drift, every table, column
	// and index the migrations define present as defined, no duplicate
	// index. SchemaProblems lists what it found, one line each ("kind:
	// message", see db.Problem); SchemaCheckedAt is when it last ran (it
	// is cached: see DatabaseSource).
	SchemaValid     bool
	SchemaProblems  []string
	SchemaCheckedAt time.Time

	DiskFree, DiskTotal int64 // bytes, on the database's filesystem

	PendingAppeals     int64
	NegotiatingAppeals int64
	// Err is the first error of the collection, "" when none.
	Err string
}

// Snapshot is the result of one cycle. It is a copy: the console may keep
// it while the next cycle runs.
type Snapshot struct {
	Time     time.Time
	Panels   []Panel
	Alerts   []AlertStatus
	External []ExternalAlert
	Nodes    []Node
	DB       DBFigures
	Sources  []SourceHealth
	// Duration is how long the cycle took.
	Duration time.Duration
	// Changes are the rules' state transitions of this cycle (not a
	// rule's first judgement), in the rules' order: what a collector
	// journals as the incident's timeline.
	Changes []RuleChange
}

// Panel returns the panel named name, ok false when absent.
func (s Snapshot) Panel(name string) (Panel, bool) {
	for _, p := range s.Panels {
		if p.Name == name {
			return p, true
		}
	}
	return Panel{}, false
}

// Overall is the worst state of the configured rules (StateOK when there
// are none): what 'repops status' reports.
func (s Snapshot) Overall() State {
	st, any := StateOK, false
	for _, a := range s.Alerts {
		if !a.Configured {
			continue
		}
		any = true
		st = Worst(st, a.State)
	}
	if !any {
		return StateOK
	}
	return st
}

// Result is what one source collected in one cycle. A source fills what it
// knows; a panel it tried but could not compute is present with OK false
// and the reason.
type Result struct {
	Panels map[string]Value
	Nodes  []Node
	Alerts []ExternalAlert
	DB     *DBFigures
	// Warnings come with an answer that is still usable.
	Warnings []string
	// PromRules are Prometheus' states of repops' rules (the Prometheus
	// source only), by rule name.
	PromRules map[string]PromRuleState
}

// Source is one place figures come from. Contract: Collect is called by one
// goroutine at a time (the Engine serialises cycles), returns within ctx's
// deadline, never panics, and returns an error only when the whole source
// failed (down, timeout, unparsable answer); a partial failure is reported
// per panel as unknown values in the Result. Sources may keep state
// between calls (the scrape source keeps its recent scrapes for rates).
type Source interface {
	// Name identifies the source in the console ("service", "prometheus").
	Name() string
	// Kind is "scrape", "prometheus", "alertmanager" or "database".
	Kind() string
	// Target is the URL or path collected, for display.
	Target() string
	// Collect collects once, at now.
	Collect(ctx context.Context, now time.Time) (Result, error)
}
