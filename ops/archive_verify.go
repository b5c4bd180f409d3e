package ops

// archive_verify.go holds the verification of an archival run: the rows'
// checksum (a sum of per-row 64-bit hashes, computed from the live rows as
// they were noted for their batch, and again from the archive over the ids
// moved), the count and checksum compared at the end, and the check that
// no row matching the policy is left behind (the newest rows, which the
// policy keeps, are not left behind: see appealRule).

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// rowLiteral is the row with the given column prefix written as text for
// its checksum: the columns' values joined by char(31), the nullable ones
// quote()d so that NULL is told apart from the text 'NULL' (quote() on
// every column, which would also tell numbers from text, doubled the cost
// of the checksum; the columns' types are the schema's).
func (s archiveSpec) rowLiteral(prefix string) string {
	out := make([]string, len(s.cols))
	for i, c := range s.cols {
		out[i] = prefix + c
		if slices.Contains(s.nullable, c) {
			out[i] = "quote(" + prefix + c + ")"
		}
	}
	return "concat_ws(char(31), " + strings.Join(out, ", ") + ")"
}

// rowsHashExpr is the aggregate checksum of the rows a query selects (the
// table's alias in prefix): repops_rows_hash over their literals, joined in
// SQL so that the Go function is called once for all of them.
func (s archiveSpec) rowsHashExpr(prefix string) string {
	return rowsHashFunc + "(coalesce(group_concat(" + s.rowLiteral(prefix) + ", char(30)), ''))"
}

// movedTable is the connection's temp table of the ids of s's rows that
// this run moved, for the final verification.
func (s archiveSpec) movedTable() string { return "temp.repops_moved_" + s.live }

// verify checks that every moved row is in the archive, identical (count
// and checksum over the moved ids, live hashes taken as the rows were
// moved), and that no row matching the policy is left behind: the policy's
// rules say which rows match, so the newest rows, which they keep, are not
// counted (they are named in the result's Kept).
func (a *archiver) verify(ctx context.Context) error {
	var problems []string
	for _, s := range []archiveSpec{appealsSpec(), messagesSpec()} {
		t := a.byTable[s.live]
		var liveN int64
		if err := a.conn.QueryRowContext(ctx, `SELECT count(*) FROM `+s.movedTable()).Scan(&liveN); err != nil {
			return fmt.Errorf("archive: verify: %w", err)
		}
		archN, archSum, err := a.archiveChecksum(ctx, s)
		if err != nil {
			return err
		}
		if archN != liveN {
			problems = append(problems, fmt.Sprintf("%s: %d rows moved but %d found in %s", s.live, liveN, archN, s.archive))
		} else if archSum != t.Checksum {
			problems = append(problems, fmt.Sprintf("%s: checksum of the %d moved rows is %d, in %s %d", s.live, liveN, t.Checksum, s.archive, archSum))
		}
		if liveN != t.Rows {
			problems = append(problems, fmt.Sprintf("%s: %d rows counted in batches, %d recorded", s.live, t.Rows, liveN))
		}
	}
	// Left behind: candidates still live, and messages of moved appeals.
	if !a.o.AppealsBefore.IsZero() && a.o.doTable(ArchiveAppeals) {
		n, _, err := countAppealCandidates(ctx, a.conn, a.o.AppealsBefore)
		if err != nil {
			return fmt.Errorf("archive: verify: %w", err)
		}
		if n > 0 {
			problems = append(problems, fmt.Sprintf("appeals: %d rows matching the policy are still live (did they become final during the run? run again)", n))
		}
		var orphans int64
		if err := a.conn.QueryRowContext(ctx, `SELECT count(*) FROM main.appeal_negotiation_messages
			WHERE appeal_id IN (SELECT id FROM `+appealsSpec().movedTable()+`)`).Scan(&orphans); err != nil {
			return fmt.Errorf("archive: verify: %w", err)
		}
		if orphans > 0 {
			problems = append(problems, fmt.Sprintf("appeal_negotiation_messages: %d messages of archived appeals are still live", orphans))
		}
	}
	if !a.o.MessagesBefore.IsZero() && a.o.doTable(ArchiveMessages) {
		n, err := countMessageCandidates(ctx, a.conn, a.o.MessagesBefore)
		if err != nil {
			return fmt.Errorf("archive: verify: %w", err)
		}
		if n > 0 {
			problems = append(problems, fmt.Sprintf("appeal_negotiation_messages: %d rows matching the policy are still live (run again)", n))
		}
	}
	// The newest rows, which the policy keeps, are named, not counted.
	kept, err := keptNewest(ctx, a.conn, a.o)
	if err != nil {
		return fmt.Errorf("archive: verify: %w", err)
	}
	a.res.Kept = kept
	a.res.Problems = problems
	a.res.Verified = len(problems) == 0
	if !a.res.Verified {
		return fmt.Errorf("%w: %s", ErrArchiveVerify, strings.Join(problems, "; "))
	}
	return nil
}

// verifyChunk is how many moved rows the final verification checksums in
// one statement: the rows' literals are joined in memory (a few MB).
const verifyChunk = 20000

// archiveChecksum counts the archived copies of the rows this run moved
// from s's table, and sums their checksum, a chunk of ids at a time.
func (a *archiver) archiveChecksum(ctx context.Context, s archiveSpec) (n, sum int64, err error) {
	q := fmt.Sprintf(`SELECT count(*), max(t.id), %s FROM (SELECT id FROM %s WHERE id > ? ORDER BY id LIMIT ?) AS t
		JOIN %s.%s AS c ON c.id = t.id`, s.rowsHashExpr("c."), s.movedTable(), a.as, s.archive)
	var after int64
	for {
		var k, h int64
		var last sql.NullInt64
		if err := a.queryRow(ctx, q, after, verifyChunk).Scan(&k, &last, &h); err != nil {
			return 0, 0, fmt.Errorf("archive: verify: %w", err)
		}
		if k == 0 {
			return n, sum, nil
		}
		if !last.Valid || last.Int64 <= after {
			return 0, 0, fmt.Errorf("archive: verify: %w: the moved ids of %s after %d did not advance", ErrNoProgress, s.live, after)
		}
		n += k
		sum = int64(uint64(sum) + uint64(h))
		after = last.Int64
	}
}
