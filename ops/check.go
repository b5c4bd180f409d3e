package ops

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/repops/repops/db"
	"github.com/repops/repops/state"
)

// Check statuses, in the Nagios plugin convention that 'repops check'
// exits with: 0 OK, 1 WARNING (foreign-key or schema problems: the data
// is readable but not as expected), 2 CRITICAL (corruption: restore),
// 3 UNKNOWN (the database could not be checked at all).
const (
	CheckOK       = 0
	CheckWarning  = 1
	CheckCritical = 2
	CheckUnknown  = 3
)

// CheckOptions are Check's inputs.
type CheckOptions struct {
	DBPath string
	// Full runs integrity_check (every index against its table) instead
	// of quick_check; slower.
	Full bool
	// StateDir, when set, records the outcome (state.WriteLastCheck) for the
	// dashboard.
	StateDir string
}

// CheckResult is what Check found: one line per problem.
type CheckResult struct {
	Database string
	Mode     string   // quick or full
	Status   int      // one of the Check... statuses
	Corrupt  []string // integrity problems (CRITICAL)
	Foreign  []string // foreign_key_check rows (WARNING)
	Schema   []string // schema validation problems (WARNING)
	Took     time.Duration
}

// Problems is every problem, one line each.
func (r *CheckResult) Problems() []string {
	out := append([]string{}, r.Corrupt...)
	out = append(out, r.Foreign...)
	return append(out, r.Schema...)
}

// StatusName is OK, WARNING, CRITICAL or UNKNOWN.
func StatusName(status int) string {
	return [...]string{"OK", "WARNING", "CRITICAL", "UNKNOWN"}[max(0, min(status, 3))]
}

// Check verifies the database at o.DBPath read-only: quick_check (or
// integrity_check with Full), foreign_key_check and schema validation.
// It opens the database read-only, so it is safe on the live database
// while the service writes. An error (status UNKNOWN) means it could not
// check; problems found are in the result.
func Check(ctx context.Context, o CheckOptions) (*CheckResult, error) {
	start := time.Now()
	res := &CheckResult{Database: o.DBPath, Mode: "quick", Status: CheckUnknown}
	if o.Full {
		res.Mode = "full"
	}
	defer func() {
		res.Took = time.Since(start)
		if o.StateDir != "" && res.Status != CheckUnknown {
			_ = state.WriteLastCheck(o.StateDir, state.CheckRecord{Time: time.Now().UTC(), Database: absPath(o.DBPath),
				Mode: res.Mode, OK: res.Status == CheckOK, Problems: res.Problems()})
		}
	}()
	r, err := db.OpenRead(ctx, o.DBPath, db.Options{MaxConns: 1})
	if err != nil {
		if isCorruptKind(err) {
			res.Status = CheckCritical
			res.Corrupt = []string{err.Error()}
			return res, nil
		}
		return res, fmt.Errorf("check: %w", err)
	}
	defer r.Close()
	res.Corrupt, err = integrityCheck(ctx, r, o.Full)
	if err != nil {
		return res, fmt.Errorf("check %s: %w", o.DBPath, db.Classify(o.DBPath, err))
	}
	for i, p := range res.Corrupt {
		res.Corrupt[i] = "corrupt: " + p
	}
	if len(res.Corrupt) > 0 {
		res.Status = CheckCritical
		return res, nil
	}
	res.Foreign, err = foreignKeyCheck(ctx, r)
	if err != nil {
		return res, fmt.Errorf("check %s: foreign_key_check: %w", o.DBPath, db.Classify(o.DBPath, err))
	}
	rep, err := db.Validate(ctx, r)
	if err != nil {
		return res, fmt.Errorf("check %s: schema: %w", o.DBPath, db.Classify(o.DBPath, err))
	}
	for _, p := range rep.Problems {
		res.Schema = append(res.Schema, "schema: "+p.String())
	}
	res.Status = CheckOK
	if len(res.Foreign) > 0 || len(res.Schema) > 0 {
		res.Status = CheckWarning
	}
	return res, nil
}

func isCorruptKind(err error) bool {
	return errors.Is(err, db.ErrCorrupt) || errors.Is(err, db.ErrNotSQLite) || errors.Is(err, db.ErrEmpty)
}

// foreignKeyCheck lists rows whose foreign key points nowhere, grouped by
// table and parent, at most 100 lines.
func foreignKeyCheck(ctx context.Context, q db.Querier) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT "table", parent, count(*), min(rowid) FROM pragma_foreign_key_check GROUP BY 1, 2 ORDER BY 1, 2 LIMIT 100`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var table, parent string
		var n, first int64
		if err := rows.Scan(&table, &parent, &n, &first); err != nil {
			return nil, err
		}
		out = append(out, fmt.Sprintf("foreign key: %d rows of %s point to missing %s rows (first rowid %d)", n, table, parent, first))
	}
	return out, rows.Err()
}
