package metrics

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/repops/repops/db"
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

// BenchmarkDatabaseCollect measures one database-source collection on a
// database of 1M appeals spread over a year (plus messages and
// predictions): with the cached parts (negotiations, table rows, status
// counts) forced to
// refresh every time (the worst cycle), and at the console's 1 s refresh.
// Goal: under 50 ms.
func BenchmarkDatabaseCollect(b *testing.B) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	path, stateDir, backupDir := testDB(b, now)
	ctx := context.Background()
	w, err := db.OpenWrite(ctx, path, db.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ref := db.FormatTime(now)
	for _, q := range []string{
		`INSERT INTO appeals(user_id, reason, status, created_at, updated_at)
		 WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 1000000)
		 SELECT 'u'||(x%50000), 'reason', CASE x%5 WHEN 0 THEN 'pending' WHEN 1 THEN 'negotiating' WHEN 2 THEN 'approved' WHEN 3 THEN 'denied' ELSE 'expired' END,
		        datetime(?1, '-'||((1000000-x)*31)||' seconds'), datetime(?1, '-'||((1000000-x)*31)||' seconds') FROM c`,
		`INSERT INTO appeal_negotiation_messages(appeal_id, sender, body, created_at)
		 SELECT a.id, 'user', 'body', datetime(a.created_at, '+'||(k.n*(a.id%40))||' hours')
		   FROM appeals a, (SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2) k
		  WHERE a.id > 900000 AND a.status IN ('approved','denied','expired')`,
		`INSERT INTO ml_predictions(user_id, appeal_id, prediction_type, confidence, latency_ms, model_version, created_at)
		 WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 200000)
		 SELECT 'u'||x, x, 'appeal', (x%100)/100.0, x%200, 'v1', datetime(?1, '-'||((200000-x)*3)||' seconds') FROM c`,
		`ANALYZE`,
	} {
		if _, err := w.ExecContext(ctx, q, ref); err != nil {
			b.Fatal(err)
		}
	}
	w.Close()
	for _, c := range []struct {
		name string
		step time.Duration
	}{
		{"every-second", time.Second},       // the console's refresh: caches warm
		{"all-refreshed", 61 * time.Second}, // every cached part recomputed
	} {
		b.Run(c.name, func(b *testing.B) {
			src := NewDatabaseSource(DatabaseOptions{Path: path, StateDir: stateDir, BackupDir: backupDir})
			defer src.Close()
			if _, err := src.Collect(ctx, now.Add(-time.Hour)); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			start := time.Now()
			for k := 0; k < b.N; k++ {
				res, err := src.Collect(ctx, now.Add(time.Duration(k)*c.step))
				if err != nil {
					b.Fatal(err)
				}
				if k == 0 && !res.Panels[PanelNegotiationP95].OK {
					b.Fatalf("negotiation p95 %+v", res.Panels[PanelNegotiationP95])
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N)/1000, "ms/collect")
		})
	}
}
