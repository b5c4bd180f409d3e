package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/humanize"
	"github.com/repops/repops/ops"
)

// migrateOptions are the flags of the migrate subcommands.
type migrateOptions struct {
	create     bool   // apply: create the database file when missing
	exact      bool   // stats: count every row
	json       bool   // stats: JSON output
	quickCheck bool   // validate: run PRAGMA quick_check too (default on)
	reportQC   bool   // report: the same (default off)
	backupDir  string // apply, backup: where backups go (default: the config's)
}

// newMigrateCmd is the guide's manage_migrations.sh: status, list, apply,
// validate, report, stats and backup.
func newMigrateCmd(a *app) *cobra.Command {
	o := &migrateOptions{}
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Schema migrations: status, list, apply, validate, report, stats, backup",
		Long: `Schema migrations, as the operations guide's manage_migrations.sh.

The migrations are embedded in repops (goose, SQL). 'apply' takes the
procedure lock, backs the database up first (the same online backup as
'repops backup', with its manifest and the retention), then applies each
pending migration in its own transaction; both are journaled.`,
		Args: cobra.NoArgs,
	}
	sub := func(use, short string, run func(ctx context.Context) error) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short, Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, args []string) error { return run(cmd.Context()) },
		}
	}
	status := sub("status", "Applied and pending migrations with times", func(ctx context.Context) error { return runMigrateStatus(ctx, a) })
	list := sub("list", "Migrations this repops carries", func(ctx context.Context) error { return runMigrateList(ctx, a) })
	apply := sub("apply", "Back up the database (as 'repops backup'), then apply pending migrations", func(ctx context.Context) error { return runMigrateApply(ctx, a, o) })
	apply.Flags().BoolVar(&o.create, "create", false, "create the database file when it does not exist")
	apply.Flags().StringVar(&o.backupDir, "backup-dir", "", "where the backup goes (default: console.backup.dir, or backups/ beside the database)")
	validate := sub("validate", "Compare the live schema with the migrations; exit 1 on any problem", func(ctx context.Context) error { return runMigrateValidate(ctx, a, o) })
	validate.Flags().BoolVar(&o.quickCheck, "quick-check", true, "also run PRAGMA quick_check (reads every page)")
	report := sub("report", "Markdown report: versions, schema, table sizes, validation", func(ctx context.Context) error { return runMigrateReport(ctx, a, o) })
	report.Flags().BoolVar(&o.reportQC, "quick-check", false, "also run PRAGMA quick_check (reads every page)")
	report.Flags().BoolVar(&o.exact, "exact", false, "count every table's rows exactly (slow on a large database)")
	stats := sub("stats", "Table and index sizes", func(ctx context.Context) error { return runMigrateStats(ctx, a, o) })
	stats.Flags().BoolVar(&o.exact, "exact", false, "count every table's rows exactly (slow on a large database)")
	stats.Flags().BoolVar(&o.json, "json", false, "print JSON")
	backup := sub("backup", "Online backup of the database into the backup dir (as 'repops backup')", func(ctx context.Context) error { return runMigrateBackup(ctx, a, o) })
	backup.Flags().StringVar(&o.backupDir, "backup-dir", "", "where the backup goes (default: console.backup.dir, or backups/ beside the database)")
	cmd.AddCommand(status, list, apply, validate, report, stats, backup)
	return cmd
}

// readMigrations reads every embedded migration's state, the applied
// versions this repops does not know, and the applied versions with their
// times: what status and report both show.
func readMigrations(ctx context.Context, r db.Querier, path string) ([]db.MigrationState, []int64, []db.AppliedMigration, error) {
	states, unknown, err := db.Status(ctx, r)
	if err != nil {
		return nil, nil, nil, db.Classify(path, err)
	}
	applied, err := db.Applied(ctx, r)
	if err != nil {
		return nil, nil, nil, db.Classify(path, err)
	}
	return states, unknown, applied, nil
}

func runMigrateStatus(ctx context.Context, a *app) error {
	path := a.cfg.Database.Path
	r, err := a.openRead(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	states, unknown, applied, err := readMigrations(ctx, r, path)
	if err != nil {
		return err
	}
	var version int64
	for _, m := range applied {
		version = max(version, m.Version)
	}
	fmt.Fprintf(a.out, "database %s: schema version %d (this repops knows up to %d)\n", path, version, db.LatestVersion())
	tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tMIGRATION\tSTATE\tAPPLIED AT")
	pending := 0
	for _, s := range states {
		state, at := "pending", "-"
		switch {
		case s.Applied && s.Drift:
			state, at = "applied, SQL differs (checksum drift)", migrateTime(s.AppliedAt)
		case s.Applied:
			state, at = "applied", migrateTime(s.AppliedAt)
		default:
			pending++
		}
		fmt.Fprintf(tw, "%05d\t%s\t%s\t%s\n", s.Version, s.Name, state, at)
	}
	for _, v := range unknown {
		for _, m := range applied {
			if m.Version == v {
				fmt.Fprintf(tw, "%05d\t%s\t%s\t%s\n", v, "(unknown to this repops)", "applied", migrateTime(m.AppliedAt))
			}
		}
	}
	tw.Flush()
	fmt.Fprintf(a.out, "%d applied, %d pending\n", len(states)-pending, pending)
	if len(unknown) > 0 {
		return ops.SchemaAheadError(path, unknown)
	}
	return nil
}

// formatTime writes a recorded time, or "-" for none.
func migrateTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return db.FormatTime(t) + " UTC"
}

func runMigrateList(_ context.Context, a *app) error {
	tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tMIGRATION\tSHA256")
	for _, m := range db.Migrations() {
		fmt.Fprintf(tw, "%05d\t%s\t%s\n", m.Version, m.Name, m.SHA256[:12])
	}
	return tw.Flush()
}

// dir is where backups go: the flag, else the config's.
func (o *migrateOptions) dir(a *app) string {
	if o.backupDir != "" {
		return o.backupDir
	}
	return a.cfg.BackupDir()
}

// migrateBackup takes the same backup as 'repops backup' (manifest,
// checks, retention, journal), so that 'repops backups', 'restore' and
// 'drill' know it: a bare copy without a manifest would be listed as
// no-manifest and, being the newest, make 'restore --latest' and 'drill'
// fail. (migrate apply's own backup is ops.Migrate's.)
func migrateBackup(ctx context.Context, a *app, dir string, actor ops.Actor) (*ops.BackupResult, error) {
	return ops.Backup(ctx, ops.BackupOptions{
		DBPath: a.cfg.Database.Path, Dir: dir, StateDir: a.cfg.StateDir(),
		KeepLast: a.cfg.Console.Backup.KeepLast, KeepWithin: a.cfg.Console.Backup.KeepWithin,
		Actor: actor,
	}, noticesOnly(a.err))
}

// backupLine is the one line that says where a backup went.
func backupLine(r *ops.BackupResult) string {
	return fmt.Sprintf("backup: %s (%s, manifest %s, %.1fs)", r.Path, humanize.Bytes(r.Manifest.Size),
		filepath.Base(ops.ManifestPath(r.Path)), r.Took.Seconds())
}

// runMigrateApply parses and calls: the procedure (pre-flight, lock,
// journal, backup, migrations) is ops.Migrate, which the runbook action
// calls too.
func runMigrateApply(ctx context.Context, a *app, o *migrateOptions) error {
	if a.readOnly {
		return ops.ErrReadOnlyMode
	}
	path := a.cfg.Database.Path
	res, err := ops.Migrate(ctx, ops.MigrateOptions{
		DBPath: path, DB: a.dbOptions(), Create: o.create,
		BackupDir: o.dir(a), KeepLast: a.cfg.Console.Backup.KeepLast, KeepWithin: a.cfg.Console.Backup.KeepWithin,
		StateDir: a.cfg.StateDir(), Actor: ops.CurrentActor(""),
	}, noticesOnly(a.err))
	if res == nil {
		return err
	}
	if len(res.Pending) == 0 {
		for _, n := range res.Recorded {
			fmt.Fprintf(a.out, "recorded the checksum of %s (a crash had kept it from being recorded)\n", n)
		}
		fmt.Fprintf(a.out, "database %s is up to date at version %d: nothing to apply\n", path, db.LatestVersion())
		return nil
	}
	if res.Backup != nil {
		fmt.Fprintln(a.out, backupLine(res.Backup))
	}
	for _, m := range res.Applied {
		fmt.Fprintf(a.out, "applied %s\n", m.Name)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(a.out, "database %s is at version %d\n", path, db.LatestVersion())
	return nil
}

// noticesOnly prints a procedure's notices (ops.Run's "note" events: a run
// without lock or journal, an end entry the journal refused) on w, and
// nothing of its progress.
func noticesOnly(w io.Writer) ops.Progress {
	return func(e ops.ProgressEvent) {
		if e.Phase == "note" && e.Message != "" {
			fmt.Fprintln(w, "note: "+e.Message)
		}
	}
}

// validation runs Validate and, when asked, quick_check, on the database
// open at r: every problem in one list.
func migrateValidation(ctx context.Context, r db.Querier, path string, quickCheck bool) (*db.ValidationReport, error) {
	rep, err := db.Validate(ctx, r)
	if err != nil {
		return nil, db.Classify(path, fmt.Errorf("validate %s: %w", path, err))
	}
	if quickCheck {
		lines, err := db.QuickCheck(ctx, r, 20)
		if err != nil {
			return nil, db.Classify(path, err)
		}
		for _, l := range lines {
			rep.Problems = append(rep.Problems, db.Problem{Kind: db.ProblemCorrupt, Object: path,
				Message: fmt.Sprintf("quick_check on %s: %s: restore from the latest backup ('repops restore')", path, l)})
		}
	}
	return rep, nil
}

// validLine is the one line of a valid schema.
func schemaValidLine(rep *db.ValidationReport) string {
	return fmt.Sprintf("schema valid (version %d, %d tables, %d indexes)", rep.Version, rep.Tables, rep.Indexes)
}

func runMigrateValidate(ctx context.Context, a *app, o *migrateOptions) error {
	path := a.cfg.Database.Path
	r, err := a.openRead(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	rep, err := migrateValidation(ctx, r, path, o.quickCheck)
	if err != nil {
		return err
	}
	if rep.OK() {
		fmt.Fprintln(a.out, schemaValidLine(rep))
		return nil
	}
	for _, p := range rep.Problems {
		fmt.Fprintln(a.out, p.String())
	}
	fmt.Fprintf(a.err, "schema of %s has %d problem(s)\n", path, len(rep.Problems))
	return silentExit(exitFailure)
}

func runMigrateStats(ctx context.Context, a *app, o *migrateOptions) error {
	path := a.cfg.Database.Path
	r, err := a.openRead(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	s, err := db.TableSizes(ctx, r, path, db.SizeOptions{Exact: o.exact})
	if err != nil {
		return db.Classify(path, err)
	}
	if o.json {
		return writeSizeJSON(a.out, s)
	}
	writeSizeTable(a.out, s)
	return nil
}

// migrateSizesJSON is 'migrate stats --json'.
type migrateSizesJSON struct {
	Path      string              `json:"path"`
	FileBytes int64               `json:"file_bytes"`
	WALBytes  int64               `json:"wal_bytes"`
	PageSize  int64               `json:"page_size"`
	PageCount int64               `json:"page_count"`
	FreePages int64               `json:"free_pages"`
	DBStat    bool                `json:"dbstat"`
	Seconds   float64             `json:"seconds"`
	Objects   []migrateObjectJSON `json:"objects"`
}

type migrateObjectJSON struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	Table     string `json:"table"`
	Rows      int64  `json:"rows"`
	Estimated bool   `json:"estimated"`
	RowSource string `json:"row_source"`
	Pages     int64  `json:"pages"` // -1: unknown
	Bytes     int64  `json:"bytes"` // -1: unknown
}

func writeSizeJSON(w io.Writer, s *db.Sizes) error {
	out := migrateSizesJSON{Path: s.Path, FileBytes: s.FileBytes, WALBytes: s.WALBytes, PageSize: s.PageSize,
		PageCount: s.PageCount, FreePages: s.FreePages, DBStat: s.DBStat, Seconds: s.Took.Seconds(), Objects: []migrateObjectJSON{}}
	for _, o := range s.Objects {
		out.Objects = append(out.Objects, migrateObjectJSON{Name: o.Name, Kind: o.Kind, Table: o.Table, Rows: o.Rows,
			Estimated: o.Estimated, RowSource: o.RowSource, Pages: o.Pages, Bytes: o.Bytes})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// rowsText is a row count for people: "~" marks an estimate.
func sizeRowsText(o db.ObjectSize) string {
	switch {
	case o.Rows < 0:
		return "?"
	case o.Estimated:
		return "~" + db.FormatCount(o.Rows)
	}
	return db.FormatCount(o.Rows)
}

// writeSizes prints sizes as an aligned table, indexes indented under
// their table.
func writeSizeTable(w io.Writer, s *db.Sizes) {
	fmt.Fprintf(w, "database %s: file %s, WAL %s, page size %d, %s pages, %s free (%s)\n",
		s.Path, humanize.Bytes(s.FileBytes), humanize.Bytes(s.WALBytes), s.PageSize,
		db.FormatCount(s.PageCount), db.FormatCount(s.FreePages), humanize.Bytes(s.FreePages*s.PageSize))
	// Names and kinds left-aligned, figures right-aligned.
	cells := [][]string{{"NAME", "KIND", "ROWS", "SIZE", "PAGES"}}
	estimated := false
	for _, o := range s.Objects {
		name := o.Name
		if o.Kind == "index" {
			name = "  " + name
		}
		pages := "?"
		if o.Pages >= 0 {
			pages = db.FormatCount(o.Pages)
		}
		estimated = estimated || o.Estimated
		cells = append(cells, []string{name, o.Kind, sizeRowsText(o), humanize.Bytes(o.Bytes), pages})
	}
	width := make([]int, 5)
	for _, row := range cells {
		for i, c := range row {
			width[i] = max(width[i], len(c))
		}
	}
	for _, row := range cells {
		fmt.Fprintf(w, "%-*s  %-*s  %*s  %*s  %*s\n", width[0], row[0], width[1], row[1], width[2], row[2], width[3], row[3], width[4], row[4])
	}
	if estimated {
		fmt.Fprintln(w, "~ estimated row count (sqlite_stat1 or rowid bounds); --exact counts every row")
	}
	if !s.DBStat {
		fmt.Fprintln(w, "? sizes unknown: this SQLite has no dbstat (build with -tags sqlite_dbstat)")
	}
}

func runMigrateBackup(ctx context.Context, a *app, o *migrateOptions) error {
	if a.readOnly {
		return ops.ErrReadOnlyBackup
	}
	if err := db.CheckFile(a.cfg.Database.Path); err != nil {
		return err
	}
	res, err := migrateBackup(ctx, a, o.dir(a), ops.CurrentActor(""))
	if res != nil {
		fmt.Fprintln(a.out, backupLine(res))
		for _, r := range res.Removed {
			fmt.Fprintf(a.out, "retention removed %s\n", r)
		}
	}
	return err
}

func runMigrateReport(ctx context.Context, a *app, o *migrateOptions) error {
	path := a.cfg.Database.Path
	r, err := a.openRead(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	states, unknown, applied, err := readMigrations(ctx, r, path)
	if err != nil {
		return err
	}
	sizes, err := db.TableSizes(ctx, r, path, db.SizeOptions{Exact: o.exact})
	if err != nil {
		return db.Classify(path, err)
	}
	rep, err := migrateValidation(ctx, r, path, o.reportQC)
	if err != nil {
		return err
	}
	var ddl []string
	rows, err := r.QueryContext(ctx, `SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'
		ORDER BY CASE type WHEN 'table' THEN 0 ELSE 1 END, tbl_name, name`)
	if err != nil {
		return db.Classify(path, err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return db.Classify(path, err)
		}
		ddl = append(ddl, s+";")
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return db.Classify(path, err)
	}

	w := a.out
	fmt.Fprintf(w, "# Schema report: %s\n\n", filepath.Base(path))
	fmt.Fprintf(w, "- Database: `%s`\n", path)
	fmt.Fprintf(w, "- Generated: %s UTC\n", db.FormatTime(time.Now()))
	fmt.Fprintf(w, "- Schema version: %d (this repops knows up to %d)\n", rep.Version, db.LatestVersion())
	fmt.Fprintf(w, "- File: %s, WAL: %s, page size %d, %s pages, %s free\n\n",
		humanize.Bytes(sizes.FileBytes), humanize.Bytes(sizes.WALBytes), sizes.PageSize, db.FormatCount(sizes.PageCount), db.FormatCount(sizes.FreePages))

	fmt.Fprintf(w, "## Migrations\n\n| Version | Migration | State | Applied at |\n|---:|---|---|---|\n")
	for _, s := range states {
		state, at := "pending", "-"
		if s.Applied {
			state, at = "applied", migrateTime(s.AppliedAt)
			if s.Drift {
				state = "applied, **SQL differs**"
			}
		}
		fmt.Fprintf(w, "| %d | %s | %s | %s |\n", s.Version, s.Name, state, at)
	}
	for _, v := range unknown {
		for _, m := range applied {
			if m.Version == v {
				fmt.Fprintf(w, "| %d | (unknown to this repops) | applied | %s |\n", v, migrateTime(m.AppliedAt))
			}
		}
	}

	fmt.Fprintf(w, "\n## Schema\n\n```sql\n%s\n```\n", strings.Join(ddl, "\n"))

	fmt.Fprintf(w, "\n## Table sizes\n\n| Name | Kind | Table | Rows | Size | Pages |\n|---|---|---|---:|---:|---:|\n")
	for _, ob := range sizes.Objects {
		pages := "?"
		if ob.Pages >= 0 {
			pages = db.FormatCount(ob.Pages)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", ob.Name, ob.Kind, ob.Table, sizeRowsText(ob), humanize.Bytes(ob.Bytes), pages)
	}
	fmt.Fprintf(w, "\nRows marked ~ are estimates (sqlite_stat1 or rowid bounds). Measured in %.2f s.\n", sizes.Took.Seconds())

	fmt.Fprintf(w, "\n## Validation\n\n")
	if rep.OK() {
		fmt.Fprintf(w, "%s.\n", strings.ToUpper(schemaValidLine(rep)[:1])+schemaValidLine(rep)[1:])
	} else {
		for _, p := range rep.Problems {
			fmt.Fprintf(w, "- `%s` %s\n", p.Kind, p.Message)
		}
	}
	if !o.reportQC {
		fmt.Fprintf(w, "\nIntegrity not checked here: `repops migrate validate` runs PRAGMA quick_check.\n")
	}
	return nil
}
