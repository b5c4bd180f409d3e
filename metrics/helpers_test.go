package metrics

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// contractState is the service's counters and histograms at one moment;
// payload renders it in the text format, as the service serves it.
type contractState struct {
	submitted, errors float64
	api               map[string]float64 // code -> requests
	processing        histState          // seconds
	negotiation       histState          // hours
	ml                histState          // seconds
	connActive        float64
	connMax           float64
	start             float64 // process_start_time_seconds
}

type histState struct {
	bounds []float64 // finite upper bounds
	counts []float64 // cumulative, len(bounds)+1 (the last is +Inf)
	sum    float64
}

func newHist(bounds ...float64) histState {
	return histState{bounds: bounds, counts: make([]float64, len(bounds)+1)}
}

// observe adds n observations of v.
func (h *histState) observe(v float64, n float64) {
	for i, b := range h.bounds {
		if v <= b {
			h.counts[i] += n
		}
	}
	h.counts[len(h.bounds)] += n
	h.sum += v * n
}

func newContractState() *contractState {
	return &contractState{
		api:         map[string]float64{"200": 0, "500": 0},
		processing:  newHist(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
		negotiation: newHist(1, 6, 12, 24, 48, 72, 168),
		ml:          newHist(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
		connActive:  3, connMax: 10, start: 1.7e9,
	}
}

// advance moves the state by one second of a steady workload: perMin
// submissions a minute, 2 % failing, API 0.5 % 5xx.
func (c *contractState) advance(perMin float64) {
	n := perMin / 60
	c.submitted += n
	c.errors += n * 0.02
	c.api["200"] += 10 * 0.995
	c.api["500"] += 10 * 0.005
	c.processing.observe(0.2, n*0.9)
	c.processing.observe(0.7, n*0.1)
	c.negotiation.observe(10, 0.5)
	c.negotiation.observe(30, 0.1)
	c.ml.observe(0.02, n*0.95)
	c.ml.observe(0.3, n*0.05)
}

func writeHist(b *strings.Builder, name string, h histState) {
	fmt.Fprintf(b, "# HELP %s test histogram.\n# TYPE %s histogram\n", name, name)
	for i, ub := range h.bounds {
		fmt.Fprintf(b, "%s_bucket{le=\"%g\"} %g\n", name, ub, h.counts[i])
	}
	fmt.Fprintf(b, "%s_bucket{le=\"+Inf\"} %g\n", name, h.counts[len(h.bounds)])
	fmt.Fprintf(b, "%s_sum %g\n%s_count %g\n", name, h.sum, name, h.counts[len(h.bounds)])
}

func (c *contractState) payload() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# HELP process_start_time_seconds Start time.\n# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %g\n", c.start)
	fmt.Fprintf(&b, "# HELP %s Appeals submitted.\n# TYPE %s counter\n%s %g\n", MetricSubmitted, MetricSubmitted, MetricSubmitted, c.submitted)
	fmt.Fprintf(&b, "# HELP %s Appeal errors.\n# TYPE %s counter\n%s %g\n", MetricErrors, MetricErrors, MetricErrors, c.errors)
	writeHist(&b, MetricProcessing, c.processing)
	writeHist(&b, MetricNegotiation, c.negotiation)
	writeHist(&b, MetricMLPrediction, c.ml)
	fmt.Fprintf(&b, "# HELP %s Active.\n# TYPE %s gauge\n%s %g\n", MetricConnActive, MetricConnActive, MetricConnActive, c.connActive)
	fmt.Fprintf(&b, "# HELP %s Max.\n# TYPE %s gauge\n%s %g\n", MetricConnMax, MetricConnMax, MetricConnMax, c.connMax)
	fmt.Fprintf(&b, "# HELP %s API requests.\n# TYPE %s counter\n", MetricAPIRequests, MetricAPIRequests)
	for _, code := range []string{"200", "500"} {
		fmt.Fprintf(&b, "%s{code=\"%s\"} %g\n", MetricAPIRequests, code, c.api[code])
	}
	return b.String()
}

// payloadServer serves whatever body() returns, with content type ct.
type payloadServer struct {
	mu   sync.Mutex
	body string
	ct   string
	srv  *httptest.Server
}

func newPayloadServer(t testing.TB) *payloadServer {
	p := &payloadServer{ct: "text/plain; version=0.0.4; charset=utf-8"}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		body, ct := p.body, p.ct
		p.mu.Unlock()
		w.Header().Set("Content-Type", ct)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *payloadServer) set(body string) {
	p.mu.Lock()
	p.body = body
	p.mu.Unlock()
}

func (p *payloadServer) url() string { return p.srv.URL + "/metrics" }

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeSource is a Source made of function fields.
type fakeSource struct {
	name, kind string
	collect    func(ctx context.Context, now time.Time) (Result, error)
}

var _ Source = (*fakeSource)(nil)

func (f *fakeSource) Name() string   { return f.name }
func (f *fakeSource) Kind() string   { return f.kind }
func (f *fakeSource) Target() string { return "fake" }
func (f *fakeSource) Collect(ctx context.Context, now time.Time) (Result, error) {
	return f.collect(ctx, now)
}

func approx(a, b, tol float64) bool {
	if math.IsInf(a, 0) || math.IsInf(b, 0) {
		return a == b
	}
	return math.Abs(a-b) <= tol*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

// promRound is PromQL's round(v, to).
func promRound(v, to float64) float64 {
	inv := 1.0 / to
	return math.Floor(v*inv+0.5) / inv
}
