// Package config holds repops' configuration: the operations guide's YAML
// (reputation, database, logging, monitoring) plus a console section. The
// guide's environment variables override the file and flags override both.
//
// Decision: DESIGN.md's layout has no config folder; configuration is read
// by the CLI, the console, the procedures and the simulator alike, so it is
// a small plain-Go package of its own at the bottom of the dependency graph.
package config

import "time"

// Config is the whole effective configuration.
type Config struct {
	Reputation Reputation `yaml:"reputation"`
	Database   Database   `yaml:"database"`
	Logging    Logging    `yaml:"logging"`
	Monitoring Monitoring `yaml:"monitoring"`
	Console    Console    `yaml:"console"`

	// Environment is development, staging, production or drill, from
	// ENVIRONMENT or the console section; it colours the console's banner.
	Environment string `yaml:"-"`
}

// Reputation is the guide's business-rule section; repops reads it for the
// runbooks and shows it, the service is what enforces it.
type Reputation struct {
	AppealWindowDays                 int     `yaml:"appeal_window_days"`
	AppealMaxPerUserPerMonth         int     `yaml:"appeal_max_per_user_per_month"`
	NegotiationTimeoutHours          int     `yaml:"negotiation_timeout_hours"`
	BatchSize                        int     `yaml:"batch_size"`
	CacheEnabled                     bool    `yaml:"cache_enabled"`
	CacheTTLMinutes                  int     `yaml:"cache_ttl_minutes"`
	NotificationEnabled              bool    `yaml:"notification_enabled"`
	NotificationRetryAttempts        int     `yaml:"notification_retry_attempts"`
	NotificationRetryIntervalSeconds int     `yaml:"notification_retry_interval_seconds"`
	MLModelVersion                   string  `yaml:"ml_model_version"`
	MLConfidenceThreshold            float64 `yaml:"ml_confidence_threshold"`
	MLCacheTTLMinutes                int     `yaml:"ml_cache_ttl_minutes"`
	MLPredictionsEnabled             bool    `yaml:"ml_predictions_enabled"`
}

// Database is the guide's database section.
type Database struct {
	Path              string `yaml:"path"`
	MaxConnections    int    `yaml:"max_connections"`
	WALMode           bool   `yaml:"wal_mode"`
	JournalMode       string `yaml:"journal_mode"`
	CacheSize         int    `yaml:"cache_size"`
	WALAutocheckpoint int    `yaml:"wal_autocheckpoint"`
	// Password names a secret file (the guide's config/secrets); redacted
	// by 'config show'. SQLite does not use it; it is kept for parity.
	PasswordFile string `yaml:"password_file"`
}

// Logging is the guide's logging section: level, json or text, and where.
type Logging struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // json or text
	Output string `yaml:"output"` // stderr, syslog, or a file path
}

// Monitoring is the guide's monitoring section.
type Monitoring struct {
	MetricsEnabled             bool `yaml:"metrics_enabled"`
	MetricsPort                int  `yaml:"metrics_port"`
	HealthCheckIntervalSeconds int  `yaml:"health_check_interval_seconds"`
	ProfilingEnabled           bool `yaml:"profiling_enabled"`
}

// Console is repops' own section.
type Console struct {
	// Environment overrides the banner's environment name (for example
	// "drill" on a DR rehearsal host).
	Environment string `yaml:"environment"`
	// StateDir keeps the ops journal, the lock, runbook run state, growth
	// snapshots and drill reports: outside the live database, so a restore
	// never rolls them back. Default: the user's state dir + /repops.
	StateDir string `yaml:"state_dir"`
	// ReadOnly disables every action that writes.
	ReadOnly bool `yaml:"read_only"`
	// RefreshInterval is how often the console refreshes. Default 1 s.
	RefreshInterval time.Duration       `yaml:"refresh_interval"`
	Theme           string              `yaml:"theme"`       // default, high-contrast, mono
	Keys            map[string][]string `yaml:"keys"`        // action name -> keys
	RunbookDir      string              `yaml:"runbook_dir"` // extends/overrides the embedded catalogue

	Sources    Sources        `yaml:"sources"`
	Backup     Backup         `yaml:"backup"`
	Archive    Archive        `yaml:"archive"`
	Rules      []RuleOverride `yaml:"rules"`
	Escalation Escalation     `yaml:"escalation"`
	// Replication is continuous protection with Litestream (replicate/).
	Replication Replication `yaml:"replication"`
	// Serve is 'repops serve', the console over SSH (serve.go).
	Serve Serve `yaml:"serve"`
	// Silences bounds silences and acknowledgements (config/silences.go).
	Silences Silences `yaml:"silences"`
}

// Replication configures Litestream for the database: where it ships the
// WAL, how often, and where its own Prometheus metrics are. repops writes
// Litestream's config from it ('repops replicate config') and reads its
// metrics and replicas; Litestream runs as its own process.
type Replication struct {
	// Replicas are where Litestream ships the database (one in Litestream
	// v0.5's config per database; the first is the one repops restores
	// from). None: replication is off.
	Replicas []Replica `yaml:"replicas"`
	// SyncInterval is how often Litestream ships new WAL frames (its
	// replica sync-interval). Default 1 s.
	SyncInterval time.Duration `yaml:"sync_interval"`
	// MetricsAddr is Litestream's metrics listener (its "addr"),
	// host:port on loopback. Default 127.0.0.1:9092.
	MetricsAddr string `yaml:"metrics_addr"`
	// ConfigFile is where 'repops replicate config' writes Litestream's
	// config. Default: litestream.yml in the state dir.
	ConfigFile string `yaml:"config_file"`
	// VerifyEvery is how often the collector verifies the newest replica
	// state (restore into scratch, quick_check, row counts). Default 1h;
	// a full integrity check once a day.
	VerifyEvery time.Duration `yaml:"verify_every"`
}

// Replica is one Litestream replica.
type Replica struct {
	// Type is file, sftp or s3 (S3-compatible).
	Type string `yaml:"type"`
	// Path: the directory (file), the remote path (sftp), the key prefix (s3).
	Path string `yaml:"path"`
	// sftp: Host (host:port), User, KeyPath (a private key file), HostKey
	// (the server's public host key, "ssh-ed25519 AAAA...", as
	// 'ssh-keyscan -t ed25519 HOST' prints it without the host name):
	// required, since without it Litestream accepts any server.
	Host    string `yaml:"host"`
	User    string `yaml:"user"`
	KeyPath string `yaml:"key_path"`
	HostKey string `yaml:"host_key"`
	// s3: Bucket, Endpoint (for S3-compatible stores), Region; credentials
	// from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), never
	// from this file.
	Bucket   string `yaml:"bucket"`
	Endpoint string `yaml:"endpoint"`
	Region   string `yaml:"region"`
}

// Sources says where the console's figures come from. The database source
// is always on; the others are on when given.
type Sources struct {
	// MetricsURL is the service's /metrics. Default
	// http://127.0.0.1:$METRICS_PORT/metrics when monitoring is enabled.
	MetricsURL string `yaml:"metrics_url"`
	// PrometheusURL is a Prometheus server's base URL, for fleets.
	PrometheusURL string `yaml:"prometheus_url"`
	// AlertmanagerURL is an Alertmanager's base URL (v2 API).
	AlertmanagerURL string `yaml:"alertmanager_url"`
	// Timeout bounds one scrape or query. Default 2 s.
	Timeout time.Duration `yaml:"timeout"`
}

// Backup configures backups and their retention.
type Backup struct {
	// Dir is where backups go. Default: "backups" beside the database.
	Dir string `yaml:"dir"`
	// KeepLast and KeepWithin: a backup is kept when it is one of the last
	// KeepLast or newer than KeepWithin. Defaults 7 and 168h.
	KeepLast   int           `yaml:"keep_last"`
	KeepWithin time.Duration `yaml:"keep_within"`
}

// Archive configures the retention policy for data archival.
type Archive struct {
	// AppealsOlderThan: appeals in a final status older than this move to
	// the archive. Default 8760h (one year, as the guide).
	AppealsOlderThan time.Duration `yaml:"appeals_older_than"`
	// MessagesOlderThan: negotiation messages of final appeals older than
	// this move. Default 4380h (six months, as the guide).
	MessagesOlderThan time.Duration `yaml:"messages_older_than"`
	// File, when set, is a separate archive database file.
	File string `yaml:"file"`
	// BatchRows caps the rows of one archival transaction (default 20000:
	// the time bound, about 40 ms a transaction, decides first). BatchPause,
	// when set, is the longest pause between two transactions; 0 (the
	// default) pauses until the service's writer has committed, at most the
	// retry gap of SQLite's busy handler plus a margin.
	BatchRows  int           `yaml:"batch_rows"`
	BatchPause time.Duration `yaml:"batch_pause"`
}

// RuleOverride changes one alert rule of the default set, by name.
type RuleOverride struct {
	Name     string        `yaml:"name"`
	Target   *float64      `yaml:"target"`
	Alert    *float64      `yaml:"alert"`
	For      time.Duration `yaml:"for"`
	Severity string        `yaml:"severity"`
	Disabled bool          `yaml:"disabled"`
}

// Escalation holds the guide's support levels' contacts.
type Escalation struct {
	// OnCall is the guide's /etc/opsgenie/contacts, or a name.
	OnCall          string    `yaml:"on_call"`
	Email           string    `yaml:"email"`            // ops-team@example.com in the guide
	IncidentChannel string    `yaml:"incident_channel"` // #reputation-incidents
	Levels          []Contact `yaml:"levels"`
}

// Contact is who to reach at one support level.
type Contact struct {
	Level   int    `yaml:"level"`
	Name    string `yaml:"name"`
	Contact string `yaml:"contact"`
}
