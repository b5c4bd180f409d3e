package sim

import (
	"context"
	"database/sql"
	"math"
	"net/http"
	"sort"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/repops/repops/db"
)

// testOptions are fast options: a loopback port of the kernel's choice,
// a fixed seed, time compressed 60 times, a 50 ms tick.
func testOptions(path string) Options {
	return Options{DBPath: path, Listen: "127.0.0.1:0", Seed: 42, Speed: 60, Tick: 50 * time.Millisecond}
}

// startSim builds and runs a Sim until the test ends, then checks that
// Run stopped cleanly.
func startSim(t testing.TB, o Options) *Sim {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run after cancel: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not stop within 10 s of cancel")
		}
	})
	return s
}

// scrape fetches and parses /metrics as a console would.
func scrape(t testing.TB, url string) map[string]*dto.MetricFamily {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: status %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return mfs
}

// sample is one scrape and when it was taken.
type sample struct {
	at  time.Time
	mfs map[string]*dto.MetricFamily
}

func take(t testing.TB, s *Sim) sample {
	t.Helper()
	at := time.Now()
	return sample{at: at, mfs: scrape(t, s.MetricsURL())}
}

// value is the sum of a counter's or gauge's series whose labels match.
func value(smp sample, name string, match func(map[string]string) bool) float64 {
	mf, ok := smp.mfs[name]
	if !ok {
		return math.NaN()
	}
	var sum float64
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		if match != nil && !match(labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		}
	}
	return sum
}

// bucket is a cumulative histogram bucket.
type bucket struct{ le, count float64 }

func buckets(smp sample, name string) []bucket {
	mf := smp.mfs[name]
	if mf == nil || len(mf.GetMetric()) == 0 {
		return nil
	}
	h := mf.GetMetric()[0].GetHistogram()
	var out []bucket
	for _, b := range h.GetBucket() {
		out = append(out, bucket{b.GetUpperBound(), float64(b.GetCumulativeCount())})
	}
	out = append(out, bucket{math.Inf(1), float64(h.GetSampleCount())})
	return out
}

// quantileBetween is histogram_quantile(q, increase over the window a..b),
// with Prometheus' rules: linear interpolation inside the bucket, the
// lowest bucket starting at 0, a rank in the +Inf bucket giving the
// highest finite bound, NaN for an empty window.
func quantileBetween(q float64, a, b sample, name string) float64 {
	ba, bb := buckets(a, name), buckets(b, name)
	if len(ba) != len(bb) || len(bb) == 0 {
		return math.NaN()
	}
	d := make([]bucket, len(bb))
	for i := range bb {
		d[i] = bucket{bb[i].le, bb[i].count - ba[i].count}
	}
	sort.Slice(d, func(i, j int) bool { return d[i].le < d[j].le })
	total := d[len(d)-1].count
	if total == 0 {
		return math.NaN()
	}
	rank := q * total
	for i, x := range d {
		if x.count < rank {
			continue
		}
		if math.IsInf(x.le, 1) {
			return d[i-1].le
		}
		lo, below := 0.0, 0.0
		if i > 0 {
			lo, below = d[i-1].le, d[i-1].count
		}
		return lo + (x.le-lo)*(rank-below)/(x.count-below)
	}
	return d[len(d)-2].le
}

// figures are the guide's key metrics over the window a..b, computed as
// the console does from two scrapes, in the service's time (Speed).
type figures struct {
	submitPerMin    float64
	errorPct        float64
	processingP95ms float64
	mlP99ms         float64
	negotiationP95h float64
	connUsage       float64 // active / max at b
	api5xxPct       float64
}

func figuresBetween(a, b sample, speed float64) figures {
	minutes := b.at.Sub(a.at).Minutes() * speed
	delta := func(name string, match func(map[string]string) bool) float64 {
		return value(b, name, match) - value(a, name, match)
	}
	sub := delta("reputation_appeals_submitted_total", nil)
	is5xx := func(l map[string]string) bool { return len(l["code"]) == 3 && l["code"][0] == '5' }
	return figures{
		submitPerMin:    sub / minutes,
		errorPct:        100 * delta("reputation_appeal_errors_total", nil) / math.Max(sub, 1e-9),
		processingP95ms: 1000 * quantileBetween(0.95, a, b, "reputation_appeal_processing_seconds"),
		mlP99ms:         1000 * quantileBetween(0.99, a, b, "reputation_ml_prediction_seconds"),
		negotiationP95h: quantileBetween(0.95, a, b, "reputation_negotiation_duration_hours"),
		connUsage:       value(b, "reputation_db_connections_active", nil) / value(b, "reputation_db_connections_max", nil),
		api5xxPct:       100 * delta("reputation_api_requests_total", is5xx) / math.Max(delta("reputation_api_requests_total", nil), 1e-9),
	}
}

// countRows counts the rows of the tables db-growth fills.
func countRows(t testing.TB, r *sql.DB) int64 {
	t.Helper()
	var n int64
	err := r.QueryRow(`SELECT (SELECT count(*) FROM ml_predictions) + (SELECT count(*) FROM appeal_negotiation_messages) + (SELECT count(*) FROM appeals)`).Scan(&n)
	if err != nil {
		t.Fatalf("count rows: %v", err)
	}
	return n
}

func openRead(t testing.TB, path string) *sql.DB {
	t.Helper()
	r, err := db.OpenRead(context.Background(), path, db.Options{})
	if err != nil {
		t.Fatalf("open read: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}
