package ops

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/repops/repops/internal/testsupport"
)

// TestGrowthFromRealCounts: a snapshot records each table's real row
// count, not sqlite_stat1's, which changes only after ANALYZE: with a
// stale sqlite_stat1 that says 500,000 appeals, rows inserted between two
// snapshots show in the rows and the growth per day, exact (no ~).
func TestGrowthFromRealCounts(t *testing.T) {
	path := testsupport.MigratedDB(t)
	stateDir := filepath.Join(t.TempDir(), "state")
	ctx := context.Background()
	disk := func(dir string) (DiskSpace, error) {
		return DiskSpace{Dir: dir, Free: 1 << 30, Total: 2 << 30, FS: "x"}, nil
	}
	seedAppeals(t, path, seedSpec{New: 300})
	testsupport.ExecSQL(t, path, "ANALYZE",
		"DELETE FROM sqlite_stat1 WHERE tbl = 'appeals'",
		"INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('appeals', 'idx_appeals_created', '500000 1')")
	s1, err := snapshotWith(ctx, path, stateDir, disk, testNow.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	seedAppeals(t, path, seedSpec{New: 1200})
	s2, err := snapshotWith(ctx, path, stateDir, disk, testNow)
	if err != nil {
		t.Fatal(err)
	}
	a1, a2 := s1.Tables["appeals"], s2.Tables["appeals"]
	if a1.Rows != 300 || a2.Rows != 1500 || a1.Estimated || a2.Estimated {
		t.Fatalf("appeals in the snapshots: %+v then %+v; want 300 then 1500, exact", a1, a2)
	}
	snaps, err := ReadSnapshots(stateDir, path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range Growth(snaps).Tables {
		if tg.Table == "appeals" {
			if math.Abs(tg.RowsPerDay-1200) > 1 || tg.Estimated {
				t.Fatalf("appeals growth %+v: want 1200 rows/day, exact", tg)
			}
			return
		}
	}
	t.Fatal("no appeals in the growth report")
}
