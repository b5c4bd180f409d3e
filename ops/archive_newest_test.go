package ops

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/testsupport"
)

// TestArchiveNewestRowStays: a database where every appeal is old and
// settled is archived twice, with an appeal and a message inserted between
// the runs by a second connection, as the service would. The tables are
// not AUTOINCREMENT, so a run that archived the rows with the largest ids
// would hand their ids to the new rows, and the second run would fail
// ("0 deleted with an identical archived copy (rolled back): rows changed
// between copy and delete") on every try. Both runs must succeed and
// verify, the new rows must get new ids, and no archived row may have
// them.
func TestArchiveNewestRowStays(t *testing.T) {
	for _, separate := range []bool{false, true} {
		name := "archive tables in the live database"
		if separate {
			name = "separate archive file"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			path := testsupport.MigratedDB(t)
			// 201 appeals, all old: appeal 201 (201 % 3 = 0) has no message, so
			// the newest message is appeal 200's.
			seedAppeals(t, path, seedSpec{Old: 201})
			second, err := db.OpenWrite(ctx, path, db.Options{BusyTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer second.Close()
			if _, err := second.Exec(`UPDATE appeals SET status = 'denied', resolved_at = created_at WHERE status NOT IN ` + finalStatuses); err != nil {
				t.Fatal(err)
			}
			newestAppeal, newestMsg, newestMsgAppeal := newestIDs(t, second)
			if newestAppeal != 201 || newestMsgAppeal != 200 {
				t.Fatalf("seed: newest appeal %d, newest message %d of appeal %d; want 201, and a message of 200", newestAppeal, newestMsg, newestMsgAppeal)
			}
			before := countRows(t, path, "")
			o := archiveOpts(path, t)
			o.BatchRows = 50
			if separate {
				o.ArchiveFile = filepath.Join(t.TempDir(), "archive.db")
			}

			// First run: everything moves but the newest appeal, the appeal of
			// the newest message, and the newest message; appeal 200's older
			// message moves by the six-month rule.
			dry := o
			dry.DryRun = true
			plan, err := Archive(ctx, dry, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Archive(ctx, o, nil)
			if err != nil {
				t.Fatal(err)
			}
			wantA, wantM := before.appeals-2, before.messages-1
			if !res.Verified || res.Tables[0].Rows != wantA || res.Tables[1].Rows != wantM {
				t.Fatalf("first run: moved %d appeals, %d messages (verified %v); want %d, %d", res.Tables[0].Rows, res.Tables[1].Rows, res.Verified, wantA, wantM)
			}
			if plan.Tables[0].Rows != wantA || plan.Tables[1].Rows != wantM {
				t.Errorf("first dry run: %d appeals, %d messages; want %d, %d, as the run moved", plan.Tables[0].Rows, plan.Tables[1].Rows, wantA, wantM)
			}
			for _, r := range []*ArchiveResult{plan, res} {
				checkKept(t, r.Kept, fmt.Sprintf("appeals id %d, the appeal of the newest message", newestMsgAppeal),
					fmt.Sprintf("appeals id %d, the newest appeal", newestAppeal),
					fmt.Sprintf("appeal_negotiation_messages id %d, the newest message", newestMsg))
			}
			if a, m, _ := newestIDs(t, second); a != newestAppeal || m != newestMsg {
				t.Fatalf("after the first run the newest rows are appeal %d, message %d; want %d, %d still", a, m, newestAppeal, newestMsg)
			}

			// The service, meanwhile, adds an appeal (an old, settled one: an
			// import) and a message to it.
			old := db.FormatTime(testNow.Add(-2 * 365 * 24 * time.Hour))
			r, err := second.Exec(`INSERT INTO appeals (user_id, reason, status, created_at, updated_at, resolved_at)
				VALUES ('late', 'imported', 'expired', ?1, ?1, ?1)`, old)
			if err != nil {
				t.Fatal(err)
			}
			newAppeal, _ := r.LastInsertId()
			if r, err = second.Exec(`INSERT INTO appeal_negotiation_messages (appeal_id, sender, body, created_at)
				VALUES (?, 'system', 'imported', ?)`, newAppeal, old); err != nil {
				t.Fatal(err)
			}
			newMsg, _ := r.LastInsertId()
			if newAppeal != newestAppeal+1 || newMsg != newestMsg+1 {
				t.Errorf("the new rows got ids %d and %d; want new ones, %d and %d", newAppeal, newMsg, newestAppeal+1, newestMsg+1)
			}
			archivedIDs(t, path, o.ArchiveFile, newAppeal, newMsg)

			// Second run: the rows kept by the first one move (appeal 200 with
			// its last message, appeal 201); the new ones stay.
			plan, err = Archive(ctx, dry, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err = Archive(ctx, o, nil)
			if err != nil {
				t.Fatalf("second run: %v", err)
			}
			if !res.Verified || res.Tables[0].Rows != 2 || res.Tables[1].Rows != 1 {
				t.Fatalf("second run: moved %d appeals, %d messages (verified %v); want 2, 1", res.Tables[0].Rows, res.Tables[1].Rows, res.Verified)
			}
			if plan.Tables[0].Rows != 2 || plan.Tables[1].Rows != 1 {
				t.Errorf("second dry run: %d appeals, %d messages; want 2, 1", plan.Tables[0].Rows, plan.Tables[1].Rows)
			}
			checkKept(t, res.Kept, fmt.Sprintf("appeals id %d, the newest appeal", newAppeal),
				fmt.Sprintf("appeal_negotiation_messages id %d, the newest message", newMsg))
			after := countRows(t, path, o.ArchiveFile)
			if after.appeals != 1 || after.messages != 1 ||
				after.appeals+after.archAppeals != before.appeals+1 || after.messages+after.archMessages != before.messages+1 {
				t.Fatalf("before %+v (and 1 appeal, 1 message added), after %+v; want only the new rows live", before, after)
			}
			archivedIDs(t, path, o.ArchiveFile, newAppeal, newMsg)
			integrityOK(t, path)
		})
	}
}

// newestIDs reads the largest appeal id, the largest message id and that
// message's appeal.
func newestIDs(t *testing.T, q *sql.DB) (appeal, message, messageAppeal int64) {
	t.Helper()
	if err := q.QueryRow(`SELECT (SELECT max(id) FROM appeals), id, appeal_id FROM appeal_negotiation_messages
		ORDER BY id DESC LIMIT 1`).Scan(&appeal, &message, &messageAppeal); err != nil {
		t.Fatal(err)
	}
	return appeal, message, messageAppeal
}

// archivedIDs fails the test if an archived appeal has id appeal or an
// archived message id message (in the live database's archive tables,
// or in archiveFile's when set).
func archivedIDs(t *testing.T, path, archiveFile string, appeal, message int64) {
	t.Helper()
	if archiveFile != "" {
		path = archiveFile
	}
	r, err := db.OpenRead(context.Background(), path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var a, m int64
	if err := r.QueryRow(`SELECT (SELECT count(*) FROM appeals_archive WHERE id = ?),
		(SELECT count(*) FROM appeal_negotiation_messages_archive WHERE id = ?)`, appeal, message).Scan(&a, &m); err != nil {
		t.Fatal(err)
	}
	if a != 0 || m != 0 {
		t.Fatalf("an archived row has the new rows' ids: %d appeals with id %d, %d messages with id %d", a, appeal, m, message)
	}
}

// checkKept checks that kept names exactly the rows in want (by their
// beginnings), each saying why.
func checkKept(t *testing.T, kept []string, want ...string) {
	t.Helper()
	if len(kept) != len(want) {
		t.Errorf("kept %q; want %d rows: %q", kept, len(want), want)
		return
	}
	for i, w := range want {
		if !strings.HasPrefix(kept[i], w) || !strings.HasSuffix(kept[i], "the newest row stays: its id must not be reused") {
			t.Errorf("kept[%d] = %q; want %q..., saying why", i, kept[i], w)
		}
	}
}
