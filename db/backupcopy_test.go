package db

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/state"
)

func filepathInTemp(t *testing.T) string {
	return filepath.Join(t.TempDir(), "architect.db")
}

// contentHash hashes every row of the three data tables in id order.
func contentHash(t *testing.T, path string) string {
	t.Helper()
	ctx := context.Background()
	r, err := OpenRead(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h := sha256.New()
	for _, q := range []string{
		"SELECT id, user_id, reason, status, created_at, updated_at, coalesce(resolved_at, '') FROM appeals ORDER BY id",
		"SELECT id, appeal_id, sender, body, created_at FROM appeal_negotiation_messages ORDER BY id",
		"SELECT id, user_id, coalesce(appeal_id, 0), prediction_type, confidence, latency_ms, model_version, created_at FROM ml_predictions ORDER BY id",
	} {
		rows, err := r.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(h, vals...)
		}
		rows.Close()
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestBackupTo(t *testing.T) {
	ctx := context.Background()
	src := newFilledDB(t, 400)
	before := snapshotFiles(t, src)
	dst := filepath.Join(t.TempDir(), state.BackupFileName("architect.db", time.Date(2026, 3, 1, 4, 45, 0, 0, time.UTC)))
	if err := BackupTo(ctx, src, dst); err != nil {
		t.Fatal(err)
	}
	before.assertUnchanged(t, src)
	if contentHash(t, dst) != contentHash(t, src) {
		t.Error("the backup's rows differ from the source's")
	}
	entries, _ := os.ReadDir(filepath.Dir(dst))
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
	list, err := state.ListBackups(filepath.Dir(dst))
	if err != nil || len(list) != 1 {
		t.Fatalf("ListBackups = %v, %v", list, err)
	}
	if err := BackupTo(ctx, src, dst); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second backup to the same name: %v", err)
	}
	if err := BackupTo(ctx, filepath.Join(t.TempDir(), "missing.db"), dst+"2"); err == nil {
		t.Error("backup of a missing file succeeded")
	}
}
