package metrics

// The timeline: the collector's history on disk, so that the console can
// go back in time (issue 17). Every cycle of a collector that has a
// Timeline records one frame: each panel's value, each rule's state, the
// overall state and the procedure lock's holder.
//
// Decisions:
//   - An SQLite file in the state dir (history.db), not the live database
//     (the live file has one owner) and not the journal (the journal is
//     append-only and must survive a restore; the timeline is pruned).
//     WAL with synchronous=NORMAL: a power loss may lose the last few
//     frames, never the file; a commit costs no fsync, so a frame a cycle
//     stays well under a millisecond (BenchmarkTimeline measures it).
//   - Two tiers in one table: the refresh tier keeps a frame per refresh
//     (at most one a second) for the last hour; the minute tier keeps one
//     frame per minute (the minute's last value and its min and max) for
//     seven days. The row id is tier<<42 | unix milliseconds (2^42 ms is
//     year 2109), so each tier is one contiguous range of the rowid b-tree:
//     At is one seek, Series one range scan, pruning one range delete.
//   - A frame is one row with a compact binary blob (names go through a
//     small dictionary table): 21+ panels and 15+ rules as columns or as a
//     row each would cost several times the space; the dashboard reads
//     whole frames anyway.
//   - Several collectors (a console and the exporter) may write at once:
//     every write is INSERT OR REPLACE on the tier's time key, the refresh
//     tier's time rounded to the step, so two writers never duplicate a
//     moment; the last writer of a moment wins (both watch the same
//     system). SQLite serialises them with a busy timeout.
//   - Bounded: pruned by time once a minute, so the file holds about an
//     hour of refresh frames and seven days of minute frames (10,080); the
//     pages the pruning frees are reused, so the file stops growing.

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/repops/repops/db"
)

// TimelineFile is the timeline's file name in the state dir.
const TimelineFile = "history.db"

// TimelinePath is the timeline file in stateDir.
func TimelinePath(stateDir string) string { return filepath.Join(stateDir, TimelineFile) }

// Default retention of the two tiers.
const (
	DefaultRefreshKeep = time.Hour
	DefaultMinuteKeep  = 7 * 24 * time.Hour
)

// The tiers; a frame's row id is tier<<tierShift | unix ms.
const (
	TierRefresh = 0
	TierMinute  = 1
	tierShift   = 42
)

// blobVersion is the frame blob's format.
const blobVersion = 1

// ErrNoFrame is what At returns when the timeline has no frame at or
// before the time asked.
var ErrNoFrame = errors.New("no recorded frame at or before that time")

// TimelineOptions configure a Timeline.
type TimelineOptions struct {
	// Step is the refresh tier's resolution: the collector's refresh
	// interval, at least one second (the default).
	Step time.Duration
	// RefreshKeep and MinuteKeep are the tiers' retention (defaults an
	// hour and seven days).
	RefreshKeep, MinuteKeep time.Duration
	// ReadOnly opens the file for reading only (no schema is created).
	ReadOnly bool
}

func (o TimelineOptions) withDefaults() TimelineOptions {
	o.Step = max(o.Step, time.Second)
	if o.RefreshKeep <= 0 {
		o.RefreshKeep = DefaultRefreshKeep
	}
	if o.MinuteKeep <= 0 {
		o.MinuteKeep = DefaultMinuteKeep
	}
	return o
}

// FramePanel is one panel's value in a frame; NaN where unknown. In the
// refresh tier Min and Max equal Last.
type FramePanel struct{ Last, Min, Max float64 }

// Frame is what the dashboard showed at one moment.
type Frame struct {
	// Time is the frame's moment: the refresh (rounded to the step) or,
	// in the minute tier, the start of the minute it stands for.
	Time time.Time
	// Tier is TierRefresh or TierMinute; Step its resolution.
	Tier    int
	Step    time.Duration
	Panels  map[string]FramePanel
	Rules   map[string]State
	Overall State
	// Lock is who held the procedure lock ("" for nobody).
	Lock string
}

// Timeline is the history store. Its methods are safe for concurrent use.
type Timeline struct {
	path string
	opts TimelineOptions
	db   *sql.DB

	mu        sync.Mutex
	ids       map[string]int64 // name -> dictionary id
	names     map[int64]string
	minute    int64 // the minute being aggregated (unix ms)
	agg       map[string]FramePanel
	lastPrune time.Time
}

const timelineSchema = `
CREATE TABLE IF NOT EXISTS names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS frames (
	id INTEGER PRIMARY KEY, -- tier<<42 | unix ms
	overall INTEGER NOT NULL,
	lock TEXT NOT NULL DEFAULT '',
	data BLOB NOT NULL
);`

// OpenTimeline opens (creating it unless o.ReadOnly) the timeline at path.
func OpenTimeline(ctx context.Context, path string, o TimelineOptions) (*Timeline, error) {
	o = o.withDefaults()
	t := &Timeline{path: path, opts: o, ids: map[string]int64{}, names: map[int64]string{}}
	var err error
	if o.ReadOnly {
		t.db, err = db.OpenRead(ctx, path, db.Options{Owner: "timeline"})
	} else {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("open the history %s: %w", path, err)
		}
		t.db, err = db.OpenWrite(ctx, path, db.Options{Create: true, Synchronous: "NORMAL", BusyTimeout: 5 * time.Second, Owner: "timeline"})
	}
	if err != nil {
		return nil, fmt.Errorf("open the history %s: %w", path, err)
	}
	if !o.ReadOnly {
		if _, err := t.db.ExecContext(ctx, timelineSchema); err != nil {
			t.db.Close()
			return nil, fmt.Errorf("open the history %s: create schema: %w", path, err)
		}
	}
	if err := t.loadNames(ctx); err != nil {
		t.db.Close()
		return nil, fmt.Errorf("open the history %s: %w", path, err)
	}
	return t, nil
}

// Path is the timeline's file.
func (t *Timeline) Path() string { return t.path }

// Close releases the file.
func (t *Timeline) Close() error { return t.db.Close() }

func (t *Timeline) loadNames(ctx context.Context) error {
	rows, err := t.db.QueryContext(ctx, `SELECT id, name FROM names`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return err
		}
		t.ids[name], t.names[id] = id, name
	}
	return rows.Err()
}

// frameID is the row id of a tier's frame at ms.
func frameID(tier int, ms int64) int64 { return int64(tier)<<tierShift | ms }

// Record adds the frame of snap to both tiers and prunes them once a
// minute. lock is who holds the procedure lock ("" for nobody; the
// Lock option's answer when the engine records). Called after each cycle.
func (t *Timeline) Record(ctx context.Context, snap Snapshot, lock string) (err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	defer func() {
		if err != nil {
			// The names this write added are rolled back: forget them,
			// so that none is used under an id SQLite may give another.
			t.ids, t.names = map[string]int64{}, map[int64]string{}
		}
	}()
	ms := snap.Time.UnixMilli()
	step := t.opts.Step.Milliseconds()
	refMS := ms - ms%step
	minute := ms - ms%60000
	if minute != t.minute {
		t.minute, t.agg = minute, map[string]FramePanel{}
	}
	cur := map[string]FramePanel{}
	for _, p := range snap.Panels {
		v, ok := finiteValue(p.Value)
		if !ok {
			v = math.NaN()
		}
		cur[p.Name] = FramePanel{v, v, v}
		a, seen := t.agg[p.Name]
		if !seen {
			a = FramePanel{v, v, v}
		}
		a.Last = v
		if !math.IsNaN(v) {
			a.Min, a.Max = nanMin(a.Min, v), nanMax(a.Max, v)
		}
		t.agg[p.Name] = a
	}
	rules := map[string]State{}
	for _, a := range snap.Alerts {
		rules[a.Rule.Name] = a.State
	}
	overall := snap.Verdict()
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record history: %w", err)
	}
	defer tx.Rollback()
	refBlob, err := t.encode(ctx, tx, cur, rules, false)
	if err != nil {
		return fmt.Errorf("record history: %w", err)
	}
	minBlob, err := t.encode(ctx, tx, t.agg, rules, true)
	if err != nil {
		return fmt.Errorf("record history: %w", err)
	}
	const put = `INSERT OR REPLACE INTO frames (id, overall, lock, data) VALUES (?, ?, ?, ?)`
	if _, err := tx.ExecContext(ctx, put, frameID(TierRefresh, refMS), int(overall), lock, refBlob); err != nil {
		return fmt.Errorf("record history: %w", err)
	}
	if _, err := tx.ExecContext(ctx, put, frameID(TierMinute, minute), int(overall), lock, minBlob); err != nil {
		return fmt.Errorf("record history: %w", err)
	}
	if snap.Time.Sub(t.lastPrune) >= time.Minute || snap.Time.Before(t.lastPrune) {
		if err := t.prune(ctx, tx, ms); err != nil {
			return fmt.Errorf("record history: prune: %w", err)
		}
		t.lastPrune = snap.Time
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record history: %w", err)
	}
	return nil
}

// prune deletes each tier's frames older than its retention at ms.
func (t *Timeline) prune(ctx context.Context, tx *sql.Tx, ms int64) error {
	const del = `DELETE FROM frames WHERE id >= ? AND id < ?`
	for _, k := range []struct {
		tier int
		keep time.Duration
	}{{TierRefresh, t.opts.RefreshKeep}, {TierMinute, t.opts.MinuteKeep}} {
		if _, err := tx.ExecContext(ctx, del, frameID(k.tier, 0), frameID(k.tier, max(0, ms-k.keep.Milliseconds()))); err != nil {
			return err
		}
	}
	return nil
}

func nanMin(a, b float64) float64 {
	if math.IsNaN(a) || b < a {
		return b
	}
	return a
}

func nanMax(a, b float64) float64 {
	if math.IsNaN(a) || b > a {
		return b
	}
	return a
}

// id is name's dictionary id, added (in tx) when new. Called with t.mu
// held. Another writer may add the same name at once: INSERT OR IGNORE
// and a SELECT give both the one id.
func (t *Timeline) id(ctx context.Context, tx *sql.Tx, name string) (int64, error) {
	if id, ok := t.ids[name]; ok {
		return id, nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO names (name) VALUES (?)`, name); err != nil {
		return 0, err
	}
	var id int64
	if err := tx.QueryRowContext(ctx, `SELECT id FROM names WHERE name = ?`, name).Scan(&id); err != nil {
		return 0, err
	}
	// Decision: cached before the commit. Should the transaction roll
	// back, no frame refers to the id either; a reader that meets an id
	// it does not know rereads the dictionary (decode).
	t.ids[name], t.names[id] = id, name
	return id, nil
}

// encode is a frame's blob: version, flags (1: min and max follow each
// value), the panels (name id, last as float64, min and max as float32)
// and the rules (name id, state byte).
func (t *Timeline) encode(ctx context.Context, tx *sql.Tx, panels map[string]FramePanel, rules map[string]State, minMax bool) ([]byte, error) {
	b := make([]byte, 0, 16+len(panels)*18+len(rules)*3)
	flags := byte(0)
	if minMax {
		flags = 1
	}
	b = append(b, blobVersion, flags)
	b = binary.AppendUvarint(b, uint64(len(panels)))
	for name, p := range panels {
		id, err := t.id(ctx, tx, "p:"+name)
		if err != nil {
			return nil, err
		}
		b = binary.AppendUvarint(b, uint64(id))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.Last))
		if minMax {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(p.Min)))
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(p.Max)))
		}
	}
	b = binary.AppendUvarint(b, uint64(len(rules)))
	for name, s := range rules {
		id, err := t.id(ctx, tx, "r:"+name)
		if err != nil {
			return nil, err
		}
		b = binary.AppendUvarint(b, uint64(id))
		b = append(b, byte(s))
	}
	return b, nil
}
