package ops

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/repops/repops/db"
)

func archiveOpts(path string, t testing.TB) ArchiveOptions {
	return ArchiveOptions{
		DBPath:         path,
		AppealsBefore:  testNow.Add(-365 * 24 * time.Hour),
		MessagesBefore: testNow.Add(-182 * 24 * time.Hour),
		BatchRows:      2000,
		BatchPause:     time.Millisecond,
		Recorder:       Recorder{StateDir: filepath.Join(t.TempDir(), "state"), Actor: Actor{User: "test", Host: "host"}},
		Now:            func() time.Time { return testNow },
	}
}

// expectedMoves counts what the policy should move, before a run.
func expectedMoves(t testing.TB, path string) (appeals, messages int64) {
	t.Helper()
	ctx := context.Background()
	r, err := db.OpenRead(ctx, path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	a, m, err := countAppealCandidates(ctx, r, testNow.Add(-365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var m2 int64
	if err := r.QueryRowContext(ctx, `SELECT count(*) FROM appeal_negotiation_messages m JOIN appeals a ON a.id = m.appeal_id
		WHERE m.created_at < ? AND a.status IN `+finalStatuses+` AND a.created_at >= ?`,
		db.FormatTime(testNow.Add(-182*24*time.Hour)), db.FormatTime(testNow.Add(-365*24*time.Hour))).Scan(&m2); err != nil {
		t.Fatal(err)
	}
	return a, m + m2
}

func TestArchive(t *testing.T) {
	for _, separate := range []bool{false, true} {
		name := "archive tables in the live database"
		if separate {
			name = "separate archive file"
		}
		t.Run(name, func(t *testing.T) {
			path := newMaintDB(t)
			seedAppeals(t, path, seedSpec{Old: 3000, Mid: 600, New: 300})
			wantA, wantM := expectedMoves(t, path)
			before := countRows(t, path, "")
			o := archiveOpts(path, t)
			o.BatchRows = 500
			if separate {
				o.ArchiveFile = filepath.Join(t.TempDir(), "archive.db")
			}

			dry := o
			dry.DryRun = true
			dr, err := Archive(context.Background(), dry, nil)
			if err != nil {
				t.Fatal(err)
			}
			if dr.Tables[0].Rows != wantA || dr.Tables[1].Rows != wantM {
				t.Fatalf("dry run: %d appeals, %d messages; want %d, %d", dr.Tables[0].Rows, dr.Tables[1].Rows, wantA, wantM)
			}
			if dr.Bytes() <= 0 {
				t.Fatalf("dry run: no byte estimate: %+v", dr.Tables)
			}
			if got := countRows(t, path, ""); got != before {
				t.Fatalf("dry run changed the database: %+v -> %+v", before, got)
			}

			var events int
			res, err := Archive(context.Background(), o, func(ProgressEvent) { events++ })
			if err != nil {
				t.Fatal(err)
			}
			if !res.Verified || res.Tables[0].Rows != wantA || res.Tables[1].Rows != wantM {
				t.Fatalf("moved %d appeals, %d messages (verified %v); want %d, %d", res.Tables[0].Rows, res.Tables[1].Rows, res.Verified, wantA, wantM)
			}
			if res.Batches < 6 || events == 0 {
				t.Fatalf("%d batches, %d progress events", res.Batches, events)
			}
			after := countRows(t, path, o.ArchiveFile)
			if after.appeals+after.archAppeals != before.appeals || after.messages+after.archMessages != before.messages {
				t.Fatalf("rows lost: before %+v, after %+v", before, after)
			}
			if after.archAppeals != wantA || after.archMessages != wantM {
				t.Fatalf("archive holds %d appeals, %d messages; want %d, %d", after.archAppeals, after.archMessages, wantA, wantM)
			}
			if separate && (countRows(t, path, "").archAppeals != 0) {
				t.Fatal("separate archive file: rows went into the live archive tables")
			}
			// A second run finds nothing and still verifies.
			res2, err := Archive(context.Background(), o, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res2.Rows() != 0 || !res2.Verified {
				t.Fatalf("second run moved %d rows, verified %v", res2.Rows(), res2.Verified)
			}
			integrityOK(t, path)
			j, err := OpenJournal(o.Recorder.StateDir)
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			entries, err := j.Entries(time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			var ok int
			for _, e := range entries {
				if e.Action == "archive" && e.Outcome == OutcomeOK && e.Figures["rows_moved"] == float64(wantA+wantM) {
					ok++
				}
			}
			if ok != 1 {
				t.Fatalf("journal: %d ok archive entries with the rows moved; entries: %+v", ok, entries)
			}
		})
	}
}

func TestArchiveBadInput(t *testing.T) {
	path := newMaintDB(t)
	seedAppeals(t, path, seedSpec{Old: 50, New: 10})
	roDir := t.TempDir()
	roPath := filepath.Join(roDir, "ro.db")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(roPath, b, 0o444); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		modify func(o *ArchiveOptions)
		want   error
	}{
		{"cutoff in the future", func(o *ArchiveOptions) { o.AppealsBefore = testNow.Add(time.Hour) }, ErrBadCutoff},
		{"messages cutoff in the future", func(o *ArchiveOptions) { o.MessagesBefore = testNow.Add(24 * time.Hour) }, ErrBadCutoff},
		{"no cutoff", func(o *ArchiveOptions) { o.AppealsBefore, o.MessagesBefore = time.Time{}, time.Time{} }, ErrBadCutoff},
		{"table not in the schema", func(o *ArchiveOptions) { o.Tables = []string{"appeals; DROP TABLE appeals"} }, ErrUnknownObject},
		{"table not archivable", func(o *ArchiveOptions) { o.Tables = []string{"ml_predictions"} }, ErrNotArchivable},
		{"read-only database", func(o *ArchiveOptions) { o.DBPath = roPath }, db.ErrReadOnly},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := archiveOpts(path, t)
			tc.modify(&o)
			_, err := Archive(context.Background(), o, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if tc.name == "table not in the schema" {
				dry := o
				dry.DryRun = true
				if _, err := Archive(context.Background(), dry, nil); !errors.Is(err, ErrUnknownObject) {
					t.Fatalf("dry run: got %v", err)
				}
			}
		})
	}
	if got := countRows(t, path, ""); got.archAppeals != 0 {
		t.Fatalf("a refused run archived rows: %+v", got)
	}
}

func TestParseCutoff(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{"8760h", testNow.Add(-8760 * time.Hour), false},
		{"365d", testNow.Add(-365 * 24 * time.Hour), false},
		{"6mo", testNow.Add(-180 * 24 * time.Hour), false},
		{"1y", testNow.Add(-365 * 24 * time.Hour), false},
		{"2w", testNow.Add(-14 * 24 * time.Hour), false},
		{"2025-01-31", time.Date(2025, 1, 31, 0, 0, 0, 0, time.UTC), false},
		{"2025-01-31 10:00:00", time.Date(2025, 1, 31, 10, 0, 0, 0, time.UTC), false},
		{"2030-01-01", time.Time{}, true},
		{"-5d", time.Time{}, true},
		{"0h", time.Time{}, true},
		{"last year", time.Time{}, true},
		{"12x", time.Time{}, true},
		{"", time.Time{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseCutoff(tc.in, testNow)
			if tc.wantErr {
				if !errors.Is(err, ErrBadCutoff) {
					t.Fatalf("got %v, %v; want ErrBadCutoff", got, err)
				}
				return
			}
			if err != nil || !got.Equal(tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}
