package metrics

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// At is the frame nearest at or before at: the refresh tier's when it
// holds one within a minute before at, else the minute tier's frame of
// the minute that contains at (its last values, min and max). ErrNoFrame
// when the timeline holds nothing that old.
func (t *Timeline) At(ctx context.Context, at time.Time) (Frame, error) {
	ms := at.UnixMilli()
	const q = `SELECT id, overall, lock, data FROM frames WHERE id >= ? AND id <= ? ORDER BY id DESC LIMIT 1`
	for _, k := range []struct {
		tier int
		from int64
	}{{TierRefresh, ms - 60000}, {TierMinute, 0}} {
		var (
			id      int64
			overall int
			lock    string
			data    []byte
		)
		err := t.db.QueryRowContext(ctx, q, frameID(k.tier, max(0, k.from)), frameID(k.tier, ms)).Scan(&id, &overall, &lock, &data)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return Frame{}, fmt.Errorf("read the history %s: %w", t.path, err)
		}
		f := Frame{Time: time.UnixMilli(id &^ (int64(k.tier) << tierShift)).UTC(), Tier: k.tier,
			Overall: State(overall), Lock: lock, Step: time.Minute}
		if k.tier == TierRefresh {
			f.Step = t.opts.Step
		}
		if f.Panels, f.Rules, err = t.decode(ctx, data, nil); err != nil {
			return Frame{}, fmt.Errorf("read the history %s: frame at %s: %w", t.path, f.Time.Format(time.RFC3339), err)
		}
		return f, nil
	}
	return Frame{}, ErrNoFrame
}

// Oldest is the time of the oldest frame kept (zero when none).
func (t *Timeline) Oldest(ctx context.Context) (time.Time, error) {
	var id sql.NullInt64
	err := t.db.QueryRowContext(ctx, `SELECT min(id) FROM frames WHERE id >= ?`, frameID(TierMinute, 0)).Scan(&id)
	if err != nil {
		return time.Time{}, fmt.Errorf("read the history %s: %w", t.path, err)
	}
	if !id.Valid {
		return time.Time{}, nil
	}
	return time.UnixMilli(id.Int64 &^ (int64(TierMinute) << tierShift)).UTC(), nil
}

// Series is panel's sparkline from from to to in points cells: each
// cell the mean of the known values in it, NaN for a gap.
func (t *Timeline) Series(ctx context.Context, panel string, from, to time.Time, points int) ([]float64, error) {
	m, err := t.SeriesAll(ctx, []string{panel}, from, to, points)
	return m[panel], err
}

// SeriesAll is Series for several panels at once: one range scan serves
// them all. It reads the refresh tier when the cells are finer than a
// minute and the refresh tier reaches back to from; else the minute tier.
func (t *Timeline) SeriesAll(ctx context.Context, panels []string, from, to time.Time, points int) (map[string][]float64, error) {
	out := map[string][]float64{}
	if points <= 0 || !to.After(from) {
		return out, nil
	}
	cell := to.Sub(from) / time.Duration(points)
	tier := TierMinute
	if cell < time.Minute {
		// The refresh tier, when it reaches back to from, or when the
		// minute tier reaches no further back than it (a history younger
		// than the window: the minute tier would draw one cell a minute).
		var oldest, oldestMin sql.NullInt64
		if err := t.db.QueryRowContext(ctx, `SELECT (SELECT min(id) FROM frames WHERE id >= ? AND id < ?), (SELECT min(id) FROM frames WHERE id >= ?)`,
			frameID(TierRefresh, 0), frameID(TierMinute, 0), frameID(TierMinute, 0)).Scan(&oldest, &oldestMin); err != nil {
			return nil, fmt.Errorf("read the history %s: %w", t.path, err)
		}
		if oldest.Valid {
			refreshFrom := oldest.Int64 &^ (int64(TierRefresh) << tierShift)
			minuteFrom := int64(math.MaxInt64)
			if oldestMin.Valid {
				minuteFrom = oldestMin.Int64 &^ (int64(TierMinute) << tierShift)
			}
			if refreshFrom <= from.UnixMilli()+t.opts.Step.Milliseconds() || minuteFrom >= refreshFrom-60000 {
				tier = TierRefresh
			}
		}
	}
	want := map[string]bool{}
	sums := map[string][]float64{}
	cnts := map[string][]int{}
	for _, p := range panels {
		want[p] = true
		sums[p], cnts[p] = make([]float64, points), make([]int, points)
	}
	fromMS, toMS := from.UnixMilli(), to.UnixMilli()
	if tier == TierMinute {
		fromMS -= fromMS % 60000 // the minute that contains from
	}
	rows, err := t.db.QueryContext(ctx, `SELECT id, data FROM frames WHERE id >= ? AND id < ? ORDER BY id`,
		frameID(tier, fromMS), frameID(tier, toMS))
	if err != nil {
		return nil, fmt.Errorf("read the history %s: %w", t.path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var data []byte
		if err := rows.Scan(&id, &data); err != nil {
			return nil, fmt.Errorf("read the history %s: %w", t.path, err)
		}
		ms := id &^ (int64(tier) << tierShift)
		i := int((ms - from.UnixMilli()) / cell.Milliseconds())
		i = max(0, min(i, points-1))
		vals, _, err := t.decode(ctx, data, want)
		if err != nil {
			return nil, fmt.Errorf("read the history %s: %w", t.path, err)
		}
		for name, v := range vals {
			if !math.IsNaN(v.Last) {
				sums[name][i] += v.Last
				cnts[name][i]++
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the history %s: %w", t.path, err)
	}
	for _, p := range panels {
		s := make([]float64, points)
		for i := range s {
			s[i] = math.NaN()
			if cnts[p][i] > 0 {
				s[i] = sums[p][i] / float64(cnts[p][i])
			}
		}
		out[p] = s
	}
	return out, nil
}

// errBadFrame is a frame blob this repops cannot read.
var errBadFrame = errors.New("damaged frame")

// decode reads a frame blob (see encode); with want set, only the panels
// it names (and no rules). An id the dictionary lacks (added by another
// writer since it was read) makes it reread the dictionary once.
func (t *Timeline) decode(ctx context.Context, b []byte, want map[string]bool) (map[string]FramePanel, map[string]State, error) {
	if len(b) < 2 || b[0] != blobVersion {
		return nil, nil, errBadFrame
	}
	minMax := b[1]&1 != 0
	b = b[2:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > 1<<12 {
		return nil, nil, errBadFrame
	}
	b = b[k:]
	panels := make(map[string]FramePanel, n)
	for range n {
		id, k := binary.Uvarint(b)
		size := 8
		if minMax {
			size = 16
		}
		if k <= 0 || len(b) < k+size {
			return nil, nil, errBadFrame
		}
		b = b[k:]
		name, err := t.name(ctx, int64(id))
		if err != nil {
			return nil, nil, err
		}
		name = strings.TrimPrefix(name, "p:")
		if want == nil || want[name] {
			last := math.Float64frombits(binary.LittleEndian.Uint64(b))
			p := FramePanel{last, last, last}
			if minMax {
				p.Min = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[8:])))
				p.Max = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[12:])))
			}
			panels[name] = p
		}
		b = b[size:]
	}
	if want != nil {
		return panels, nil, nil
	}
	n, k = binary.Uvarint(b)
	if k <= 0 || n > 1<<12 {
		return nil, nil, errBadFrame
	}
	b = b[k:]
	rules := make(map[string]State, n)
	for range n {
		id, k := binary.Uvarint(b)
		if k <= 0 || len(b) < k+1 {
			return nil, nil, errBadFrame
		}
		name, err := t.name(ctx, int64(id))
		if err != nil {
			return nil, nil, err
		}
		rules[strings.TrimPrefix(name, "r:")] = State(b[k])
		b = b[k+1:]
	}
	return panels, rules, nil
}

// name is the dictionary's name for id.
func (t *Timeline) name(ctx context.Context, id int64) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n, ok := t.names[id]; ok {
		return n, nil
	}
	var n string
	if err := t.db.QueryRowContext(ctx, `SELECT name FROM names WHERE id = ?`, id).Scan(&n); err != nil {
		return "", fmt.Errorf("%w: name %d: %v", errBadFrame, id, err)
	}
	t.names[id], t.ids[n] = n, id
	return n, nil
}
