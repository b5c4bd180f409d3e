package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Where a row count came from.
const (
	RowsCounted     = "count"        // SELECT count(*): exact
	RowsStat1       = "sqlite_stat1" // the row count ANALYZE recorded: as old as the last ANALYZE
	RowsRowidBounds = "rowid bounds" // max(rowid) - min(rowid) + 1: high when rows were deleted in the middle
)

// cheapCount is the bound under which TableSizes counts a table's rows
// exactly: the table's rowid bounds (max(rowid) - min(rowid) + 1, an upper
// bound of the rows it holds) or, for a WITHOUT ROWID table, its
// sqlite_stat1 count. count(*) reads the table's smallest b-tree: measured
// 12-15 ms for a 1M-row appeals table in the OS cache (7 ms for 100k), so
// counting up to a million rows costs a console refresh little.
//
// Decision: above it the estimate is the rowid bounds, not sqlite_stat1.
// sqlite_stat1 changes only when ANALYZE runs, so a growth trend made of
// it is flat (issue 14); the rowid bounds move with every insert into an
// append-mostly table with an INTEGER PRIMARY KEY (appeals, messages,
// predictions), and with archival of the oldest rows. sqlite_stat1 serves
// only a large WITHOUT ROWID table, which has no bounds.
var cheapCount int64 = 1_000_000

// SizeOptions tunes TableSizes.
type SizeOptions struct {
	// Exact counts every table's rows with count(*), which reads each
	// table's smallest b-tree whole: seconds on a large database.
	Exact bool
	// NoMmap reads the pages for dbstat through SQLite's page cache
	// (read calls) instead of memory-mapping the database file. A mapped
	// page that has been read counts in the process's resident memory
	// until the mapping is dropped, so with the mapping a measurement's
	// peak resident memory grows by the whole file (1.7 GB on the
	// 1M-appeal demo database); without it, by the connections' page
	// caches only. The price is time: about 1.4 times as long. A
	// long-running monitor (the console, the exporter) sets it; a one-shot
	// command that wants the figures quickly does not.
	NoMmap bool
}

// ObjectSize is the size of one table or index.
type ObjectSize struct {
	Name  string
	Kind  string // "table" or "index"
	Table string // the table an index belongs to; a table's own name
	// Rows is the number of rows (entries, for an index). When Estimated,
	// RowSource says where the estimate came from. -1 when unknown.
	Rows      int64
	Estimated bool
	RowSource string
	// Pages and Bytes are what the b-tree occupies, overflow pages
	// included, from the dbstat virtual table; -1 when dbstat is not
	// compiled into this SQLite.
	Pages int64
	Bytes int64
}

// Sizes is a database's size, file and objects.
type Sizes struct {
	Path      string
	FileBytes int64 // the database file
	WALBytes  int64 // its -wal
	PageSize  int64
	PageCount int64
	FreePages int64 // pages on the freelist: space VACUUM would return
	// DBStat tells whether Pages and Bytes of the objects are known.
	DBStat bool
	// Objects lists the tables, largest first, each followed by its
	// indexes, largest first.
	Objects []ObjectSize
	Took    time.Duration
}

// Object returns the object of that name, or nil.
func (s *Sizes) Object(name string) *ObjectSize {
	for i := range s.Objects {
		if s.Objects[i].Name == name {
			return &s.Objects[i]
		}
	}
	return nil
}

// quoteIdent quotes an SQL identifier.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// TableSizes measures every table and index of the database open on q
// (whose file is path; "" skips the file sizes). It is fast on a large
// database: row counts are exact where counting is cheap (rowid bounds
// under cheapCount) or when o.Exact asks, and otherwise estimated from the
// rowid bounds (two index look-ups), or sqlite_stat1 for a WITHOUT ROWID
// table.
// Pages and bytes come from dbstat in aggregate mode, one query per object,
// run on two connections at once, with the file memory-mapped, when q is
// a *sql.DB. dbstat still reads every page of the file. Measured on the
// 1M-appeal demo database (about 900 MiB, 230k pages, in the OS cache) on
// a 2-core machine: one plain dbstat query over everything took 0.6-0.8 s,
// 0.37-0.47 s with mmap; TableSizes as a whole (BenchmarkTableSizes1M)
// 0.45-0.5 s, and 0.67 s with both cores busy with other work. A cold
// cache costs what reading the file from disk costs. o.NoMmap does
// without the mapping (see SizeOptions).
func TableSizes(ctx context.Context, q Querier, path string, o SizeOptions) (*Sizes, error) {
	start := time.Now()
	s := &Sizes{Path: path}
	if path != "" {
		fs, err := StatFiles(path)
		if err != nil {
			return nil, err
		}
		s.FileBytes, s.WALBytes = fs.DB, fs.WAL
	}
	for _, p := range []struct {
		pragma string
		dst    *int64
	}{{"page_size", &s.PageSize}, {"page_count", &s.PageCount}, {"freelist_count", &s.FreePages}} {
		if err := q.QueryRowContext(ctx, "PRAGMA "+p.pragma).Scan(p.dst); err != nil {
			return nil, Classify(path, fmt.Errorf("read %s: %w", p.pragma, err))
		}
	}

	objs, err := listObjects(ctx, q)
	if err != nil {
		return nil, Classify(path, err)
	}
	stat1, err := readStat1(ctx, q)
	if err != nil {
		return nil, Classify(path, err)
	}
	partial := map[string]bool{}
	for i := range objs {
		if objs[i].Kind == "index" && objs[i].partial {
			partial[objs[i].Name] = true
		}
	}
	tableRows := map[string]*ObjectSize{}
	for i := range objs {
		ob := &objs[i].ObjectSize
		if ob.Kind != "table" {
			continue
		}
		if err := countRows(ctx, q, ob, stat1[ob.Name], o.Exact); err != nil {
			return nil, Classify(path, err)
		}
		tableRows[ob.Name] = ob
	}
	for i := range objs {
		ob := &objs[i].ObjectSize
		if ob.Kind != "index" {
			continue
		}
		ob.Rows, ob.Estimated, ob.RowSource = -1, true, ""
		if st, ok := stat1[ob.Table]; ok && st.byIndex[ob.Name] > 0 && (partial[ob.Name] || !tableRows[ob.Table].isExact()) {
			ob.Rows, ob.RowSource = st.byIndex[ob.Name], RowsStat1
		} else if t := tableRows[ob.Table]; t != nil && !partial[ob.Name] {
			ob.Rows, ob.Estimated, ob.RowSource = t.Rows, t.Estimated, t.RowSource
		}
	}

	s.DBStat, err = pageSizes(ctx, q, objs, o.NoMmap)
	if err != nil {
		return nil, Classify(path, err)
	}
	s.Objects = orderObjects(objs)
	s.Took = time.Since(start)
	return s, nil
}

func (o *ObjectSize) isExact() bool { return o != nil && !o.Estimated }

type schemaObject struct {
	ObjectSize
	partial bool
}

// listObjects lists every b-tree: sqlite_schema itself, the tables and the
// indexes (views and virtual tables have none).
func listObjects(ctx context.Context, q Querier) ([]schemaObject, error) {
	rows, err := q.QueryContext(ctx, `SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema
		WHERE type IN ('table', 'index') AND rootpage > 0 ORDER BY rowid`)
	if err != nil {
		return nil, fmt.Errorf("read schema: %w", err)
	}
	defer rows.Close()
	out := []schemaObject{{ObjectSize: ObjectSize{Name: "sqlite_schema", Kind: "table", Table: "sqlite_schema"}}}
	for rows.Next() {
		var ob schemaObject
		var ddl string
		if err := rows.Scan(&ob.Kind, &ob.Name, &ob.Table, &ddl); err != nil {
			return nil, fmt.Errorf("read schema: %w", err)
		}
		ob.partial = ob.Kind == "index" && strings.Contains(strings.ToUpper(ddl), " WHERE ")
		out = append(out, ob)
	}
	return out, rows.Err()
}

// stat1Entry is what sqlite_stat1 says about one table.
type stat1Entry struct {
	rows    int64            // the largest first figure over the table's rows
	byIndex map[string]int64 // entries per index
}

// readStat1 reads sqlite_stat1 when ANALYZE has created it.
func readStat1(ctx context.Context, q Querier) (map[string]stat1Entry, error) {
	out := map[string]stat1Entry{}
	ok, err := tableExists(ctx, q, "sqlite_stat1")
	if err != nil || !ok {
		return out, err
	}
	rows, err := q.QueryContext(ctx, `SELECT tbl, coalesce(idx, ''), coalesce(stat, '') FROM sqlite_stat1`)
	if err != nil {
		return nil, fmt.Errorf("read sqlite_stat1: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var tbl, idx, stat string
		if err := rows.Scan(&tbl, &idx, &stat); err != nil {
			return nil, fmt.Errorf("read sqlite_stat1: %w", err)
		}
		first, _, _ := strings.Cut(stat, " ")
		n, err := strconv.ParseInt(first, 10, 64)
		if err != nil {
			continue
		}
		e, ok := out[tbl]
		if !ok {
			e.byIndex = map[string]int64{}
		}
		e.rows = max(e.rows, n)
		if idx != "" {
			e.byIndex[idx] = n
		}
		out[tbl] = e
	}
	return out, rows.Err()
}

// countRows fills a table's Rows: exactly when asked or cheap, otherwise
// estimated.
func countRows(ctx context.Context, q Querier, ob *ObjectSize, st stat1Entry, exact bool) error {
	table := quoteIdent(ob.Name)
	count := func() error {
		ob.Estimated, ob.RowSource = false, RowsCounted
		if err := q.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&ob.Rows); err != nil {
			return fmt.Errorf("count rows of %s: %w", ob.Name, err)
		}
		return nil
	}
	if exact {
		return count()
	}
	// Rowid bounds: min and max in two queries, each one index look-up
	// (in one query SQLite would scan the table).
	var lo, hi sql.NullInt64
	bounds := int64(-1)
	err := q.QueryRowContext(ctx, "SELECT max(rowid) FROM "+table).Scan(&hi)
	if err == nil {
		err = q.QueryRowContext(ctx, "SELECT min(rowid) FROM "+table).Scan(&lo)
	}
	switch {
	case err != nil && strings.Contains(err.Error(), "no such column"):
		// WITHOUT ROWID: no bounds.
	case err != nil:
		return fmt.Errorf("read rowid bounds of %s: %w", ob.Name, err)
	case !hi.Valid:
		ob.Rows, ob.Estimated, ob.RowSource = 0, false, RowsCounted // empty
		return nil
	default:
		bounds = hi.Int64 - lo.Int64 + 1
	}
	switch {
	case bounds >= 0 && bounds <= cheapCount:
		return count()
	case bounds >= 0:
		ob.Rows, ob.Estimated, ob.RowSource = bounds, true, RowsRowidBounds
	case st.rows > cheapCount:
		ob.Rows, ob.Estimated, ob.RowSource = st.rows, true, RowsStat1
	default:
		return count()
	}
	return nil
}

// pageSizes fills Pages and Bytes from dbstat; false when this SQLite has
// no dbstat (then they are -1). noMmap leaves the connections unmapped.
func pageSizes(ctx context.Context, q Querier, objs []schemaObject, noMmap bool) (bool, error) {
	var probe int
	err := q.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM dbstat WHERE name = 'sqlite_schema' AND aggregate = TRUE)").Scan(&probe)
	if err != nil && strings.Contains(err.Error(), "no such table") {
		for i := range objs {
			objs[i].Pages, objs[i].Bytes = -1, -1
		}
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read dbstat: %w", err)
	}
	// Biggest first, so that two workers finish together.
	order := make([]int, len(objs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return objs[order[a]].Rows > objs[order[b]].Rows })
	// Each worker reads through its own connection with the file mapped
	// into memory (a third less time than read() per page), unless noMmap;
	// the mapping is dropped before the connection goes back to the pool.
	workers := 1
	pool, isPool := q.(*sql.DB)
	if isPool {
		workers = min(2, runtime.NumCPU())
	}
	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wq := q
			if isPool {
				conn, err := pool.Conn(ctx)
				if err != nil {
					fail(fmt.Errorf("read dbstat: %w", err))
					for range work {
					}
					return
				}
				defer conn.Close()
				if noMmap {
					// A pool's connection is unmapped unless a caller
					// mapped it: make sure.
					if _, err := conn.ExecContext(ctx, "PRAGMA mmap_size = 0"); err != nil {
						fail(fmt.Errorf("read dbstat: unmap the database: %w", err))
						for range work {
						}
						return
					}
				} else if _, err := conn.ExecContext(ctx, "PRAGMA mmap_size = 1073741824"); err == nil {
					defer conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA mmap_size = 0")
				}
				wq = conn
			}
			for i := range work {
				ob := &objs[i]
				err := wq.QueryRowContext(ctx, "SELECT pageno, pgsize FROM dbstat WHERE name = ? AND aggregate = TRUE", ob.Name).Scan(&ob.Pages, &ob.Bytes)
				if errors.Is(err, sql.ErrNoRows) {
					ob.Pages, ob.Bytes, err = 0, 0, nil
				}
				if err != nil {
					fail(fmt.Errorf("read the size of %s from dbstat: %w", ob.Name, err))
				}
			}
		}()
	}
	for _, i := range order {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed || ctx.Err() != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return true, firstErr
}

// orderObjects puts tables largest first, each followed by its indexes,
// largest first.
func orderObjects(objs []schemaObject) []ObjectSize {
	weight := func(o ObjectSize) int64 {
		if o.Bytes >= 0 {
			return o.Bytes
		}
		return o.Rows
	}
	byTable := map[string][]ObjectSize{}
	var tables []ObjectSize
	for _, o := range objs {
		if o.Kind == "table" {
			tables = append(tables, o.ObjectSize)
		} else {
			byTable[o.Table] = append(byTable[o.Table], o.ObjectSize)
		}
	}
	sort.SliceStable(tables, func(i, j int) bool { return weight(tables[i]) > weight(tables[j]) })
	var out []ObjectSize
	for _, t := range tables {
		out = append(out, t)
		ix := byTable[t.Name]
		sort.SliceStable(ix, func(i, j int) bool { return weight(ix[i]) > weight(ix[j]) })
		out = append(out, ix...)
	}
	return out
}

// FormatCount writes a count with thousands separators: 1,234,567.
func FormatCount(n int64) string {
	if n < 0 {
		return "-" + FormatCount(-n)
	}
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
