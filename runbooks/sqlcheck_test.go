package runbooks

import (
	"errors"
	"strings"
	"sync"
	"testing"
)

// checkSpec is a runbook whose step "Q" checks query; the query's first
// line is the file's line 10.
func checkSpec(query string) string {
	return goodHeader + "## Q\n\n```repops\nquery: |\n  " + strings.ReplaceAll(query, "\n", "\n  ") + "\n```\n"
}

// Whether a check only reads is SQLite's answer (issue 12), not a list of
// keywords: SQLite's own replace() is a read, and every write is refused
// when the runbook is parsed, with a message naming the file, the line and
// the step.
func TestCheckSQLAskSQLite(t *testing.T) {
	accepted := []string{
		"SELECT replace('a','a','b')",
		"SELECT replace(reason, 'x', 'y') FROM appeals",
		"PRAGMA quick_check",
		"PRAGMA table_info(appeals)",
		"PRAGMA table_info = appeals",
		"PRAGMA index_list(appeals)",
		"PRAGMA journal_mode",
		"SELECT * FROM pragma_table_info('appeals')",
		"SELECT * FROM sqlite_stat1",
		"SELECT name FROM sqlite_schema WHERE type = 'index'",
		"select count(*) from appeals;",
		"SELECT 1 -- a comment at the end",
		"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 3) SELECT count(*) FROM c",
	}
	for _, q := range accepted {
		t.Run("accept "+q, func(t *testing.T) {
			if err := CheckReadOnlySQL(q); err != nil {
				t.Fatalf("refused: %v", err)
			}
			if _, err := Parse("ok.md", []byte(checkSpec(q))); err != nil {
				t.Fatalf("parse refused: %v", err)
			}
		})
	}
	refused := []struct{ q, want string }{
		{"INSERT INTO appeals (user_id, reason, status) VALUES ('u', 'r', 'pending')", "INSERT is not allowed"},
		{"REPLACE INTO appeals (id) VALUES (1)", "REPLACE is not allowed"},
		{"UPDATE appeals SET status = 'denied'", "UPDATE is not allowed"},
		{"DELETE FROM appeals", "DELETE is not allowed"},
		{"WITH x AS (SELECT 1) DELETE FROM appeals", "DELETE is not allowed"},
		{"DROP TABLE appeals", "DROP is not allowed"},
		{"CREATE TABLE evil (a)", "CREATE is not allowed"},
		{"CREATE TEMP TABLE evil (a)", "CREATE is not allowed"},
		{"CREATE INDEX idx_evil ON appeals(reason)", "CREATE is not allowed"},
		{"ALTER TABLE appeals ADD COLUMN evil", "ALTER is not allowed"},
		{"ATTACH 'evil.db' AS evil", "ATTACH is not allowed"},
		{"DETACH main", "DETACH is not allowed"},
		{"PRAGMA journal_mode=DELETE", "PRAGMA journal_mode assigns a value (DELETE), which is not allowed"},
		{"PRAGMA user_version=5", "PRAGMA user_version assigns a value (5)"},
		{"PRAGMA query_only = 0", "PRAGMA query_only assigns a value"},
		{"PRAGMA cache_size = 0", "PRAGMA cache_size assigns a value"},
		{"PRAGMA locking_mode = EXCLUSIVE", "PRAGMA locking_mode assigns a value"},
		{"PRAGMA wal_checkpoint(TRUNCATE)", "PRAGMA wal_checkpoint(TRUNCATE) is not allowed"},
		{"PRAGMA wal_checkpoint", "PRAGMA wal_checkpoint is not allowed: SQLite reports that the statement writes"},
		{"PRAGMA optimize", "PRAGMA optimize is not allowed"},
		{"PRAGMA incremental_vacuum", "PRAGMA incremental_vacuum is not allowed"},
		{"SELECT * FROM pragma_optimize", "pragma_optimize is not allowed"},
		{"PRAGMA quick_chek", "SQLite knows no such pragma"},
		{"VACUUM", "VACUUM is not allowed"},
		{"VACUUM INTO '/tmp/evil.db'", "VACUUM is not allowed"},
		{"REINDEX", "REINDEX is not allowed"},
		{"ANALYZE", "ANALYZE is not allowed"},
		{"BEGIN", "BEGIN is not allowed"},
		{"BEGIN IMMEDIATE", "BEGIN is not allowed"},
		{"COMMIT", "COMMIT is not allowed"},
		{"SAVEPOINT s", "SAVEPOINT is not allowed"},
		{"SELECT 1; DELETE FROM appeals", "more than one statement"},
		{"SELECT 1; SELECT 2", "more than one statement"},
		{"SELECT 1; -- done", `"-- done" after the final ';'`},
		{"SELECT * FROM appeals WHERE id = ?", "it has a parameter"},
		{"SELECT * FROM apeals", "no such table: apeals"},
		{"SELECT statu FROM appeals", "no such column: statu"},
		{"SELEC 1", "syntax error"},
		{"SELECT 1 /* unterminated", "unterminated comment"},
		{"SELECT 'unterminated", "unterminated quote"},
		{"-- only a comment", "the query is empty"},
	}
	for _, c := range refused {
		t.Run("refuse "+c.q, func(t *testing.T) {
			err := CheckReadOnlySQL(c.q)
			if !errors.Is(err, ErrWriteSQL) {
				t.Fatalf("accepted (err %v)", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
			_, err = Parse("bad.md", []byte(checkSpec(c.q)))
			if err == nil {
				t.Fatal("the parser accepted it")
			}
			if want := `bad.md:10: step "Q": `; !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "read-only") {
				t.Errorf("parse error %q: want it to start with %q and say %q", err, want, c.want)
			}
		})
	}
}

// The pragmas today's checks may read (the keyword list this replaced)
// are still accepted, now because SQLite says they read.
func TestCheckSQLReadPragmasParity(t *testing.T) {
	for _, name := range []string{
		"integrity_check", "quick_check", "foreign_key_check", "page_count", "page_size", "freelist_count",
		"journal_mode", "user_version", "schema_version", "table_list", "database_list", "compile_options",
		"auto_vacuum", "cache_size", "wal_autocheckpoint", "busy_timeout", "synchronous", "application_id",
	} {
		if err := CheckReadOnlySQL("PRAGMA " + name); err != nil {
			t.Errorf("PRAGMA %s refused: %v", name, err)
		}
		if err := CheckReadOnlySQL("PRAGMA main." + name); err != nil {
			t.Errorf("PRAGMA main.%s refused: %v", name, err)
		}
	}
	for _, name := range []string{"table_info", "table_xinfo", "index_list", "foreign_key_list"} {
		if err := CheckReadOnlySQL("PRAGMA " + name + "(appeals)"); err != nil {
			t.Errorf("PRAGMA %s(appeals) refused: %v", name, err)
		}
	}
	for _, name := range []string{"index_info", "index_xinfo"} {
		if err := CheckReadOnlySQL("PRAGMA " + name + "(idx_appeals_user_status)"); err != nil {
			t.Errorf("PRAGMA %s refused: %v", name, err)
		}
	}
}

// Checks are parsed from several goroutines at once (the console, the
// commands, parallel tests): one in-memory connection serves them all.
func TestCheckSQLConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				if err := CheckReadOnlySQL("SELECT COUNT(*) FROM appeals"); err != nil {
					errs <- err
				}
				if err := CheckReadOnlySQL("DELETE FROM appeals"); !errors.Is(err, ErrWriteSQL) || !strings.Contains(err.Error(), "DELETE is not allowed") {
					errs <- errors.New("DELETE not refused as such: " + err.Error())
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
