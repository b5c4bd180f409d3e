package db

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testNow is the fixed "now" of every demo database the tests build.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newMigratedDB creates a database with every migration applied and no rows.
func newMigratedDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "architect.db")
	ctx := context.Background()
	w, err := OpenWrite(ctx, path, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := Migrate(ctx, w, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// filledSummary counts what newFilledDB wrote.
type filledSummary struct{ Appeals, Messages, Predictions int64 }

// newFilledDB creates a migrated database filled with appeals (in every
// status, one a minute up to testNow), five negotiation messages each and
// two predictions each, checkpointed (no WAL). The demo generator lives in
// sim, which imports db: these tests build their rows with SQL.
func newFilledDB(t *testing.T, appeals int) string {
	path, _ := newFilledDBSum(t, appeals)
	return path
}

func newFilledDBSum(t *testing.T, appeals int) (string, filledSummary) {
	t.Helper()
	path := newMigratedDB(t)
	now := FormatTime(testNow)
	seq := fmt.Sprintf("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d) ", appeals)
	execOn(t, path,
		seq+`INSERT INTO appeals (id, user_id, reason, status, created_at, updated_at, resolved_at)
		SELECT i, 'user_' || (i % 97), 'Appeal ' || i || ': automated fraud flag on a legitimate purchase',
		       s, t, t, CASE WHEN s IN ('approved', 'denied', 'expired') THEN t END
		  FROM (SELECT i, datetime('`+now+`', '-' || (`+fmt.Sprint(appeals)+` - i) || ' minutes') AS t,
		               CASE i % 5 WHEN 0 THEN 'pending' WHEN 1 THEN 'negotiating' WHEN 2 THEN 'approved' WHEN 3 THEN 'denied' ELSE 'expired' END AS s
		          FROM n)`,
		seq+`INSERT INTO appeal_negotiation_messages (appeal_id, sender, body, created_at)
		SELECT a.id, CASE k % 3 WHEN 0 THEN 'user' WHEN 1 THEN 'reviewer' ELSE 'system' END,
		       'Message ' || k || ' on appeal ' || a.id || ': the receipts show the order was delivered on time.',
		       datetime(a.created_at, '+' || k || ' minutes')
		  FROM appeals a, (SELECT i AS k FROM n WHERE i <= 5) ORDER BY a.id, k`,
		seq+`INSERT INTO ml_predictions (user_id, appeal_id, prediction_type, confidence, latency_ms, model_version, created_at)
		SELECT a.user_id, a.id, CASE k WHEN 1 THEN 'fraud_risk' ELSE 'appeal_outcome' END,
		       (a.id % 100) / 100.0, 20 + a.id % 50, 'v1', a.created_at
		  FROM appeals a, (SELECT i AS k FROM n WHERE i <= 2) ORDER BY a.id, k`,
	)
	n := int64(appeals)
	return path, filledSummary{Appeals: n, Messages: 5 * n, Predictions: 2 * n}
}

// execOn runs statements on the database at path through a write
// connection, then closes it (which checkpoints the WAL into the file).
func execOn(t *testing.T, path string, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	w, err := OpenWrite(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, s := range stmts {
		if _, err := w.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// fileState is what "no change to any file" compares: content hash and
// modification time of a database and its -wal. A missing -wal and an
// empty one are the same state: SQLite creates an empty -wal (and -shm)
// when it opens a WAL database read-only, and neither holds data.
type fileState map[string]string

func snapshotFiles(t *testing.T, path string) fileState {
	t.Helper()
	st := fileState{}
	for _, p := range []string{path, path + "-wal"} {
		info, err := os.Stat(p)
		if err != nil || (!info.IsDir() && info.Size() == 0 && p != path) {
			st[p] = "absent or empty"
			continue
		}
		if info.IsDir() {
			st[p] = "dir " + info.ModTime().String()
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		st[p] = hex.EncodeToString(sum[:]) + " " + info.ModTime().String()
	}
	return st
}

func (before fileState) assertUnchanged(t *testing.T, path string) {
	t.Helper()
	after := snapshotFiles(t, path)
	for p, b := range before {
		if after[p] != b {
			t.Errorf("%s changed: before %s, after %s", p, b, after[p])
		}
	}
}
