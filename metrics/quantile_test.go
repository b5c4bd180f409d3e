package metrics

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestHistogramQuantile(t *testing.T) {
	inf := math.Inf(1)
	cases := []struct {
		name string
		q    float64
		b    []Bucket
		want float64
		err  error
	}{
		{"interpolates inside the bucket", 0.5, []Bucket{{1, 10}, {2, 30}, {inf, 40}}, 1.5, nil},
		{"lowest bucket starts at 0", 0.1, []Bucket{{1, 10}, {2, 30}, {inf, 40}}, 0.4, nil},
		{"unsorted input", 0.5, []Bucket{{inf, 40}, {2, 30}, {1, 10}}, 1.5, nil},
		{"in the +Inf bucket: highest finite bound", 0.99, []Bucket{{1, 10}, {2, 30}, {inf, 40}}, 2, nil},
		{"non-monotonic counts are fixed up", 0.5, []Bucket{{1, 10}, {2, 8}, {4, 30}, {inf, 40}}, 2 + 2*(10.0/20), nil},
		{"buckets of equal bound are added", 0.5, []Bucket{{1, 5}, {1, 5}, {2, 30}, {inf, 40}}, 1.5, nil},
		{"negative lowest bound returned as is", 0.05, []Bucket{{-1, 10}, {1, 20}, {inf, 40}}, -1, nil},
		{"q below 0", -0.5, []Bucket{{1, 1}, {inf, 1}}, math.Inf(-1), nil},
		{"q above 1", 1.5, []Bucket{{1, 1}, {inf, 1}}, inf, nil},
		{"no +Inf bucket", 0.5, []Bucket{{1, 10}, {2, 30}}, math.NaN(), ErrNoInfBucket},
		{"empty window", 0.5, []Bucket{{1, 0}, {2, 0}, {inf, 0}}, math.NaN(), ErrNoObservations},
		{"only +Inf", 0.5, []Bucket{{inf, 4}}, math.NaN(), ErrTooFewBuckets},
		{"no buckets", 0.5, nil, math.NaN(), ErrNoObservations},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := HistogramQuantile(c.q, c.b)
			if err != c.err {
				t.Fatalf("err %v, want %v", err, c.err)
			}
			if math.IsNaN(c.want) != math.IsNaN(got) || (!math.IsNaN(got) && !approx(got, c.want, 1e-12)) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

// requirePromtool finds promtool or fails saying how to install it.
func requirePromtool(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (%v): install it: apt-get install prometheus", err)
	}
	return p
}

// runPromtoolTest writes a promtool unit-test file and runs it.
func runPromtoolTest(t *testing.T, dir, body string) {
	t.Helper()
	promtool := requirePromtool(t)
	f := filepath.Join(dir, "test.yml")
	if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "test", "rules", f).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s\ntest file:\n%s", err, out, body)
	}
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// TestHistogramQuantileAgreesWithPromtool evaluates the same buckets with
// histogram_quantile in promtool and expects the Go port's values.
func TestHistogramQuantileAgreesWithPromtool(t *testing.T) {
	type hcase struct {
		q float64
		b map[string]float64 // le -> cumulative count
	}
	cases := []hcase{
		{0.5, map[string]float64{"0.1": 10, "0.5": 30, "1": 35, "+Inf": 40}},
		{0.95, map[string]float64{"0.1": 10, "0.5": 30, "1": 35, "+Inf": 40}},
		{0.99, map[string]float64{"0.1": 10, "0.5": 30, "1": 35, "+Inf": 40}},
		{0.05, map[string]float64{"0.1": 10, "0.5": 30, "1": 35, "+Inf": 40}},
		{0.5, map[string]float64{"1": 10, "2": 8, "4": 30, "+Inf": 40}}, // non-monotonic
		{0.9, map[string]float64{"0.005": 1, "0.01": 3, "0.025": 7, "0.05": 13, "0.1": 21, "0.25": 34, "0.5": 55, "+Inf": 89}},
		{0.3, map[string]float64{"-1": 10, "1": 20, "+Inf": 40}},
	}
	var series, exprs strings.Builder
	for i, c := range cases {
		var bs []Bucket
		les := make([]string, 0, len(c.b))
		for le := range c.b {
			les = append(les, le)
		}
		sort.Strings(les)
		for _, le := range les {
			ub, _ := strconv.ParseFloat(le, 64)
			bs = append(bs, Bucket{UpperBound: ub, Count: c.b[le]})
			fmt.Fprintf(&series, "      - series: 'h_bucket{case=\"%d\",le=\"%s\"}'\n        values: '%sx2'\n", i, le, fmtFloat(c.b[le]))
		}
		got, err := HistogramQuantile(c.q, bs)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		fmt.Fprintf(&exprs, "      - expr: 'round(histogram_quantile(%s, sum by (le) (h_bucket{case=\"%d\"})), 0.000001)'\n        eval_time: 1m\n        exp_samples:\n          - labels: '{}'\n            value: %s\n",
			fmtFloat(c.q), i, fmtFloat(promRound(got, 0.000001)))
	}
	runPromtoolTest(t, t.TempDir(), "evaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n"+series.String()+"    promql_expr_test:\n"+exprs.String())
}

// TestScrapeAgreesWithPromtool feeds the same series to the scrape source
// (one scrape every 15 s, with a counter reset) and to promtool evaluating
// each panel's PromQL (the expressions the rules export writes), and
// expects equal values to 6 decimals.
func TestScrapeAgreesWithPromtool(t *testing.T) {
	const steps = 9 // 0s .. 120s
	type ser struct {
		name string // full series with labels as in PromQL
		typ  string
		vals [steps]float64
	}
	var ss []*ser
	add := func(name, typ string, f func(i int) float64) {
		s := &ser{name: name, typ: typ}
		for i := range s.vals {
			s.vals[i] = f(i)
		}
		ss = append(ss, s)
	}
	add(MetricSubmitted, "counter", func(i int) float64 {
		if i >= 5 { // the service restarted between 60 s and 75 s
			return float64(3 + 25*(i-5))
		}
		return 1000 + 22*float64(i) + float64(i*i)
	})
	add(MetricErrors, "counter", func(i int) float64 { return 50 + float64(i/2) })
	add(MetricAPIRequests+`{code="200"}`, "counter", func(i int) float64 { return 9000 + 150*float64(i) })
	add(MetricAPIRequests+`{code="503"}`, "counter", func(i int) float64 { return 40 + float64(i%3+i) })
	add(MetricConnActive, "gauge", func(i int) float64 { return float64(3 + i%4) })
	add(MetricConnMax, "gauge", func(i int) float64 { return 10 })
	add(MetricProcessCPU+`{job="reputation"}`, "counter", func(i int) float64 { return 120 + 0.35*15*float64(i) + 0.01*float64(i*i) })
	add(MetricProcessRSS+`{job="reputation"}`, "gauge", func(i int) float64 { return float64(60<<20 + (i%3)<<20) })
	hist := func(base string, bounds []string, rates []float64) {
		for j, le := range bounds {
			r := rates[j]
			add(base+`_bucket{le="`+le+`"}`, "histogram", func(i int) float64 { return 500*float64(j+1) + r*float64(i) })
		}
		last := rates[len(rates)-1]
		add(base+"_sum", "histogram", func(i int) float64 { return 7000 + 0.37*last*float64(i) })
		add(base+"_count", "histogram", func(i int) float64 { return 500*float64(len(bounds)) + last*float64(i) })
	}
	hist(MetricProcessing, []string{"0.1", "0.25", "0.5", "1", "+Inf"}, []float64{4, 10, 16, 19.6, 20})
	hist(MetricMLPrediction, []string{"0.01", "0.05", "0.1", "0.5", "+Inf"}, []float64{40, 70, 80, 86, 86.5})
	hist(MetricNegotiation, []string{"6", "12", "24", "72", "+Inf"}, []float64{1, 2, 3, 5.9, 6})

	payload := func(i int) string {
		var b strings.Builder
		typed := map[string]bool{}
		for _, s := range ss {
			fam := s.name
			if j := strings.IndexByte(fam, '{'); j >= 0 {
				fam = fam[:j]
			}
			if s.typ == "histogram" {
				for _, suf := range []string{"_bucket", "_sum", "_count"} {
					fam = strings.TrimSuffix(fam, suf)
				}
			}
			if !typed[fam] {
				typed[fam] = true
				fmt.Fprintf(&b, "# TYPE %s %s\n", fam, s.typ)
			}
			fmt.Fprintf(&b, "%s %s\n", s.name, fmtFloat(s.vals[i]))
		}
		return b.String()
	}

	ps := newPayloadServer(t)
	src, err := NewScrapeSource(ScrapeOptions{URL: ps.url()})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var res Result
	for i := 0; i < steps; i++ {
		ps.set(payload(i))
		if res, err = src.Collect(context.Background(), t0.Add(time.Duration(i)*15*time.Second)); err != nil {
			t.Fatal(err)
		}
	}

	var series, exprs strings.Builder
	for _, s := range ss {
		vals := make([]string, steps)
		for i, v := range s.vals {
			vals[i] = fmtFloat(v)
		}
		fmt.Fprintf(&series, "      - series: '%s'\n        values: '%s'\n", strings.ReplaceAll(s.name, "'", "''"), strings.Join(vals, " "))
	}
	checked := 0
	for _, d := range PanelDefs() {
		if d.PromQL == "" || d.Name == PanelServiceUp || !hasKind(d.Sources, KindScrape) {
			continue
		}
		v, ok := res.Panels[d.Name]
		if !ok || !v.OK {
			t.Fatalf("%s: scrape gave %+v", d.Name, v)
		}
		checked++
		fmt.Fprintf(&exprs, "      - expr: 'round(%s, 0.000001)'\n        eval_time: 2m\n        exp_samples:\n          - labels: '{}'\n            value: %s\n",
			strings.ReplaceAll(d.PromQL, "'", "''"), fmtFloat(promRound(v.V, 0.000001)))
	}
	if checked < 9 {
		t.Fatalf("only %d panels checked", checked)
	}
	runPromtoolTest(t, t.TempDir(), "evaluation_interval: 15s\ntests:\n  - interval: 15s\n    input_series:\n"+series.String()+"    promql_expr_test:\n"+exprs.String())
}
