package ops

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/testsupport"
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
			path := testsupport.MigratedDB(t)
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
	path := testsupport.MigratedDB(t)
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

// TestArchiveUnderWriter archives over 200k appeals while a writer keeps
// inserting, as the service does: no row lost, no writer error.
func TestArchiveUnderWriter(t *testing.T) {
	if testing.Short() {
		t.Skip("200k appeals: skipped with -short")
	}
	path := testsupport.MigratedDB(t)
	seedAppeals(t, path, seedSpec{Old: 205000, Mid: 2000, New: 1000})
	wantA, wantM := expectedMoves(t, path)
	if wantA < 200000 {
		t.Fatalf("seed: only %d appeals to archive", wantA)
	}
	before := countRows(t, path, "")
	w := startWriter(t, path, 2*time.Millisecond)
	o := archiveOpts(path, t)
	// Correctness, not latency, here (that is BenchmarkArchiveVsOneShot):
	// large batches keep the test short.
	o.BatchRows, o.BatchTime, o.BatchPause = 20000, 200*time.Millisecond, 5*time.Millisecond
	res, err := Archive(context.Background(), o, nil)
	w.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if len(w.errs) > 0 {
		t.Fatalf("the writer saw %d errors, first: %v", len(w.errs), w.errs[0])
	}
	if w.appeals == 0 {
		t.Fatal("the writer wrote nothing during the run")
	}
	after := countRows(t, path, "")
	if got, want := after.appeals+after.archAppeals, before.appeals+w.appeals; got != want {
		t.Fatalf("appeals: live %d + archive %d = %d; want before %d + new %d = %d", after.appeals, after.archAppeals, got, before.appeals, w.appeals, want)
	}
	if got, want := after.messages+after.archMessages, before.messages+w.messages; got != want {
		t.Fatalf("messages: live %d + archive %d = %d; want before %d + new %d = %d", after.messages, after.archMessages, got, before.messages, w.messages, want)
	}
	if after.archAppeals != wantA || after.archMessages != wantM || !res.Verified {
		t.Fatalf("archived %d appeals, %d messages (verified %v); want %d, %d", after.archAppeals, after.archMessages, res.Verified, wantA, wantM)
	}
	integrityOK(t, path)
	t.Logf("moved %d rows in %d batches in %s; longest write transaction %s; writer: %d transactions, worst latency %s",
		res.Rows(), res.Batches, res.Duration.Round(time.Millisecond), res.LongestTx.Round(time.Millisecond), w.appeals, w.worst.Round(time.Millisecond))
}

// The kill test runs the archive in a child process (this test binary,
// re-executed) and kills it with SIGKILL mid-run.
const archiveHelperEnv = "REPOPS_ARCHIVE_HELPER"

// TestArchiveHelperProcess is the child of TestArchiveKillResume; it does
// nothing in a normal test run.
func TestArchiveHelperProcess(t *testing.T) {
	if os.Getenv(archiveHelperEnv) != "1" {
		return
	}
	o := archiveOpts(os.Getenv("REPOPS_TEST_DB"), t)
	o.Recorder.StateDir = os.Getenv("REPOPS_TEST_STATE")
	o.ArchiveFile = os.Getenv("REPOPS_TEST_ARCHIVE")
	o.BatchRows = 300
	o.BatchPause = 5 * time.Millisecond
	_, err := Archive(context.Background(), o, func(e ProgressEvent) {
		if e.Phase == "appeals" || e.Phase == "messages" {
			os.Stdout.WriteString("progress " + e.Phase + "\n")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	os.Exit(0)
}

func TestArchiveKillResume(t *testing.T) {
	for _, separate := range []bool{false, true} {
		name := "archive tables in the live database"
		if separate {
			name = "separate archive file"
		}
		t.Run(name, func(t *testing.T) {
			path := testsupport.MigratedDB(t)
			seedAppeals(t, path, seedSpec{Old: 20000, Mid: 1500, New: 500})
			wantA, wantM := expectedMoves(t, path)
			before := countRows(t, path, "")
			state := filepath.Join(t.TempDir(), "state")
			archiveFile := ""
			if separate {
				archiveFile = filepath.Join(t.TempDir(), "archive.db")
			}
			w := startWriter(t, path, 3*time.Millisecond)
			defer w.Stop()

			for kill := 0; kill < 2; kill++ {
				cmd := exec.Command(os.Args[0], "-test.run=^TestArchiveHelperProcess$", "-test.count=1")
				cmd.Env = append(os.Environ(), archiveHelperEnv+"=1", "REPOPS_TEST_DB="+path,
					"REPOPS_TEST_STATE="+state, "REPOPS_TEST_ARCHIVE="+archiveFile)
				out, err := cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				cmd.Stderr = os.Stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				sc := bufio.NewScanner(out)
				seen := 0
				for seen < 8+kill*10 && sc.Scan() {
					if strings.HasPrefix(sc.Text(), "progress") {
						seen++
					}
				}
				_ = cmd.Process.Signal(syscall.SIGKILL)
				_ = cmd.Wait()
				if seen < 8+kill*10 {
					t.Fatalf("the child ended after %d progress lines, before it could be killed", seen)
				}
			}
			mid := countRows(t, path, archiveFile)
			if mid.archAppeals == 0 || mid.archAppeals >= wantA {
				t.Fatalf("killed runs archived %d of %d appeals: not mid-run", mid.archAppeals, wantA)
			}

			o := archiveOpts(path, t)
			o.Recorder.StateDir, o.ArchiveFile = state, archiveFile
			res, err := Archive(context.Background(), o, nil)
			if err != nil {
				t.Fatal(err)
			}
			w.Stop()
			if len(w.errs) > 0 {
				t.Fatalf("the writer saw %d errors, first: %v", len(w.errs), w.errs[0])
			}
			after := countRows(t, path, archiveFile)
			if got, want := after.appeals+after.archAppeals, before.appeals+w.appeals; got != want {
				t.Fatalf("appeals: live %d + archive %d = %d; want %d + %d new", after.appeals, after.archAppeals, got, before.appeals, w.appeals)
			}
			if got, want := after.messages+after.archMessages, before.messages+w.messages; got != want {
				t.Fatalf("messages: live %d + archive %d = %d; want %d + %d new", after.messages, after.archMessages, got, before.messages, w.messages)
			}
			if after.archAppeals != wantA || after.archMessages != wantM || !res.Verified {
				t.Fatalf("archived %d appeals, %d messages (verified %v); want %d, %d", after.archAppeals, after.archMessages, res.Verified, wantA, wantM)
			}
			integrityOK(t, path)
			if separate {
				integrityOK(t, archiveFile)
			}
			t.Logf("resumed: moved %d more rows (%d already copied by the killed run)", res.Rows(), res.Tables[0].AlreadyArchived+res.Tables[1].AlreadyArchived)
		})
	}
}

// TestArchiveResumeAfterCopy sets up what a run killed between the copy
// and the delete of a batch leaves (rows in the archive file and still
// live), and one archived row that differs from the live row of its id:
// the rerun deletes the copied rows after comparing them, and refuses to
// delete the one whose copy differs.
func TestArchiveResumeAfterCopy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		differ bool
	}{{"copied rows are finished", false}, {"a differing copy stops the run", true}} {
		t.Run(tc.name, func(t *testing.T) {
			path := testsupport.MigratedDB(t)
			seedAppeals(t, path, seedSpec{Old: 1000, New: 100})
			wantA, wantM := expectedMoves(t, path)
			before := countRows(t, path, "")
			archiveFile := filepath.Join(t.TempDir(), "archive.db")
			if err := prepareArchiveFile(context.Background(), archiveFile); err != nil {
				t.Fatal(err)
			}
			a, err := db.OpenWrite(context.Background(), archiveFile, db.Options{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = a.Exec(`ATTACH DATABASE ? AS live`, path)
			if err == nil {
				_, err = a.Exec(`INSERT INTO appeals_archive SELECT *, '2026-01-01 00:00:00' FROM live.appeals
					WHERE id <= 100 AND status IN ('approved','denied','expired');
					INSERT INTO appeal_negotiation_messages_archive SELECT *, '2026-01-01 00:00:00' FROM live.appeal_negotiation_messages
					WHERE appeal_id IN (SELECT id FROM appeals_archive)`)
			}
			if err == nil && tc.differ {
				_, err = a.Exec(`UPDATE appeals_archive SET reason = 'another appeal with this id' WHERE id = 51`)
			}
			a.Close()
			if err != nil {
				t.Fatal(err)
			}
			o := archiveOpts(path, t)
			o.ArchiveFile, o.BatchRows = archiveFile, 200
			res, err := Archive(context.Background(), o, nil)
			after := countRows(t, path, archiveFile)
			if tc.differ {
				if err == nil || !strings.Contains(err.Error(), "identical archived copy") {
					t.Fatalf("got %v", err)
				}
				if after.appeals != before.appeals {
					t.Fatalf("the run deleted %d appeals although the first batch could not be verified", before.appeals-after.appeals)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Tables[0].AlreadyArchived == 0 || res.Tables[1].AlreadyArchived == 0 {
				t.Fatalf("already archived: %+v", res.Tables)
			}
			if after.appeals+after.archAppeals != before.appeals || after.archAppeals != wantA || after.archMessages != wantM {
				t.Fatalf("before %+v, after %+v; want %d, %d archived", before, after, wantA, wantM)
			}
		})
	}
}

func TestRowsHash(t *testing.T) {
	sep := string(rune(rowSep))
	a, b, c := "1\x1falice\x1fit's fine\x1fNULL", "2\x1fbob\x1ftwo lines\nhere\x1f'2026-01-01'", "3\x1f\x00\xff\x1f1.5"
	tests := []struct {
		name      string
		x, y      string
		wantEqual bool
	}{
		{"order does not matter", a + sep + b + sep + c, c + sep + a + sep + b, true},
		{"grouping does not matter", a + sep + b + sep + c, "", true},
		{"one character changed", a, "1\x1falice\x1fit's fined\x1fNULL", false},
		{"two characters swapped", a, "1\x1faliec\x1fit's fine\x1fNULL", false},
		{"a row missing", a + sep + b, a, false},
		{"a row twice", a + sep + a, a, false},
		{"NULL and the text NULL", "1\x1fNULL", "1\x1f'NULL'", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hx := rowsHash([]byte(tc.x))
			var hy int64
			if tc.name == "grouping does not matter" {
				// The same rows in two calls, summed.
				hy = int64(uint64(rowsHash([]byte(a+sep+c))) + uint64(rowsHash([]byte(b))))
			} else {
				hy = rowsHash([]byte(tc.y))
			}
			if (hx == hy) != tc.wantEqual {
				t.Fatalf("rowsHash(%q) = %d, rowsHash(%q) = %d; want equal %v", tc.x, hx, tc.y, hy, tc.wantEqual)
			}
		})
	}
	if rowsHash(nil) != 0 {
		t.Fatal("no rows: want 0")
	}
}

// TestArchiveCutShort gives the batches a time cap they cannot meet: each
// transaction that runs past it is rolled back and redone smaller, down to
// the smallest batch, which runs without a cap; the run still moves every
// row exactly once.
func TestArchiveCutShort(t *testing.T) {
	path := testsupport.MigratedDB(t)
	seedAppeals(t, path, seedSpec{Old: 600, New: 50})
	wantA, wantM := expectedMoves(t, path)
	before := countRows(t, path, "")
	o := archiveOpts(path, t)
	o.BatchTime = 100 * time.Microsecond
	// The first transaction's cap counts from an hour ago: it is cut short
	// however fast the machine moves its rows; the rest run as usual.
	var calls atomic.Int32
	o.txClock = func() time.Time {
		if calls.Add(1) == 1 {
			return time.Now().Add(-time.Hour)
		}
		return time.Now()
	}
	res, err := Archive(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.cutShort == 0 {
		t.Fatalf("no transaction was cut short (%d batches)", res.Batches)
	}
	t.Logf("%d batches, %d cut short, %s", res.Batches, res.cutShort, res.Duration)
	after := countRows(t, path, "")
	if !res.Verified || after.archAppeals != wantA || after.archMessages != wantM ||
		after.appeals+after.archAppeals != before.appeals || after.messages+after.archMessages != before.messages {
		t.Fatalf("before %+v, after %+v (verified %v); want %d, %d archived", before, after, res.Verified, wantA, wantM)
	}
}
