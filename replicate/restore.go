package replicate

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/fsutil"
	"github.com/repops/repops/ops"
)

// ErrBadTarget is returned, wrapped, for a point in time no replica can
// give: in the future, before the replica's first position, or a txid it
// does not have. Nothing was changed.
var ErrBadTarget = errors.New("no such point in the replica")

// ErrNoReplica is returned, wrapped, when the replica holds nothing to
// restore (empty, unreadable, or not configured for the database).
var ErrNoReplica = errors.New("the replica cannot be restored from")

// RestoreOptions are RestoreTo's inputs.
type RestoreOptions struct {
	// ConfigPath is Litestream's config (config.LitestreamConfig()); it
	// names the database and its replica (the first one is restored from).
	ConfigPath string
	// DBPath is the live database as Litestream's config names it.
	DBPath string
	// StateDir holds the scratch dir (<state dir>/scratch) the restore is
	// written into; the live database is never written.
	StateDir string
	// Timestamp is the point to restore to (Litestream's -timestamp: the
	// newest transaction committed before it); TXID the transaction to
	// restore up to, inclusive (-txid). Both zero: the newest state.
	Timestamp time.Time
	TXID      uint64
	// Live is a read-only connection to the live database, to count what a
	// restore to this point loses; nil: not measured. Its path is never
	// opened here.
	Live db.Querier
	// Binary is the litestream binary; default Binary().
	Binary string
	// Timeout bounds the litestream commands; default 10 minutes.
	Timeout time.Duration
	Now     func() time.Time
}

// TableState is one table of the restored database and, when the live
// database was given, what the live database has beyond it.
type TableState struct {
	Table    string `json:"table"`
	Rows     int64  `json:"rows"`
	MaxRowID int64  `json:"max_rowid"`
	// NewestCreatedAt is max(created_at) ("" without that column);
	// LastCreatedAt the created_at of the row with MaxRowID, the last
	// insert the restore kept.
	NewestCreatedAt string `json:"newest_created_at,omitempty"`
	LastCreatedAt   string `json:"last_created_at,omitempty"`
	// On the live database, read-only: its rows, and those beyond the
	// restored MaxRowID (inserted after the restored point: what a restore
	// to this point loses), the newest of them.
	LiveRows   int64  `json:"live_rows"`
	LostRows   int64  `json:"lost_rows"`
	NewestLost string `json:"newest_lost,omitempty"`
}

// Result is what RestoreTo restored and found.
type Result struct {
	// Path is the restored scratch file; the caller removes it (Remove)
	// or hands it to ops.Restore: a manifest beside it (ops.ManifestPath)
	// makes it verifiable as a backup.
	Path string `json:"path"`
	// Target is what was asked: "newest", a time or a txid.
	Target string `json:"target"`
	// TXID is Litestream's transaction restored up to (16 hex digits), and
	// TXIDTime the time Litestream recorded that transaction (its LTX
	// file's, to the millisecond on a file replica); zero when unknown.
	TXID     string    `json:"txid,omitempty"`
	TXIDTime time.Time `json:"txid_time,omitempty"`
	// The replica's range: its first and newest positions.
	First  time.Time `json:"replica_first,omitempty"`
	Newest time.Time `json:"replica_newest,omitempty"`
	// QuickCheck lists its problems, empty when sound.
	QuickCheck    []string     `json:"quick_check,omitempty"`
	SchemaVersion int64        `json:"schema_version"`
	Tables        []TableState `json:"tables"`
	// LastTable, LastRowID, LastCreatedAt: the newest committed row kept
	// (the table's last insert with the newest created_at, among the
	// tables that have one), and LastTime its created_at parsed.
	LastTable     string    `json:"last_table,omitempty"`
	LastRowID     int64     `json:"last_rowid,omitempty"`
	LastCreatedAt string    `json:"last_created_at,omitempty"`
	LastTime      time.Time `json:"last_time,omitempty"`
	// LostRows is the sum of the tables' LostRows; LostMeasured says
	// whether the live database was compared.
	LostRows     int64  `json:"lost_rows"`
	LostMeasured bool   `json:"lost_measured"`
	LostUnknown  string `json:"lost_unknown,omitempty"` // why it was not measured
	Size         int64  `json:"size"`
	// RestoreTook is litestream restore's time; CheckTook the checks'.
	RestoreTook time.Duration `json:"restore_ns"`
	CheckTook   time.Duration `json:"check_ns"`
}

// ScratchDir is where restores from the replica are written:
// <state dir>/scratch, as the drills.
func ScratchDir(stateDir string) string { return ops.DrillScratchDir(stateDir) }

// ParseTXID reads a transaction id: Litestream's 16 hex digits, 0x and
// hex, or a decimal number.
func ParseTXID(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	var (
		v   uint64
		err error
	)
	switch {
	case len(s) == 16:
		v, err = strconv.ParseUint(s, 16, 64)
	case strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X"):
		v, err = strconv.ParseUint(s[2:], 16, 64)
	default:
		v, err = strconv.ParseUint(s, 10, 64)
	}
	if err != nil || v == 0 {
		return 0, fmt.Errorf("txid %q: give Litestream's 16 hex digits (as 'litestream ltx' lists them), 0x<hex> or a decimal number above 0", s)
	}
	return v, nil
}

// FormatTXID is Litestream's form of a txid.
func FormatTXID(v uint64) string { return fmt.Sprintf("%016x", v) }

// ltxFile is one line of 'litestream ltx -json'.
type ltxFile struct {
	Level     int    `json:"level"`
	MinTXID   string `json:"min_txid"`
	MaxTXID   string `json:"max_txid"`
	Size      int64  `json:"size"`
	Timestamp string `json:"timestamp"`
}

// runLS runs the litestream binary with args and returns its
// stdout; a failure's error is its last line of output.
func runLS(ctx context.Context, bin string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("litestream %s: %w", args[0], ctx.Err())
		}
		return nil, fmt.Errorf("litestream %s: %s", args[0], lsLastLine(errb.String(), out.String(), err.Error()))
	}
	return out.Bytes(), nil
}

// lsLastLine is the last non-empty line among the texts, in order of
// preference, without Litestream's log prefix ("time=... level=ERROR msg=").
func lsLastLine(texts ...string) string {
	for _, t := range texts {
		lines := strings.Split(strings.TrimSpace(t), "\n")
		for i := len(lines) - 1; i >= 0; i-- {
			l := strings.TrimSpace(lines[i])
			if l == "" {
				continue
			}
			if i := strings.Index(l, "msg="); i >= 0 && strings.HasPrefix(l, "time=") {
				l = strings.Trim(l[i+4:], `"`)
			}
			l = strings.TrimPrefix(l, "Error: ")
			return l
		}
	}
	return "failed"
}

// Positions lists the replica's LTX files (every level) through
// 'litestream ltx' and returns its first and newest positions (the
// oldest and newest LTX file times) and its newest txid.
func Positions(ctx context.Context, bin, configPath, dbPath string) (first, newest time.Time, newestTXID string, err error) {
	out, err := runLS(ctx, bin, "ltx", "-config", configPath, "-level", "all", "-json", dbPath)
	if err != nil {
		return first, newest, "", fmt.Errorf("%w: replica %s: %w (check the replica in %s, then 'repops replicate check')", ErrNoReplica, replicaOf(configPath, dbPath), err, configPath)
	}
	var files []ltxFile
	if err := json.Unmarshal(out, &files); err != nil {
		return first, newest, "", fmt.Errorf("litestream ltx: unexpected output: %w", err)
	}
	for _, f := range files {
		t, perr := time.Parse(time.RFC3339, f.Timestamp)
		if perr != nil {
			continue
		}
		if first.IsZero() || t.Before(first) {
			first = t
		}
		if t.After(newest) {
			newest = t
		}
		if f.MaxTXID > newestTXID {
			newestTXID = f.MaxTXID
		}
	}
	if len(files) == 0 {
		return first, newest, "", fmt.Errorf("%w: replica %s of %s is empty (is Litestream replicating it to there? see 'repops replicate check')", ErrNoReplica, replicaOf(configPath, dbPath), dbPath)
	}
	return first, newest, newestTXID, nil
}

// RestoreTo restores the replica of o.DBPath, to o.Timestamp or o.TXID
// (default: its newest state), through 'litestream restore' (its own
// process) into a new file of the scratch dir, then opens that file
// read-only and reports: quick_check, the last transaction kept
// (Litestream's txid and its time; the newest committed row of each
// table) and, from o.Live (read-only), what the live database has beyond
// it. A manifest is written beside the scratch file so that ops.Restore
// can verify it as a backup. The live database is never written. On an
// error nothing is left in scratch.
func RestoreTo(ctx context.Context, o RestoreOptions) (res *Result, err error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.DBPath == "" || o.StateDir == "" || o.ConfigPath == "" {
		return nil, errors.New("restore from the replica: the database, the state dir and Litestream's config are needed")
	}
	if !o.Timestamp.IsZero() && o.TXID != 0 {
		return nil, errors.New("restore from the replica: a time or a txid, not both")
	}
	if abs, aerr := filepath.Abs(o.DBPath); aerr == nil {
		o.DBPath = abs
	}
	bin := o.Binary
	if bin == "" {
		if bin, err = Binary(); err != nil {
			return nil, err
		}
	}
	if _, serr := os.Stat(o.ConfigPath); serr != nil {
		return nil, fmt.Errorf("%w: Litestream's config %s: %w (write it with 'repops replicate config')", ErrNoReplica, o.ConfigPath, serr)
	}
	res = &Result{Target: "newest"}
	switch {
	case !o.Timestamp.IsZero():
		res.Target = o.Timestamp.UTC().Format(time.RFC3339Nano)
		if t := now(); o.Timestamp.After(t) {
			return nil, fmt.Errorf("%w: %s is in the future (now %s); nothing was changed", ErrBadTarget, res.Target, t.UTC().Format(time.RFC3339))
		}
	case o.TXID != 0:
		res.Target = "txid " + FormatTXID(o.TXID)
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	if res.First, res.Newest, _, err = Positions(ctx, bin, o.ConfigPath, o.DBPath); err != nil {
		return nil, err
	}
	if !o.Timestamp.IsZero() && !o.Timestamp.After(res.First) {
		return nil, fmt.Errorf("%w: %s is before the replica's first position %s; nothing was changed", ErrBadTarget, res.Target, res.First.UTC().Format(time.RFC3339))
	}

	scratch := ScratchDir(o.StateDir)
	if err := os.MkdirAll(scratch, 0o700); err != nil {
		return nil, fmt.Errorf("restore from the replica: scratch dir %s: %w", scratch, err)
	}
	removeStaleScratch(scratch)
	// A temp name (fsutil.TempName): a restore killed half way leaves a
	// file the next one removes (its pid is gone).
	res.Path = fsutil.TempName(filepath.Join(scratch, "replica_"+filepath.Base(o.DBPath)))
	defer func() {
		if err != nil {
			Remove(res.Path)
			res = nil
		}
	}()

	args := []string{"restore", "-config", o.ConfigPath, "-o", res.Path, "-json"}
	if !o.Timestamp.IsZero() {
		args = append(args, "-timestamp", o.Timestamp.UTC().Format(time.RFC3339Nano))
	} else if o.TXID != 0 {
		args = append(args, "-txid", FormatTXID(o.TXID))
	}
	args = append(args, o.DBPath)
	start := time.Now()
	out, err := runLS(ctx, bin, args...)
	res.RestoreTook = time.Since(start)
	if err != nil {
		if strings.Contains(err.Error(), "no matching backup files") {
			return res, fmt.Errorf("%w: the replica has nothing at %s (its range: %s to %s); nothing was changed", ErrBadTarget, res.Target,
				res.First.UTC().Format(time.RFC3339), res.Newest.UTC().Format(time.RFC3339))
		}
		return res, fmt.Errorf("restore from the replica: %w; nothing was changed", err)
	}
	var lr struct {
		TXID string `json:"txid"`
	}
	if jerr := json.Unmarshal(out, &lr); jerr == nil {
		res.TXID = lr.TXID
	}
	if o.TXID != 0 && res.TXID != "" && res.TXID != FormatTXID(o.TXID) {
		return res, fmt.Errorf("%w: txid %s asked, the replica restored up to %s; nothing was changed", ErrBadTarget, FormatTXID(o.TXID), res.TXID)
	}
	res.TXIDTime = txidTime(ctx, bin, o, res.TXID)

	cs := time.Now()
	if err := describe(ctx, res, o.Live); err != nil {
		return res, err
	}
	if why := otherDatabase(ctx, res, o.Live); why != "" {
		return res, fmt.Errorf("%w: replica %s holds another database than %s (%s): point %s at this database's own replica; nothing was changed",
			ErrNoReplica, replicaOf(o.ConfigPath, o.DBPath), o.DBPath, why, o.ConfigPath)
	}
	if err := writeManifest(res, o.DBPath, now()); err != nil {
		return res, err
	}
	res.CheckTook = time.Since(cs)
	return res, nil
}

// txidTime is the time of the LTX file that ends at txid (the newest such
// file of every level), zero when unknown. The file replica keeps it to
// the millisecond; 'litestream ltx' prints seconds, so this reads it from
// the restore plan's file list instead when it can.
func txidTime(ctx context.Context, bin string, o RestoreOptions, txid string) time.Time {
	if txid == "" {
		return time.Time{}
	}
	out, err := runLS(ctx, bin, "ltx", "-config", o.ConfigPath, "-level", "all", "-json", o.DBPath)
	if err != nil {
		return time.Time{}
	}
	var files []ltxFile
	if json.Unmarshal(out, &files) != nil {
		return time.Time{}
	}
	var t time.Time
	for _, f := range files {
		if f.MaxTXID != txid {
			continue
		}
		if ft, err := time.Parse(time.RFC3339, f.Timestamp); err == nil && (t.IsZero() || ft.Before(t)) {
			t = ft
		}
	}
	return t
}

// describe opens the restored file read-only and fills res: size,
// quick_check, schema version, the tables and the last row kept; with
// live, what the live database has beyond it.
func describe(ctx context.Context, res *Result, live db.Querier) error {
	st, err := os.Stat(res.Path)
	if err != nil {
		return fmt.Errorf("restore from the replica: litestream wrote no database: %w", err)
	}
	res.Size = st.Size()
	r, err := db.OpenRead(ctx, res.Path, db.Options{MaxConns: 1, Owner: "replicate"})
	if err != nil {
		return fmt.Errorf("restore from the replica: the restored file cannot be opened: %w", err)
	}
	defer r.Close()
	if res.QuickCheck, err = db.QuickCheck(ctx, r, 20); err != nil {
		return fmt.Errorf("restore from the replica: quick_check: %w", err)
	}
	if len(res.QuickCheck) > 0 {
		return nil
	}
	res.SchemaVersion, _ = db.SchemaVersion(ctx, r)
	if res.Tables, err = tableStates(ctx, r); err != nil {
		return fmt.Errorf("restore from the replica: %w", err)
	}
	for _, t := range res.Tables {
		if t.LastCreatedAt == "" {
			continue
		}
		lt := db.ParseTime(t.LastCreatedAt)
		if res.LastTable == "" || lt.After(res.LastTime) {
			res.LastTable, res.LastRowID, res.LastCreatedAt, res.LastTime = t.Table, t.MaxRowID, t.LastCreatedAt, lt
		}
	}
	if live == nil {
		return nil
	}
	// A live database too damaged to count (the reason to restore, often)
	// leaves the loss unknown; the restore goes on.
	if err := measureLost(ctx, live, res); err != nil {
		res.LostUnknown = "the live database cannot be read: " + err.Error()
		res.LostRows = 0
		for i := range res.Tables {
			res.Tables[i].LiveRows, res.Tables[i].LostRows, res.Tables[i].NewestLost = 0, 0, ""
		}
		return nil
	}
	res.LostMeasured = true
	return nil
}

// LitestreamTable reports whether table is one Litestream keeps in the
// database for itself (_litestream_seq, _litestream_lock): Litestream
// writes it, not the service, so it is neither lost nor compared.
func LitestreamTable(table string) bool { return strings.HasPrefix(table, "_litestream_") }

func quote(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

func hasCreatedAt(ctx context.Context, q db.Querier, table string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info(?) WHERE name = 'created_at'`, table).Scan(&n)
	return n > 0, err
}

// tableStates reads every table's rows, largest rowid, newest created_at
// and its last insert's created_at.
func tableStates(ctx context.Context, q db.Querier) ([]TableState, error) {
	names, err := db.TableNames(ctx, q)
	if err != nil {
		return nil, err
	}
	out := make([]TableState, 0, len(names))
	for _, n := range names {
		t := TableState{Table: n}
		if err := q.QueryRowContext(ctx, `SELECT count(*), coalesce(max(rowid), 0) FROM `+quote(n)).Scan(&t.Rows, &t.MaxRowID); err != nil {
			return nil, fmt.Errorf("count rows of %s: %w", n, err)
		}
		has, err := hasCreatedAt(ctx, q, n)
		if err != nil {
			return nil, fmt.Errorf("read columns of %s: %w", n, err)
		}
		if has {
			var newest, last sql.NullString
			if err := q.QueryRowContext(ctx, `SELECT max(created_at) FROM `+quote(n)).Scan(&newest); err != nil {
				return nil, fmt.Errorf("newest row of %s: %w", n, err)
			}
			if t.MaxRowID > 0 {
				if err := q.QueryRowContext(ctx, `SELECT created_at FROM `+quote(n)+` WHERE rowid = ?`, t.MaxRowID).Scan(&last); err != nil {
					return nil, fmt.Errorf("last row of %s: %w", n, err)
				}
			}
			t.NewestCreatedAt, t.LastCreatedAt = newest.String, last.String
		}
		out = append(out, t)
	}
	return out, nil
}

// measureLost counts, on the live database (read-only), each table's rows
// and those beyond the restored largest rowid, with the newest of them.
func measureLost(ctx context.Context, live db.Querier, res *Result) error {
	liveNames, err := db.TableNames(ctx, live)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, n := range liveNames {
		have[n] = true
	}
	for i := range res.Tables {
		t := &res.Tables[i]
		if !have[t.Table] || LitestreamTable(t.Table) {
			continue
		}
		if err := live.QueryRowContext(ctx, `SELECT count(*) FROM `+quote(t.Table)).Scan(&t.LiveRows); err != nil {
			return err
		}
		if err := live.QueryRowContext(ctx, `SELECT count(*) FROM `+quote(t.Table)+` WHERE rowid > ?`, t.MaxRowID).Scan(&t.LostRows); err != nil {
			return err
		}
		if t.LostRows > 0 && t.LastCreatedAt != "" {
			var newest sql.NullString
			if err := live.QueryRowContext(ctx, `SELECT max(created_at) FROM `+quote(t.Table)+` WHERE rowid > ?`, t.MaxRowID).Scan(&newest); err != nil {
				return err
			}
			t.NewestLost = newest.String
		}
		res.LostRows += t.LostRows
	}
	return nil
}

// writeManifest writes an ops.Manifest beside the restored file, from
// what describe measured on it, so that ops.VerifyBackup checks it as a
// backup (checksum, integrity_check, schema, rows) before ops.Restore
// puts it in place, and a change to the file in between is caught.
func writeManifest(res *Result, dbPath string, now time.Time) error {
	if len(res.QuickCheck) > 0 {
		return nil // refused by the caller; nothing to vouch for
	}
	sum, size, err := ops.FileSHA256(res.Path)
	if err != nil {
		return fmt.Errorf("restore from the replica: checksum: %w", err)
	}
	created := res.TXIDTime
	if created.IsZero() {
		created = now
	}
	m := ops.Manifest{ManifestVersion: ops.ManifestVersion, Name: filepath.Base(res.Path), Source: dbPath, Created: created.UTC(),
		Size: size, SHA256: sum, SchemaVersion: res.SchemaVersion, Tables: map[string]ops.TableFigures{}, QuickCheck: "ok",
		Method: "litestream restore", Actor: ops.CurrentActor("")}
	for _, t := range res.Tables {
		m.Tables[t.Table] = ops.TableFigures{Rows: t.Rows, MaxRowID: t.MaxRowID, NewestCreatedAt: t.NewestCreatedAt}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := fsutil.WriteAtomic(ops.ManifestPath(res.Path), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("restore from the replica: write the manifest: %w", err)
	}
	return nil
}

// Remove deletes a scratch restore: the file, its -wal, -shm, -journal
// and its manifest.
func Remove(path string) {
	if path == "" {
		return
	}
	db.RemoveDBFiles(path)
	_ = os.Remove(ops.ManifestPath(path))
}

// removeStaleScratch removes the manifests of scratch restores whose
// process is gone (fsutil.RemoveStale removes their databases).
func removeStaleScratch(dir string) {
	_, _ = fsutil.RemoveStale(dir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(name, ".tmp.json") {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, strings.TrimSuffix(name, ".json"))); err == nil {
			continue
		}
		if pid, ok := fsutil.OwnerPid(strings.TrimSuffix(name, ".json")); ok && !alive(pid) {
			_ = os.Remove(filepath.Join(dir, name))
		}
	}
}

// alive reports whether a process with pid exists.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// replicaOf names the replica Litestream's config gives the database at
// dbPath ("file /path", "sftp user@host:/path", "s3 bucket/path"), for
// messages; "in <config>" when the config cannot say.
func replicaOf(configPath, dbPath string) string {
	unknown := "in " + configPath
	data, err := fsutil.ReadRegularFile(context.Background(), configPath, 1<<20)
	if err != nil {
		return unknown
	}
	var c lsConfig
	if yaml.Unmarshal([]byte(os.ExpandEnv(string(data))), &c) != nil {
		return unknown
	}
	for _, d := range c.DBs {
		if filepath.Clean(d.Path) != filepath.Clean(dbPath) {
			continue
		}
		switch r := d.Replica; r.Type {
		case "file":
			return "file " + r.Path
		case "sftp":
			return "sftp " + r.User + "@" + r.Host + ":" + r.Path
		case "s3":
			return "s3 " + r.Bucket + "/" + r.Path
		}
	}
	return unknown
}

// otherDatabase says why the restored database res is not a past state of
// the live one ("" when nothing says so, or live is nil): no user table in
// common, or, on every table both have with rows and a created_at, the
// rows at the restored first and last rowids exist on the live database
// with another created_at (a row's rowid and created_at never change; a
// table emptied and refilled since is a single table, so one match among
// the others clears it). Litestream's LTX files name no database, so
// 'litestream restore' restores whatever replica its config points at.
// The live database is only read; an error reading it says nothing.
func otherDatabase(ctx context.Context, res *Result, live db.Querier) string {
	if live == nil || res == nil || len(res.QuickCheck) > 0 {
		return ""
	}
	liveNames, err := db.TableNames(ctx, live)
	if err != nil {
		return ""
	}
	have := map[string]bool{}
	for _, n := range liveNames {
		if !LitestreamTable(n) {
			have[n] = true
		}
	}
	var mine, common []string
	for _, t := range res.Tables {
		if LitestreamTable(t.Table) {
			continue
		}
		mine = append(mine, t.Table)
		if have[t.Table] {
			common = append(common, t.Table)
		}
	}
	if len(mine) > 0 && len(have) > 0 && len(common) == 0 {
		return fmt.Sprintf("its tables %s are none of the live database's", strings.Join(mine, ", "))
	}
	r, err := db.OpenRead(ctx, res.Path, db.Options{MaxConns: 1, Owner: "replicate"})
	if err != nil {
		return ""
	}
	defer r.Close()
	var differ []string
	same := 0
	for _, t := range res.Tables {
		if !have[t.Table] || t.Rows == 0 || LitestreamTable(t.Table) {
			continue
		}
		if ok, err := hasCreatedAt(ctx, r, t.Table); err != nil || !ok {
			continue
		}
		if ok, err := hasCreatedAt(ctx, live, t.Table); err != nil || !ok {
			continue
		}
		var first int64
		if err := r.QueryRowContext(ctx, `SELECT min(rowid) FROM `+quote(t.Table)).Scan(&first); err != nil {
			continue
		}
		for i, id := range []int64{first, t.MaxRowID} {
			if i == 1 && id == first {
				break
			}
			var a, b sql.NullString
			q := `SELECT created_at FROM ` + quote(t.Table) + ` WHERE rowid = ?`
			if err := r.QueryRowContext(ctx, q, id).Scan(&a); err != nil {
				continue
			}
			if err := live.QueryRowContext(ctx, q, id).Scan(&b); err != nil {
				continue // not on the live database (deleted since): says nothing
			}
			if a == b {
				same++
				continue
			}
			differ = append(differ, fmt.Sprintf("%s row %d created %s there, %s here", t.Table, id, a.String, b.String))
		}
	}
	if same > 0 || len(differ) == 0 {
		return ""
	}
	if len(differ) > 2 {
		differ = append(differ[:2], fmt.Sprintf("%d more", len(differ)-2))
	}
	return strings.Join(differ, "; ")
}
