package ops

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/repops/repops/db"
)

// Drill sources: where a drill restores from.
const (
	// DrillSourceAuto is the replica when replication is configured
	// (DrillOptions.LitestreamConfig names an existing config and a
	// ReplicaRestorer is at hand), else the newest backup.
	DrillSourceAuto    = "auto"
	DrillSourceBackup  = "backup"
	DrillSourceReplica = "replica"
)

// ParseDrillSource reads --source: auto (or ""), backup or replica.
func ParseDrillSource(s string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", DrillSourceAuto:
		return DrillSourceAuto, nil
	case DrillSourceBackup:
		return DrillSourceBackup, nil
	case DrillSourceReplica:
		return DrillSourceReplica, nil
	}
	return "", fmt.Errorf("source %q: use auto, backup or replica", s)
}

// ReplicaRestore is a replica's newest state restored into a scratch file
// by a ReplicaRestorer.
type ReplicaRestore struct {
	// Path is the scratch file; a manifest beside it (ManifestPath) that
	// the drill verifies it against, as a backup.
	Path string
	// TXID is the replica's transaction restored up to, TXIDTime the
	// time the replica recorded it; Newest the replica's newest position.
	TXID     string
	TXIDTime time.Time
	Newest   time.Time
}

// ReplicaRestorer restores a database's replica. Package ops cannot run
// Litestream itself (package replicate imports ops): the repops binary
// registers replicate's restore (SetReplicaRestorer), tests a fake.
type ReplicaRestorer interface {
	// Ready says why the replica cannot be restored from here (no
	// litestream binary), nil when it can.
	Ready() error
	// RestoreNewest restores the newest state of dbPath's replica (the
	// first of Litestream's config at configPath) into a new file of
	// <stateDir>/scratch, with its manifest beside it.
	RestoreNewest(ctx context.Context, configPath, dbPath, stateDir string) (*ReplicaRestore, error)
	// Remove deletes a restore's scratch file and manifest.
	Remove(path string)
}

var defaultReplicaRestorer ReplicaRestorer

// SetReplicaRestorer sets the ReplicaRestorer a drill uses when its
// options name none: the repops binary sets replicate's, so that every
// drill it runs (the command, the runbooks' drill action, the console)
// restores from the replica when replication is configured.
func SetReplicaRestorer(r ReplicaRestorer) { defaultReplicaRestorer = r }

// HeartbeatTables are the service's tables whose newest committed
// created_at is the drill's heartbeat.
var HeartbeatTables = []string{"appeals", "appeal_negotiation_messages", "ml_predictions"}

// Heartbeat is the drill's end-to-end RPO measure. Before restoring, the
// live database is read (read-only, one statement, so one snapshot): the
// newest committed created_at of the heartbeat tables, their rows and
// largest rowids, at Read (T0; every row committed before T0 is in it).
// No row is written into the live database: its newest committed row is
// the heartbeat. After the restore, the restored copy's newest created_at
// and rows are compared with it: the rows committed before T0 that the
// restore does not hold are what a disaster at T0 would have lost, and
// RPO is the time between the newest row restored and the newest row
// committed before T0 (0 when the restore holds every row).
type Heartbeat struct {
	Read         time.Time        `json:"read"`
	Newest       string           `json:"newest_created_at,omitempty"`
	NewestTable  string           `json:"newest_table,omitempty"`
	Restored     string           `json:"restored_newest_created_at,omitempty"`
	RestoredFrom string           `json:"restored_newest_table,omitempty"`
	Tables       []HeartbeatTable `json:"tables,omitempty"`
	Missing      int64            `json:"rows_missing"`
	RPO          time.Duration    `json:"rpo_ns"`
	// RestoreAfter is how long after T0 the restore of the replica's
	// newest state began: rows Litestream shipped after T0 but before
	// 'litestream restore' read the replica count as kept, so the drill
	// can under-read the RPO by at most that time plus the restore step's
	// (tens of ms; rows committed after T0 are never counted).
	RestoreAfter time.Duration `json:"restore_after_ns"`
	// Measured: both sides were read; else Unknown says why.
	Measured bool   `json:"measured"`
	Unknown  string `json:"unknown,omitempty"`
}

// HeartbeatTable is one heartbeat table, live at T0 against restored.
type HeartbeatTable struct {
	Table            string `json:"table"`
	LiveRows         int64  `json:"live_rows"`
	LiveMaxRowID     int64  `json:"live_max_rowid"`
	LiveNewest       string `json:"live_newest_created_at,omitempty"`
	RestoredRows     int64  `json:"restored_rows"`
	RestoredMaxRowID int64  `json:"restored_max_rowid"`
	RestoredNewest   string `json:"restored_newest_created_at,omitempty"`
	// Missing: rows committed before T0 (rowid up to the live largest at
	// T0) that the restore does not hold (rowid beyond its largest).
	Missing int64 `json:"rows_missing"`
}

// resolveDrillSource decides where the drill restores from: the source
// (backup or replica) and, for auto, a note of why.
func resolveDrillSource(o DrillOptions) (source, note string, r ReplicaRestorer, err error) {
	src, err := ParseDrillSource(o.Source)
	if err != nil {
		return "", "", nil, err
	}
	r = o.Replica
	if r == nil {
		r = defaultReplicaRestorer
	}
	why := ""
	switch {
	case o.LitestreamConfig == "":
		why = "replication is not configured (console.replication.replicas)"
	case r == nil:
		why = "this program cannot restore a replica"
	default:
		if _, serr := os.Stat(o.LitestreamConfig); serr != nil {
			why = fmt.Sprintf("Litestream's config %s: %v (write it with 'repops replicate config')", o.LitestreamConfig, serr)
		} else if rerr := r.Ready(); rerr != nil {
			why = rerr.Error()
		}
	}
	switch src {
	case DrillSourceBackup:
		return DrillSourceBackup, "", nil, nil
	case DrillSourceReplica:
		if o.Backup != "" && o.Backup != "latest" {
			return "", "", nil, fmt.Errorf("a backup (%s) and the replica as the source: choose one", o.Backup)
		}
		if why != "" {
			return "", "", nil, fmt.Errorf("cannot drill from the replica: %s", why)
		}
		return DrillSourceReplica, "", r, nil
	}
	if o.Backup != "" && o.Backup != "latest" {
		return DrillSourceBackup, "", nil, nil // auto with a backup named: that backup
	}
	if why != "" {
		return DrillSourceBackup, "auto: the newest backup, " + why, nil, nil
	}
	return DrillSourceReplica, "auto: replication is configured", r, nil
}

// readHeartbeat reads the live database's heartbeat (read-only): T0, then
// one statement over the heartbeat tables present. An unreadable live
// database (the reason to restore, often) leaves it Unknown.
func readHeartbeat(ctx context.Context, dbPath string, now func() time.Time) *Heartbeat {
	hb := &Heartbeat{Read: now().UTC()}
	if dbPath == "" {
		hb.Unknown = "no live database named"
		return hb
	}
	live, err := db.OpenRead(ctx, dbPath, db.Options{MaxConns: 1, Owner: "drill"})
	if err != nil {
		hb.Unknown = "the live database cannot be read: " + err.Error()
		return hb
	}
	defer live.Close()
	names, err := db.TableNames(ctx, live)
	if err != nil {
		hb.Unknown = "the live database cannot be read: " + err.Error()
		return hb
	}
	have := map[string]bool{}
	for _, n := range names {
		have[n] = true
	}
	var cols []string
	for _, t := range HeartbeatTables {
		if have[t] {
			hb.Tables = append(hb.Tables, HeartbeatTable{Table: t})
			q := quoteIdent(t)
			cols = append(cols, "(SELECT count(*) FROM "+q+")", "(SELECT coalesce(max(rowid), 0) FROM "+q+")", "(SELECT coalesce(max(created_at), '') FROM "+q+")")
		}
	}
	if len(cols) == 0 {
		hb.Unknown = "the live database has none of the heartbeat tables (" + strings.Join(HeartbeatTables, ", ") + ")"
		return hb
	}
	// T0 is taken just before the statement: every row committed before
	// it is in the statement's snapshot.
	hb.Read = now().UTC()
	dest := make([]any, 0, len(cols))
	for i := range hb.Tables {
		t := &hb.Tables[i]
		dest = append(dest, &t.LiveRows, &t.LiveMaxRowID, &t.LiveNewest)
	}
	if err := live.QueryRowContext(ctx, "SELECT "+strings.Join(cols, ", ")).Scan(dest...); err != nil {
		hb.Unknown = "the live database cannot be read: " + err.Error()
		return hb
	}
	for _, t := range hb.Tables {
		if t.LiveNewest != "" && (hb.Newest == "" || db.ParseTime(t.LiveNewest).After(db.ParseTime(hb.Newest))) {
			hb.Newest, hb.NewestTable = t.LiveNewest, t.Table
		}
	}
	return hb
}

// compareHeartbeat fills hb from the restored copy's figures and counts,
// on the live database (read-only), the rows committed before T0 that
// the restore does not hold.
func compareHeartbeat(ctx context.Context, hb *Heartbeat, dbPath string, restored map[string]TableFigures) {
	if hb.Unknown != "" {
		return
	}
	if restored == nil {
		hb.Unknown = "the restored copy was not read"
		return
	}
	for i := range hb.Tables {
		t := &hb.Tables[i]
		f := restored[t.Table]
		t.RestoredRows, t.RestoredMaxRowID, t.RestoredNewest = f.Rows, f.MaxRowID, f.NewestCreatedAt
		if t.RestoredNewest != "" && (hb.Restored == "" || db.ParseTime(t.RestoredNewest).After(db.ParseTime(hb.Restored))) {
			hb.Restored, hb.RestoredFrom = t.RestoredNewest, t.Table
		}
	}
	// Rows missing: rowid in (restored largest, live largest at T0], read
	// on the live database now; a live database that can no longer be
	// read leaves the count from the row counts at T0.
	live, err := db.OpenRead(ctx, dbPath, db.Options{MaxConns: 1, Owner: "drill"})
	if err == nil {
		defer live.Close()
	}
	for i := range hb.Tables {
		t := &hb.Tables[i]
		if t.LiveMaxRowID <= t.RestoredMaxRowID {
			continue
		}
		n := int64(-1)
		if live != nil {
			var c sql.NullInt64
			if qerr := live.QueryRowContext(ctx, `SELECT count(*) FROM `+quoteIdent(t.Table)+` WHERE rowid > ? AND rowid <= ?`,
				t.RestoredMaxRowID, t.LiveMaxRowID).Scan(&c); qerr == nil {
				n = c.Int64
			}
		}
		if n < 0 {
			n = max(t.LiveRows-t.RestoredRows, 0)
		}
		t.Missing = n
		hb.Missing += n
	}
	hb.Measured = true
	switch {
	case hb.Missing == 0:
		hb.RPO = 0
	case hb.Restored == "":
		// Nothing restored: everything up to the newest row is lost; the
		// RPO is at least from the replica's birth, unknown here.
		hb.Measured = false
		hb.Unknown = fmt.Sprintf("the restore holds none of the %d rows committed before the drill", hb.Missing)
	default:
		hb.RPO = max(db.ParseTime(hb.Newest).Sub(db.ParseTime(hb.Restored)), 0)
	}
}

// DrillRealTime is what a replica drill counts as the guide's
// "real-time" RPO when DrillOptions.RealTime is not given: Litestream's
// default sync interval, the loss its replication bounds.
const DrillRealTime = time.Second

func quoteIdent(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// replicaRPO sets a replica drill's RPO: the heartbeat's when both
// sides were read; else the restored position's age at T0 (said in
// RPOBy); else unknown (RPOBy ""), which no objective meets. It reports
// whether the RPO is known.
func replicaRPO(ctx context.Context, res *DrillResult, dbPath string, restored map[string]TableFigures, start time.Time) bool {
	hb := res.Heartbeat
	if hb != nil && res.OK {
		compareHeartbeat(ctx, hb, dbPath, restored)
	} else if hb != nil && hb.Unknown == "" {
		hb.Unknown = "the restore did not verify"
	}
	if hb != nil && hb.Measured {
		res.RPO, res.RPOBy = hb.RPO, "heartbeat"
		return true
	}
	if !res.ReplicaTXIDTime.IsZero() {
		at := start
		if hb != nil {
			at = hb.Read
		}
		res.RPO, res.RPOBy = max(at.Sub(res.ReplicaTXIDTime), 0), "age of the restored position, the heartbeat not measured"
		return true
	}
	res.RPO, res.RPOBy = 0, ""
	return false
}

// replicaMissed says how a replica drill missed the RPO objective.
func replicaMissed(or ObjectiveResult, res *DrillResult) string {
	want := fmtObjective(or.RPO)
	if or.RealTime {
		want = "real-time (counted as " + fmtDur(res.RealTime) + ")"
	}
	if res.RPOBy == "" {
		why := "unknown"
		if res.Heartbeat != nil && res.Heartbeat.Unknown != "" {
			why = res.Heartbeat.Unknown
		}
		return fmt.Sprintf("objective missed: RPO %s, the replica's RPO is not measured: %s", want, why)
	}
	missing := ""
	if hb := res.Heartbeat; hb != nil && hb.Measured {
		missing = fmt.Sprintf(" (%d rows committed before the drill missing)", hb.Missing)
	}
	return fmt.Sprintf("objective missed: RPO %s, the replica restore lost %s of commits%s", want, fmtDur(res.RPO), missing)
}

// fmtTime writes a position's time, "unknown" when zero.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// heartbeatLine is the heartbeat in one line, for the report.
func heartbeatLine(hb *Heartbeat) string {
	if hb == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "read %s: newest committed row %s", hb.Read.Format(time.RFC3339Nano), orDefault(hb.Newest, "(none)"))
	if hb.NewestTable != "" {
		fmt.Fprintf(&b, " (%s)", hb.NewestTable)
	}
	if hb.Unknown != "" {
		fmt.Fprintf(&b, "; not measured: %s", hb.Unknown)
		return b.String()
	}
	fmt.Fprintf(&b, "; newest restored %s", orDefault(hb.Restored, "(none)"))
	if hb.RestoredFrom != "" {
		fmt.Fprintf(&b, " (%s)", hb.RestoredFrom)
	}
	fmt.Fprintf(&b, "; %d rows committed before the drill missing; the restore began %s after the reading", hb.Missing, fmtDur(hb.RestoreAfter))
	return b.String()
}

// DrillSourceFor says where a drill with these options restores from
// ("backup" or "replica") and, for auto, why; an error for a --source
// replica that cannot be restored from, or an unknown source.
func DrillSourceFor(o DrillOptions) (source, note string, err error) {
	source, note, _, err = resolveDrillSource(o)
	return source, note, err
}
