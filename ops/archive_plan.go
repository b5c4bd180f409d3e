package ops

// archive_plan.go holds what archival would move, without moving it: the
// counts of the policy's candidates (by the same rules as the run), the
// newest rows the policy keeps, the bytes per row, and the dry run that
// reports them through a read-only connection.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/repops/repops/db"
)

// countAppealsToMove counts the appeals the appeals rule moves.
func countAppealsToMove(ctx context.Context, q db.Querier, before time.Time) (int64, error) {
	var n int64
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM main.appeals AS p WHERE `+appealRule("p"), db.FormatTime(before)).Scan(&n)
	return n, err
}

// countAppealCandidates counts the appeals the policy moves and their
// messages.
func countAppealCandidates(ctx context.Context, q db.Querier, before time.Time) (appeals, messages int64, err error) {
	if appeals, err = countAppealsToMove(ctx, q, before); err != nil {
		return 0, 0, err
	}
	err = q.QueryRowContext(ctx, `SELECT count(*) FROM main.appeal_negotiation_messages WHERE appeal_id IN
		(SELECT p.id FROM main.appeals AS p WHERE `+appealRule("p")+`)`, db.FormatTime(before)).Scan(&messages)
	return appeals, messages, err
}

// countMessageCandidates counts the messages the six-month rule moves.
func countMessageCandidates(ctx context.Context, q db.Querier, before time.Time) (int64, error) {
	var n int64
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM main.appeal_negotiation_messages AS m WHERE `+messageRule("m"),
		db.FormatTime(before)).Scan(&n)
	return n, err
}

// keptWhy is what the result says of a row the policy keeps for being the
// newest.
const keptWhy = "the newest row stays: its id must not be reused"

// keptNewest names the rows that match the policy's age and status but
// stay because they are the newest (see appealRule): the newest appeal,
// the appeal of the newest message, and the newest message.
func keptNewest(ctx context.Context, q db.Querier, o ArchiveOptions) ([]string, error) {
	var out []string
	if !o.AppealsBefore.IsZero() && o.doTable(ArchiveAppeals) {
		rows, err := q.QueryContext(ctx, `SELECT p.id, p.id = (SELECT max(id) FROM main.appeals) FROM main.appeals AS p
			WHERE p.id IN ((SELECT max(id) FROM main.appeals),
			               (SELECT appeal_id FROM main.appeal_negotiation_messages ORDER BY id DESC LIMIT 1))
			  AND p.status IN `+finalStatuses+` AND p.created_at < ? ORDER BY p.id`, db.FormatTime(o.AppealsBefore))
		if err != nil {
			return nil, fmt.Errorf("find the newest rows: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var newest bool
			if err := rows.Scan(&id, &newest); err != nil {
				return nil, fmt.Errorf("find the newest rows: %w", err)
			}
			if newest {
				out = append(out, fmt.Sprintf("%s id %d, the newest appeal, matches the policy but stays: %s", ArchiveAppeals, id, keptWhy))
			} else {
				out = append(out, fmt.Sprintf("%s id %d, the appeal of the newest message, matches the policy but stays with its messages: %s",
					ArchiveAppeals, id, keptWhy))
			}
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("find the newest rows: %w", err)
		}
	}
	if !o.MessagesBefore.IsZero() && o.doTable(ArchiveMessages) {
		var id int64
		err := q.QueryRowContext(ctx, `SELECT m.id FROM main.appeal_negotiation_messages AS m
			WHERE m.id = (SELECT max(id) FROM main.appeal_negotiation_messages) AND m.created_at < ?
			  AND EXISTS (SELECT 1 FROM main.appeals AS fa WHERE fa.id = m.appeal_id AND fa.status IN `+finalStatuses+`)`,
			db.FormatTime(o.MessagesBefore)).Scan(&id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return nil, fmt.Errorf("find the newest rows: %w", err)
		default:
			out = append(out, fmt.Sprintf("%s id %d, the newest message, matches the policy but stays: %s", ArchiveMessages, id, keptWhy))
		}
	}
	return out, nil
}

// archiveDryRun counts what would move, with a byte estimate, and names
// the newest rows the policy keeps, through a read-only connection.
func archiveDryRun(ctx context.Context, o ArchiveOptions, res *ArchiveResult) (*ArchiveResult, error) {
	start := time.Now()
	r, err := db.OpenRead(ctx, o.DBPath, o.DB)
	if err != nil {
		return nil, fmt.Errorf("archive dry run: %w", err)
	}
	defer r.Close()
	// The schema part of the pre-flight, so that the plan already refuses
	// what the run would; quick_check is the run's (it reads every page).
	if err := db.Preflight(ctx, r, o.DBPath, db.PreflightSchema); err != nil {
		return nil, fmt.Errorf("archive dry run: %w", err)
	}
	if err := checkArchiveTables(ctx, r, &o, o.ArchiveFile == ""); err != nil {
		return nil, err
	}
	perRow, err := liveBytesPerRow(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("archive dry run: %w", err)
	}
	appeals := ArchiveTableResult{Table: appealsSpec().live, ArchiveTable: appealsSpec().archive}
	msgs := ArchiveTableResult{Table: messagesSpec().live, ArchiveTable: messagesSpec().archive}
	if !o.AppealsBefore.IsZero() && o.doTable(ArchiveAppeals) {
		a, m, err := countAppealCandidates(ctx, r, o.AppealsBefore)
		if err != nil {
			return nil, fmt.Errorf("archive dry run: %w", db.Classify(o.DBPath, err))
		}
		appeals.Rows += a
		msgs.Rows += m
	}
	if !o.MessagesBefore.IsZero() && o.doTable(ArchiveMessages) {
		// Messages the six-month rule moves, not already counted with their
		// appeal (the messages of an appeal the policy keeps for being the
		// newest, or its newest message's, are: the run moves them by this
		// rule).
		q := `SELECT count(*) FROM main.appeal_negotiation_messages AS m WHERE ` + messageRule("m")
		args := []any{db.FormatTime(o.MessagesBefore)}
		if !o.AppealsBefore.IsZero() && o.doTable(ArchiveAppeals) {
			q += ` AND NOT EXISTS (SELECT 1 FROM main.appeals AS p WHERE p.id = m.appeal_id AND ` + appealRule("p") + `)`
			args = append(args, db.FormatTime(o.AppealsBefore))
		}
		var n int64
		if err := r.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
			return nil, fmt.Errorf("archive dry run: %w", db.Classify(o.DBPath, err))
		}
		msgs.Rows += n
	}
	for _, t := range []*ArchiveTableResult{&appeals, &msgs} {
		t.Bytes = int64(float64(t.Rows) * perRow[t.Table])
	}
	res.Tables = []ArchiveTableResult{appeals, msgs}
	if res.Kept, err = keptNewest(ctx, r, o); err != nil {
		return nil, fmt.Errorf("archive dry run: %w", db.Classify(o.DBPath, err))
	}
	res.FreePagesBytes, _ = freePageBytes(ctx, r)
	res.Duration = time.Since(start)
	return res, nil
}

// liveBytesPerRow estimates, for each archivable table, the bytes one row
// takes in the file with its share of the table's indexes: dbstat's page
// sizes over the row count. Without dbstat (SQLite built without it), the
// average payload of the columns stands in.
func liveBytesPerRow(ctx context.Context, q db.Querier) (map[string]float64, error) {
	out := map[string]float64{}
	for _, s := range []archiveSpec{appealsSpec(), messagesSpec()} {
		var rows int64
		if err := q.QueryRowContext(ctx, `SELECT count(*) FROM main.`+s.live).Scan(&rows); err != nil {
			return nil, fmt.Errorf("count %s: %w", s.live, err)
		}
		if rows == 0 {
			continue
		}
		var bytes sql.NullInt64
		err := q.QueryRowContext(ctx, `SELECT sum(pgsize) FROM dbstat('main', 1) WHERE name = ?1
			OR name IN (SELECT name FROM main.sqlite_schema WHERE type = 'index' AND tbl_name = ?1)`, s.live).Scan(&bytes)
		if err != nil {
			lens := make([]string, len(s.cols))
			for i, c := range s.cols {
				lens[i] = "coalesce(length(CAST(" + c + " AS BLOB)), 0)"
			}
			if err := q.QueryRowContext(ctx, `SELECT coalesce(sum(`+strings.Join(lens, "+")+`), 0) FROM main.`+s.live).Scan(&bytes); err != nil {
				return nil, fmt.Errorf("measure %s: %w", s.live, err)
			}
		}
		out[s.live] = float64(bytes.Int64) / float64(rows)
	}
	return out, nil
}

// freePageBytes is the space of the free pages inside the main file.
func freePageBytes(ctx context.Context, q db.Querier) (int64, error) {
	var free, size int64
	if err := q.QueryRowContext(ctx, `PRAGMA main.freelist_count`).Scan(&free); err != nil {
		return 0, err
	}
	if err := q.QueryRowContext(ctx, `PRAGMA main.page_size`).Scan(&size); err != nil {
		return 0, err
	}
	return free * size, nil
}
