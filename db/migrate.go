package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// VersionTable is goose's record of applied versions; ChecksumTable is
// repops' record of what each applied migration's SQL was, for drift checks.
const (
	VersionTable  = "goose_db_version"
	ChecksumTable = "repops_migrations"
)

// Migration is one embedded migration file.
type Migration struct {
	Version int64
	Name    string // file name, e.g. 00001_core_tables.sql
	SHA256  string // of the file's bytes
	SQL     string
}

// Migrations returns the embedded migrations in version order.
func Migrations() []Migration {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		panic(err) // embedded at build time: cannot fail
	}
	var out []Migration
	for _, e := range entries {
		b, err := migrationFS.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			panic(err)
		}
		v, err := strconv.ParseInt(strings.SplitN(e.Name(), "_", 2)[0], 10, 64)
		if err != nil {
			panic(fmt.Sprintf("migration %s: bad version prefix", e.Name()))
		}
		sum := sha256.Sum256(b)
		out = append(out, Migration{Version: v, Name: e.Name(), SHA256: hex.EncodeToString(sum[:]), SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out
}

// LatestVersion is the newest migration this binary carries.
func LatestVersion() int64 {
	m := Migrations()
	return m[len(m)-1].Version
}

// AppliedMigration is a version recorded in the database.
type AppliedMigration struct {
	Version   int64
	AppliedAt time.Time
	SHA256    string // recorded checksum; empty when applied by another tool
}

// Applied reads the applied versions, oldest first. A database without the
// version table has none applied (and no error).
func Applied(ctx context.Context, q Querier) ([]AppliedMigration, error) {
	ok, err := tableExists(ctx, q, VersionTable)
	if err != nil || !ok {
		return nil, err
	}
	haveSums, err := tableExists(ctx, q, ChecksumTable)
	if err != nil {
		return nil, err
	}
	query := `SELECT version_id, tstamp, '' FROM ` + VersionTable + ` WHERE is_applied AND version_id > 0 ORDER BY version_id`
	if haveSums {
		query = `SELECT v.version_id, v.tstamp, coalesce(c.sha256, '') FROM ` + VersionTable + ` v
			LEFT JOIN ` + ChecksumTable + ` c ON c.version = v.version_id
			WHERE v.is_applied AND v.version_id > 0 ORDER BY v.version_id`
	}
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("read applied migrations: %w", err)
	}
	defer rows.Close()
	var out []AppliedMigration
	for rows.Next() {
		var a AppliedMigration
		var ts string
		if err := rows.Scan(&a.Version, &ts, &a.SHA256); err != nil {
			return nil, fmt.Errorf("read applied migrations: %w", err)
		}
		a.AppliedAt = ParseTime(ts)
		out = append(out, a)
	}
	return out, rows.Err()
}

// SchemaVersion is the newest applied version, 0 when none.
func SchemaVersion(ctx context.Context, q Querier) (int64, error) {
	applied, err := Applied(ctx, q)
	if err != nil || len(applied) == 0 {
		return 0, err
	}
	return applied[len(applied)-1].Version, nil
}

// RequireSchema fails with a FileError unless the database at path carries
// the reputation schema at a version this binary knows: ErrNoSchema when no
// migration was ever applied, ErrSchemaTooNew when the database is ahead.
func RequireSchema(ctx context.Context, q Querier, path string) (int64, error) {
	v, err := SchemaVersion(ctx, q)
	if err != nil {
		return 0, Classify(path, err)
	}
	if v == 0 {
		return 0, fileError(path, ErrNoSchema, "no migration applied")
	}
	if latest := LatestVersion(); v > latest {
		return v, fileError(path, ErrSchemaTooNew, fmt.Sprintf("version %d, this repops knows up to %d", v, latest))
	}
	return v, nil
}

// MigrationState is one embedded migration and whether it is applied.
type MigrationState struct {
	Migration
	Applied   bool
	AppliedAt time.Time
	Drift     bool // applied with other SQL than this binary carries
}

// Status lists every embedded migration with its state, and any version
// the database has that this binary does not know (unknown).
func Status(ctx context.Context, q Querier) (states []MigrationState, unknown []int64, err error) {
	applied, err := Applied(ctx, q)
	if err != nil {
		return nil, nil, err
	}
	byVersion := map[int64]AppliedMigration{}
	for _, a := range applied {
		byVersion[a.Version] = a
	}
	known := map[int64]bool{}
	for _, m := range Migrations() {
		known[m.Version] = true
		s := MigrationState{Migration: m}
		if a, ok := byVersion[m.Version]; ok {
			s.Applied, s.AppliedAt = true, a.AppliedAt
			s.Drift = a.SHA256 != "" && a.SHA256 != m.SHA256
		}
		states = append(states, s)
	}
	for _, a := range applied {
		if !known[a.Version] {
			unknown = append(unknown, a.Version)
		}
	}
	return states, unknown, nil
}

// Migrate applies every pending migration to the database open for writing
// at path, each in its own transaction (goose), and records each applied
// file's checksum so that later drift is detected. It refuses a database
// whose schema is newer than this binary, and a file that is not the
// reputation database (Preflight's schema checks; a file with no table
// passes: the migrations create them). Callers run PreflightMigrate before
// they open w, since opening it for writing already switches a file to
// WAL, and take a backup first.
func Migrate(ctx context.Context, w *sql.DB, path string) ([]Migration, error) {
	if err := Preflight(ctx, w, path, PreflightSchema); err != nil && !errors.Is(err, ErrNoSchema) {
		return nil, err
	}
	sub, _ := fs.Sub(migrationFS, "migrations")
	p, err := goose.NewProvider(goose.DialectSQLite3, w, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("prepare migrations: %w", err)
	}
	results, err := p.Up(ctx)
	var applied []Migration
	byVersion := map[int64]Migration{}
	for _, m := range Migrations() {
		byVersion[m.Version] = m
	}
	for _, r := range results {
		if r.Error == nil {
			applied = append(applied, byVersion[r.Source.Version])
		}
	}
	if err != nil {
		var pe *goose.PartialError
		if errors.As(err, &pe) && pe.Failed != nil {
			err = fmt.Errorf("migration %s failed (rolled back; %d applied before it): %w", path2name(pe.Failed.Source.Path), len(pe.Applied), pe.Err)
		}
		if rerr := recordChecksums(ctx, w); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return applied, Classify(path, fmt.Errorf("apply migrations to %s: %w", path, err))
	}
	if err := recordChecksums(ctx, w); err != nil {
		return applied, err
	}
	return applied, nil
}

func path2name(p string) string { return path.Base(p) }

// ArchiveSchema is the SQL that creates the archive tables (every table
// named *_archive) and their indexes as the embedded migrations define
// them, tables first: the migrations are applied to a private in-memory
// database and its sqlite_schema read back, so that a separate archive
// file gets exactly the archive tables of the live database, never a copy
// that could drift from them. The statements are sqlite_schema's text
// (plain CREATE, without IF NOT EXISTS).
func ArchiveSchema(ctx context.Context) ([]string, error) {
	mem, err := sql.Open("sqlite3", ":memory:")
	if err != nil {
		return nil, fmt.Errorf("build the archive schema: %w", err)
	}
	defer mem.Close()
	mem.SetMaxOpenConns(1) // one connection: one in-memory database
	sub, _ := fs.Sub(migrationFS, "migrations")
	p, err := goose.NewProvider(goose.DialectSQLite3, mem, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("build the archive schema: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return nil, fmt.Errorf("build the archive schema: %w", err)
	}
	rows, err := mem.QueryContext(ctx, `SELECT sql FROM sqlite_schema
		WHERE tbl_name LIKE '%\_archive' ESCAPE '\' AND sql IS NOT NULL
		ORDER BY type <> 'table', name`)
	if err != nil {
		return nil, fmt.Errorf("build the archive schema: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("build the archive schema: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("build the archive schema: %w", err)
	}
	if len(out) == 0 {
		return nil, errors.New("build the archive schema: the migrations define no *_archive table")
	}
	return out, nil
}

// MissingChecksums names the applied migrations whose checksum repops
// never recorded although it recorded others': repops records them in its
// own transaction right after the migrations' commits, so such a gap is a
// crash between the two (a database migrated by another tool has none at
// all, and none is missing). RecordChecksums repairs it.
func MissingChecksums(ctx context.Context, q Querier) ([]string, error) {
	applied, err := Applied(ctx, q)
	if err != nil {
		return nil, err
	}
	recorded := false
	for _, a := range applied {
		recorded = recorded || a.SHA256 != ""
	}
	if !recorded {
		return nil, nil
	}
	names := map[int64]string{}
	for _, m := range Migrations() {
		names[m.Version] = m.Name
	}
	var out []string
	for _, a := range applied {
		if n, known := names[a.Version]; known && a.SHA256 == "" {
			out = append(out, n)
		}
	}
	return out, nil
}

// RecordChecksums records the checksum of every applied migration that
// has none (see MissingChecksums); Migrate does it after applying.
func RecordChecksums(ctx context.Context, w *sql.DB) error { return recordChecksums(ctx, w) }

// recordChecksums notes the checksum of every applied migration that has
// none recorded yet.
func recordChecksums(ctx context.Context, w *sql.DB) error {
	return Tx(ctx, w, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+ChecksumTable+` (
			version INTEGER PRIMARY KEY, name TEXT NOT NULL, sha256 TEXT NOT NULL, recorded_at TEXT NOT NULL)`); err != nil {
			return fmt.Errorf("record migration checksums: %w", err)
		}
		applied, err := Applied(ctx, tx)
		if err != nil {
			return err
		}
		is := map[int64]bool{}
		for _, a := range applied {
			is[a.Version] = true
		}
		for _, m := range Migrations() {
			if !is[m.Version] {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO `+ChecksumTable+` (version, name, sha256, recorded_at)
				VALUES (?, ?, ?, datetime('now'))`, m.Version, m.Name, m.SHA256); err != nil {
				return fmt.Errorf("record migration checksums: %w", err)
			}
		}
		return nil
	})
}

func tableExists(ctx context.Context, q Querier, name string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`, name).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("read schema: %w", err)
	}
	return n > 0, nil
}

// TimeLayout is SQLite's datetime() text form, in which every time in the
// schema is stored (UTC).
const TimeLayout = "2006-01-02 15:04:05"

// ParseTime reads a time as SQLite or goose wrote it; the zero time when it
// cannot.
func ParseTime(s string) time.Time {
	for _, layout := range []string{TimeLayout, time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02T15:04:05Z", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// FormatTime writes t as SQLite's datetime() would.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }
