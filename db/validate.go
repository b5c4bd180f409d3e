package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/mattn/go-sqlite3"
	"github.com/pressly/goose/v3"

	"github.com/repops/repops/internal/humanize"
)

// Kinds of schema problem.
const (
	ProblemMissingTable     = "missing-table"
	ProblemMissingColumn    = "missing-column"
	ProblemWrongType        = "wrong-type"
	ProblemWrongConstraint  = "wrong-constraint" // NOT NULL or primary key differ
	ProblemMissingIndex     = "missing-index"
	ProblemWrongIndex       = "wrong-index" // the name exists with other columns
	ProblemDuplicateIndex   = "duplicate-index"
	ProblemChecksumDrift    = "checksum-drift"
	ProblemChecksumMissing  = "checksum-missing" // repops recorded others: a crash after the migration's commit
	ProblemUnknownVersion   = "unknown-version"
	ProblemPendingMigration = "pending-migration"
	ProblemCorrupt          = "corrupt" // from PRAGMA quick_check, which Validate does not run
)

// CriticalIndexes are the operations guide's "Indexing Strategy" indexes.
var CriticalIndexes = []string{"idx_appeals_user_status", "idx_messages_appeal_created", "idx_predictions_type_user"}

// Problem is one difference between the live schema and the expected one.
type Problem struct {
	Kind    string // one of the Problem... kinds
	Object  string // the table, column (table.column), index or migration
	Message string // one line, saying what to do
}

// String is the problem as one line: kind, then the message.
func (p Problem) String() string { return p.Kind + ": " + p.Message }

// ValidationReport is the outcome of Validate.
type ValidationReport struct {
	Version  int64 // newest applied migration
	Latest   int64 // newest migration this binary carries
	Tables   int   // tables of the service's schema present
	Indexes  int   // named indexes present
	Problems []Problem
}

// OK reports whether no problem was found.
func (r *ValidationReport) OK() bool { return len(r.Problems) == 0 }

// columnDef is a column as PRAGMA table_info gives it.
type columnDef struct {
	name, typ string
	notNull   bool
	pk        int
}

// indexDef is an index as PRAGMA index_list and index_xinfo give it.
type indexDef struct {
	name, table string
	columns     []string // key columns, with " DESC" and " COLLATE x" when not default
	unique      bool
	partial     bool
	origin      string // c (CREATE INDEX), u (UNIQUE), pk
	sql         string
}

func (ix *indexDef) signature() string {
	return ix.table + "(" + strings.Join(ix.columns, ", ") + ")"
}

// schemaSnapshot is the shape of a database's schema.
type schemaSnapshot struct {
	tables     map[string][]columnDef
	tableOrder []string
	indexes    map[string]*indexDef
	indexOrder []string
	origin     map[string]string // object -> the migration that created it (expected schema only)
}

// bookkeeping tables are the migration tools' own, checked through Status.
func bookkeeping(name string) bool {
	return name == VersionTable || name == ChecksumTable || strings.HasPrefix(name, "sqlite_")
}

// readSchema reads the tables, their columns and their indexes.
func readSchema(ctx context.Context, q Querier) (*schemaSnapshot, error) {
	s := &schemaSnapshot{tables: map[string][]columnDef{}, indexes: map[string]*indexDef{}, origin: map[string]string{}}
	rows, err := q.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("read schema: %w", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read schema: %w", err)
		}
		if !bookkeeping(n) {
			names = append(names, n)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read schema: %w", err)
	}
	for _, t := range names {
		cols, err := readColumns(ctx, q, t)
		if err != nil {
			return nil, err
		}
		s.tables[t] = cols
		s.tableOrder = append(s.tableOrder, t)
		idx, err := readIndexes(ctx, q, t)
		if err != nil {
			return nil, err
		}
		for _, ix := range idx {
			s.indexes[ix.name] = ix
			s.indexOrder = append(s.indexOrder, ix.name)
		}
	}
	return s, nil
}

func readColumns(ctx context.Context, q Querier, table string) ([]columnDef, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, type, "notnull", pk FROM pragma_table_info(?) ORDER BY cid`, table)
	if err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", table, err)
	}
	defer rows.Close()
	var out []columnDef
	for rows.Next() {
		var c columnDef
		if err := rows.Scan(&c.name, &c.typ, &c.notNull, &c.pk); err != nil {
			return nil, fmt.Errorf("read columns of %s: %w", table, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func readIndexes(ctx context.Context, q Querier, table string) ([]*indexDef, error) {
	rows, err := q.QueryContext(ctx, `SELECT l.name, l."unique", l.origin, l.partial, coalesce(s.sql, '')
		FROM pragma_index_list(?) l LEFT JOIN sqlite_schema s ON s.type = 'index' AND s.name = l.name
		ORDER BY l.name`, table)
	if err != nil {
		return nil, fmt.Errorf("read indexes of %s: %w", table, err)
	}
	var out []*indexDef
	for rows.Next() {
		ix := &indexDef{table: table}
		if err := rows.Scan(&ix.name, &ix.unique, &ix.origin, &ix.partial, &ix.sql); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read indexes of %s: %w", table, err)
		}
		out = append(out, ix)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read indexes of %s: %w", table, err)
	}
	for _, ix := range out {
		cols, err := q.QueryContext(ctx, `SELECT coalesce(name, '<expression>'), "desc", coalesce(coll, 'BINARY')
			FROM pragma_index_xinfo(?) WHERE key ORDER BY seqno`, ix.name)
		if err != nil {
			return nil, fmt.Errorf("read columns of index %s: %w", ix.name, err)
		}
		for cols.Next() {
			var name, coll string
			var desc bool
			if err := cols.Scan(&name, &desc, &coll); err != nil {
				cols.Close()
				return nil, fmt.Errorf("read columns of index %s: %w", ix.name, err)
			}
			if desc {
				name += " DESC"
			}
			if !strings.EqualFold(coll, "BINARY") {
				name += " COLLATE " + coll
			}
			ix.columns = append(ix.columns, name)
		}
		cols.Close()
		if err := cols.Err(); err != nil {
			return nil, fmt.Errorf("read columns of index %s: %w", ix.name, err)
		}
	}
	return out, nil
}

// expectedSchema applies the embedded migrations of the given versions, in
// order, to a private in-memory database and reads its schema: the one
// source of truth is the migrations themselves. Each object is attributed
// to the migration that created it.
func expectedSchema(ctx context.Context, versions []int64) (*schemaSnapshot, error) {
	mem, err := sql.Open("sqlite3", ":memory:")
	if err != nil {
		return nil, fmt.Errorf("build the expected schema: %w", err)
	}
	defer mem.Close()
	mem.SetMaxOpenConns(1) // one connection: one in-memory database
	sub, _ := fs.Sub(migrationFS, "migrations")
	p, err := goose.NewProvider(goose.DialectSQLite3, mem, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("build the expected schema: %w", err)
	}
	names := map[int64]string{}
	for _, m := range Migrations() {
		names[m.Version] = m.Name
	}
	origin := map[string]string{}
	seen := map[string]bool{}
	for _, v := range versions {
		if _, err := p.ApplyVersion(ctx, v, true); err != nil {
			return nil, fmt.Errorf("build the expected schema: migration %s: %w", names[v], err)
		}
		rows, err := mem.QueryContext(ctx, `SELECT name FROM sqlite_schema`)
		if err != nil {
			return nil, fmt.Errorf("build the expected schema: %w", err)
		}
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return nil, fmt.Errorf("build the expected schema: %w", err)
			}
			if !seen[n] {
				seen[n], origin[n] = true, names[v]
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("build the expected schema: %w", err)
		}
	}
	s, err := readSchema(ctx, mem)
	if err != nil {
		return nil, fmt.Errorf("build the expected schema: %w", err)
	}
	s.origin = origin
	return s, nil
}

// Validate compares the live schema of the database open on q with what
// the embedded migrations it has applied define: tables, columns and their
// declared types and constraints, indexes (the guide's critical ones and
// the others), duplicate indexes (same table and same ordered columns),
// and the migrations themselves: pending ones, versions this binary does
// not know, and applied SQL that differs from the embedded file (checksum
// drift). Objects of pending migrations are reported as the pending
// migration, not one by one. It reads only; PRAGMA quick_check is the
// caller's choice (QuickCheck), being slow on a large database.
func Validate(ctx context.Context, q Querier) (*ValidationReport, error) {
	r := &ValidationReport{Latest: LatestVersion()}
	applied, err := Applied(ctx, q)
	if err != nil {
		return nil, err
	}
	states, unknown, err := Status(ctx, q)
	if err != nil {
		return nil, err
	}
	recorded := map[int64]string{}
	anyRecorded := false
	for _, a := range applied {
		recorded[a.Version] = a.SHA256
		anyRecorded = anyRecorded || a.SHA256 != ""
		r.Version = max(r.Version, a.Version)
	}
	var versions []int64
	for _, s := range states {
		switch {
		case !s.Applied:
			r.add(ProblemPendingMigration, s.Name, "migration %s is not applied: run 'repops migrate apply'", s.Name)
			continue
		case recorded[s.Version] == "" && anyRecorded:
			// See MissingChecksums.
			r.add(ProblemChecksumMissing, s.Name, "migration %s is applied but its checksum was never recorded (repops stopped between its commit and the record): run 'repops migrate apply', which records it", s.Name)
		case s.Drift:
			r.add(ProblemChecksumDrift, s.Name, "migration %s was applied with other SQL than this repops carries (sha256 %s recorded, %s embedded): compare the schema by hand before applying anything",
				s.Name, short(recorded[s.Version]), short(s.SHA256))
		}
		versions = append(versions, s.Version)
	}
	for _, v := range unknown {
		r.add(ProblemUnknownVersion, fmt.Sprint(v), "version %d is applied but unknown to this repops (it knows up to %d): use the repops that matches the service's version", v, r.Latest)
	}

	want, err := expectedSchema(ctx, versions)
	if err != nil {
		return nil, err
	}
	have, err := readSchema(ctx, q)
	if err != nil {
		return nil, err
	}
	compareSchemas(r, want, have)
	return r, nil
}

func (r *ValidationReport) add(kind, object, format string, args ...any) {
	r.Problems = append(r.Problems, Problem{Kind: kind, Object: object, Message: fmt.Sprintf(format, args...)})
}

func short(sum string) string {
	if sum == "" {
		return "none"
	}
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}

func normType(t string) string { return strings.ToUpper(strings.Join(strings.Fields(t), " ")) }

func isCritical(name string) bool {
	for _, c := range CriticalIndexes {
		if c == name {
			return true
		}
	}
	return false
}

func compareSchemas(r *ValidationReport, want, have *schemaSnapshot) {
	for _, t := range have.tableOrder {
		if _, ok := want.tables[t]; ok {
			r.Tables++
		}
	}
	for _, name := range have.indexOrder {
		if have.indexes[name].origin == "c" {
			r.Indexes++
		}
	}
	for _, t := range want.tableOrder {
		got, ok := have.tables[t]
		if !ok {
			r.add(ProblemMissingTable, t, "table %s is missing (created by %s): restore from a backup, or recreate it from that migration", t, want.origin[t])
			continue
		}
		byName := map[string]columnDef{}
		for _, c := range got {
			byName[c.name] = c
		}
		for _, wc := range want.tables[t] {
			obj := t + "." + wc.name
			hc, ok := byName[wc.name]
			switch {
			case !ok:
				r.add(ProblemMissingColumn, obj, "column %s is missing (expected %s): the table was changed outside the migrations", obj, wc.typ)
			case normType(hc.typ) != normType(wc.typ):
				r.add(ProblemWrongType, obj, "column %s is declared %q, expected %q: the table was changed outside the migrations", obj, hc.typ, wc.typ)
			case hc.notNull != wc.notNull:
				r.add(ProblemWrongConstraint, obj, "column %s has NOT NULL %v, expected %v: the table was changed outside the migrations", obj, hc.notNull, wc.notNull)
			case hc.pk != wc.pk:
				r.add(ProblemWrongConstraint, obj, "column %s is primary key column %d, expected %d: the table was changed outside the migrations", obj, hc.pk, wc.pk)
			}
		}
	}
	for _, name := range want.indexOrder {
		wi := want.indexes[name]
		if wi.origin != "c" {
			continue // autoindexes come with their table
		}
		if _, ok := have.tables[wi.table]; !ok {
			continue // reported as the missing table
		}
		hi, ok := have.indexes[name]
		what := "index"
		if isCritical(name) {
			what = "critical index (operations guide)"
		}
		switch {
		case !ok:
			r.add(ProblemMissingIndex, name, "%s %s on %s is missing: recreate it with %s", what, name, wi.signature(), humanize.OneLine(wi.sql))
		case hi.signature() != wi.signature() || hi.unique != wi.unique || hi.partial != wi.partial:
			r.add(ProblemWrongIndex, name, "%s %s is on %s, expected %s: drop it and recreate it with %s", what, name, hi.signature(), wi.signature(), humanize.OneLine(wi.sql))
		}
	}
	// Duplicates: same table and same ordered key columns. Keep the index
	// the migrations define, else a unique one (it is a constraint), else
	// the first by name; every other one is to drop.
	groups := map[string][]*indexDef{}
	var keys []string
	for _, name := range have.indexOrder {
		ix := have.indexes[name]
		if ix.partial {
			continue
		}
		k := ix.signature()
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], ix)
	}
	sort.Strings(keys)
	for _, k := range keys {
		g := groups[k]
		if len(g) < 2 {
			continue
		}
		rank := func(ix *indexDef) int {
			switch {
			case want.indexes[ix.name] != nil:
				return 0
			case ix.unique:
				return 1
			}
			return 2
		}
		sort.SliceStable(g, func(i, j int) bool {
			if rank(g[i]) != rank(g[j]) {
				return rank(g[i]) < rank(g[j])
			}
			return g[i].name < g[j].name
		})
		keep := g[0]
		for _, ix := range g[1:] {
			note := ""
			if ix.unique && !keep.unique {
				note = " (it is UNIQUE: dropping it drops that constraint)"
			}
			if ix.origin != "c" {
				r.add(ProblemDuplicateIndex, keep.name, "%s duplicates %s (%s): drop %s", keep.name, ix.name, k, keep.name)
				continue
			}
			r.add(ProblemDuplicateIndex, ix.name, "%s duplicates %s (%s): drop %s%s", ix.name, keep.name, k, ix.name, note)
		}
	}
}

// QuickCheck runs PRAGMA quick_check (at most limit problems; 0 means 100)
// and returns what it found, nil when the database is sound. A database
// too damaged to check is one problem, not an error. It reads every page:
// seconds on a large database.
func QuickCheck(ctx context.Context, q Querier, limit int) ([]string, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := q.QueryContext(ctx, fmt.Sprintf("PRAGMA quick_check(%d)", limit))
	if err != nil {
		return corruptOr(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return corruptOr(err)
		}
		if line != "ok" {
			out = append(out, humanize.OneLine(line))
		}
	}
	if err := rows.Err(); err != nil {
		return corruptOr(err)
	}
	return out, nil
}

func corruptOr(err error) ([]string, error) {
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrCorrupt || se.Code == sqlite3.ErrNotADB) {
		return []string{"quick_check stopped: " + se.Error()}, nil
	}
	if strings.Contains(err.Error(), "malformed") {
		return []string{"quick_check stopped: " + err.Error()}, nil
	}
	return nil, fmt.Errorf("quick_check: %w", err)
}
