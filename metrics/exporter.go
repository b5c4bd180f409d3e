package metrics

import (
	"context"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/repops/repops/state"
)

// ExporterOptions configure the exporter.
type ExporterOptions struct {
	// Database is what the figures are measured on.
	Database DatabaseOptions
	// JournalEntries counts the ops journal's entries; nil leaves
	// repops_journal_entries out. (metrics may not import ops: the command
	// injects it.)
	JournalEntries func(ctx context.Context) (int64, error)
	// Timeout bounds one collection. Default 5 s.
	Timeout time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Exporter serves, in the Prometheus text format, the figures the database
// source measures and what only repops knows (backup age, the last DR
// drill's measured RTO, the last integrity check, the journal's size), so
// that the guide's Prometheus and Grafana see them. Each scrape runs the
// source's bounded queries (see DatabaseSource); table and index sizes
// come from its background measurement, every 5 minutes or more, so the
// first scrapes may lack them. What is not known yet is absent, never 0:
// no timestamp before the first check or drill, no backup age before the
// first backup; repops_backups, repops_integrity_check_recorded and
// repops_drill_recorded say "never", and the exported rules count "never"
// as infinitely old, as the console does. Names and units follow
// Prometheus' conventions (base units: seconds, bytes, ratios), and
// 'promtool check metrics' accepts the output (TestExporterPromtoolLint).
type Exporter struct {
	opts ExporterOptions
	src  *DatabaseSource
	reg  *prometheus.Registry
	mu   sync.Mutex // one collection at a time
}

// NewExporter builds an exporter; Close releases its connection.
func NewExporter(o ExporterOptions) *Exporter {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	e := &Exporter{opts: o, src: NewDatabaseSource(o.Database), reg: prometheus.NewRegistry()}
	e.reg.MustRegister(e, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return e
}

// Handler serves /metrics.
func (e *Exporter) Handler() http.Handler {
	return promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Close releases the database connection.
func (e *Exporter) Close() error { return e.src.Close() }

// Describe implements prometheus.Collector: the exporter is unchecked (its
// series depend on what exists: tables, records).
func (e *Exporter) Describe(chan<- *prometheus.Desc) {}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// Collect implements prometheus.Collector.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.Timeout)
	defer cancel()
	now := e.opts.Now()
	res, err := e.src.Collect(ctx, now)
	gauge := func(name, help string, v float64, lv ...string) {
		var labels []string
		if len(lv) > 0 {
			labels = []string{lv[0]}
			lv = lv[1:]
		}
		ch <- prometheus.MustNewConstMetric(desc(name, help, labels...), prometheus.GaugeValue, v, lv...)
	}
	up := 1.0
	if err != nil {
		up = 0
	}
	gauge("repops_database_up", "1 when the database answered the exporter's queries.", up)
	f := res.DB
	if f == nil {
		f = &DBFigures{}
	}
	// panel exports a panel's value times scale (its unit to the base
	// unit); absent when unknown.
	panel := func(name, metric, help string, scale float64, lv ...string) {
		if v, ok := res.Panels[name]; ok && v.OK {
			gauge(metric, help, v.V*scale, lv...)
		}
	}

	// Backups. What is not known is absent, never 0: with no backup at
	// all, repops_backups is 0 and the age and timestamp series are
	// absent (the exported backup_age rule counts that as infinitely old,
	// as the console does: see the panel's PromQLExporter).
	if f.BackupAge.OK {
		gauge("repops_backups", "Finished backups in the backup dir.", float64(f.Backups))
		if !math.IsInf(f.BackupAge.V, 0) && !math.IsNaN(f.BackupAge.V) {
			gauge("repops_backup_age_seconds", "Age of the newest backup; absent when there is none (see repops_backups).", f.BackupAge.V*3600)
		}
		if !f.LastBackup.IsZero() {
			gauge("repops_backup_last_timestamp_seconds", "When the newest backup was taken; absent when there is none.", float64(f.LastBackup.Unix()))
		}
	}

	// Integrity check.
	// This database's record (the state dir keeps one per database).
	// Never checked: recorded 0 and no timestamp (a timestamp of 0 would
	// read as a check in 1970).
	if rec, ok, err := state.ReadCheckOf(e.src.opts.StateDir, e.src.opts.Path); err == nil {
		recorded := ok
		gauge("repops_integrity_check_recorded", "1 when an integrity check of this database is on record, 0 when it was never checked.", boolGauge(recorded))
		if recorded {
			gauge("repops_integrity_check_ok", "1 when the last integrity check passed.", boolGauge(rec.OK))
			gauge("repops_integrity_check_problems", "Problems the last integrity check reported.", float64(len(rec.Problems)))
			gauge("repops_integrity_check_timestamp_seconds", "When the last integrity check ran; absent when never.", float64(rec.Time.Unix()))
		}
	}

	// DR drill, likewise.
	if rec, ok, err := state.ReadDrillOf(e.src.opts.StateDir, e.src.opts.Path); err == nil {
		recorded := ok
		gauge("repops_drill_recorded", "1 when a DR drill of this database is on record, 0 when it was never drilled.", boolGauge(recorded))
		if recorded {
			gauge("repops_drill_ok", "1 when the last DR drill met its objectives.", boolGauge(rec.OK))
			gauge("repops_drill_rto_seconds", "Restore time measured by the last DR drill.", rec.RTO.Seconds())
			gauge("repops_drill_rpo_seconds", "Age of the backup the last DR drill restored.", rec.RPO.Seconds())
			if rec.RTOLimit > 0 {
				gauge("repops_drill_rto_limit_seconds", "The RTO objective the last drill was measured against.", rec.RTOLimit.Seconds())
			}
			if rec.RPOLimit > 0 {
				gauge("repops_drill_rpo_limit_seconds", "The RPO objective the last drill was measured against.", rec.RPOLimit.Seconds())
			}
			gauge("repops_drill_timestamp_seconds", "When the last DR drill ran; absent when never.", float64(rec.Time.Unix()))
		}
	}

	// Replica verification, likewise: never verified is recorded 0 and
	// no timestamps; never succeeded has no last-success timestamp (the
	// exported replica_verify_age counts that as infinitely old).
	if rec, ok, err := readReplicaVerify(e.src.opts.StateDir, e.src.opts.Path); err == nil {
		gauge("repops_replica_verify_recorded", "1 when a verification of this database's replica is on record, 0 when it was never verified.", boolGauge(ok))
		if ok {
			switch rec.Status {
			case "ok", "critical":
				gauge("repops_replica_verify_ok", "1 when the last replica verification found the replica sound, 0 when damaged or different from the live database; absent when it could not run.", boolGauge(rec.Status == "ok"))
			}
			gauge("repops_replica_verify_timestamp_seconds", "When the last replica verification ran, whatever its outcome.", float64(rec.Time.Unix()))
			if !rec.LastSuccess.IsZero() {
				gauge("repops_replica_verify_last_success_timestamp_seconds", "When the replica last passed a verification; absent when never.", float64(rec.LastSuccess.Unix()))
			}
		}
	}

	// Journal.
	if e.opts.JournalEntries != nil {
		if n, err := e.opts.JournalEntries(ctx); err == nil {
			gauge("repops_journal_entries", "Entries in the ops journal.", float64(n))
		}
	}

	// Files and disk.
	if f.FileBytes > 0 {
		gauge("repops_db_file_bytes", "Size of the database file.", float64(f.FileBytes))
		gauge("repops_db_wal_bytes", "Size of the database's WAL.", float64(f.WALBytes))
	}
	if f.DiskTotal > 0 {
		gauge("repops_disk_free_bytes", "Free bytes (for unprivileged users) on the database's filesystem.", float64(f.DiskFree))
		gauge("repops_disk_total_bytes", "Size of the database's filesystem.", float64(f.DiskTotal))
	}
	// Table and index sizes, from the newest background measurement.
	for _, t := range f.Tables {
		if t.Rows >= 0 {
			gauge("repops_db_table_rows", "Rows per table: counted under 100k rows, estimated above (sqlite_stat1 or rowid bounds).", float64(t.Rows), "table", t.Name)
		}
		if t.Bytes >= 0 {
			gauge("repops_db_table_bytes", "Bytes per table's b-tree, overflow pages included (dbstat).", float64(t.Bytes), "table", t.Name)
		}
	}
	for _, ix := range f.Indexes {
		if ix.Bytes >= 0 {
			ch <- prometheus.MustNewConstMetric(desc("repops_db_index_bytes", "Bytes per index's b-tree (dbstat).", "table", "index"),
				prometheus.GaugeValue, float64(ix.Bytes), ix.Table, ix.Name)
		}
	}
	if !f.SizesAt.IsZero() {
		gauge("repops_db_page_size_bytes", "The database's page size.", float64(f.PageSize))
		gauge("repops_db_pages", "Pages in the database file.", float64(f.PageCount))
		gauge("repops_db_free_pages", "Pages on the freelist: what VACUUM would return.", float64(f.FreePages))
		gauge("repops_db_sizes_timestamp_seconds", "When the table and index sizes were measured.", float64(f.SizesAt.Unix()))
	}

	// Database-derived workload figures.
	// In base units (seconds, ratios), as Prometheus' conventions ask;
	// the rules export converts back to the panels' units.
	panel(PanelSubmissionRate, "repops_db_appeals_submitted_per_second", "Appeals created per second, averaged over the last 5 minutes.", 1.0/60)
	panel(PanelNegotiationAvg, "repops_db_negotiation_duration_seconds", "Negotiation duration (first to last message) of recent finished appeals: stat avg or p95.", 3600, "stat", "avg")
	panel(PanelNegotiationP95, "repops_db_negotiation_duration_seconds", "Negotiation duration (first to last message) of recent finished appeals: stat avg or p95.", 3600, "stat", "p95")
	panel(PanelMLConfidence, "repops_db_ml_prediction_confidence_ratio", "Confidence (0..1) of the predictions of the last 5 minutes: stat avg.", 1, "stat", "avg")
	panel(PanelPredictionLatency, "repops_db_ml_prediction_latency_seconds", "Latency of the predictions of the last 5 minutes: stat avg.", 1.0/1000, "stat", "avg")
	panel(PanelDBGrowth, "repops_db_rows_inserted_per_second", "Rows inserted per second into the main tables (appeals, negotiation messages, predictions), over the last minute.", 1.0/60)
	if err == nil {
		gauge("repops_db_appeals_pending", "Appeals in status pending.", float64(f.PendingAppeals))
		gauge("repops_db_appeals_negotiating", "Appeals in status negotiating.", float64(f.NegotiatingAppeals))
		gauge("repops_schema_version", "Newest migration applied to the database.", float64(f.SchemaVersion))
		if v, ok := res.Panels[PanelSchemaPending]; ok && v.OK {
			gauge("repops_schema_pending_migrations", "Migrations this repops knows that the database lacks.", v.V)
		}
		if v, ok := res.Panels[PanelSchemaProblems]; ok && v.OK {
			gauge("repops_schema_problems", "Differences between the live schema and the applied migrations' (missing or duplicate index, drift), pending migrations aside.", v.V)
		}
	}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
