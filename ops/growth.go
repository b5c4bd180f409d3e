package ops

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/repops/repops/db"

	"github.com/repops/repops/internal/fsutil"
	"github.com/repops/repops/state"
)

// The guide's capacity planning ("analyze growth trends", "Database Growing
// Too Fast"): table sizes over time from periodic snapshots kept in the
// state dir, growth per day by table, and the days until the disk is full
// at the current rate.

// GrowthFile is the snapshots' file in the state dir: one JSON object a
// line, the newest last.
const GrowthFile = "growth.jsonl"

// GrowthKeep is how many snapshots the file keeps: at one an hour (a cron
// job's 'repops growth --snapshot'), about three months.
const GrowthKeep = 2000

// TableSnapshot is one table's size at a snapshot: rows and bytes, its
// indexes included. Rows is exact (count(*)) up to a million rows and
// above that the rowid bounds, an upper bound that moves with every
// insert (Estimated; see db.TableSizes): never sqlite_stat1's count, which
// changes only after ANALYZE and made every trend flat.
type TableSnapshot struct {
	Rows      int64  `json:"rows"`
	Estimated bool   `json:"estimated,omitempty"`
	RowSource string `json:"row_source,omitempty"`
	Bytes     int64  `json:"bytes"`
}

// GrowthSnapshot is the database's size at one time.
type GrowthSnapshot struct {
	Time      time.Time                `json:"time"`
	Database  string                   `json:"database"` // absolute path
	FileBytes int64                    `json:"file_bytes"`
	WALBytes  int64                    `json:"wal_bytes"`
	FreeBytes int64                    `json:"free_bytes"` // free pages inside the file
	DiskFree  int64                    `json:"disk_free"`  // on the database's filesystem
	DiskTotal int64                    `json:"disk_total"`
	Tables    map[string]TableSnapshot `json:"tables"`
}

// Snapshot measures the database at dbPath (read-only) and appends the
// snapshot to the state dir's growth file, which keeps the newest
// GrowthKeep.
func Snapshot(ctx context.Context, dbPath, stateDir string) (*GrowthSnapshot, error) {
	return snapshotWith(ctx, dbPath, stateDir, SystemStatFS, time.Now())
}

func snapshotWith(ctx context.Context, dbPath, stateDir string, statfs StatFS, now time.Time) (*GrowthSnapshot, error) {
	if stateDir == "" {
		return nil, errors.New("growth snapshot: no state dir configured (console.state_dir)")
	}
	r, err := db.OpenRead(ctx, dbPath, db.Options{})
	if err != nil {
		return nil, fmt.Errorf("growth snapshot: %w", err)
	}
	defer r.Close()
	sizes, err := db.TableSizes(ctx, r, dbPath, db.SizeOptions{})
	if err != nil {
		return nil, fmt.Errorf("growth snapshot: %w", db.Classify(dbPath, err))
	}
	s := &GrowthSnapshot{Time: now.UTC(), Database: absPath(dbPath), FileBytes: sizes.FileBytes, WALBytes: sizes.WALBytes,
		FreeBytes: sizes.FreePages * sizes.PageSize, Tables: map[string]TableSnapshot{}}
	for _, o := range sizes.Objects {
		t := s.Tables[o.Table]
		if o.Kind == "table" {
			t.Rows, t.Estimated, t.RowSource = o.Rows, o.Estimated, o.RowSource
		}
		t.Bytes += max(o.Bytes, 0)
		s.Tables[o.Table] = t
	}
	if d, err := statfs(filepath.Dir(s.Database)); err == nil {
		s.DiskFree, s.DiskTotal = d.Free, d.Total
	}
	if err := appendSnapshot(stateDir, s); err != nil {
		return nil, err
	}
	return s, nil
}

// appendSnapshot adds s to the growth file, trimming it to the newest
// GrowthKeep (rewritten through a temp file and a rename when it is).
func appendSnapshot(stateDir string, s *GrowthSnapshot) error {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return fmt.Errorf("growth snapshot: create state dir %s: %w", stateDir, err)
	}
	path := filepath.Join(stateDir, GrowthFile)
	// maxGrowthFile bounds the read of the snapshots: GrowthKeep lines of
	// a few KiB each.
	const maxGrowthFile = 64 << 20
	line, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("growth snapshot: %w", err)
	}
	line = append(line, '\n')
	old, err := fsutil.ReadRegularFile(context.Background(), path, maxGrowthFile)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("growth snapshot: read %s: %w", path, err)
	}
	if n := bytes.Count(old, []byte{'\n'}); n+1 > GrowthKeep {
		lines := bytes.SplitAfter(old, []byte{'\n'})
		keep := append(bytes.Join(lines[len(lines)-GrowthKeep:], nil), line...)
		if err := fsutil.WriteAtomic(path, keep, 0o600); err != nil {
			return fmt.Errorf("growth snapshot: %w", err)
		}
		return nil
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("growth snapshot: %w", err)
	}
	if _, err := f.Write(line); err != nil {
		f.Close()
		return fmt.Errorf("growth snapshot: write %s: %w", path, err)
	}
	return f.Close()
}

// ReadSnapshots reads the snapshots of the database at dbPath from the
// state dir, oldest first: each snapshot names its database, and only
// this one's count (state.SameDatabase: another spelling or a symlink of
// its path, or another name of its file), so a snapshot of a copy never
// enters its trend. Unreadable lines are skipped.
func ReadSnapshots(stateDir, dbPath string) ([]GrowthSnapshot, error) {
	f, err := os.Open(filepath.Join(stateDir, GrowthFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read growth snapshots: %w", err)
	}
	defer f.Close()
	want := absPath(dbPath)
	var out []GrowthSnapshot
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var s GrowthSnapshot
		if json.Unmarshal(sc.Bytes(), &s) == nil && (s.Database == want || state.SameDatabase(s.Database, dbPath)) {
			out = append(out, s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read growth snapshots: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// TableGrowth is one table's size and its growth per day.
type TableGrowth struct {
	Table string `json:"table"`
	Rows  int64  `json:"rows"`
	// Estimated: Rows, or a figure the rate was made of, is an estimate
	// (the rowid bounds of a large table); shown with a ~.
	Estimated   bool    `json:"estimated,omitempty"`
	Bytes       int64   `json:"bytes"`
	RowsPerDay  float64 `json:"rows_per_day"`
	BytesPerDay float64 `json:"bytes_per_day"`
}

// GrowthReport is the trend over the snapshots.
type GrowthReport struct {
	Snapshots int           `json:"snapshots"`
	From      time.Time     `json:"from,omitzero"`
	To        time.Time     `json:"to,omitzero"`
	Tables    []TableGrowth `json:"tables"`
	FileBytes int64         `json:"file_bytes"`
	// FileBytesPerDay is the growth of the file and its WAL; the space
	// the database takes from the disk per day.
	FileBytesPerDay float64 `json:"file_bytes_per_day"`
	DiskFree        int64   `json:"disk_free"`
	// DaysUntilFull is DiskFree over FileBytesPerDay; -1 when it cannot
	// be said: fewer than two snapshots, a file that is not growing, or an
	// unknown free space (Note says which).
	DaysUntilFull float64 `json:"days_until_full"`
	Note          string  `json:"note,omitempty"`
}

// Growth computes the trend: each rate is the least-squares slope of the
// size over time across the snapshots, per day.
func Growth(snaps []GrowthSnapshot) GrowthReport {
	r := GrowthReport{Snapshots: len(snaps), DaysUntilFull: -1}
	if len(snaps) == 0 {
		r.Note = "no snapshots yet: take them periodically with 'repops growth --snapshot' (cron, hourly)"
		return r
	}
	first, last := snaps[0], snaps[len(snaps)-1]
	r.From, r.To = first.Time, last.Time
	r.FileBytes, r.DiskFree = last.FileBytes+last.WALBytes, last.DiskFree
	days := make([]float64, len(snaps))
	for i, s := range snaps {
		days[i] = s.Time.Sub(first.Time).Hours() / 24
	}
	span := days[len(days)-1]
	names := map[string]bool{}
	for _, s := range snaps {
		for n := range s.Tables {
			names[n] = true
		}
	}
	for n := range names {
		rows := make([]float64, len(snaps))
		size := make([]float64, len(snaps))
		t := TableGrowth{Table: n, Rows: last.Tables[n].Rows, Bytes: last.Tables[n].Bytes}
		for i, s := range snaps {
			rows[i], size[i] = float64(s.Tables[n].Rows), float64(s.Tables[n].Bytes)
			t.Estimated = t.Estimated || s.Tables[n].Estimated
		}
		if span > 0 {
			t.RowsPerDay, t.BytesPerDay = slope(days, rows), slope(days, size)
		}
		r.Tables = append(r.Tables, t)
	}
	sort.Slice(r.Tables, func(i, j int) bool {
		if r.Tables[i].BytesPerDay != r.Tables[j].BytesPerDay {
			return r.Tables[i].BytesPerDay > r.Tables[j].BytesPerDay
		}
		return r.Tables[i].Table < r.Tables[j].Table
	})
	if span <= 0 {
		r.Note = "one snapshot only: the rates need two taken at different times"
		return r
	}
	file := make([]float64, len(snaps))
	for i, s := range snaps {
		file[i] = float64(s.FileBytes + s.WALBytes)
	}
	r.FileBytesPerDay = slope(days, file)
	switch {
	case r.FileBytesPerDay <= 0:
		r.Note = "the file is not growing over the snapshots"
	case r.DiskFree <= 0:
		r.Note = "the disk's free space is unknown"
	default:
		r.DaysUntilFull = float64(r.DiskFree) / r.FileBytesPerDay
	}
	if span < 1 {
		r.Note += fmt.Sprintf("; the snapshots span %.1f hours only: the rates are rough", span*24)
	}
	return r
}

// slope is the least-squares slope of y over x.
func slope(x, y []float64) float64 {
	n := float64(len(x))
	var sx, sy, sxx, sxy float64
	for i := range x {
		sx += x[i]
		sy += y[i]
		sxx += x[i] * x[i]
		sxy += x[i] * y[i]
	}
	d := n*sxx - sx*sx
	if d == 0 || math.IsNaN(d) {
		return 0
	}
	return (n*sxy - sx*sy) / d
}
