package config

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Defaults is the guide's configuration template (its values, except
// database.path, which is relative so that a first run needs no root), and
// the console's own defaults. The example files in this folder set each
// environment's resource allocation (config/reputation_*.yml).
func Defaults() Config {
	return Config{
		Reputation: Reputation{
			AppealWindowDays: 30, AppealMaxPerUserPerMonth: 10, NegotiationTimeoutHours: 72,
			BatchSize: 100, CacheEnabled: true, CacheTTLMinutes: 60,
			NotificationEnabled: true, NotificationRetryAttempts: 3, NotificationRetryIntervalSeconds: 300,
			MLModelVersion: "v1.0", MLConfidenceThreshold: 0.60, MLCacheTTLMinutes: 1440, MLPredictionsEnabled: true,
		},
		Database: Database{
			Path: "data/architect.db", MaxConnections: 10, WALMode: true, JournalMode: "WAL",
			CacheSize: 100000, WALAutocheckpoint: 1000,
		},
		Logging:    Logging{Level: "info", Format: "json", Output: "stderr"},
		Monitoring: Monitoring{MetricsEnabled: true, MetricsPort: 9090, HealthCheckIntervalSeconds: 60},
		Console: Console{
			RefreshInterval: time.Second,
			Theme:           "default",
			Sources:         Sources{Timeout: 2 * time.Second},
			Backup:          Backup{KeepLast: 7, KeepWithin: 7 * 24 * time.Hour},
			Archive: Archive{
				AppealsOlderThan: 365 * 24 * time.Hour, MessagesOlderThan: 182 * 24 * time.Hour,
				BatchRows: 20000, BatchPause: 0,
			},
			Escalation: Escalation{
				OnCall: "/etc/opsgenie/contacts", Email: "ops-team@example.com", IncidentChannel: "#reputation-incidents",
			},
			Replication: Replication{SyncInterval: time.Second, MetricsAddr: "127.0.0.1:9092", VerifyEvery: time.Hour},
			Serve:       defaultServe(),
			Silences: Silences{MaxDuration: SilenceMaxDuration{
				Critical: 24 * time.Hour, Warning: 7 * 24 * time.Hour, Info: 7 * 24 * time.Hour,
			}},
		},
		Environment: "development",
	}
}

// StateDir is where the journal, the lock, run state and reports live.
func (c *Config) StateDir() string {
	if c.Console.StateDir != "" {
		return c.Console.StateDir
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "repops")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "repops")
	}
	return filepath.Join(os.TempDir(), "repops-state")
}

// BackupDir is where backups go: the configured dir, or "backups" beside
// the database (the guide's /var/lib/gaia/backups for
// /var/lib/gaia/architect.db).
func (c *Config) BackupDir() string {
	if c.Console.Backup.Dir != "" {
		return c.Console.Backup.Dir
	}
	return filepath.Join(filepath.Dir(c.Database.Path), "backups")
}

// LitestreamConfig is where 'repops replicate config' writes Litestream's
// config: console.replication.config_file, else litestream.yml in the state
// dir.
func (c *Config) LitestreamConfig() string {
	if c.Console.Replication.ConfigFile != "" {
		return c.Console.Replication.ConfigFile
	}
	return filepath.Join(c.StateDir(), "litestream.yml")
}

// MetricsURL is the service's /metrics endpoint, "" when metrics are off.
func (c *Config) MetricsURL() string {
	if c.Console.Sources.MetricsURL != "" {
		return c.Console.Sources.MetricsURL
	}
	if !c.Monitoring.MetricsEnabled || c.Monitoring.MetricsPort == 0 {
		return ""
	}
	return fmt.Sprintf("http://127.0.0.1:%d/metrics", c.Monitoring.MetricsPort)
}
