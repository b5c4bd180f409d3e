package metrics

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// tlStart is the tests' clock origin: a whole minute.
var tlStart = time.Date(2026, 12, 5, 14, 0, 0, 0, time.UTC)

// synthSnap is a snapshot at at with every panel and rule: panel i's
// value is base+i (the service-up panel unknown), rule states cycle.
func synthSnap(at time.Time, base float64) Snapshot {
	snap := Snapshot{Time: at}
	for i, d := range PanelDefs() {
		v := Known(base + float64(i))
		if d.Name == PanelServiceUp {
			v = Unknown("scrape failed")
		}
		snap.Panels = append(snap.Panels, Panel{Name: d.Name, Value: v})
	}
	for i, r := range DefaultRules() {
		st := StateOK
		if i == 0 && base >= 100 {
			st = StateCritical
		}
		snap.Alerts = append(snap.Alerts, AlertStatus{Rule: r, State: st, Configured: true})
	}
	return snap
}

func openTL(t testing.TB, path string, o TimelineOptions) *Timeline {
	t.Helper()
	tl, err := OpenTimeline(context.Background(), path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tl.Close() })
	return tl
}

func countTier(t testing.TB, tl *Timeline, tier int) int {
	t.Helper()
	var n int
	if err := tl.db.QueryRow(`SELECT count(*) FROM frames WHERE id >= ? AND id < ?`, frameID(tier, 0), frameID(tier+1, 0)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestTimelineTiersAndAt(t *testing.T) {
	ctx := context.Background()
	tl := openTL(t, filepath.Join(t.TempDir(), TimelineFile), TimelineOptions{})
	// Three minutes at one frame a second: values 0..179 for the first panel.
	for s := 0; s < 180; s++ {
		lock := ""
		if s >= 60 && s < 120 {
			lock = "alice: restore"
		}
		if err := tl.Record(ctx, synthSnap(tlStart.Add(time.Duration(s)*time.Second), float64(s)), lock); err != nil {
			t.Fatal(err)
		}
	}
	first := PanelDefs()[0].Name
	t.Run("before the first frame", func(t *testing.T) {
		if _, err := tl.At(ctx, tlStart.Add(-time.Second)); !errors.Is(err, ErrNoFrame) {
			t.Fatalf("At before the first frame: %v, want ErrNoFrame", err)
		}
	})
	t.Run("refresh tier, exact and between", func(t *testing.T) {
		f, err := tl.At(ctx, tlStart.Add(90*time.Second+400*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if f.Tier != TierRefresh || !f.Time.Equal(tlStart.Add(90*time.Second)) || f.Panels[first].Last != 90 {
			t.Fatalf("frame %v tier %d value %v, want the refresh frame at +90s with 90", f.Time, f.Tier, f.Panels[first].Last)
		}
		if f.Lock != "alice: restore" || f.Rules["appeal_submission_rate"] != StateOK {
			t.Fatalf("lock %q rules %v", f.Lock, f.Rules)
		}
		if !math.IsNaN(f.Panels[PanelServiceUp].Last) {
			t.Fatalf("an unknown value reads back as %v, want NaN", f.Panels[PanelServiceUp].Last)
		}
	})
	t.Run("minute tier when the refresh tier has nothing near", func(t *testing.T) {
		// An hour later the refresh frames are more than a minute before.
		f, err := tl.At(ctx, tlStart.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if f.Tier != TierMinute || !f.Time.Equal(tlStart.Add(2*time.Minute)) {
			t.Fatalf("frame %v tier %d, want the minute frame at +2m", f.Time, f.Tier)
		}
		p := f.Panels[first]
		if p.Last != 179 || p.Min != 120 || p.Max != 179 {
			t.Fatalf("minute frame %+v, want last 179 min 120 max 179", p)
		}
		if f.Overall != StateCritical {
			t.Fatalf("overall %v, want critical", f.Overall)
		}
	})
	t.Run("series", func(t *testing.T) {
		s, err := tl.Series(ctx, first, tlStart, tlStart.Add(3*time.Minute), 3)
		if err != nil {
			t.Fatal(err)
		}
		// Cells of a minute read the minute tier's last values.
		if len(s) != 3 || s[0] != 59 || s[1] != 119 || s[2] != 179 {
			t.Fatalf("series %v, want [59 119 179]", s)
		}
		s, err = tl.Series(ctx, first, tlStart, tlStart.Add(60*time.Second), 6)
		if err != nil {
			t.Fatal(err)
		}
		if s[0] != 4.5 || s[5] != 54.5 {
			t.Fatalf("series of 10 s cells %v, want means 4.5 … 54.5", s)
		}
	})
}

func TestTimelinePruneBound(t *testing.T) {
	ctx := context.Background()
	tl := openTL(t, filepath.Join(t.TempDir(), TimelineFile), TimelineOptions{RefreshKeep: time.Minute, MinuteKeep: 10 * time.Minute})
	// 30 minutes at one frame a second.
	for s := 0; s < 1800; s++ {
		if err := tl.Record(ctx, synthSnap(tlStart.Add(time.Duration(s)*time.Second), 1), ""); err != nil {
			t.Fatal(err)
		}
	}
	// Pruned once a minute: at most a minute over each tier's retention.
	if n := countTier(t, tl, TierRefresh); n > 2*60+1 {
		t.Errorf("refresh tier holds %d frames, want at most 121 (a minute kept, pruned each minute)", n)
	}
	if n := countTier(t, tl, TierMinute); n > 11 {
		t.Errorf("minute tier holds %d frames, want at most 11", n)
	}
	if _, err := tl.At(ctx, tlStart.Add(5*time.Minute)); !errors.Is(err, ErrNoFrame) {
		t.Errorf("At beyond the retention: %v, want ErrNoFrame", err)
	}
}

func TestTimelineTwoWriters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), TimelineFile)
	a := openTL(t, path, TimelineOptions{})
	b := openTL(t, path, TimelineOptions{})
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i, tl := range []*Timeline{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The same 120 seconds, each writer a few ms apart: the same
			// keys once rounded to the step.
			for s := 0; s < 120; s++ {
				at := tlStart.Add(time.Duration(s)*time.Second + time.Duration(i*7)*time.Millisecond)
				if err := tl.Record(ctx, synthSnap(at, float64(s)), ""); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := countTier(t, a, TierRefresh); n != 120 {
		t.Errorf("refresh tier holds %d frames after two writers, want 120 (no duplicates)", n)
	}
	if n := countTier(t, a, TierMinute); n != 2 {
		t.Errorf("minute tier holds %d frames, want 2", n)
	}
	var check string
	if err := a.db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q %v", check, err)
	}
	// A reader opened afterwards reads both writers' names.
	r := openTL(t, path, TimelineOptions{ReadOnly: true})
	f, err := r.At(ctx, tlStart.Add(time.Minute))
	if err != nil || len(f.Panels) != len(PanelDefs()) || len(f.Rules) != len(DefaultRules()) {
		t.Fatalf("frame %d panels %d rules, err %v", len(f.Panels), len(f.Rules), err)
	}
}

func TestEngineRecordsTimeline(t *testing.T) {
	vs := &valueSource{vals: map[string]Value{PanelAppealErrorRate: Known(7)}}
	clock := newFakeClock()
	path := filepath.Join(t.TempDir(), TimelineFile)
	e, err := NewEngine(EngineOptions{Sources: []Source{vs.source(KindScrape)}, Now: clock.now, HistorySize: 10,
		TimelinePath: path, TimelineLock: func() string { return "bob: archive" }})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.Cycle(context.Background())
	if err := e.TimelineErr(); err != nil {
		t.Fatal(err)
	}
	f, err := e.Timeline().At(context.Background(), clock.now())
	if err != nil {
		t.Fatal(err)
	}
	if f.Panels[PanelAppealErrorRate].Last != 7 || f.Lock != "bob: archive" || f.Rules["appeal_error_rate"] != StatePending {
		t.Fatalf("frame %+v", f)
	}
}

// TestTimelineYoungHistorySeries: a history three minutes old, drawn over
// a 20-minute window of 10 s cells, fills a cell every 10 s of it (the
// refresh tier), not one a minute (the minute tier).
func TestTimelineYoungHistorySeries(t *testing.T) {
	ctx := context.Background()
	tl := openTL(t, filepath.Join(t.TempDir(), TimelineFile), TimelineOptions{})
	for s := 0; s < 180; s++ {
		if err := tl.Record(ctx, synthSnap(tlStart.Add(time.Duration(s)*time.Second), float64(s)), ""); err != nil {
			t.Fatal(err)
		}
	}
	first := PanelDefs()[0].Name
	end := tlStart.Add(180 * time.Second)
	got, err := tl.SeriesAll(ctx, []string{first}, end.Add(-20*time.Minute), end, 120)
	if err != nil {
		t.Fatal(err)
	}
	filled := 0
	for _, x := range got[first] {
		if !math.IsNaN(x) {
			filled++
		}
	}
	if filled < 17 {
		t.Fatalf("%d of 120 cells filled for three minutes of 10 s cells, want 18: %v", filled, got[first])
	}
}
