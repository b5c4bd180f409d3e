package runbooks

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/repops/repops/ops"
)

// ParamType is the type of an action parameter's value.
type ParamType string

// Parameter types.
const (
	TypeString   ParamType = "string"
	TypeBool     ParamType = "bool"
	TypeInt      ParamType = "int"
	TypeDuration ParamType = "duration" // Go duration, or Nd for days
	TypeEnum     ParamType = "enum"
	TypeSQL      ParamType = "sql"    // one read-only statement
	TypeCutoff   ParamType = "cutoff" // an age (365d, 26w, 6mo, 1y) or a UTC date, as ops.ParseCutoff
)

// ParamSpec describes one parameter of an action.
type ParamSpec struct {
	Name     string
	Type     ParamType
	Required bool
	Values   []string // allowed values of an enum
	Default  string   // shown in the plan; the procedure applies its own
	Doc      string
}

// ActionSpec is one entry of the action catalogue: the only things a
// runbook can make repops do besides reading.
type ActionSpec struct {
	Name    string
	Summary string // what it does, one line
	// Changes says what it changes, for the dry-run plan; "" for an action
	// that changes nothing.
	Changes string
	// Destructive actions need confirm: typed in the runbook and the typed
	// database name (or --yes) at run time.
	Destructive bool
	// Writes is true when the action writes to the live database or
	// beside it: refused in read-only mode (ops.ErrReadOnlyMode), by the
	// runner and the console alike. This is the one place that decides it
	// for actions, by the rule the commands follow: a backup writes the
	// backup dir and its retention deletes old backups, so it is refused
	// (ops.ErrReadOnlyBackup), as 'repops --read-only backup' is; a drill
	// only reads (its scratch copy and report go to the state dir) and
	// stays allowed.
	Writes bool
	Params []ParamSpec
}

// actionSpecs is the action catalogue. Each name maps to a procedure of
// ops/ or db/ in the Env (see OpsEnv.Act).
func actionSpecs() []ActionSpec {
	return []ActionSpec{
		{Name: "prerequisites", Summary: "check SQLite, the database file, the state and backup dirs and free disk space (the guide's prerequisites)"},
		{Name: "health", Summary: "health check: open read-only, schema version known, quick integrity check, table counts"},
		{Name: "disk_space", Summary: "free space on the database's filesystem (figures free_bytes, free_percent)"},
		{Name: "list_backups", Summary: "list the finished backups, newest first (figures count, newest_age_seconds)"},
		{Name: "backup", Summary: "online backup of the live database (a copy of the file with the WAL's committed frames applied, falling back to SQLite's backup API), verified", Changes: "writes a new backup file in the backup dir; the live database is not changed", Writes: true,
			Params: []ParamSpec{{Name: "dir", Type: TypeString, Doc: "backup directory; default console.backup.dir"}}},
		{Name: "verify_backup", Summary: "verify a backup: opens it, integrity check, schema version, row counts",
			Params: []ParamSpec{{Name: "backup", Type: TypeString, Default: "latest", Doc: "file name or path in the backup dir, or latest"}}},
		{Name: "restore", Summary: "restore the live database from a verified backup (a safety backup of the current file is taken first)",
			Changes: "replaces the live database's content with the backup's; writes made since the backup are lost (kept in the safety backup)", Destructive: true, Writes: true,
			Params: []ParamSpec{{Name: "backup", Type: TypeString, Required: true, Doc: "file name or path in the backup dir, or latest"}}},
		{Name: "check", Summary: "integrity check (quick_check or integrity_check, foreign keys), recorded as the last check",
			Params: []ParamSpec{{Name: "mode", Type: TypeEnum, Values: []string{"quick", "full"}, Default: "quick"}}},
		{Name: "drill", Summary: "DR drill: restore a backup into a scratch file, verify it, measure RTO and RPO against the guide's objectives",
			Changes: "writes a scratch copy and a drill report in the state dir; the live database is not changed",
			Params:  []ParamSpec{{Name: "backup", Type: TypeString, Default: "latest"}, {Name: "scenario", Type: TypeString, Default: "Database Corruption", Doc: "the guide's RTO/RPO row"}}},
		{Name: "analyze", Summary: "ANALYZE: refresh the query planner's statistics",
			Changes: "rewrites the sqlite_stat tables (statistics only); holds the write lock while it reads", Writes: true,
			Params: []ParamSpec{{Name: "target", Type: TypeString, Default: "the whole database", Doc: "a table or index"}, {Name: "analysis_limit", Type: TypeInt, Default: "1000 on a database over 256 MiB, none below", Doc: "PRAGMA analysis_limit: rows sampled per index"}}},
		{Name: "optimize", Summary: "PRAGMA optimize: analyze only what needs it", Changes: "rewrites the sqlite_stat tables where stale", Writes: true},
		{Name: "reindex", Summary: "REINDEX: rebuild indexes", Changes: "rebuilds the indexes; holds the write lock while it runs (the service's writes wait)", Destructive: true, Writes: true,
			Params: []ParamSpec{{Name: "target", Type: TypeString, Default: "every index", Doc: "an index, or a table (its indexes)"}}},
		{Name: "vacuum", Summary: "VACUUM: rebuild the file, return free pages to the filesystem", Changes: "rewrites the whole database file; holds the write lock throughout and needs free space of about twice the pages in use", Destructive: true, Writes: true},
		{Name: "incremental_vacuum", Summary: "PRAGMA incremental_vacuum: return free pages in short steps", Changes: "shrinks the file by its free pages, a few ms of write lock per step (auto_vacuum=incremental only)", Writes: true,
			Params: []ParamSpec{
				{Name: "step_pages", Type: TypeInt, Default: "256", Doc: "pages freed per step"},
				{Name: "max_pages", Type: TypeInt, Default: "every free page", Doc: "stop after this many pages"},
			}},
		{Name: "checkpoint", Summary: "WAL checkpoint (TRUNCATE): copy the WAL into the database file; fails when readers or writers keep it from finishing", Changes: "moves committed pages from the WAL into the file and truncates the WAL; no data changes", Writes: true},
		{Name: "archive", Summary: "move final appeals and old negotiation messages to the archive tables, in short batches",
			Changes: "moves rows from appeals and appeal_negotiation_messages into the archive tables (copied, then deleted from the live tables)", Destructive: true, Writes: true,
			Params: []ParamSpec{
				{Name: "appeals_older_than", Type: TypeCutoff, Default: "console.archive.appeals_older_than (365d)"},
				{Name: "messages_older_than", Type: TypeCutoff, Default: "console.archive.messages_older_than (182d)"},
				{Name: "batch_rows", Type: TypeInt, Default: "2000"},
			}},
		{Name: "migrate", Summary: "back up the database (as the backup action), then apply the pending schema migrations (each in its own transaction)", Changes: "changes the schema to the newest version this repops carries", Destructive: true, Writes: true},
		{Name: "migration_status", Summary: "applied and pending migrations, drift of applied ones (figures applied, pending, drift)"},
		{Name: "validate_schema", Summary: "validate the schema against the expected one: tables, columns, the guide's critical indexes, duplicates"},
		{Name: "table_sizes", Summary: "rows and bytes per table and index (the guide's manage_migrations.sh stats)"},
		{Name: "index_report", Summary: "index check: the guide's critical indexes present, duplicate indexes (the DROP printed, not run), known indexes missing with their cost, and the hot queries' plans flagged where they scan (figures critical_missing, duplicates, missing, full_scans)"},
		{Name: "create_index", Summary: "create an index from the known catalogue of index definitions (the migrations' and the guide's critical ones; never free SQL), skipped when the database has it or one on the same columns",
			Changes: "adds the index to the schema; holds the write lock while it reads the table and writes the index (the service's writes wait)", Destructive: true, Writes: true,
			Params: []ParamSpec{{Name: "index", Type: TypeEnum, Values: knownIndexNames(), Default: "every missing critical index of the guide", Doc: "a known index definition"}}},
		{Name: "explain", Summary: "EXPLAIN QUERY PLAN of a read-only query, with full table scans flagged",
			Params: []ParamSpec{{Name: "query", Type: TypeSQL, Required: true}}},
		{Name: "gather_state", Summary: "record the system state in the journal: every metric panel with its state, table sizes, backups, last check"},
	}
}

// knownIndexNames are the names create_index accepts: ops.KnownIndexes.
func knownIndexNames() []string {
	var names []string
	for _, d := range ops.KnownIndexes() {
		names = append(names, d.Name)
	}
	return names
}

// Actions returns the action catalogue, by name.
func Actions() map[string]ActionSpec {
	m := map[string]ActionSpec{}
	for _, a := range actionSpecs() {
		m[a.Name] = a
	}
	return m
}

// ActionNames lists the catalogue's names, sorted.
func ActionNames() []string {
	var names []string
	for _, a := range actionSpecs() {
		names = append(names, a.Name)
	}
	sort.Strings(names)
	return names
}

// Param returns the named parameter's spec.
func (a ActionSpec) Param(name string) (ParamSpec, bool) {
	for _, p := range a.Params {
		if p.Name == name {
			return p, true
		}
	}
	return ParamSpec{}, false
}

// checkParams validates params against the spec: unknown names, missing
// required ones, values of the wrong type.
func (a ActionSpec) checkParams(params map[string]string) error {
	var names []string
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		p, ok := a.Param(k)
		if !ok {
			var known []string
			for _, p := range a.Params {
				known = append(known, p.Name)
			}
			if len(known) == 0 {
				return fmt.Errorf("action %s takes no parameter, got %q", a.Name, k)
			}
			return fmt.Errorf("action %s has no parameter %q (it takes: %s)", a.Name, k, strings.Join(known, ", "))
		}
		if err := p.check(params[k]); err != nil {
			return fmt.Errorf("action %s parameter %s: %w", a.Name, k, err)
		}
	}
	for _, p := range a.Params {
		if _, ok := params[p.Name]; p.Required && !ok {
			return fmt.Errorf("action %s is missing the required parameter %q (%s)", a.Name, p.Name, p.Doc)
		}
	}
	return nil
}

func (p ParamSpec) check(v string) error {
	switch p.Type {
	case TypeBool:
		if _, err := strconv.ParseBool(v); err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
	case TypeInt:
		if n, err := strconv.Atoi(v); err != nil || n <= 0 {
			return fmt.Errorf("%q is not a positive whole number", v)
		}
	case TypeDuration:
		if _, err := ParseDuration(v); err != nil {
			return err
		}
	case TypeEnum:
		for _, ok := range p.Values {
			if v == ok {
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %s", v, strings.Join(p.Values, ", "))
	case TypeSQL:
		return CheckReadOnlySQL(v)
	case TypeCutoff:
		if _, err := ops.ParseCutoff(v, time.Now()); err != nil {
			return err
		}
	default:
		if strings.TrimSpace(v) == "" {
			return fmt.Errorf("is empty")
		}
	}
	return nil
}

// ParseDuration reads a Go duration ("90m", "72h") or a number of days
// ("365d"), as runbooks and the config write retention periods.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(d, 64)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%q is not a duration (e.g. 30m, 72h, 365d)", s)
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a duration (e.g. 30m, 72h, 365d)", s)
	}
	return d, nil
}
