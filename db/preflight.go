package db

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/mattn/go-sqlite3"

	"github.com/repops/repops/internal/humanize"
)

// The pre-flight: no procedure writes to a database before it has checked,
// through a read-only connection, that the file is the reputation
// service's database at a schema version this repops knows, and that it is
// not damaged. A procedure that wrote first and checked after has, on a
// foreign file, already rewritten its header (OpenWrite switches the file
// to WAL); on a damaged one it may spread the damage (an archive run that
// moved rows out of a table whose index page was corrupt, then said
// "verified"). Procedures also stop at once when SQLite reports corruption
// while they run (StopOnCorrupt).

// ErrNotReputation is what a pre-flight meets in an SQLite file that is
// not the reputation database: tables but no migrations table, or the
// migrations table of another application (none of the tables this
// schema's applied migrations create).
var ErrNotReputation = errors.New("is not the reputation database")

// CorruptionRunbook is the runbook an operator follows when a database is
// damaged; every corruption error of a procedure points at it.
const CorruptionRunbook = "database-corruption"

// corruptHint is what to do about a damaged database, in one line.
const corruptHint = "stop writing to it and follow 'repops runbook show " + CorruptionRunbook +
	"' (confirm with 'repops check --full', then restore the latest backup)"

// PreflightLevel is how much a pre-flight checks beyond the schema.
type PreflightLevel int

const (
	// PreflightQuickCheck checks the schema, then runs PRAGMA quick_check:
	// every page of the file is read once, through a read transaction that
	// never blocks the service's writers (seconds on a large database).
	// For every write that reads or rewrites b-tree pages: archive,
	// analyze, optimize, reindex, vacuum, incremental vacuum, index
	// creation, migrations.
	PreflightQuickCheck PreflightLevel = iota
	// PreflightSchema checks the schema only: the file's header, its
	// sqlite_schema and the migrations table are read, no other page. For
	// a WAL checkpoint, which copies frames already committed into the
	// file and reads no b-tree page: quick_check would cost far more than
	// the write it guards.
	PreflightSchema
)

// String says what the level checks, for a cost line.
func (l PreflightLevel) String() string {
	if l == PreflightSchema {
		return "schema only (migrations table and version; no quick_check)"
	}
	return "schema, then PRAGMA quick_check (reads every page once, no write lock)"
}

// Preflight checks, before a procedure writes to the database open on q
// (path names it in the error), that it is this schema's and sound:
//
//   - a goose migrations table with a version this repops knows
//     (RequireSchema): ErrSchemaTooNew for a newer one, ErrNoSchema for a
//     file with no table at all (or only an empty migrations table: a
//     creation that failed), ErrNotReputation for a file with tables but
//     no migrations table or no applied version;
//   - every table that the applied migrations create is there:
//     ErrNotReputation when none is (another application's goose
//     database), ErrSchemaInvalid when some are missing;
//   - at PreflightQuickCheck, PRAGMA quick_check finds nothing: ErrCorrupt.
//
// It only reads. The error is a one-line *FileError naming the file and
// what to do; a damaged file's points at the database-corruption runbook.
func Preflight(ctx context.Context, q Querier, path string, level PreflightLevel) error {
	if err := preflightSchema(ctx, q, path); err != nil {
		return refused(StopOnCorrupt(path, err))
	}
	if level == PreflightSchema {
		return nil
	}
	problems, err := QuickCheck(ctx, q, 3)
	if err != nil {
		return refused(StopOnCorrupt(path, Classify(path, err)))
	}
	if len(problems) > 0 {
		detail := "pre-flight quick_check: " + problems[0]
		if len(problems) > 1 {
			detail += fmt.Sprintf(" (and %d more)", len(problems)-1)
		}
		return &FileError{Path: path, Kind: ErrCorrupt, Detail: detail, Hint: nothingWritten + corruptHint}
	}
	return nil
}

// nothingWritten starts the hint of every pre-flight refusal.
const nothingWritten = "nothing was written; "

// refused makes err, a pre-flight's *FileError, say that nothing was
// written; another error is returned as it is.
func refused(err error) error {
	var fe *FileError
	if !errors.As(err, &fe) || strings.HasPrefix(fe.Hint, nothingWritten) {
		return err
	}
	c := *fe
	c.Hint = nothingWritten + c.Hint
	return &c
}

// preflightSchema is Preflight's schema part.
func preflightSchema(ctx context.Context, q Querier, path string) error {
	_, reqErr := RequireSchema(ctx, q, path)
	if reqErr != nil && !errors.Is(reqErr, ErrNoSchema) && !errors.Is(reqErr, ErrSchemaTooNew) {
		return reqErr
	}
	names, err := TableNames(ctx, q)
	if err != nil {
		return Classify(path, err)
	}
	var own []string // the file's tables, without the migration tools' own
	hasVersions := false
	for _, n := range names {
		if n == VersionTable {
			hasVersions = true
		}
		if !bookkeeping(n) {
			own = append(own, n)
		}
	}
	if errors.Is(reqErr, ErrNoSchema) { // no migration applied
		if len(own) == 0 {
			return &FileError{Path: path, Kind: ErrNoSchema, Detail: "it has no tables",
				Hint: "nothing was written; 'repops migrate apply --create' makes it the reputation database, or check the path"}
		}
		what := "no " + VersionTable + " table"
		if hasVersions {
			what = "an empty " + VersionTable + " table"
		}
		return notReputation(path, fmt.Sprintf("it has tables (%s) and %s", listNames(own), what))
	}
	var versions []int64
	if reqErr != nil {
		// Newer than this repops: the reputation database if it has any
		// table of the schema this repops knows, another application's
		// goose database (timestamp versions, say) if none.
		for _, m := range Migrations() {
			versions = append(versions, m.Version)
		}
	} else {
		applied, err := Applied(ctx, q)
		if err != nil {
			return Classify(path, err)
		}
		for _, a := range applied {
			versions = append(versions, a.Version)
		}
	}
	want, err := expectedTables(ctx, versions)
	if err != nil {
		return err
	}
	var missing []string
	for _, t := range want {
		if !slices.Contains(own, t) {
			missing = append(missing, t)
		}
	}
	switch {
	case len(missing) == len(want):
		return notReputation(path, fmt.Sprintf("its %s records migrations, but none of the tables they create (%s) is there; it has %s",
			VersionTable, listNames(want), listNames(own)))
	case reqErr != nil:
		return reqErr // newer than this repops, and the reputation database
	case len(missing) == 0:
		return nil
	}
	return &FileError{Path: path, Kind: ErrSchemaInvalid, Detail: "tables missing: " + listNames(missing),
		Hint: "nothing was written; 'repops migrate validate' names the differences: restore from a backup"}
}

func notReputation(path, detail string) error {
	return &FileError{Path: path, Kind: ErrNotReputation, Detail: detail,
		Hint: "nothing was written; check the path (--db, DATABASE_PATH or database.path): repops writes only to the reputation service's database, and makes a new one only with 'repops migrate apply --create' on a missing or empty file"}
}

// listNames lists at most five names.
func listNames(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	if len(names) > 5 {
		return strings.Join(names[:5], ", ") + fmt.Sprintf(" and %d more", len(names)-5)
	}
	return strings.Join(names, ", ")
}

// expectedCache holds the tables of each set of applied versions: they
// come from applying the migrations to an in-memory database.
var expectedCache sync.Map // string -> []string

// expectedTables are the tables (bookkeeping aside) that the embedded
// migrations of the given versions create. Versions this binary does not
// carry are ignored (RequireSchema refused them before).
func expectedTables(ctx context.Context, versions []int64) ([]string, error) {
	known := map[int64]bool{}
	for _, m := range Migrations() {
		known[m.Version] = true
	}
	var vs []int64
	for _, v := range versions {
		if known[v] {
			vs = append(vs, v)
		}
	}
	key := fmt.Sprint(vs)
	if t, ok := expectedCache.Load(key); ok {
		return t.([]string), nil
	}
	s, err := expectedSchema(ctx, vs)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range s.tableOrder {
		if !bookkeeping(t) {
			out = append(out, t)
		}
	}
	expectedCache.Store(key, out)
	return out, nil
}

// PreflightFile runs Preflight on the database at path through a
// read-only connection of its own, closed before it returns: the caller
// opens its write connection only after this has passed, so that nothing
// (not even OpenWrite's switch to WAL) touches a file that fails it. o
// are the caller's options (busy timeout, owner); one connection is used.
func PreflightFile(ctx context.Context, path string, o Options, level PreflightLevel) error {
	o.MaxConns = 1
	o.Create = false
	r, err := OpenRead(ctx, path, o)
	if err != nil {
		// CheckFile's not-SQLite (a text file: the wrong path) is not
		// corruption; SQLite's "malformed" or a truncated file is.
		if errors.Is(err, ErrCorrupt) {
			return refused(StopOnCorrupt(path, err))
		}
		return err
	}
	defer r.Close()
	return Preflight(ctx, r, path, level)
}

// PreflightMigrate is the pre-flight of 'migrate apply' (the CLI's and the
// runbook action's) on the file at path, before it is opened for writing:
// a missing or empty (0-byte) file passes, for OpenWrite to create or
// refuse as create says; so does, with create, an SQLite file with no
// table; any other file must pass Preflight (PreflightQuickCheck) but for
// pending migrations. A file that is not the reputation database is
// refused whatever create says, and not a byte of it changes.
func PreflightMigrate(ctx context.Context, path string, o Options, create bool) error {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && st.Mode().IsRegular() && st.Size() == 0) {
		return nil
	}
	err = PreflightFile(ctx, path, o, PreflightQuickCheck)
	if create && errors.Is(err, ErrNoSchema) {
		return nil
	}
	return err
}

// IsCorrupt reports whether err says that the database is damaged:
// SQLite's SQLITE_CORRUPT or SQLITE_NOTADB (a page or a header that is not
// what SQLite wrote), in an error chain or as text, or a FileError of kind
// ErrCorrupt or ErrNotSQLite.
func IsCorrupt(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrNotSQLite) {
		return true
	}
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrCorrupt || se.Code == sqlite3.ErrNotADB) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "malformed") || strings.Contains(msg, "file is not a database")
}

// StopOnCorrupt returns err unchanged unless IsCorrupt(err); then it
// returns the one-line *FileError that stops a procedure: the file, the
// kind (errors.Is still matches ErrCorrupt or ErrNotSQLite), what SQLite
// said and the database-corruption runbook. The caller writes nothing
// more after it.
func StopOnCorrupt(path string, err error) error {
	if !IsCorrupt(err) {
		return err
	}
	kind, detail := ErrCorrupt, err.Error()
	var fe *FileError
	if errors.As(err, &fe) {
		if strings.Contains(fe.Hint, CorruptionRunbook) {
			return err // already the stop
		}
		kind, detail = fe.Kind, fe.Detail
		if fe.Path != "" {
			path = fe.Path
		}
		// Keep where it was seen: the callers' context around the FileError.
		if where := strings.TrimSuffix(strings.TrimSpace(strings.TrimSuffix(err.Error(), fe.Error())), ":"); where != "" {
			if detail == "" {
				detail = where
			} else {
				detail = where + ": " + detail
			}
		}
	} else if strings.Contains(detail, "file is not a database") {
		kind = ErrNotSQLite
	} else {
		var se sqlite3.Error
		if errors.As(err, &se) && se.Code == sqlite3.ErrNotADB {
			kind = ErrNotSQLite
		}
	}
	if kind != ErrCorrupt && kind != ErrNotSQLite {
		kind = ErrCorrupt
	}
	return &FileError{Path: path, Kind: kind, Detail: humanize.OneLine(detail), Hint: corruptHint}
}
