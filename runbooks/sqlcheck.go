package runbooks

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/mattn/go-sqlite3"

	"github.com/repops/repops/db"
)

// ErrWriteSQL is the error of a check whose SQL is not one read-only
// statement.
var ErrWriteSQL = errors.New("a check may run only one read-only statement (SELECT, WITH ... SELECT, or a read-only PRAGMA)")

// CheckReadOnlySQL refuses anything but one statement that SQLite itself
// says only reads. SQLite compiles the statement (it is never run) on an
// in-memory database that has the schema of the embedded migrations, and
// answers with sqlite3_stmt_readonly; an authorizer, during that
// compilation, refuses what sqlite3_stmt_readonly lets through although it
// is no query: ATTACH and DETACH, BEGIN, COMMIT and savepoints, a PRAGMA
// given a value (PRAGMA cache_size = 0, PRAGMA query_only = 0), a pragma
// SQLite does not know (which it would silently ignore). Which pragmas
// take an argument that only selects what to read (table_info(appeals),
// quick_check(10)) is SQLite's word too: those whose table-valued
// function, pragma_NAME, has an argument.
//
// Decision: the check is made when the runbook is parsed, so that a write,
// a typo in a table name or a syntax error is a file:line problem when
// the catalogue loads rather than a failure in the middle of an incident.
// That needs no database: the schema is built in memory from the
// migrations, the one source of truth of the live one. The engine calls
// it again before it runs a check (for a Runbook built in code), and the
// statement then runs on the read-only connection (mode=ro, query_only,
// no ATTACH): SQLite's second refusal of any write that got past this one.
//
// Statement boundaries come from a tokenizer that knows SQLite's quotes and
// comments: a ';' may only end the statement, with nothing after it, not
// even a comment (go-sqlite3 runs whatever follows the first statement,
// and a trailing comment after ';' makes the query return no rows).
func CheckReadOnlySQL(q string) error {
	toks, err := sqlTokens(q)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrWriteSQL, err)
	}
	for i, t := range toks {
		if t.text == ";" && i != len(toks)-1 {
			return fmt.Errorf("%w: more than one statement: a check runs exactly one", ErrWriteSQL)
		}
	}
	if n := len(toks); n > 0 && toks[n-1].text == ";" {
		if rest := strings.TrimSpace(q[toks[n-1].end:]); rest != "" {
			return fmt.Errorf("%w: %q after the final ';' would run as a second statement and the check would see no rows: remove it", ErrWriteSQL, rest)
		}
		toks = toks[:n-1]
	}
	if len(toks) == 0 {
		return fmt.Errorf("%w: the query is empty", ErrWriteSQL)
	}
	c, err := readOnlyChecker()
	if err != nil {
		return fmt.Errorf("check the query: %w", err)
	}
	return c.check(q, toks)
}

// sqlChecker asks SQLite about statements, on one connection to an
// in-memory database with the schema (held for the life of the process:
// the database lives as long as its connection).
type sqlChecker struct {
	mu      sync.Mutex
	conn    *sql.Conn
	pragmas map[string]pragmaInfo
}

// pragmaInfo is what SQLite says about one pragma.
type pragmaInfo struct {
	// queryArg: pragma_NAME takes an argument, so PRAGMA NAME(arg) reads
	// (table_info, index_list, quick_check, ...).
	queryArg bool
	// function: SQLite offers pragma_NAME, which runs PRAGMA NAME without
	// an argument.
	function bool
	// readOnly: sqlite3_stmt_readonly of PRAGMA NAME without an argument.
	readOnly bool
}

// readOnlyChecker builds the checker once: the migrations applied to an
// in-memory database, then ANALYZE so that sqlite_stat1 exists as on an
// analysed live database, then what SQLite says of each pragma it knows.
var readOnlyChecker = sync.OnceValues(func() (*sqlChecker, error) {
	ctx := context.Background()
	mem, err := sql.Open("sqlite3", ":memory:")
	if err != nil {
		return nil, fmt.Errorf("build the in-memory schema: %w", err)
	}
	mem.SetMaxOpenConns(1) // one connection: one in-memory database
	mem.SetConnMaxLifetime(0)
	mem.SetConnMaxIdleTime(0)
	fail := func(err error) (*sqlChecker, error) {
		mem.Close()
		return nil, fmt.Errorf("build the in-memory schema: %w", err)
	}
	if _, err := db.Migrate(ctx, mem, ":memory:"); err != nil {
		return fail(err)
	}
	if _, err := mem.ExecContext(ctx, "ANALYZE"); err != nil {
		return fail(err)
	}
	conn, err := mem.Conn(ctx)
	if err != nil {
		return fail(err)
	}
	c := &sqlChecker{conn: conn, pragmas: map[string]pragmaInfo{}}
	rows, err := conn.QueryContext(ctx, "SELECT name FROM pragma_pragma_list")
	if err != nil {
		return fail(err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return fail(err)
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	for _, n := range names {
		// A statement SQLite refuses to compile answers no: the pragma has
		// no such function, or no argument.
		var info pragmaInfo
		for q, set := range map[string]func(*sqlite3.SQLiteStmt){
			`SELECT * FROM "pragma_` + n + `"`:   func(*sqlite3.SQLiteStmt) { info.function = true },
			`SELECT arg FROM "pragma_` + n + `"`: func(*sqlite3.SQLiteStmt) { info.queryArg = true },
			"PRAGMA " + n:                        func(s *sqlite3.SQLiteStmt) { info.readOnly = s.Readonly() },
		} {
			var se sqlite3.Error
			if err := c.prepare(q, nil, set); err != nil && !errors.As(err, &se) {
				return fail(err)
			}
		}
		c.pragmas[n] = info
	}
	return c, nil
})

// prepare compiles q (never runs it) with auth as the authorizer, and
// hands the statement to fn.
func (c *sqlChecker) prepare(q string, auth func(op int, arg1, arg2, arg3 string) int, fn func(*sqlite3.SQLiteStmt)) error {
	return c.conn.Raw(func(dc any) error {
		sc, ok := db.SQLiteConn(dc)
		if !ok {
			return fmt.Errorf("unexpected driver connection %T", dc)
		}
		if auth != nil {
			sc.RegisterAuthorizer(auth)
			defer sc.RegisterAuthorizer(nil)
		}
		st, err := sc.Prepare(q)
		if err != nil {
			return err
		}
		defer st.Close()
		s, ok := st.(*sqlite3.SQLiteStmt)
		if !ok {
			return fmt.Errorf("unexpected driver statement %T", st)
		}
		fn(s)
		return nil
	})
}

// check asks SQLite whether q, one statement (toks), only reads.
func (c *sqlChecker) check(q string, toks []sqlToken) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var (
		denied   error  // the authorizer's refusal
		did      string // the first change the authorizer saw the statement make
		pragma   string // the pragma of a PRAGMA statement
		pragmaOK bool   // ... given without an argument, and offered by SQLite as a function
		readOnly bool
		params   int
	)
	assigns := false
	for _, t := range toks {
		assigns = assigns || t.text == "="
	}
	auth := func(op int, arg1, arg2, _ string) int {
		if denied != nil {
			return sqlite3.SQLITE_DENY
		}
		switch op {
		case sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH:
			denied = fmt.Errorf("%s is not allowed: it opens or closes another database file on the connection", authVerbs[op])
		case sqlite3.SQLITE_TRANSACTION, sqlite3.SQLITE_SAVEPOINT:
			denied = fmt.Errorf("%s is not allowed: a check is one statement, outside any transaction", transactionVerb(op, arg1))
		case sqlite3.SQLITE_PRAGMA:
			name := strings.ToLower(arg1)
			info, known := c.pragmas[name]
			switch {
			case !known:
				denied = fmt.Errorf("PRAGMA %s is not allowed: SQLite knows no such pragma (it would silently do nothing)", name)
			case arg2 != "" && !info.queryArg && assigns:
				denied = fmt.Errorf("PRAGMA %s assigns a value (%s), which is not allowed: a check reads a pragma, it does not set one", name, arg2)
			case arg2 != "" && !info.queryArg:
				denied = fmt.Errorf("PRAGMA %s(%s) is not allowed: given an argument, this pragma changes something instead of reading", name, arg2)
			}
			pragma, pragmaOK = name, arg2 == "" && info.function && !info.queryArg
		case sqlite3.SQLITE_READ:
			// A pragma's table-valued function runs the pragma.
			name, ok := strings.CutPrefix(strings.ToLower(arg1), "pragma_")
			if info := c.pragmas[name]; ok && info.queryArg && !info.readOnly {
				denied = fmt.Errorf("%s is not allowed: it runs PRAGMA %s, which SQLite reports as writing", strings.ToLower(arg1), name)
			}
		default:
			if v, ok := authVerbs[op]; ok && did == "" && !strings.HasPrefix(strings.ToLower(arg1), "sqlite_") {
				did = v
			}
		}
		if denied != nil {
			return sqlite3.SQLITE_DENY
		}
		return sqlite3.SQLITE_OK
	}
	err := c.prepare(q, auth, func(s *sqlite3.SQLiteStmt) { readOnly, params = s.Readonly(), s.NumInput() })
	switch {
	case denied != nil:
		return fmt.Errorf("%w: %w", ErrWriteSQL, denied)
	case err != nil:
		return fmt.Errorf("%w: it does not compile against the database's schema (%w), so SQLite cannot tell that it only reads: fix the query", ErrWriteSQL, err)
	case params > 0:
		return fmt.Errorf("%w: it has a parameter (?, :name, @name or $name), and a check's query takes none", ErrWriteSQL)
	case readOnly:
		return nil
	case pragmaOK:
		// SQLite counts PRAGMA journal_mode as a write, since the same
		// statement given a value switches the mode; without one it reads,
		// as its function pragma_journal_mode (which SQLite offers only for
		// pragmas without side effects) does.
		return nil
	}
	verb := strings.ToUpper(toks[0].text)
	switch {
	case pragma != "":
		verb = "PRAGMA " + pragma
	case (verb == "WITH" || verb == "EXPLAIN") && did != "":
		verb = did
	}
	return fmt.Errorf("%w: %s is not allowed: SQLite reports that the statement writes to the database", ErrWriteSQL, verb)
}

// authVerbs names the authorizer's actions that change something.
var authVerbs = map[int]string{
	sqlite3.SQLITE_INSERT: "INSERT", sqlite3.SQLITE_UPDATE: "UPDATE", sqlite3.SQLITE_DELETE: "DELETE",
	sqlite3.SQLITE_CREATE_INDEX: "CREATE INDEX", sqlite3.SQLITE_CREATE_TABLE: "CREATE TABLE",
	sqlite3.SQLITE_CREATE_TEMP_INDEX: "CREATE INDEX", sqlite3.SQLITE_CREATE_TEMP_TABLE: "CREATE TABLE",
	sqlite3.SQLITE_CREATE_TEMP_TRIGGER: "CREATE TRIGGER", sqlite3.SQLITE_CREATE_TEMP_VIEW: "CREATE VIEW",
	sqlite3.SQLITE_CREATE_TRIGGER: "CREATE TRIGGER", sqlite3.SQLITE_CREATE_VIEW: "CREATE VIEW",
	sqlite3.SQLITE_CREATE_VTABLE: "CREATE VIRTUAL TABLE", sqlite3.SQLITE_DROP_INDEX: "DROP INDEX",
	sqlite3.SQLITE_DROP_TABLE: "DROP TABLE", sqlite3.SQLITE_DROP_TEMP_INDEX: "DROP INDEX",
	sqlite3.SQLITE_DROP_TEMP_TABLE: "DROP TABLE", sqlite3.SQLITE_DROP_TEMP_TRIGGER: "DROP TRIGGER",
	sqlite3.SQLITE_DROP_TEMP_VIEW: "DROP VIEW", sqlite3.SQLITE_DROP_TRIGGER: "DROP TRIGGER",
	sqlite3.SQLITE_DROP_VIEW: "DROP VIEW", sqlite3.SQLITE_DROP_VTABLE: "DROP VIRTUAL TABLE",
	sqlite3.SQLITE_ALTER_TABLE: "ALTER TABLE", sqlite3.SQLITE_REINDEX: "REINDEX", sqlite3.SQLITE_ANALYZE: "ANALYZE",
	sqlite3.SQLITE_ATTACH: "ATTACH", sqlite3.SQLITE_DETACH: "DETACH",
}

// transactionVerb names a transaction or savepoint statement.
func transactionVerb(op int, arg1 string) string {
	if op == sqlite3.SQLITE_TRANSACTION {
		return arg1 // BEGIN, COMMIT or ROLLBACK
	}
	switch arg1 {
	case "RELEASE":
		return "RELEASE"
	case "ROLLBACK":
		return "ROLLBACK TO"
	}
	return "SAVEPOINT"
}

// sqlToken is one token of a statement: an upper-cased word, one
// character of punctuation, or "'" for a string literal or quoted
// identifier; end is the offset just after it.
type sqlToken struct {
	text string
	end  int
}

// sqlTokens splits q as SQLite's tokenizer does for what matters here:
// comments are dropped, and string literals and quoted identifiers
// ('...', "...", `...`, [...]) become one token, so that a ';' inside
// them does not end the statement. An unterminated quote or comment is an
// error.
func sqlTokens(q string) ([]sqlToken, error) {
	var toks []sqlToken
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				return nil, errors.New("unterminated comment")
			}
			i += end + 4
		case c == '\'' || c == '"' || c == '`' || c == '[':
			closer := c
			if c == '[' {
				closer = ']'
			}
			j := i + 1
			for {
				k := strings.IndexByte(q[j:], closer)
				if k < 0 {
					return nil, errors.New("unterminated quote")
				}
				j += k + 1
				// '' and "" escape the quote inside.
				if closer != ']' && j < len(q) && q[j] == closer {
					j++
					continue
				}
				break
			}
			toks = append(toks, sqlToken{"'", j})
			i = j
		case isWordByte(c):
			j := i
			for j < len(q) && isWordByte(q[j]) {
				j++
			}
			toks = append(toks, sqlToken{strings.ToUpper(q[i:j]), j})
			i = j
		default:
			toks = append(toks, sqlToken{string(c), i + 1})
			i++
		}
	}
	return toks, nil
}

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func equalFold(a, b string) bool {
	return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}
