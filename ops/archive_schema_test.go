package ops

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/testsupport"
)

// TestArchiveFileSchema: a separate archive file gets exactly the archive
// tables the migrations give the live database (the same tables, columns,
// declared types, constraints and indexes), and preparing it again, as
// every run does, changes nothing.
func TestArchiveFileSchema(t *testing.T) {
	ctx := context.Background()
	path := testsupport.MigratedDB(t)
	file := filepath.Join(t.TempDir(), "archive.db")
	for range 2 {
		if err := prepareArchiveFile(ctx, file); err != nil {
			t.Fatal(err)
		}
	}
	live, err := db.OpenRead(ctx, path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	arch, err := db.OpenRead(ctx, file, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer arch.Close()
	want, got := archiveTablesShape(t, live), archiveTablesShape(t, arch)
	if len(want) < 3 {
		t.Fatalf("the live database's archive tables: %q: want both tables and their index", want)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("archive file:\n%q\nlive database:\n%q", got, want)
	}
}

// archiveTablesShape lists the *_archive tables of q with their columns
// (pragma table_info: name, declared type, NOT NULL, default, primary key)
// and their indexes (pragma index_list and index_xinfo), one line each.
func archiveTablesShape(t *testing.T, q *sql.DB) []string {
	t.Helper()
	var out []string
	tables := queryStrings(t, q, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE '%\_archive' ESCAPE '\' ORDER BY name`)
	for _, tbl := range tables {
		out = append(out, "table "+tbl)
		out = append(out, queryStrings(t, q, `SELECT printf('  column %d %s %s notnull=%d default=%s pk=%d', cid, name, type, "notnull", quote(dflt_value), pk)
			FROM pragma_table_info(?) ORDER BY cid`, tbl)...)
		out = append(out, queryStrings(t, q, `SELECT printf('  index %s unique=%d origin=%s partial=%d', name, "unique", origin, partial)
			FROM pragma_index_list(?) ORDER BY name`, tbl)...)
		out = append(out, queryStrings(t, q, `SELECT printf('  index %s: %d %s desc=%d coll=%s key=%d', il.name, ix.seqno, coalesce(ix.name, '<rowid>'), ix.desc, ix.coll, ix.key)
			FROM pragma_index_list(?1) AS il, pragma_index_xinfo(il.name) AS ix ORDER BY il.name, ix.seqno`, tbl)...)
	}
	return out
}

// queryStrings is the first column of every row of query.
func queryStrings(t *testing.T, q *sql.DB, query string, args ...any) []string {
	t.Helper()
	rows, err := q.Query(query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
