package ops

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/repops/repops/db"
)

// The guide's "Indexing Strategy" and "Query Optimization": its critical
// indexes present, duplicates found (with the one to drop), a missing
// index created from a catalogue of known definitions only (never free
// SQL), and EXPLAIN QUERY PLAN of the hot queries, flagged where they scan.

// ErrUnknownIndex is what CreateIndex meets for a name that is not in
// KnownIndexes().
var ErrUnknownIndex = errors.New("not a known index definition")

// IndexDef is a known index definition.
type IndexDef struct {
	Name     string   `json:"name"`
	Table    string   `json:"table"`
	Columns  []string `json:"columns"`
	Source   string   `json:"source"`  // "migration 00002_critical_indexes.sql" or "operations guide"
	Purpose  string   `json:"purpose"` // what it serves
	Critical bool     `json:"critical"`
}

// SQL is the definition's CREATE INDEX statement.
func (d IndexDef) SQL() string {
	cols := make([]string, len(d.Columns))
	for i, c := range d.Columns {
		cols[i] = quoteSchemaName(c)
	}
	return fmt.Sprintf("CREATE INDEX %s ON %s(%s)", quoteSchemaName(d.Name), quoteSchemaName(d.Table), strings.Join(cols, ", "))
}

// guideIndexes are the guide's "Critical indexes for performance".
func guideIndexes() []IndexDef {
	g := "operations guide"
	return []IndexDef{
		{Name: "idx_appeals_user_status", Table: "appeals", Columns: []string{"user_id", "status"}, Source: g, Purpose: "appeal lookups by user and status", Critical: true},
		{Name: "idx_messages_appeal_created", Table: "appeal_negotiation_messages", Columns: []string{"appeal_id", "created_at"}, Source: g, Purpose: "message thread retrieval", Critical: true},
		{Name: "idx_messages_appeal_timestamps", Table: "appeal_negotiation_messages", Columns: []string{"appeal_id", "created_at"}, Source: g, Purpose: "negotiation duration calculation (same columns as idx_messages_appeal_created)", Critical: true},
		{Name: "idx_predictions_type_user", Table: "ml_predictions", Columns: []string{"prediction_type", "user_id"}, Source: g, Purpose: "ML predictions by type", Critical: true},
	}
}

var createIndexRE = regexp.MustCompile(`(?i)CREATE\s+INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)\s+ON\s+(\w+)\s*\(([^)]*)\)`)

// KnownIndexes is the catalogue CreateIndex may create from: the indexes
// of the embedded migrations (their Up sections) and the guide's.
func KnownIndexes() []IndexDef {
	var out []IndexDef
	seen := map[string]bool{}
	for _, m := range db.Migrations() {
		up, _, _ := strings.Cut(m.SQL, "-- +goose Down")
		for _, g := range createIndexRE.FindAllStringSubmatch(up, -1) {
			var cols []string
			for _, c := range strings.Split(g[3], ",") {
				cols = append(cols, strings.TrimSpace(c))
			}
			out = append(out, IndexDef{Name: g[1], Table: g[2], Columns: cols, Source: "migration " + m.Name})
			seen[g[1]] = true
		}
	}
	for _, d := range guideIndexes() {
		if i := slices.IndexFunc(out, func(k IndexDef) bool { return k.Name == d.Name }); i >= 0 {
			out[i].Critical, out[i].Purpose = true, d.Purpose
			continue
		}
		out = append(out, d)
	}
	return out
}

// IndexInfo is an index found in the database.
type IndexInfo struct {
	Name    string   `json:"name"`
	Table   string   `json:"table"`
	Columns []string `json:"columns"`
	Unique  bool     `json:"unique"`
	Partial bool     `json:"partial"`
	Known   string   `json:"known,omitempty"` // the catalogue's source, when known
	Bytes   int64    `json:"bytes"`
}

// CriticalIndex is one of the guide's critical indexes and whether the
// database has it, by name or by an index on the same columns.
type CriticalIndex struct {
	Def       IndexDef `json:"def"`
	Present   bool     `json:"present"`
	PresentAs string   `json:"present_as,omitempty"`
}

// DuplicateIndexes are indexes on the same table and columns: all but
// Keep can be dropped.
type DuplicateIndexes struct {
	Table   string   `json:"table"`
	Columns []string `json:"columns"`
	Keep    string   `json:"keep"`
	Drop    []string `json:"drop"`
	// DropSQL drops them; repops prints it and does not run it.
	DropSQL []string `json:"drop_sql"`
}

// MissingIndex is a known index the database lacks, with what creating it
// would cost.
type MissingIndex struct {
	Def  IndexDef `json:"def"`
	Cost Cost     `json:"cost"`
}

// IndexReportResult is the state of the database's indexes.
type IndexReportResult struct {
	Indexes    []IndexInfo        `json:"indexes"`
	Critical   []CriticalIndex    `json:"critical"`
	Duplicates []DuplicateIndexes `json:"duplicates"`
	Missing    []MissingIndex     `json:"missing"`
}

// listIndexes reads the explicit indexes (CREATE INDEX) and their columns.
func listIndexes(ctx context.Context, q db.Querier) ([]IndexInfo, error) {
	rows, err := q.QueryContext(ctx, `SELECT s.name, s.tbl_name, s.sql,
		coalesce((SELECT sum(pgsize) FROM dbstat('main', 1) d WHERE d.name = s.name), 0)
		FROM main.sqlite_schema s WHERE s.type = 'index' AND s.sql IS NOT NULL ORDER BY s.tbl_name, s.name`)
	if err != nil {
		return nil, fmt.Errorf("list indexes: %w", err)
	}
	var out []IndexInfo
	for rows.Next() {
		var ix IndexInfo
		var sqlText string
		if err := rows.Scan(&ix.Name, &ix.Table, &sqlText, &ix.Bytes); err != nil {
			rows.Close()
			return nil, err
		}
		up := strings.ToUpper(sqlText)
		ix.Unique = strings.HasPrefix(strings.TrimSpace(up), "CREATE UNIQUE")
		ix.Partial = strings.Contains(up, " WHERE ")
		out = append(out, ix)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		cr, err := q.QueryContext(ctx, `SELECT coalesce(name, '<expr>') FROM pragma_index_info(?) ORDER BY seqno`, out[i].Name)
		if err != nil {
			return nil, fmt.Errorf("read index %s: %w", out[i].Name, err)
		}
		for cr.Next() {
			var c string
			if err := cr.Scan(&c); err != nil {
				cr.Close()
				return nil, err
			}
			out[i].Columns = append(out[i].Columns, c)
		}
		cr.Close()
		if err := cr.Err(); err != nil {
			return nil, fmt.Errorf("read index %s: %w", out[i].Name, err)
		}
	}
	return out, nil
}

func sameColumns(a, b []string) bool {
	return slices.EqualFunc(a, b, strings.EqualFold)
}

// IndexReport reads the database's indexes and compares them with the
// catalogue: the guide's critical ones, duplicates, missing known ones
// (each with the cost of creating it). dbPath is the file q reads, for
// sizes and free space.
func IndexReport(ctx context.Context, q db.Querier, dbPath string) (*IndexReportResult, error) {
	idx, err := listIndexes(ctx, q)
	if err != nil {
		return nil, db.Classify(dbPath, err)
	}
	known := KnownIndexes()
	r := &IndexReportResult{Indexes: idx}
	for i := range r.Indexes {
		if k := slices.IndexFunc(known, func(d IndexDef) bool { return d.Name == r.Indexes[i].Name }); k >= 0 {
			r.Indexes[i].Known = known[k].Source
		}
	}
	// equivalent finds an index of the database serving def.
	equivalent := func(def IndexDef) string {
		for _, ix := range idx {
			if ix.Name == def.Name {
				return ix.Name
			}
		}
		for _, ix := range idx {
			if strings.EqualFold(ix.Table, def.Table) && !ix.Partial && sameColumns(ix.Columns, def.Columns) {
				return ix.Name
			}
		}
		return ""
	}
	for _, d := range known {
		if d.Critical {
			as := equivalent(d)
			r.Critical = append(r.Critical, CriticalIndex{Def: d, Present: as != "", PresentAs: as})
		}
	}
	// Duplicates: same table, same columns, same uniqueness, not partial.
	groups := map[string][]IndexInfo{}
	var keys []string
	for _, ix := range idx {
		if ix.Partial {
			continue
		}
		k := strings.ToLower(ix.Table + "(" + strings.Join(ix.Columns, ",") + fmt.Sprintf(")%v", ix.Unique))
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
		// Keep the one a migration creates, else one the catalogue knows,
		// else the first by name.
		sort.SliceStable(g, func(i, j int) bool {
			rank := func(ix IndexInfo) int {
				switch {
				case strings.HasPrefix(ix.Known, "migration"):
					return 0
				case ix.Known != "":
					return 1
				}
				return 2
			}
			if rank(g[i]) != rank(g[j]) {
				return rank(g[i]) < rank(g[j])
			}
			return g[i].Name < g[j].Name
		})
		d := DuplicateIndexes{Table: g[0].Table, Columns: g[0].Columns, Keep: g[0].Name}
		for _, ix := range g[1:] {
			d.Drop = append(d.Drop, ix.Name)
			d.DropSQL = append(d.DropSQL, "DROP INDEX "+quoteSchemaName(ix.Name)+";")
		}
		r.Duplicates = append(r.Duplicates, d)
	}
	for _, d := range known {
		if equivalent(d) != "" {
			continue
		}
		c, err := createIndexCost(ctx, q, dbPath, d, OptimizeOptions{})
		if err != nil {
			return nil, err
		}
		r.Missing = append(r.Missing, MissingIndex{Def: d, Cost: c})
	}
	return r, nil
}

// createIndexCost estimates CREATE INDEX of d: the write lock for the time
// it reads the table and sorts its keys, scaled by the table's size, and
// room for the new index in the WAL and for the sort in the temp dir.
func createIndexCost(ctx context.Context, q db.Querier, dbPath string, d IndexDef, o OptimizeOptions) (Cost, error) {
	o.Op = OpAnalyze // for normalize's defaults only
	o.DBPath = dbPath
	measure := o.Measure // nil for a listing: normalize would fill it in
	if err := o.normalize(); err != nil {
		return Cost{}, err
	}
	c := Cost{Op: "create-index", Target: d.Name, Basis: o.Rates.Basis, BlocksWriters: true}
	if _, err := lookupSchemaObject(ctx, q, d.Table); err != nil {
		return c, fmt.Errorf("index %s: table %w", d.Name, err)
	}
	var tableBytes, rows int64
	if err := q.QueryRowContext(ctx, `SELECT coalesce(sum(pgsize), 0) FROM dbstat('main', 1) WHERE name = ?`, d.Table).Scan(&tableBytes); err != nil {
		return c, fmt.Errorf("measure %s: %w", d.Table, err)
	}
	if err := q.QueryRowContext(ctx, `SELECT count(*) FROM main.`+quoteSchemaName(d.Table)).Scan(&rows); err != nil {
		return c, fmt.Errorf("count %s: %w", d.Table, err)
	}
	c.WorkBytes = tableBytes
	// An index entry: the keys plus the rowid, about 24 bytes here.
	est := rows * int64(16+8*len(d.Columns))
	c.LockHold = time.Duration(float64(tableBytes) / (1 << 20) * o.Rates.CreateIndexPerMiB * float64(time.Second))
	if measure != nil {
		// Measured: the table read and the new index written, at this
		// machine's and this file's rates.
		m, err := measure(ctx, dbPath)
		if err != nil {
			return c, fmt.Errorf("estimate index %s: %w", d.Name, err)
		}
		c.Measured, c.Basis = m, m.basis()
		c.LockHold = m.lockHold(tableBytes, est)
	}
	c.Total = c.LockHold
	if files, err := db.StatFiles(dbPath); err == nil {
		c.DBBytes = files.DB + files.WAL
	}
	c.Preflight = preflightLine(db.PreflightQuickCheck, c.DBBytes)
	c.Space = []SpaceNeed{{Dir: dirOf(dbPath), What: "the new index in the WAL", Bytes: est},
		{Dir: o.TempDir, What: "the sort of the index entries", Bytes: est}}
	free, err := checkSpace(o.StatFS, toSpaceNeeds(c.Space))
	c.Free = free
	if err != nil {
		if !errors.Is(err, ErrNoSpace) {
			return c, err
		}
		c.SpaceError, c.spaceErr = err.Error(), err
	}
	return c, nil
}

// CreateIndexOptions says which known index to create.
type CreateIndexOptions struct {
	DBPath  string
	DB      db.Options
	Name    string // one of KnownIndexes()
	StatFS  StatFS
	TempDir string
	Rates   CostRates
	// Measure measures this machine and file for the lock estimate
	// (MeasureFileIO when nil). 'repops indexes' lists missing indexes
	// with the reference rates instead: a listing writes no sample.
	Measure  MeasureIO
	Recorder Recorder
}

// CreateIndexResult is what CreateIndex did.
type CreateIndexResult struct {
	Def  IndexDef      `json:"def"`
	Cost Cost          `json:"cost"`
	Took time.Duration `json:"took_ns"`
}

// CreateIndex creates the known index named o.Name. It refuses a name
// outside the catalogue, a database that fails its pre-flight (schema and
// quick_check, through a read-only connection, before it is opened for
// writing), an index the database has (by name, or on the same columns
// under another name: a duplicate), and too little free space. It takes
// the procedure lock and journals the run; corruption SQLite reports while
// it builds the index stops it, pointing at the database-corruption
// runbook.
func CreateIndex(ctx context.Context, o CreateIndexOptions) (*CreateIndexResult, error) {
	known := KnownIndexes()
	i := slices.IndexFunc(known, func(d IndexDef) bool { return d.Name == o.Name })
	if i < 0 {
		names := make([]string, len(known))
		for k, d := range known {
			names[k] = d.Name
		}
		return nil, fmt.Errorf("create index %q: %w; known: %s", o.Name, ErrUnknownIndex, strings.Join(names, ", "))
	}
	def := known[i]
	params := map[string]any{"index": def.Name, "sql": def.SQL()}
	if err := o.Recorder.Procedure("index.create", "", nil).checkRecorded(); err != nil {
		return nil, err
	}
	if err := preflight(ctx, o.Recorder, "index.create", o.DBPath, o.DB, db.PreflightQuickCheck, params); err != nil {
		return nil, fmt.Errorf("create index %s refused: %w", def.Name, err)
	}
	w, err := db.OpenWrite(ctx, o.DBPath, o.DB)
	if err != nil {
		return nil, fmt.Errorf("create index %s: %w", def.Name, err)
	}
	defer w.Close()
	stopped := func(err error) error { return stopBeforeRun(o.Recorder, "index.create", o.DBPath, params, err) }
	existing, err := listIndexes(ctx, w)
	if err != nil {
		return nil, stopped(fmt.Errorf("create index %s: %w", def.Name, db.Classify(o.DBPath, err)))
	}
	for _, ix := range existing {
		if strings.EqualFold(ix.Name, def.Name) {
			return nil, fmt.Errorf("create index %s: the database has it already", def.Name)
		}
	}
	for _, ix := range existing {
		if strings.EqualFold(ix.Table, def.Table) && !ix.Partial && sameColumns(ix.Columns, def.Columns) {
			return nil, fmt.Errorf("create index %s: %s covers the same columns of %s (%s): it would be a duplicate",
				def.Name, ix.Name, def.Table, strings.Join(def.Columns, ", "))
		}
	}
	measure := o.Measure
	if measure == nil {
		measure = MeasureFileIO
	}
	cost, err := createIndexCost(ctx, w, o.DBPath, def, OptimizeOptions{StatFS: o.StatFS, TempDir: o.TempDir, Rates: o.Rates, Measure: measure})
	if err != nil {
		return nil, stopped(err)
	}
	if cost.spaceErr != nil {
		return nil, fmt.Errorf("create index %s: %w", def.Name, cost.spaceErr)
	}
	var res *CreateIndexResult
	err = Run(ctx, o.Recorder.Procedure("index.create", absPath(o.DBPath), params), func(ctx context.Context, r *Running) (map[string]float64, error) {
		start := time.Now()
		_, err := w.ExecContext(ctx, def.SQL())
		res = &CreateIndexResult{Def: def, Cost: cost, Took: time.Since(start)}
		figures := map[string]float64{"took_seconds": res.Took.Seconds(), "estimated_lock_seconds": cost.LockHold.Seconds()}
		r.SetMessage(fmt.Sprintf("created %s on %s(%s)", def.Name, def.Table, strings.Join(def.Columns, ", ")))
		if err != nil {
			err = stopOnCorrupt(o.DBPath, fmt.Errorf("create index %s: %w", def.Name, db.Classify(o.DBPath, err)))
			r.SetMessage(fmt.Sprintf("creating %s on %s(%s)", def.Name, def.Table, strings.Join(def.Columns, ", ")))
			if db.IsCorrupt(err) {
				figures["corrupt"] = 1
			}
		}
		return figures, err
	})
	return res, err
}

func dirOf(path string) string {
	abs := absPath(path)
	if i := strings.LastIndexByte(abs, '/'); i > 0 {
		return abs[:i]
	}
	return "."
}
