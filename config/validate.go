package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Accepted names for the enumerated settings.
var (
	logLevels    = []string{"debug", "info", "warn", "warning", "error"}
	logFormats   = []string{"json", "text"}
	replicaTypes = []string{"file", "sftp", "s3"}
	journalModes = []string{"WAL", "DELETE", "TRUNCATE", "PERSIST", "MEMORY", "OFF"}
	themes       = []string{"default", "high-contrast", "mono"}
	severities   = []string{"info", "warning", "critical"}
)

// MinRefreshInterval is the shortest console refresh allowed: faster only
// loads the database and the link without showing anything new.
const MinRefreshInterval = 100 * time.Millisecond

// validator checks ranges and cross-field rules, locating each problem at
// the source of the offending value.
type validator struct {
	src      Provenance
	bad      map[string]bool
	problems []Problem
}

// validate checks c. Keys in bad were already reported (they hold their
// default) and are skipped.
func validate(c *Config, src Provenance, bad map[string]bool) []Problem {
	v := &validator{src: src, bad: bad}

	r := c.Reputation
	v.atLeast("reputation.appeal_window_days", r.AppealWindowDays, 1)
	v.atLeast("reputation.appeal_max_per_user_per_month", r.AppealMaxPerUserPerMonth, 1)
	v.atLeast("reputation.negotiation_timeout_hours", r.NegotiationTimeoutHours, 1)
	v.atLeast("reputation.batch_size", r.BatchSize, 1)
	v.atLeast("reputation.cache_ttl_minutes", r.CacheTTLMinutes, 0)
	v.atLeast("reputation.notification_retry_attempts", r.NotificationRetryAttempts, 0)
	v.atLeast("reputation.notification_retry_interval_seconds", r.NotificationRetryIntervalSeconds, 0)
	v.check("reputation.ml_confidence_threshold", r.MLConfidenceThreshold >= 0 && r.MLConfidenceThreshold <= 1,
		"must be between 0 and 1, got %g", r.MLConfidenceThreshold)
	v.atLeast("reputation.ml_cache_ttl_minutes", r.MLCacheTTLMinutes, 0)

	db := c.Database
	v.check("database.path", strings.TrimSpace(db.Path) != "", "must name the database file (for example /var/lib/gaia/architect.db)")
	v.between("database.max_connections", db.MaxConnections, 1, 1000)
	if v.oneOf("database.journal_mode", db.JournalMode, journalModes, true) {
		wal := strings.EqualFold(db.JournalMode, "WAL")
		if db.WALMode != wal {
			// Blame whichever of the two was set away from its default.
			key := "database.journal_mode"
			if v.src.Of(key).Kind == FromDefault {
				key = "database.wal_mode"
			}
			v.check(key, false, "wal_mode: %t contradicts journal_mode: %s: set wal_mode: true with journal_mode: WAL, or wal_mode: false with another mode",
				db.WALMode, db.JournalMode)
		}
	}
	v.atLeast("database.wal_autocheckpoint", db.WALAutocheckpoint, 0)

	lg := c.Logging
	v.oneOf("logging.level", lg.Level, logLevels, true)
	v.oneOf("logging.format", lg.Format, logFormats, true)
	v.check("logging.output", strings.TrimSpace(lg.Output) != "", "must be stderr, syslog or a file path")

	m := c.Monitoring
	v.between("monitoring.metrics_port", m.MetricsPort, 1, 65535)
	v.atLeast("monitoring.health_check_interval_seconds", m.HealthCheckIntervalSeconds, 1)

	co := c.Console
	if co.Environment != "" {
		v.check("console.environment", validEnvName(co.Environment), "%s", envNameMsg(co.Environment))
	}
	v.check("console.refresh_interval", co.RefreshInterval >= MinRefreshInterval,
		"must be at least %s, got %s", MinRefreshInterval, formatDuration(co.RefreshInterval))
	v.oneOf("console.theme", co.Theme, themes, false)
	for _, action := range sortedKeysOf(co.Keys) {
		key := "console.keys." + action
		v.check(key, len(co.Keys[action]) > 0, "give at least one key, or remove the line to keep the default")
		for i, k := range co.Keys[action] {
			v.check(fmt.Sprintf("%s[%d]", key, i), strings.TrimSpace(k) != "", "a key binding cannot be empty")
		}
	}
	v.url("console.sources.metrics_url", co.Sources.MetricsURL)
	v.url("console.sources.prometheus_url", co.Sources.PrometheusURL)
	v.url("console.sources.alertmanager_url", co.Sources.AlertmanagerURL)
	v.check("console.sources.timeout", co.Sources.Timeout > 0 && co.Sources.Timeout <= 5*time.Minute,
		"must be between 1ms and 5m, got %s", formatDuration(co.Sources.Timeout))
	v.check("console.backup.keep_last", co.Backup.KeepLast >= 1,
		"must be at least 1 (retention never deletes the newest backup), got %d", co.Backup.KeepLast)
	v.check("console.backup.keep_within", co.Backup.KeepWithin >= 0, "cannot be negative, got %s", formatDuration(co.Backup.KeepWithin))
	v.check("console.archive.appeals_older_than", co.Archive.AppealsOlderThan >= 24*time.Hour,
		"must be at least 24h, got %s", formatDuration(co.Archive.AppealsOlderThan))
	v.check("console.archive.messages_older_than", co.Archive.MessagesOlderThan >= 24*time.Hour,
		"must be at least 24h, got %s", formatDuration(co.Archive.MessagesOlderThan))
	v.atLeast("console.archive.batch_rows", co.Archive.BatchRows, 1)
	v.check("console.archive.batch_pause", co.Archive.BatchPause >= 0, "cannot be negative, got %s", formatDuration(co.Archive.BatchPause))
	names := map[string]int{}
	for i, r := range co.Rules {
		key := fmt.Sprintf("console.rules[%d]", i)
		v.check(key+".name", strings.TrimSpace(r.Name) != "", "every rule override needs the name of the rule it changes")
		if first, dup := names[r.Name]; dup && r.Name != "" {
			v.check(key+".name", false, "rule %q is already overridden by console.rules[%d]", r.Name, first)
		}
		names[r.Name] = i
		v.check(key+".for", r.For >= 0, "cannot be negative, got %s", formatDuration(r.For))
		if r.Severity != "" {
			v.oneOf(key+".severity", r.Severity, severities, false)
		}
	}
	rp := co.Replication
	v.check("console.replication.sync_interval", rp.SyncInterval >= 100*time.Millisecond && rp.SyncInterval <= time.Hour,
		"must be between 100ms and 1h, got %s", formatDuration(rp.SyncInterval))
	v.check("console.replication.verify_every", rp.VerifyEvery >= time.Minute, "must be at least 1m, got %s", formatDuration(rp.VerifyEvery))
	if _, port, err := net.SplitHostPort(rp.MetricsAddr); err != nil || port == "" {
		v.check("console.replication.metrics_addr", false, "must be host:port (Litestream's metrics listener, e.g. 127.0.0.1:9092), got %q", rp.MetricsAddr)
	}
	for i, r := range rp.Replicas {
		key := fmt.Sprintf("console.replication.replicas[%d]", i)
		v.oneOf(key+".type", r.Type, replicaTypes, false)
		switch r.Type {
		case "file":
			v.check(key+".path", filepath.IsAbs(r.Path), "a file replica needs an absolute directory path, got %q", r.Path)
		case "sftp":
			v.check(key+".host", strings.TrimSpace(r.Host) != "", "an sftp replica needs host (host:port)")
			v.check(key+".user", strings.TrimSpace(r.User) != "", "an sftp replica needs user")
			v.check(key+".path", strings.TrimSpace(r.Path) != "", "an sftp replica needs the remote path")
		case "s3":
			v.check(key+".bucket", strings.TrimSpace(r.Bucket) != "", "an s3 replica needs bucket")
		}
	}
	v.validateServe(co.Serve, c.Database.Path)
	v.silences(co.Silences)
	for i, ct := range co.Escalation.Levels {
		v.check(fmt.Sprintf("console.escalation.levels[%d].level", i), ct.Level >= 1, "support levels start at 1, got %d", ct.Level)
	}
	return v.problems
}

func (v *validator) check(key string, ok bool, format string, args ...any) {
	if ok || v.bad[key] {
		return
	}
	v.problems = append(v.problems, Problem{Source: v.locate(key), Key: key, Msg: fmt.Sprintf(format, args...)})
	v.bad[key] = true
}

// locate is the source of key or, for a key left out of a list item or a
// map entry ("console.rules[0].name" missing), of the nearest enclosing
// value that was set.
func (v *validator) locate(key string) Source {
	for k := key; k != ""; {
		if s, ok := v.src[k]; ok {
			return s
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return Source{Kind: FromDefault}
}

func (v *validator) atLeast(key string, n, lo int) {
	if lo == 0 {
		v.check(key, n >= 0, "cannot be negative, got %d", n)
		return
	}
	v.check(key, n >= lo, "must be at least %d, got %d", lo, n)
}

func (v *validator) between(key string, n, lo, hi int) {
	v.check(key, n >= lo && n <= hi, "must be between %d and %d, got %d", lo, hi, n)
}

// oneOf checks s against the allowed names and reports whether it passed.
func (v *validator) oneOf(key, s string, allowed []string, foldCase bool) bool {
	for _, a := range allowed {
		if s == a || (foldCase && strings.EqualFold(s, a)) {
			return true
		}
	}
	v.check(key, false, "must be one of %s, got %q", strings.Join(allowed, ", "), s)
	return false
}

func (v *validator) url(key, s string) {
	if s == "" {
		return
	}
	u, err := url.Parse(s)
	v.check(key, err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "",
		"must be an http:// or https:// URL with a host, got %q", redactURL(s))
}

func sortedKeysOf(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
