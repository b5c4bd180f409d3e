package metrics

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/humanize"
	"github.com/repops/repops/sim"
)

// goRuntimePayload imitates the go_* and process_* series a client_golang
// service also exposes, so the benchmark parses a realistic page.
func goRuntimePayload() string {
	var b strings.Builder
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&b, "# HELP go_fake_metric_%d Runtime figure.\n# TYPE go_fake_metric_%d gauge\ngo_fake_metric_%d %d\n", i, i, i, i*12345)
	}
	b.WriteString("# HELP go_gc_duration_seconds GC pauses.\n# TYPE go_gc_duration_seconds summary\n")
	for _, q := range []string{"0", "0.25", "0.5", "0.75", "1"} {
		fmt.Fprintf(&b, "go_gc_duration_seconds{quantile=\"%s\"} 0.0001\n", q)
	}
	b.WriteString("go_gc_duration_seconds_sum 0.5\ngo_gc_duration_seconds_count 1000\n")
	return b.String()
}

// BenchmarkCycle is one full cycle: scrape a 127.0.0.1 server serving the
// contract's payload, parse it, compute every rate and quantile, evaluate
// every rule, append to the history. Goal: under 5 ms.
func BenchmarkCycle(b *testing.B) {
	const n = 600
	st := newContractState()
	st.submitted = 1e6
	extra := goRuntimePayload()
	payloads := make([]string, n)
	for i := range payloads {
		payloads[i] = st.payload() + extra
		st.advance(80)
	}
	var i atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.Write([]byte(payloads[int(i.Load())%n]))
	}))
	defer srv.Close()
	clock := newFakeClock()
	sc, err := NewScrapeSource(ScrapeOptions{URL: srv.URL + "/metrics"})
	if err != nil {
		b.Fatal(err)
	}
	e, err := NewEngine(EngineOptions{Sources: []Source{sc}, Now: clock.now})
	if err != nil {
		b.Fatal(err)
	}
	// Fill the windows first: a console that has run for a minute.
	for k := 0; k < 70; k++ {
		e.Cycle(context.Background())
		i.Add(1)
		clock.add(time.Second)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for k := 0; k < b.N; k++ {
		if i.Load() >= n-1 {
			b.StopTimer()
			// Start over with a fresh source so counters never go back.
			sc, _ = NewScrapeSource(ScrapeOptions{URL: srv.URL + "/metrics"})
			e, _ = NewEngine(EngineOptions{Sources: []Source{sc}, Now: clock.now})
			i.Store(0)
			for w := 0; w < 70; w++ {
				e.Cycle(context.Background())
				i.Add(1)
				clock.add(time.Second)
			}
			b.StartTimer()
		}
		snap := e.Cycle(context.Background())
		if k == 0 {
			if p, _ := snap.Panel(PanelProcessingP95); !p.Value.OK {
				b.Fatalf("p95 unknown: %s", p.Value.Reason)
			}
		}
		i.Add(1)
		clock.add(time.Second)
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N)/1000, "ms/cycle")
}

// BenchmarkHistoryMemory fills every panel's history for 24 h at one point
// a second (the default bound) and reports the bytes the rings hold, and
// the heap growth measured by the runtime.
func BenchmarkHistoryMemory(b *testing.B) {
	for k := 0; k < b.N; k++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		e, err := NewEngine(EngineOptions{Sources: []Source{}})
		if err != nil {
			b.Fatal(err)
		}
		for s := 0; s < DefaultHistorySize+100; s++ {
			e.times.push(float64(s))
			for _, r := range e.hist {
				r.push(float64(s))
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(e.HistoryBytes()), "ring-B")
		b.ReportMetric(float64(e.HistoryBytes())/float64(len(e.hist)+1), "B/panel")
		b.ReportMetric(float64(len(e.hist)), "panels")
		b.ReportMetric(float64(after.HeapAlloc)-float64(before.HeapAlloc), "heap-B")
		runtime.KeepAlive(e)
	}
}

// TestHistoryBound checks the rings stop at their bound however many
// points are pushed.
func TestHistoryBound(t *testing.T) {
	e, err := NewEngine(EngineOptions{Sources: []Source{}, HistorySize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for s := 0; s < 5000; s++ {
		e.times.push(float64(s))
		for _, r := range e.hist {
			r.push(float64(s))
		}
	}
	if got, want := e.HistoryBytes(), (len(PanelDefs())+1)*1000*8; got != want {
		t.Fatalf("history holds %d bytes, want the bound %d", got, want)
	}
	if h := e.History(PanelDiskFree); len(h) != 1000 || h[999] != 4999 {
		t.Fatalf("history len %d newest %v", len(h), h[len(h)-1])
	}
}

// BenchmarkDatabaseCollect measures the database source on the 1M-appeal
// demo database (sim.GenerateDemo: 1M appeals over two years, 5.5M rows,
// about 900 MiB; generated once into a temp dir, which takes a minute):
//   - every-second: one collection at the console's 1 s refresh, caches
//     warm (goal: under 50 ms);
//   - all-refreshed: every cached part (negotiations 30 s, status counts
//     10 s, schema validation 60 s) recomputed; the size measurement
//     starts in the background when due and is not waited for;
//   - sizes: one background size measurement (db.TableSizes through the
//     source's own pool), with the cadence it leads to and the share of
//     time it takes;
//   - validate: one schema validation (db.Validate).
func BenchmarkDatabaseCollect(b *testing.B) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	dir := b.TempDir()
	path := filepath.Join(dir, "architect.db")
	stateDir, backupDir := filepath.Join(dir, "state"), filepath.Join(dir, "backups")
	ctx := context.Background()
	gen := time.Now()
	sum, err := sim.GenerateDemo(ctx, path, sim.DemoOptions{Appeals: 1_000_000, Seed: 1, Now: now}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("generated %d appeals, %d messages, %d predictions in %s", sum.Appeals, sum.Messages, sum.Predictions, time.Since(gen).Round(time.Second))
	newSource := func() *DatabaseSource {
		return NewDatabaseSource(DatabaseOptions{Path: path, StateDir: stateDir, BackupDir: backupDir, WaitSizes: time.Minute})
	}
	for _, c := range []struct {
		name string
		step time.Duration
	}{
		{"every-second", time.Second},       // the console's refresh: caches warm
		{"all-refreshed", 61 * time.Second}, // every cached part recomputed
	} {
		b.Run(c.name, func(b *testing.B) {
			src := newSource()
			defer src.Close()
			// Warm up one step before, waiting for the first size
			// measurement so that it does not run during the timed
			// collections (the next is due 5 minutes later).
			if _, err := src.Collect(ctx, now.Add(-c.step)); err != nil {
				b.Fatal(err)
			}
			src.opts.WaitSizes = 0
			b.ResetTimer()
			start := time.Now()
			defer b.StopTimer() // before Close, which would wait for a measurement started late in a long run
			for k := 0; k < b.N; k++ {
				res, err := src.Collect(ctx, now.Add(time.Duration(k)*c.step))
				if err != nil {
					b.Fatal(err)
				}
				if k == 0 && (!res.Panels[PanelNegotiationP95].OK || !res.DB.SchemaValid || len(res.DB.Tables) == 0) {
					b.Fatalf("negotiation p95 %+v, schema valid %v %q, %d tables", res.Panels[PanelNegotiationP95], res.DB.SchemaValid, res.DB.SchemaProblems, len(res.DB.Tables))
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N)/1000, "ms/collect")
		})
	}
	b.Run("sizes", func(b *testing.B) {
		src := newSource()
		defer src.Close()
		var took time.Duration
		var sz *db.Sizes
		for k := 0; k < b.N; k++ {
			s, d, err := src.measureSizes(ctx)
			if err != nil {
				b.Fatal(err)
			}
			sz, took = s, took+d
		}
		each := took / time.Duration(b.N)
		cadence := max(sizesMinRefresh, sizesDuty*each)
		if a := sz.Object("appeals"); a != nil {
			b.Logf("appeals: %d rows (%s), %s; file %s, %d pages, %d free", a.Rows, a.RowSource, humanize.Bytes(a.Bytes), humanize.Bytes(sz.FileBytes), sz.PageCount, sz.FreePages)
		}
		b.ReportMetric(each.Seconds(), "s/sizes")
		b.ReportMetric(cadence.Seconds(), "s-cadence")
		b.ReportMetric(100*each.Seconds()/cadence.Seconds(), "%-time")
	})
	b.Run("validate", func(b *testing.B) {
		r, err := db.OpenRead(ctx, path, db.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		b.ResetTimer()
		for k := 0; k < b.N; k++ {
			rep, err := db.Validate(ctx, r)
			if err != nil || !rep.OK() {
				b.Fatal(err, rep)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/validate")
	})
}
