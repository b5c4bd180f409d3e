package sim

import (
	"context"
	"math"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// histogramQuantile is histogram_quantile over raw observations, with the
// simulator's own buckets: what the console computes from a window.
func histogramQuantile(q float64, bounds, obs []float64) float64 {
	counts := make([]float64, len(bounds)+1)
	for _, o := range obs {
		counts[sort.SearchFloat64s(bounds, o)]++
	}
	rank := q * float64(len(obs))
	cum := 0.0
	for i, b := range bounds {
		below := cum
		cum += counts[i]
		if cum >= rank {
			lo := 0.0
			if i > 0 {
				lo = bounds[i-1]
			}
			return lo + (b-lo)*(rank-below)/(cum-below)
		}
	}
	return bounds[len(bounds)-1]
}

// TestNormalTailsBounded draws normal negotiations and ML latencies from
// the generator alone and checks that no window the console could judge
// crosses the guide's alert, however few observations it holds (the
// first minutes of the hour window of negotiations; about 70 predictions
// in a minute), while slow-negotiations and ml-timeouts still do.
func TestNormalTailsBounded(t *testing.T) {
	normal, _ := profileOf(ScenarioNormal)
	s := &Sim{o: Options{NegotiationTimeout: 72 * time.Hour}, g: newGenerator(5, 40)}
	draw := func(p profile, n int) []float64 {
		hours := make([]float64, n)
		for i := range hours {
			a := &appeal{}
			s.drawOutcome(a, p)
			hours[i] = a.hours
		}
		return hours
	}

	t.Run("negotiations", func(t *testing.T) {
		hours := draw(normal, 20000)
		worst := 0.0
		for _, h := range hours {
			worst = math.Max(worst, h)
		}
		if worst > normal.negMaxH || worst >= alertNegotiationH {
			t.Errorf("a normal negotiation lasted %.1f h, want at most %g h", worst, normal.negMaxH)
		}
		// Windows of 1 to 40 negotiations: the hour window as it fills.
		for n := 1; n <= 40; n++ {
			for i := 0; i+n <= len(hours); i += 97 {
				if v := histogramQuantile(0.95, negotiationBuckets(), hours[i:i+n]); v >= alertNegotiationH {
					t.Fatalf("a window of %d normal negotiations has a p95 of %.1f h", n, v)
				}
			}
		}
		if v := histogramQuantile(0.95, negotiationBuckets(), hours); v < 10 || v > 16 {
			t.Errorf("normal negotiation p95 %.1f h, want about 13 h", v)
		}
		slow, _ := profileOf(ScenarioSlowNegotiations)
		if v := histogramQuantile(0.95, negotiationBuckets(), draw(slow, 2000)); v <= alertNegotiationH {
			t.Errorf("slow-negotiations p95 %.1f h, want over %d h", v, alertNegotiationH)
		}
	})

	t.Run("ml latency", func(t *testing.T) {
		obs := make([]float64, 70*2000)
		for i := range obs {
			obs[i], _ = s.g.mlLatency(normal)
		}
		var p99s []float64
		for i := 0; i+70 <= len(obs); i += 70 {
			p99s = append(p99s, 1000*histogramQuantile(0.99, mlBuckets(), obs[i:i+70]))
		}
		sort.Float64s(p99s)
		median, worst := p99s[len(p99s)/2], p99s[len(p99s)-1]
		t.Logf("ML p99 over one-minute windows: median %.1f ms, 99th %.1f ms, worst %.1f ms", median, p99s[len(p99s)*99/100], worst)
		if worst >= 100 || median < 30 || median > 70 {
			t.Errorf("normal ML p99: median %.1f ms, worst %.1f ms; want about 50 ms and never the target of 100 ms", median, worst)
		}
		timeouts, _ := profileOf(ScenarioMLTimeouts)
		slow := make([]float64, 700)
		for i := range slow {
			slow[i], _ = s.g.mlLatency(timeouts)
		}
		if v := 1000 * histogramQuantile(0.99, mlBuckets(), slow); v <= alertMLp99ms {
			t.Errorf("ml-timeouts p99 %.0f ms, want over %d ms", v, alertMLp99ms)
		}
	})
}

// TestNormalOnDemoDatabase runs the normal scenario on a demo database,
// which holds appeals pending and negotiating for days, and computes the
// negotiation p95 from pairs of scrapes as the console does, from the
// first scrape on: every window is under the guide's 24 h, the simulator
// observes only the negotiations it ran (never the age of the demo's open
// appeals) and leaves the demo's appeals as they were. The other panels
// are judged over windows of a minute or more, against their targets.
func TestNormalOnDemoDatabase(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "architect.db")
	if _, err := GenerateDemo(ctx, path, DemoOptions{Appeals: 2000, Seed: 3}, nil); err != nil {
		t.Fatal(err)
	}
	r := openRead(t, path)
	var demoMax, demoOpen int64
	if err := r.QueryRow(`SELECT max(id), sum(status IN ('pending', 'negotiating')) FROM appeals`).Scan(&demoMax, &demoOpen); err != nil {
		t.Fatal(err)
	}
	if demoOpen == 0 {
		t.Fatal("the demo database has no open appeal to test with")
	}

	o := testOptions(path)
	s := startSim(t, o)
	var smp []sample
	for range 20 { // 4 s: 4 minutes of service time
		smp = append(smp, take(t, s))
		time.Sleep(200 * time.Millisecond)
	}
	smp = append(smp, take(t, s))

	const h = "reputation_negotiation_duration_hours"
	windows := 0
	for i := range smp {
		for j := i + 1; j < len(smp); j++ {
			v := quantileBetween(0.95, smp[i], smp[j], h)
			if math.IsNaN(v) {
				continue // no negotiation ended between them
			}
			windows++
			if v >= alertNegotiationH {
				t.Errorf("negotiation p95 %.1f h between scrapes %d and %d, want under %d h", v, i, j, alertNegotiationH)
			}
		}
	}
	// The other panels over every window of a minute or more of service
	// time: within their targets, as the demo's console shows them green.
	for i := range smp {
		for j := i + 5; j < len(smp); j++ {
			f := figuresBetween(smp[i], smp[j], o.Speed)
			if f.submitPerMin >= 100 || f.errorPct >= 1 || f.processingP95ms >= 500 || f.mlP99ms >= 100 || f.connUsage*10 >= 8 || f.api5xxPct >= 0.1 {
				t.Errorf("scrapes %d to %d: a figure outside its target: %+v", i, j, f)
			}
		}
	}

	last := buckets(smp[len(smp)-1], h)
	total := last[len(last)-1].count
	t.Logf("%d negotiations observed, %d windows judged, p95 over the run %.1f h", int(total), windows, quantileBetween(0.95, smp[0], smp[len(smp)-1], h))
	if total < 20 || windows == 0 {
		t.Fatalf("%v negotiations observed in 4 minutes of service time, want dozens", total)
	}

	var open, simDecided int64
	if err := r.QueryRow(`SELECT sum(status IN ('pending', 'negotiating')) FROM appeals WHERE id <= ?`, demoMax).Scan(&open); err != nil {
		t.Fatal(err)
	}
	if err := r.QueryRow(`SELECT count(*) FROM appeals WHERE id > ? AND status IN ('approved', 'denied', 'expired')`, demoMax).Scan(&simDecided); err != nil {
		t.Fatal(err)
	}
	if open != demoOpen {
		t.Errorf("the demo's open appeals went from %d to %d: the simulator decided appeals it did not submit", demoOpen, open)
	}
	if float64(simDecided) < total {
		t.Errorf("%v negotiations observed but the simulator decided %d appeals", total, simDecided)
	}
}

// TestNormalFirstMinuteRates draws the first minute of normal submissions
// tick by tick (200 ms) for many seeds and computes the rate over every
// window within it that a console scraping once a second could take, from
// one second long: none is past the guide's 100/min, though the console's
// first windows hold only a few appeals. (Later its window is a minute
// long, which TestNormalRatesStayUnderAlert judges.)
func TestNormalFirstMinuteRates(t *testing.T) {
	p, _ := profileOf(ScenarioNormal)
	const tick, ticks = 0.2, int(firstBurstAfter / 0.2)
	worst := 0.0
	for seed := uint64(1); seed <= 300; seed++ {
		g := newGenerator(seed, 40)
		cum := make([]int, ticks+1)
		for i := 1; i <= ticks; i++ {
			g.virt += tick
			cum[i] = cum[i-1] + g.arrivals(g.submitRate(p))
		}
		for a := 0; a < ticks; a++ {
			for b := a + 5; b <= ticks && b-a <= 300; b++ {
				rate := float64(cum[b]-cum[a]) * 60 / (float64(b-a) * tick)
				if rate > worst {
					worst = rate
				}
				if rate > alertSubmitPerMin {
					t.Fatalf("seed %d: %.0f submissions/min between %.1f s and %.1f s", seed, rate, float64(a)*tick, float64(b)*tick)
				}
			}
		}
	}
	t.Logf("worst rate over a window of 1-60 s in the first minute: %.0f/min", worst)
}
