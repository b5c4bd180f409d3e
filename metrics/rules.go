package metrics

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/repops/repops/config"
)

// Source kinds.
const (
	KindScrape       = "scrape"
	KindPrometheus   = "prometheus"
	KindAlertmanager = "alertmanager"
	KindDatabase     = "database"
	// KindLitestream is Litestream's own /metrics (LitestreamSource).
	KindLitestream = "litestream"
)

// The scrape windows: fast panels are judged over the last minute, as the
// PromQL rate(...[1m]) of the guide's Prometheus; negotiation durations
// (hours long, finishing a few times a minute at most) over the last hour;
// the database source judges them over DefaultNegotiationWindow.
const (
	FastWindow = time.Minute
	SlowWindow = time.Hour
)

// TargetUnit is the unit of the rule's target: the unit of the panel the
// target is judged on (TargetOn), which differs from Unit (the alert
// panel's) when TargetPanel is another panel: db_connections alerts over
// 80 % of the pool and targets under 8 connections.
func (r Rule) TargetUnit() string {
	if r.TargetPanel == "" || r.TargetPanel == r.Panel {
		return r.Unit
	}
	for _, p := range PanelDefs() {
		if p.Name == r.TargetPanel {
			return p.Unit
		}
	}
	return r.Unit
}

// WithinTarget reports whether v meets the rule's target, as the guide
// states targets: strictly ("< 8 active": 8 is outside the target) unless
// TargetInclusive ("0 migrations pending" is within). A rule without a
// target: always true.
func (r Rule) WithinTarget(v float64) bool {
	if !r.HasTarget() {
		return true
	}
	switch {
	case r.Compare == Below && r.TargetInclusive:
		return v >= r.Target
	case r.Compare == Below:
		return v > r.Target
	case r.TargetInclusive:
		return v <= r.Target
	default:
		return v < r.Target
	}
}

// OutsideTarget reports whether v misses the rule's target (the rule
// warns): the negation of WithinTarget for a number; false without a
// target.
func (r Rule) OutsideTarget(v float64) bool {
	return r.HasTarget() && !math.IsNaN(v) && !r.WithinTarget(v)
}

// BeyondAlert reports whether v is beyond the rule's alert threshold,
// strictly, as the guide's "> 100/min" and "> 5%": exactly at the
// threshold it does not alert. False without an alert threshold.
func (r Rule) BeyondAlert(v float64) bool {
	return r.HasAlert() && r.Compare.Beyond(v, r.Alert)
}

// TargetOp is the comparison a figure within the target satisfies, in
// ASCII as PromQL writes it: "<" (the guide's "< 8 active"), "<=", ">" or
// ">=".
func (r Rule) TargetOp() string {
	switch {
	case r.Compare == Below && r.TargetInclusive:
		return ">="
	case r.Compare == Below:
		return ">"
	case r.TargetInclusive:
		return "<="
	default:
		return "<"
	}
}

// OutsideTargetOp is the comparison a figure outside the target
// satisfies: the negation of TargetOp (">=" for a "< 8" target).
func (r Rule) OutsideTargetOp() string { return negateOp(r.TargetOp()) }

// OutsideTargetSign is how v, outside the target, compares with it, for
// a reason line: ">" or "<" beyond it, ">=" or "<=" exactly at a strict
// target ("8 >= target 8": the guide's "< 8" is missed at 8).
func (r Rule) OutsideTargetSign(v float64) string {
	if v == r.Target {
		return r.OutsideTargetOp()
	}
	return r.AlertOp()
}

// AlertOp is the comparison a figure beyond the alert threshold
// satisfies: ">" or "<", strict.
func (r Rule) AlertOp() string {
	if r.Compare == Below {
		return "<"
	}
	return ">"
}

// WithinAlertOp is the comparison a figure short of the alert threshold
// satisfies: "<=" (a figure exactly at "> 5 %" does not alert) or ">=".
func (r Rule) WithinAlertOp() string { return negateOp(r.AlertOp()) }

func negateOp(op string) string {
	switch op {
	case "<":
		return ">="
	case "<=":
		return ">"
	case ">":
		return "<="
	case ">=":
		return "<"
	}
	return op
}

// PanelDefs is the panel catalogue, in display order: the guide's key
// metrics first, then what its maintenance and recovery sections imply.
func PanelDefs() []PanelDef {
	sd := []string{KindScrape, KindPrometheus, KindDatabase}
	sp := []string{KindScrape, KindPrometheus}
	d := []string{KindDatabase}
	ls := []string{KindLitestream}
	return []PanelDef{
		{Name: PanelSubmissionRate, Title: "Appeal submissions", Unit: "/min", Sources: sd,
			PromQL:         `sum(rate(reputation_appeals_submitted_total[1m])) * 60`,
			PromQLExporter: `60 * repops_db_appeals_submitted_per_second`,
			Description:    "appeals submitted per minute over the last minute (database: last 5 minutes)"},
		{Name: PanelAppealErrorRate, Title: "Appeal errors", Unit: "%", Sources: sp,
			PromQL:      `100 * sum(rate(reputation_appeal_errors_total[1m])) / clamp_min(sum(rate(reputation_appeals_submitted_total[1m])), 1e-9)`,
			Description: "failed appeal submissions as a share of submissions, last minute"},
		{Name: PanelProcessingP95, Title: "Appeal processing p95", Unit: "ms", Sources: sp,
			PromQL:      `1000 * histogram_quantile(0.95, sum by (le) (rate(reputation_appeal_processing_seconds_bucket[1m])))`,
			Description: "95th percentile of appeal processing time, last minute"},
		{Name: PanelNegotiationAvg, Title: "Negotiation avg", Unit: "h", Sources: sd,
			PromQL:         `(sum(rate(reputation_negotiation_duration_hours_sum[1m])) / sum(rate(reputation_negotiation_duration_hours_count[1m])) >= 0) or sum(rate(reputation_negotiation_duration_hours_sum[1h])) / sum(rate(reputation_negotiation_duration_hours_count[1h]))`,
			PromQLExporter: `repops_db_negotiation_duration_seconds{stat="avg"} / 3600`,
			Description:    "average negotiation duration of the negotiations finished in the last minute, or in the last hour when none finished in the minute (database: the last 30 s, first to last message, with the same fallback)"},
		{Name: PanelNegotiationP95, Title: "Negotiation p95", Unit: "h", Sources: sd,
			PromQL:         `(histogram_quantile(0.95, sum by (le) (rate(reputation_negotiation_duration_hours_bucket[1m]))) >= 0) or histogram_quantile(0.95, sum by (le) (rate(reputation_negotiation_duration_hours_bucket[1h])))`,
			PromQLExporter: `repops_db_negotiation_duration_seconds{stat="p95"} / 3600`,
			Description:    "95th percentile of negotiation duration, negotiations finished in the last minute, or the last hour when none finished in the minute (database: the last 30 s, with the same fallback)"},
		{Name: PanelMLLatencyP99, Title: "ML prediction p99", Unit: "ms", Sources: sp,
			PromQL:      `1000 * histogram_quantile(0.99, sum by (le) (rate(reputation_ml_prediction_seconds_bucket[1m])))`,
			Description: "99th percentile of ML prediction latency, last minute"},
		{Name: PanelPredictionLatency, Title: "ML latency avg", Unit: "ms", Sources: sd,
			PromQL:         `1000 * sum(rate(reputation_ml_prediction_seconds_sum[1m])) / sum(rate(reputation_ml_prediction_seconds_count[1m]))`,
			PromQLExporter: `1000 * repops_db_ml_prediction_latency_seconds{stat="avg"}`,
			Description:    "average ML prediction latency, last minute (database: last 5 minutes)"},
		{Name: PanelMLConfidence, Title: "ML confidence", Unit: "", Sources: d,
			PromQLExporter: `repops_db_ml_prediction_confidence_ratio{stat="avg"}`,
			Description:    "average confidence of the predictions of the last 5 minutes"},
		{Name: PanelDBConnections, Title: "DB connections", Unit: "", Sources: sp,
			PromQL:      `max(reputation_db_connections_active)`,
			Description: "active database connections (the busiest node)"},
		{Name: PanelDBConnectionsUsage, Title: "DB pool usage", Unit: "%", Sources: sp,
			PromQL:      `100 * max(reputation_db_connections_active / reputation_db_connections_max)`,
			Description: "active connections as a share of the pool's maximum"},
		{Name: PanelServiceCPU, Title: "Service CPU", Unit: "%", Sources: sp,
			PromQL:      `100 * max(rate(process_cpu_seconds_total{job="reputation"}[1m]))`,
			Description: "CPU time the service's process uses, in % of one core as top counts it (100 % is one core busy), last minute (the busiest node)"},
		{Name: PanelServiceMemory, Title: "Service memory", Unit: "MiB", Sources: sp,
			PromQL:      `max(process_resident_memory_bytes{job="reputation"}) / 1048576`,
			Description: "resident memory of the service's process (the largest node)"},
		{Name: PanelAPIErrorRate, Title: "API errors", Unit: "%", Sources: sp,
			PromQL:      `100 * sum(rate(reputation_api_requests_total{code=~"5.."}[1m])) / clamp_min(sum(rate(reputation_api_requests_total[1m])), 1e-9)`,
			Description: "API requests answered 5xx as a share of all requests, last minute"},
		{Name: PanelServiceUp, Title: "Service up", Unit: "", Sources: sp,
			PromQL:      `min(up{job="reputation"})`,
			Description: "1 when the service's /metrics answers (Prometheus: the job named reputation, every instance)"},
		{Name: PanelBackupAge, Title: "Last backup", Unit: "h", Sources: d,
			PromQLExporter: `repops_backup_age_seconds / 3600 or (repops_backups == 0) + Inf`,
			Description:    "age of the newest backup in the backup dir"},
		{Name: PanelDiskFree, Title: "Disk free", Unit: "%", Sources: d,
			PromQLExporter: `100 * repops_disk_free_bytes / repops_disk_total_bytes`,
			Description:    "free space on the database's filesystem"},
		{Name: PanelDatabaseSize, Title: "Database size", Unit: "MiB", Sources: d,
			PromQLExporter: `(repops_db_file_bytes + repops_db_wal_bytes) / 1048576`,
			Description:    "database file plus WAL"},
		{Name: PanelDBGrowth, Title: "DB rows inserted", Unit: "/min", Sources: d,
			PromQLExporter: `60 * repops_db_rows_inserted_per_second`,
			Description:    "rows inserted per minute into appeals, appeal_negotiation_messages and ml_predictions over the last minute (from the growth of their largest rowid, read every cycle)"},
		{Name: PanelWALSize, Title: "WAL size", Unit: "MiB", Sources: d,
			PromQLExporter: `repops_db_wal_bytes / 1048576`,
			Description:    "size of the write-ahead log: a large WAL means checkpoints are starved"},
		{Name: PanelPendingAppeals, Title: "Pending appeals", Unit: "", Sources: d,
			PromQLExporter: `repops_db_appeals_pending`,
			Description:    "appeals in status pending"},
		{Name: PanelIntegrityOK, Title: "Integrity check", Unit: "", Sources: d,
			PromQLExporter: `repops_integrity_check_ok`,
			Description:    "1 when the last integrity check passed"},
		{Name: PanelIntegrityAge, Title: "Last check", Unit: "d", Sources: d,
			PromQLExporter: `(time() - repops_integrity_check_timestamp_seconds) / 86400 or (repops_integrity_check_recorded == 0) + Inf`,
			Description:    "days since the last integrity check"},
		{Name: PanelSchemaPending, Title: "Schema behind", Unit: "", Sources: d,
			PromQLExporter: `repops_schema_pending_migrations`,
			Description:    "migrations this repops knows that the database lacks"},
		{Name: PanelSchemaProblems, Title: "Schema problems", Unit: "", Sources: d,
			PromQLExporter: `repops_schema_problems`,
			Description:    "differences between the live schema and what the applied migrations define: missing, wrong or duplicate indexes, missing tables or columns, checksum drift, unknown versions (pending migrations are Schema behind)"},
		{Name: PanelDrillAge, Title: "Last DR drill", Unit: "d", Sources: d,
			PromQLExporter: `(time() - repops_drill_timestamp_seconds) / 86400 or (repops_drill_recorded == 0) + Inf`,
			Description:    "days since the last disaster-recovery drill (the guide asks for one a quarter)"},
		// Replication, from Litestream's own metrics (LitestreamSource;
		// Prometheus scrapes Litestream with the job named litestream).
		// The lag's PromQL: the newest evaluation, 15 s apart over the last
		// hour, at which Litestream's sync count rose more than its failed
		// syncs over the minute before (max - min over the window, not
		// increase(): its extrapolation differs between a counter near 0
		// and one far from it, which would count a failing minute as a
		// good one; a restart's reset reads as a rise). Once Litestream
		// stops answering its series go stale and the lag grows from about
		// the stop, as the console's; a Litestream down for over an hour
		// is +Inf. Prometheus sees a stop or failing syncs up to a minute
		// late (its window) and to its scrape interval, the console to
		// within a cycle.
		{Name: PanelReplicationLag, Title: "Replication lag", Unit: "s", Sources: ls,
			PromQL:      `max(time() - max_over_time(timestamp(max_over_time(litestream_sync_count{job="litestream"}[1m]) - min_over_time(litestream_sync_count{job="litestream"}[1m]) > max_over_time(litestream_sync_error_count{job="litestream"}[1m]) - min_over_time(litestream_sync_error_count{job="litestream"}[1m]))[1h:15s])) or on() (min(up{job="litestream"}) == 0) + Inf`,
			Description: "seconds since Litestream's newest successful sync of the database's WAL (it syncs every second; the writes since then are what losing the host now would lose): keeps growing while Litestream is stopped"},
		{Name: PanelLastSyncAge, Title: "Last sync", Unit: "s", Sources: ls,
			PromQL:      `max(time() - max_over_time(timestamp(max_over_time(litestream_sync_count{job="litestream"}[1m]) - min_over_time(litestream_sync_count{job="litestream"}[1m]) > max_over_time(litestream_sync_error_count{job="litestream"}[1m]) - min_over_time(litestream_sync_error_count{job="litestream"}[1m]))[1h:15s]))`,
			Description: "seconds since Litestream's newest successful sync, as long as Litestream answers (unknown, saying why, when it does not)"},
		{Name: PanelReplicationWAL, Title: "WAL (Litestream)", Unit: "MiB", Sources: ls,
			PromQL:      `max(litestream_wal_size{job="litestream"}) / 1048576`,
			Description: "bytes of the WAL Litestream has synced (litestream_wal_size): it holds a read lock, and a WAL that keeps growing here means checkpoints wait for it"},
		{Name: PanelReplicaErrors, Title: "Replication errors", Unit: "/min", Sources: ls,
			PromQL:      `60 * (sum(rate(litestream_sync_error_count{job="litestream"}[1m])) + (sum(rate(litestream_checkpoint_error_count{job="litestream"}[1m])) or vector(0)) + (sum(rate(litestream_compaction_verify_error_count{job="litestream"}[1m])) or vector(0)) + (sum(rate(litestream_replica_operation_errors_total{job="litestream"}[1m])) or vector(0)) + (sum(rate(litestream_validation_checks_total{job="litestream",result!="success"}[1m])) or vector(0)))`,
			Description: "Litestream's errors per minute over the last minute: failed syncs, checkpoints, compaction verifications, replica operations and validation checks"},
		// Replica verification ('repops replicate verify', which the
		// exporter runs every verify_every), from its record in the state
		// dir (ReplicaVerifySource, a source of Litestream's kind: built
		// only when replication is configured).
		{Name: PanelReplicaVerifyAge, Title: "Replica verified", Unit: "h", Sources: ls,
			PromQLExporter: `(time() - repops_replica_verify_last_success_timestamp_seconds) / 3600 or (repops_replica_verify_recorded == 1) + Inf`,
			Description:    "hours since the last successful verification of the replica (its newest state restored into scratch, quick_check or integrity_check, row counts compared with the live database); infinite when verifications ran and none succeeded"},
		{Name: PanelReplicaVerifyOK, Title: "Replica check", Unit: "", Sources: ls,
			PromQLExporter: `repops_replica_verify_ok`,
			Description:    "1 when the last replica verification found the replica sound, 0 when it found it damaged or different from the live database"},
	}
}

// PanelDBGrowth is the database's growth: rows inserted per minute into
// the main tables, over the last minute (DatabaseSource, from the
// successive largest rowids of appeals, appeal_negotiation_messages and
// ml_predictions).
const PanelDBGrowth = "db_growth"

// panelDef finds a panel's definition.
func panelDef(name string) (PanelDef, bool) {
	for _, d := range PanelDefs() {
		if d.Name == name {
			return d, true
		}
	}
	return PanelDef{}, false
}

// NoThreshold marks a rule without a target or without an alert threshold.
var NoThreshold = math.NaN()

// DefaultRules is the guide's "Key Metrics to Monitor" table, plus what its
// maintenance and disaster-recovery sections imply:
//   - backup_age: the newest backup older than the guide's RPO for data
//     loss (1 hour) is critical (no backup at all counts as infinitely old);
//   - disk_free: the database's filesystem running out of space (the
//     guide's first check when submissions fail, and its weekly df -h);
//   - integrity_check_failed / integrity_check_age: the last integrity
//     check failed, or is older than a week (warning) / a month (alert);
//   - schema_behind: migrations not applied (the guide validates the schema
//     after every restore and deployment);
//   - schema_problems: the live schema differs from what the applied
//     migrations define (db.Validate): a missing critical index of the
//     guide's "Indexing Strategy" is a warning, not a page;
//   - wal_size: a WAL grown past 512 MiB means checkpoints are starved;
//   - db_growth: the guide's "Database Growing Too Fast", before the disk
//     fills. Decision: rows inserted per minute into the three main
//     tables (the database source reads their largest rowid every cycle,
//     three index seeks). The guide's ceiling of 100 appeals a minute
//     writes about 800 rows a minute with their negotiation threads and
//     predictions (normal load about 330), so the target is under 1000
//     rows/min; the alert is over 5000 rows/min for 10 minutes: 7.2M rows
//     a day, about 1.2 GiB a day at the 1M-appeal demo database's ~170
//     bytes a row (5.55M rows in 917 MiB, indexes included), some 400 GiB
//     kept over the guide's one-year retention before archival, and more
//     than an appeal flood capped at 300/min writes (about 2300 rows/min
//     estimated from the simulator's mix), so it names inserts the
//     submissions do not explain;
//   - ml_confidence: predictions below the config's ml_confidence_threshold
//     (0.60), the guide's "low confidence" symptom;
//   - dr_drill_age: the guide's quarterly disaster-recovery drill overdue;
//   - service_down: the service's metrics endpoint not answering;
//   - service_cpu: the guide's "High CPU Usage" troubleshooting ("CPU near
//     100%"). Decision: judged in % of one core, as top shows a process
//     (the service's Go runtime and client library report the process's
//     CPU time, process_cpu_seconds_total, not the machine's): over 80 %
//     is outside the target, over 90 % for 5 minutes a warning. The
//     guide's minimum is 2 cores and the service's database writes go
//     through one SQLite writer at a time, so one core kept busy is
//     where it slows down; on a bigger machine, raise the thresholds in
//     console.rules.
//   - replication_lag: seconds since Litestream's newest successful sync
//     (LitestreamSource says how it is computed). Decision: target under
//     5 s, alert over 60 s for 1 minute, critical. The guide's RPO is
//     "real-time" for a partial failure and 5 minutes for database
//     corruption; Litestream syncs every second, so a healthy lag reads 0
//     to 2 s and 5 s already says a sync was slow or missed. Beyond 60 s
//     for a minute, the lag is at least 2 minutes when the alert fires
//     (it grows with the clock while Litestream is stopped): paging then
//     leaves about 3 minutes to restart Litestream before the 5-minute
//     RPO is lost, and the minute of for rides over one long sync (a
//     checkpoint holding the WAL, litestream#724). Critical, as
//     backup_age is: past it, a loss of the host loses committed data;
//   - replica_verify_age: hours since the last successful verification
//     of the replica (restore of its newest state into scratch, checked
//     and compared with the live database; the exporter runs one every
//     verify_every, 1 h by default). Decision: target under 2 h (one
//     interval plus a verification's own time and a missed run: a
//     healthy figure reads 0 to 1 h), alert over 25 h, a warning: a whole
//     day without a successful verification, one more hour so that the
//     daily full integrity_check, which may take long on a large
//     database, does not trip it. Not critical: Litestream still ships
//     the WAL (replication_lag pages when it does not); what is missing
//     is the proof that the replica restores. "Never succeeded" counts as
//     infinitely old, as a missing backup does;
//   - replica_verify_failed: the last verification found the replica
//     damaged or different from the live database. Decision: a rule of
//     its own rather than folded into the age, which only grows by the
//     hour and would say so a day late: a failed verification is
//     outside the target at once. A warning, not a page: the live
//     database is intact, and a row count can differ once when rows are
//     archived between the restored position and the count; the next
//     verification (an hour later) confirms or clears it, and the age
//     alert follows a day of failures. A verification that could not
//     run (no Litestream, an empty replica) is unknown here and shows
//     in the age;
//   - replica_errors: Litestream's errors per minute (failed syncs,
//     checkpoints, replica operations, validations). Any error is outside
//     the target at once (the console shows it); the alert, a warning,
//     waits 5 minutes because Litestream retries with backoff and a blip
//     of the network to a remote replica heals itself; errors that last
//     show in the lag too when they stop the syncs.
//
// Boundaries are the guide's exactly: a target is strict ("< 8 active":
// exactly 8 is outside the target, a warning) unless TargetInclusive
// (what must be exactly 0 or 1, free disk "20 % or more", confidence at
// the threshold), and an alert fires strictly beyond its threshold ("> 100/min":
// exactly 100 does not alert). Rule.WithinTarget and Rule.BeyondAlert
// judge; the rules export writes the same comparisons.
//
// Thresholds are in each panel's unit. Runbook is the canonical id of a
// runbook of the embedded catalogue (runbooks/catalogue/*.md, never one of
// its aliases) whose when: names the rule; the console shows it as is.
func DefaultRules() []Rule {
	n := NoThreshold
	return []Rule{
		{Name: "appeal_submission_rate", Title: "Appeal submission rate", Panel: PanelSubmissionRate, Unit: "/min",
			Target: 100, Alert: 100, Compare: Above, For: 5 * time.Minute, Severity: SeverityWarning,
			Runbook:     "appeal-submission-failing",
			Description: "More than 100 appeals a minute: a flood or a client retry loop; check the service and the database's write latency."},
		{Name: "appeal_error_rate", Title: "Appeal error rate", Panel: PanelAppealErrorRate, Unit: "%",
			Target: 1, Alert: 5, Compare: Above, For: 5 * time.Minute, Severity: SeverityCritical,
			Runbook:     "appeal-submission-failing",
			Description: "Appeals are failing: check database connectivity, disk space, recent migrations."},
		{Name: "appeal_processing_latency", Title: "Appeal processing latency p95", Panel: PanelProcessingP95, Unit: "ms",
			Target: 500, Alert: 1000, Compare: Above, For: 5 * time.Minute, Severity: SeverityWarning,
			Runbook:     "high-cpu-usage",
			Description: "Appeals are processed slowly: profile the service, look for slow queries and missing indexes."},
		{Name: "negotiation_duration", Title: "Negotiation duration", Panel: PanelNegotiationP95, TargetPanel: PanelNegotiationAvg, Unit: "h",
			Target: 72, Alert: 24, Compare: Above, For: 15 * time.Minute, Severity: SeverityWarning,
			Runbook:     "high-negotiation-latency",
			Description: "Negotiations take too long (target: average under 72 h; alert: p95 over 24 h): large threads, old messages to archive, indexes to rebuild."},
		{Name: "ml_prediction_latency", Title: "ML prediction latency p99", Panel: PanelMLLatencyP99, Unit: "ms",
			Target: 100, Alert: 500, Compare: Above, For: 5 * time.Minute, Severity: SeverityWarning,
			Runbook:     "ml-prediction-timeouts",
			Description: "ML predictions are slow or timing out: model data freshness, computation resources, batch size."},
		{Name: "db_connections", Title: "Database connections", Panel: PanelDBConnectionsUsage, TargetPanel: PanelDBConnections, Unit: "%",
			Target: 8, Alert: 80, Compare: Above, For: 5 * time.Minute, Severity: SeverityWarning,
			Runbook:     "high-cpu-usage",
			Description: "The connection pool is nearly exhausted (target: under 8 active; alert: over 80 % of max): slow queries hold connections; scale the pool."},
		{Name: "service_cpu", Title: "Service CPU", Panel: PanelServiceCPU, Unit: "%",
			Target: 80, Alert: 90, Compare: Above, For: 5 * time.Minute, Severity: SeverityWarning,
			Runbook:     "high-cpu-usage",
			Description: "The service's process keeps a core nearly busy (the guide's \"CPU near 100%\"): take a CPU profile, look for slow queries and missing indexes, then scale."},
		{Name: "api_error_rate", Title: "API error rate", Panel: PanelAPIErrorRate, Unit: "%",
			Target: 0.1, Alert: 1, Compare: Above, For: 5 * time.Minute, Severity: SeverityCritical,
			Runbook:     "emergency-escalation",
			Description: "The API answers 5xx: check the service's logs and the database; restart the service if it is wedged."},
		{Name: "service_down", Title: "Service metrics endpoint", Panel: PanelServiceUp, Unit: "",
			Target: 1, Alert: 1, TargetInclusive: true, Compare: Below, For: time.Minute, Severity: SeverityCritical,
			Runbook:     "restart-service",
			Description: "The service's /metrics does not answer: the service is down or wedged."},
		{Name: "backup_age", Title: "Backup age", Panel: PanelBackupAge, Unit: "h",
			Target: 1, Alert: 1, Compare: Above, For: 0, Severity: SeverityCritical,
			Runbook:     "backup",
			Description: "The newest backup is older than the guide's RPO for data loss (1 hour): take a backup now and check the backup job."},
		{Name: "disk_free", Title: "Disk free", Panel: PanelDiskFree, Unit: "%",
			Target: 20, Alert: 10, TargetInclusive: true, Compare: Below, For: 5 * time.Minute, Severity: SeverityCritical,
			Runbook:     "database-growing-too-fast",
			Description: "The database's filesystem is filling up: archive old records, remove old backups, vacuum."},
		{Name: "db_growth", Title: "Database growth", Panel: PanelDBGrowth, Unit: "/min",
			Target: 1000, Alert: 5000, Compare: Above, For: 10 * time.Minute, Severity: SeverityWarning,
			Runbook:     "database-growing-too-fast",
			Description: "Rows are inserted far faster than the submissions explain (target: under 1000 rows/min, what the guide's 100 appeals/min write; alert: over 5000 rows/min, 7.2M rows a day): find the table growing (repops growth, the Tables view), the writer behind it, and archive or stop it before the disk fills."},
		{Name: "integrity_check_failed", Title: "Integrity check result", Panel: PanelIntegrityOK, Unit: "",
			Target: 1, Alert: 1, TargetInclusive: true, Compare: Below, For: 0, Severity: SeverityCritical,
			Runbook:     "database-corruption",
			Description: "The last integrity check found problems: follow the database corruption recovery procedure."},
		{Name: "integrity_check_age", Title: "Integrity check age", Panel: PanelIntegrityAge, Unit: "d",
			Target: 7, Alert: 31, Compare: Above, For: 0, Severity: SeverityWarning,
			Runbook:     "database-optimization",
			Description: "No integrity check for too long (target: weekly): run repops check."},
		{Name: "schema_behind", Title: "Schema up to date", Panel: PanelSchemaPending, Unit: "",
			Target: 0, Alert: 0, TargetInclusive: true, Compare: Above, For: 0, Severity: SeverityWarning,
			Runbook:     "migration-management",
			Description: "The database lacks migrations this repops knows: run repops migrate status and apply."},
		{Name: "schema_problems", Title: "Schema matches the migrations", Panel: PanelSchemaProblems, Unit: "",
			Target: 0, Alert: 0, TargetInclusive: true, Compare: Above, For: 2 * time.Minute, Severity: SeverityWarning,
			Runbook:     "migration-management",
			Description: "The live schema differs from what its migrations define (missing, wrong or duplicate index, missing table or column, checksum drift): run repops migrate validate. A missing critical index of the guide (idx_appeals_user_status, idx_messages_appeal_created, idx_predictions_type_user) is a warning, not a page: the service keeps working, its queries scan; recreate the index as validate says. The 2 min for rides over an index being rebuilt."},
		{Name: "wal_size", Title: "WAL size", Panel: PanelWALSize, Unit: "MiB",
			Target: 64, Alert: 512, Compare: Above, For: 10 * time.Minute, Severity: SeverityWarning,
			Runbook:     "database-optimization",
			Description: "The WAL keeps growing: a long reader starves checkpoints; find it, then checkpoint."},
		{Name: "ml_confidence", Title: "ML prediction confidence", Panel: PanelMLConfidence, Unit: "",
			Target: 0.60, Alert: n, TargetInclusive: true, Compare: Below, For: 0, Severity: SeverityInfo,
			Runbook:     "ml-prediction-timeouts",
			Description: "Predictions average below ml_confidence_threshold: check the model version and its data freshness."},
		{Name: "dr_drill_age", Title: "DR drill age", Panel: PanelDrillAge, Unit: "d",
			Target: 92, Alert: n, Compare: Above, For: 0, Severity: SeverityInfo,
			Runbook:     "dr-drill",
			Description: "No disaster-recovery drill this quarter: run repops drill."},
		{Name: "replication_lag", Title: "Replication lag", Panel: PanelReplicationLag, Unit: "s",
			Target: 5, Alert: 60, Compare: Above, For: time.Minute, Severity: SeverityCritical,
			Runbook:     "replication-lag",
			Description: "Litestream has not synced the database's WAL for over a minute (stopped, or every sync failing): writes since then are not replicated. Start it (litestream replicate -config <file>; 'repops replicate check' says what runs), read its log, take a backup meanwhile."},
		{Name: "replica_errors", Title: "Replication errors", Panel: PanelReplicaErrors, Unit: "/min",
			Target: 0, Alert: 0, TargetInclusive: true, Compare: Above, For: 5 * time.Minute, Severity: SeverityWarning,
			Runbook:     "replication-lag",
			Description: "Litestream reports errors (failed syncs, checkpoints, replica operations or validations): read its log; 'repops replicate check' says how far the replica is behind."},
		{Name: "replica_verify_age", Title: "Replica verification age", Panel: PanelReplicaVerifyAge, Unit: "h",
			Target: 2, Alert: 25, Compare: Above, For: 0, Severity: SeverityWarning,
			Runbook:     "replication-lag",
			Description: "No successful verification of the replica for a day (target: hourly): run repops replicate verify and read why it fails; check that the exporter, which verifies every verify_every, runs."},
		{Name: "replica_verify_failed", Title: "Replica verification result", Panel: PanelReplicaVerifyOK, Unit: "",
			Target: 1, Alert: 1, TargetInclusive: true, Compare: Below, For: 0, Severity: SeverityWarning,
			Runbook:     "replication-lag",
			Description: "The last verification found the replica damaged or different from the live database: run repops replicate verify --full; if it confirms, take a backup and restart replication from a fresh snapshot."},
	}
}

// ApplyOverrides returns rules with the config's overrides applied: each
// override names a rule and replaces its target, alert threshold, for
// duration or severity where given, or disables it. An override naming no
// rule, or an unknown severity, is an error naming the rule.
func ApplyOverrides(rules []Rule, o []config.RuleOverride) ([]Rule, error) {
	out := make([]Rule, len(rules))
	copy(out, rules)
	disabled := map[string]bool{}
	for _, ov := range o {
		i := -1
		for j := range out {
			if out[j].Name == ov.Name {
				i = j
				break
			}
		}
		if i < 0 {
			return nil, fmt.Errorf("console.rules: no rule named %q (known: %s)", ov.Name, ruleNames(rules))
		}
		r := &out[i]
		if ov.Target != nil {
			r.Target = *ov.Target
		}
		if ov.Alert != nil {
			r.Alert = *ov.Alert
		}
		if ov.For < 0 {
			return nil, fmt.Errorf("console.rules %q: for %s is negative", ov.Name, ov.For)
		}
		if ov.For > 0 {
			r.For = ov.For
		}
		switch ov.Severity {
		case "":
		case SeverityCritical, SeverityWarning, SeverityInfo:
			r.Severity = ov.Severity
		default:
			return nil, fmt.Errorf("console.rules %q: severity %q: want critical, warning or info", ov.Name, ov.Severity)
		}
		if ov.Disabled {
			disabled[ov.Name] = true
		}
	}
	kept := out[:0]
	for _, r := range out {
		if !disabled[r.Name] {
			kept = append(kept, r)
		}
	}
	return kept, nil
}

func ruleNames(rules []Rule) string {
	names := make([]string, len(rules))
	for i, r := range rules {
		names[i] = r.Name
	}
	return strings.Join(names, ", ")
}
