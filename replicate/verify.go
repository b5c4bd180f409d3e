package replicate

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/fsutil"
	"github.com/repops/repops/state"
)

// Verification outcomes.
const (
	VerifyOK       = "ok"
	VerifyCritical = "critical" // the replica's newest state is damaged or differs from the live database
	VerifyUnknown  = "unknown"  // the verification could not run
)

// VerifyOptions are Verify's inputs.
type VerifyOptions struct {
	ConfigPath string
	DBPath     string
	StateDir   string
	// Full runs integrity_check instead of quick_check.
	Full bool
	// Live is a read-only connection to the live database (required).
	Live    db.Querier
	Binary  string
	Timeout time.Duration
	Now     func() time.Time
}

// TableCompare is one table's rows in the replica's newest state and in
// the live database at that position.
type TableCompare struct {
	Table   string `json:"table"`
	Replica int64  `json:"replica"`
	Live    int64  `json:"live"`
	// By is how "at that position" is judged: "created_at < P" (P the
	// newest created_at restored) or "rowid <= N" (no created_at column).
	By string `json:"by"`
}

// VerifyRecord is the outcome of one verification of a database's
// replica, kept in the state dir (a file per database, as the checks).
type VerifyRecord struct {
	Database string          `json:"database"`
	File     *state.FileID   `json:"file,omitempty"`
	Time     time.Time       `json:"time"`
	Status   string          `json:"status"` // VerifyOK, VerifyCritical, VerifyUnknown
	Problems []string        `json:"problems,omitempty"`
	Check    string          `json:"check"` // quick_check or integrity_check
	TXID     string          `json:"txid,omitempty"`
	TXIDTime time.Time       `json:"txid_time,omitempty"`
	Position string          `json:"position,omitempty"` // the newest created_at restored
	Tables   []TableCompare  `json:"tables,omitempty"`
	Restore  float64         `json:"restore_seconds"`
	Took     float64         `json:"took_seconds"`
	Replica  *ReplicaExtents `json:"replica,omitempty"`
	// LastSuccess is the time of the newest verification that was OK
	// (this one, or carried over from the previous record).
	LastSuccess time.Time `json:"last_success,omitempty"`
}

// ReplicaExtents are the replica's first and newest positions.
type ReplicaExtents struct {
	First  time.Time `json:"first"`
	Newest time.Time `json:"newest"`
}

// VerifyRecordPath is the file that holds the last replica verification
// of the database at dbPath: <state dir>/records/replica-verify-KEY.json.
func VerifyRecordPath(stateDir, dbPath string) string {
	return filepath.Join(stateDir, "records", "replica-verify-"+state.RecordKey(dbPath)+".json")
}

// ReadVerify reads the last replica verification of the database at
// dbPath; ok is false when there is none.
func ReadVerify(stateDir, dbPath string) (rec VerifyRecord, ok bool, err error) {
	b, err := fsutil.ReadRegularFile(context.Background(), VerifyRecordPath(stateDir, dbPath), 1<<20)
	if errors.Is(err, fs.ErrNotExist) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, false, fmt.Errorf("replica verification record %s: %w", VerifyRecordPath(stateDir, dbPath), err)
	}
	return rec, true, nil
}

// WriteVerify records rec atomically (fsutil.WriteAtomic), carrying the
// previous record's LastSuccess over when rec is not a success.
func WriteVerify(stateDir string, rec *VerifyRecord) error {
	if rec.Status == VerifyOK {
		rec.LastSuccess = rec.Time
	} else if prev, ok, _ := ReadVerify(stateDir, rec.Database); ok {
		rec.LastSuccess = prev.LastSuccess
	}
	p := VerifyRecordPath(stateDir, rec.Database)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(p), err)
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteAtomic(p, append(b, '\n'), 0o600)
}

// Verify restores the replica's newest state into scratch (RestoreTo),
// checks it (quick_check, or integrity_check with o.Full), compares each
// table's rows with the live database at that position, counted
// read-only, removes the scratch file and records the outcome in the
// state dir. An error (and a record with VerifyUnknown) means it could not
// run; Status says what it found.
//
// "At that position": P is the newest created_at the restore holds; both
// sides count the rows with created_at < P (strictly: the service writes
// second-precision times, and rows of P's own second may have been
// committed after the restored transaction). A table without created_at
// is compared on rowid <= its restored largest rowid. Rows archived or
// deleted on the live database since the restored point (seconds, at
// Litestream's lag) would show as a mismatch.
func Verify(ctx context.Context, o VerifyOptions) (*VerifyRecord, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	start := time.Now()
	dbPath := o.DBPath
	if abs, err := filepath.Abs(dbPath); err == nil {
		dbPath = abs
	}
	rec := &VerifyRecord{Database: dbPath, File: state.FileIDOf(dbPath), Time: now().UTC(), Check: "quick_check"}
	if o.Full {
		rec.Check = "integrity_check"
	}
	unknown := func(err error) (*VerifyRecord, error) {
		rec.Status = VerifyUnknown
		rec.Problems = append(rec.Problems, err.Error())
		rec.Took = time.Since(start).Seconds()
		if werr := WriteVerify(o.StateDir, rec); werr != nil {
			err = fmt.Errorf("%w (and recording it: %w)", err, werr)
		}
		return rec, err
	}
	if o.Live == nil {
		return unknown(errors.New("verify the replica: no connection to the live database"))
	}
	res, err := RestoreTo(ctx, RestoreOptions{ConfigPath: o.ConfigPath, DBPath: dbPath, StateDir: o.StateDir, Binary: o.Binary, Timeout: o.Timeout, Now: o.Now})
	if err != nil {
		return unknown(err)
	}
	defer Remove(res.Path)
	rec.TXID, rec.TXIDTime, rec.Restore = res.TXID, res.TXIDTime, res.RestoreTook.Seconds()
	rec.Replica = &ReplicaExtents{First: res.First, Newest: res.Newest}
	rec.Position = res.LastCreatedAt

	problems := res.QuickCheck
	if o.Full && len(problems) == 0 {
		if problems, err = integrityCheck(ctx, res.Path); err != nil {
			return unknown(err)
		}
	}
	for _, p := range problems {
		rec.Problems = append(rec.Problems, rec.Check+": "+p)
	}
	if why := otherDatabase(ctx, res, o.Live); why != "" && len(problems) == 0 {
		rec.Problems = append(rec.Problems, fmt.Sprintf("the replica holds another database than %s (%s): point %s at this database's own replica", dbPath, why, o.ConfigPath))
	} else if len(problems) == 0 {
		if err := compareAtPosition(ctx, res, o.Live, rec); err != nil {
			return unknown(fmt.Errorf("verify the replica: compare with the live database: %w", err))
		}
	}
	rec.Status = VerifyOK
	if len(rec.Problems) > 0 {
		rec.Status = VerifyCritical
	}
	rec.Took = time.Since(start).Seconds()
	if err := WriteVerify(o.StateDir, rec); err != nil {
		return rec, fmt.Errorf("verify the replica: record the outcome: %w", err)
	}
	return rec, nil
}

// integrityCheck runs a full integrity_check on the restored file.
func integrityCheck(ctx context.Context, path string) ([]string, error) {
	r, err := db.OpenRead(ctx, path, db.Options{MaxConns: 1, Owner: "replicate"})
	if err != nil {
		return nil, fmt.Errorf("verify the replica: open the restored file: %w", err)
	}
	defer r.Close()
	rows, err := r.QueryContext(ctx, "PRAGMA integrity_check(20)")
	if err != nil {
		return []string{err.Error()}, nil
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		if s != "ok" {
			out = append(out, s)
		}
	}
	if err := rows.Err(); err != nil {
		out = append(out, err.Error())
	}
	return out, nil
}

// compareAtPosition fills rec.Tables and adds a problem per table whose
// rows differ (see Verify).
func compareAtPosition(ctx context.Context, res *Result, live db.Querier, rec *VerifyRecord) error {
	r, err := db.OpenRead(ctx, res.Path, db.Options{MaxConns: 1, Owner: "replicate"})
	if err != nil {
		return err
	}
	defer r.Close()
	liveNames, err := db.TableNames(ctx, live)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, n := range liveNames {
		have[n] = true
	}
	pos := res.LastCreatedAt
	for _, t := range res.Tables {
		if LitestreamTable(t.Table) {
			continue
		}
		if !have[t.Table] {
			rec.Problems = append(rec.Problems, fmt.Sprintf("table %s is in the replica, not in the live database (a replica of another database?)", t.Table))
			continue
		}
		c := TableCompare{Table: t.Table}
		var where string
		var arg any
		if has, err := hasCreatedAt(ctx, live, t.Table); err != nil {
			return err
		} else if has && pos != "" {
			c.By, where, arg = "created_at < "+pos, "created_at < ?", pos
		} else {
			c.By, where, arg = fmt.Sprintf("rowid <= %d", t.MaxRowID), "rowid <= ?", t.MaxRowID
		}
		q := `SELECT count(*) FROM ` + quote(t.Table) + ` WHERE ` + where
		for _, side := range []struct {
			q   db.Querier
			dst *int64
		}{{r, &c.Replica}, {live, &c.Live}} {
			if err := side.q.QueryRowContext(ctx, q, arg).Scan(side.dst); err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("count rows of %s: %w", t.Table, err)
			}
		}
		if c.Replica != c.Live {
			rec.Problems = append(rec.Problems, fmt.Sprintf("rows: table %s has %d rows in the replica and %d in the live database (%s)", t.Table, c.Replica, c.Live, c.By))
		}
		rec.Tables = append(rec.Tables, c)
	}
	return nil
}

// Summary is a one-line verdict of rec.
func (rec *VerifyRecord) Summary() string {
	switch rec.Status {
	case VerifyOK:
		return fmt.Sprintf("OK: the replica's newest state (txid %s, newest row %s) passes %s and matches the live database in %d tables", orDash(rec.TXID), orDash(rec.Position), rec.Check, len(rec.Tables))
	case VerifyCritical:
		return "CRITICAL: " + strings.Join(rec.Problems, "; ")
	default:
		return "UNKNOWN: " + strings.Join(rec.Problems, "; ")
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
