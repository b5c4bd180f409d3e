package db

import (
	"context"
	"fmt"
	"testing"
)

func sizesOf(t *testing.T, path string, o SizeOptions) *Sizes {
	t.Helper()
	ctx := context.Background()
	r, err := OpenRead(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s, err := TableSizes(ctx, r, path, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTableSizesOfFilled(t *testing.T) {
	path, sum := newFilledDBSum(t, 1500)
	s := sizesOf(t, path, SizeOptions{})
	if !s.DBStat {
		t.Fatal("dbstat unavailable: build with -tags=sqlite_dbstat (the Makefile sets GOFLAGS)")
	}
	if s.PageSize != 4096 || s.PageCount*s.PageSize != s.FileBytes {
		t.Errorf("page size %d, %d pages, file %d bytes", s.PageSize, s.PageCount, s.FileBytes)
	}
	want := map[string]int64{"appeals": sum.Appeals, "appeal_negotiation_messages": sum.Messages, "ml_predictions": sum.Predictions,
		"idx_messages_appeal_created": sum.Messages, "appeals_archive": 0}
	for name, rows := range want {
		o := s.Object(name)
		if o == nil {
			t.Fatalf("no %s in %+v", name, s.Objects)
		}
		// Small tables are counted, not estimated.
		if o.Rows != rows || o.Estimated || o.RowSource != RowsCounted {
			t.Errorf("%s: %d rows (estimated %v, %s), want exactly %d", name, o.Rows, o.Estimated, o.RowSource, rows)
		}
	}
	var pages int64
	for _, o := range s.Objects {
		if o.Pages <= 0 || o.Bytes != o.Pages*s.PageSize {
			t.Errorf("%s: %d pages, %d bytes", o.Name, o.Pages, o.Bytes)
		}
		pages += o.Pages
	}
	if pages+s.FreePages != s.PageCount {
		t.Errorf("objects' pages %d + free %d != page count %d", pages, s.FreePages, s.PageCount)
	}
	if s.Objects[0].Name != "appeal_negotiation_messages" || s.Objects[1].Kind != "index" || s.Objects[1].Table != "appeal_negotiation_messages" {
		t.Errorf("order: largest table first, then its indexes; got %s, %s", s.Objects[0].Name, s.Objects[1].Name)
	}

	t.Run("without the file mapped, the same figures", func(t *testing.T) {
		u := sizesOf(t, path, SizeOptions{NoMmap: true})
		if len(u.Objects) != len(s.Objects) {
			t.Fatalf("%d objects, want %d", len(u.Objects), len(s.Objects))
		}
		for i, o := range u.Objects {
			if o != s.Objects[i] {
				t.Errorf("without mmap %+v, with %+v", o, s.Objects[i])
			}
		}
	})
}

func TestTableSizesEstimates(t *testing.T) {
	path := newMigratedDB(t)
	// Rowid bounds say two million predictions, two are there: above
	// cheapCount, the bounds are the estimate. sqlite_stat1 says five
	// million appeals, one is there: the rowid bounds prove it small, and
	// it is counted (a stale sqlite_stat1 never stands for a table's rows:
	// it changes only after ANALYZE). An empty table is exact.
	execOn(t, path,
		"INSERT INTO ml_predictions (id, user_id, prediction_type, confidence, latency_ms, model_version, created_at) VALUES (1, 'u', 'fraud_risk', 0.5, 10, 'v1', '2026-01-01 00:00:00'), (2000000, 'u', 'fraud_risk', 0.5, 10, 'v1', '2026-01-01 00:00:00')",
		"INSERT INTO appeals (id, user_id, reason, status, created_at, updated_at) VALUES (1, 'u', 'r', 'pending', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
		"ANALYZE",
		"DELETE FROM sqlite_stat1 WHERE tbl = 'ml_predictions'",
		"INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('appeals', 'idx_appeals_created', '5000000 1')",
	)
	tests := []struct {
		name      string
		exact     bool
		object    string
		rows      int64
		estimated bool
		source    string
	}{
		{"rowid bounds", false, "ml_predictions", 2000000, true, RowsRowidBounds},
		{"index follows its table", false, "idx_predictions_created", 2000000, true, RowsRowidBounds},
		{"stale sqlite_stat1 ignored: counted", false, "appeals", 1, false, RowsCounted},
		{"its index follows the count", false, "idx_appeals_created", 1, false, RowsCounted},
		{"exact on request", true, "ml_predictions", 2, false, RowsCounted},
		{"exact on request, stat1 ignored", true, "appeals", 1, false, RowsCounted},
		{"empty table", false, "appeals_archive", 0, false, RowsCounted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := sizesOf(t, path, SizeOptions{Exact: tt.exact}).Object(tt.object)
			if o == nil {
				t.Fatalf("no %s", tt.object)
			}
			if o.Rows != tt.rows || o.Estimated != tt.estimated || o.RowSource != tt.source {
				t.Errorf("%s: rows %d estimated %v source %q; want %d %v %q", tt.object, o.Rows, o.Estimated, o.RowSource, tt.rows, tt.estimated, tt.source)
			}
		})
	}
}

func TestFormatCount(t *testing.T) {
	if got := FormatCount(1234567); got != "1,234,567" {
		t.Errorf("FormatCount = %q", got)
	}
}

// TestTableSizesBoundsFollowInserts: above cheapCount a table's rows are
// its rowid bounds, an estimate that moves with every insert (sqlite_stat1,
// however stale, is not used for a rowid table).
func TestTableSizesBoundsFollowInserts(t *testing.T) {
	defer func(n int64) { cheapCount = n }(cheapCount)
	cheapCount = 10
	path := newMigratedDB(t)
	insert := func(n int) {
		t.Helper()
		execOn(t, path, fmt.Sprintf(`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %d)
			INSERT INTO ml_predictions (user_id, prediction_type, confidence, latency_ms, model_version, created_at)
			SELECT 'u', 'fraud_risk', 0.5, 10, 'v1', '2026-01-01 00:00:00' FROM c`, n))
	}
	insert(20)
	execOn(t, path, "ANALYZE")
	if o := sizesOf(t, path, SizeOptions{}).Object("ml_predictions"); o.Rows != 20 || !o.Estimated || o.RowSource != RowsRowidBounds {
		t.Fatalf("after 20 rows: %+v", o)
	}
	insert(30)
	if o := sizesOf(t, path, SizeOptions{}).Object("ml_predictions"); o.Rows != 50 || !o.Estimated || o.RowSource != RowsRowidBounds {
		t.Fatalf("after 30 more rows (sqlite_stat1 still says 20): %+v", o)
	}
}
