package ops

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/testsupport"
)

func TestIndexReport(t *testing.T) {
	path := testsupport.MigratedDB(t)
	seedAppeals(t, path, seedSpec{Old: 500, New: 100})
	ctx := context.Background()
	w, err := db.OpenWrite(ctx, path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The guide's duplicate, as a deployment that ran its SQL has it, and a
	// critical index dropped.
	for _, q := range []string{
		`CREATE INDEX idx_messages_appeal_timestamps ON appeal_negotiation_messages(appeal_id, created_at)`,
		`DROP INDEX idx_predictions_type_user`,
	} {
		if _, err := w.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	r, err := db.OpenRead(ctx, path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rep, err := IndexReport(ctx, r, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Duplicates) != 1 || rep.Duplicates[0].Keep != "idx_messages_appeal_created" ||
		!slices.Equal(rep.Duplicates[0].Drop, []string{"idx_messages_appeal_timestamps"}) {
		t.Fatalf("duplicates: %+v", rep.Duplicates)
	}
	var missing []string
	for _, m := range rep.Missing {
		missing = append(missing, m.Def.Name)
		if m.Cost.LockHold <= 0 || len(m.Cost.Space) == 0 {
			t.Fatalf("missing %s without a cost: %+v", m.Def.Name, m.Cost)
		}
	}
	if !slices.Equal(missing, []string{"idx_predictions_type_user"}) {
		t.Fatalf("missing: %v", missing)
	}
	for _, c := range rep.Critical {
		if want := c.Def.Name != "idx_predictions_type_user"; c.Present != want {
			t.Fatalf("critical %s: present %v", c.Def.Name, c.Present)
		}
	}
	r.Close()

	state := filepath.Join(t.TempDir(), "state")
	t.Run("create the missing index", func(t *testing.T) {
		res, err := CreateIndex(ctx, CreateIndexOptions{DBPath: path, Name: "idx_predictions_type_user", Recorder: Recorder{StateDir: state}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Cost.LockHold <= 0 {
			t.Fatalf("cost: %+v", res.Cost)
		}
	})
	bad := []struct {
		name, index string
		want        error
		text        string
	}{
		{"again", "idx_predictions_type_user", nil, "has it already"},
		{"a duplicate", "idx_messages_appeal_timestamps", nil, "has it already"},
		{"free SQL", "x ON appeals(id); DROP TABLE appeals; --", ErrUnknownIndex, "known:"},
		{"unknown name", "idx_nope", ErrUnknownIndex, "idx_appeals_user_status"},
	}
	for _, tc := range bad {
		t.Run("refuse "+tc.name, func(t *testing.T) {
			_, err := CreateIndex(ctx, CreateIndexOptions{DBPath: path, Name: tc.index, Recorder: Recorder{StateDir: state}})
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("got %v", err)
			}
		})
	}
	integrityOK(t, path)
}

func TestCreateIndexRefusesDuplicateColumns(t *testing.T) {
	path := testsupport.MigratedDB(t)
	_, err := CreateIndex(context.Background(), CreateIndexOptions{DBPath: path, Name: "idx_messages_appeal_timestamps",
		Recorder: Recorder{StateDir: filepath.Join(t.TempDir(), "state")}})
	if err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Fatalf("got %v", err)
	}
}

func TestExplainAndDiagnose(t *testing.T) {
	path := testsupport.MigratedDB(t)
	seedAppeals(t, path, seedSpec{Old: 300, New: 100})
	ctx := context.Background()
	w, err := db.OpenWrite(ctx, path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Exec(`INSERT INTO ml_predictions (user_id, prediction_type, confidence, latency_ms, model_version, created_at)
		VALUES ('u1', 'fraud', 0.9, 12, 'v1', '2026-01-01 00:00:00'), ('u2', 'fraud', 0.7, 20, 'v1', '2026-01-01 00:00:00'),
		       ('u3', 'outcome', 0.5, 30, 'v1', '2026-01-01 00:00:00')`); err != nil {
		t.Fatal(err)
	}
	w.Close()
	r, err := db.OpenRead(ctx, path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	plans, err := ExplainHotQueries(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range plans {
		if p.FullScan {
			t.Errorf("%s scans with the migrations' indexes: %v", p.Query.Name, p.Plan)
		}
	}
	threads, err := LargeThreads(ctx, r, 3)
	if err != nil || len(threads) != 3 || threads[0].Messages != 2 {
		t.Fatalf("threads: %+v, %v", threads, err)
	}
	preds, err := PredictionPerformance(ctx, r)
	if err != nil || len(preds) != 2 || preds[0].Type != "fraud" || preds[0].Count != 2 || preds[0].AvgConfidence < 0.79 || preds[0].AvgConfidence > 0.81 {
		t.Fatalf("predictions: %+v, %v", preds, err)
	}
	counts, err := TableCounts(ctx, r)
	if err != nil || counts[0].Table != "appeal_negotiation_messages" && counts[0].Table != "appeals" {
		t.Fatalf("counts: %+v, %v", counts, err)
	}
	r.Close()

	// Without the indexes on status, the lookup by user and status scans
	// appeals.
	w, err = db.OpenWrite(ctx, path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Exec(`DROP INDEX idx_appeals_user_status; DROP INDEX idx_appeals_status_created`); err != nil {
		t.Fatal(err)
	}
	plans, err = ExplainHotQueries(ctx, w)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !plans[0].FullScan {
		t.Fatalf("appeals by user and status without its index: %v", plans[0].Plan)
	}
}
