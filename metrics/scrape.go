package metrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// DefaultMaxBodyBytes caps a scraped body: the service's contract payload
// is a few KiB; anything near 10 MiB is not a metrics page.
const DefaultMaxBodyBytes = 10 << 20

// The metric names of DESIGN.md's metrics contract.
const (
	MetricSubmitted    = "reputation_appeals_submitted_total"
	MetricErrors       = "reputation_appeal_errors_total"
	MetricProcessing   = "reputation_appeal_processing_seconds"
	MetricNegotiation  = "reputation_negotiation_duration_hours"
	MetricMLPrediction = "reputation_ml_prediction_seconds"
	MetricConnActive   = "reputation_db_connections_active"
	MetricConnMax      = "reputation_db_connections_max"
	MetricAPIRequests  = "reputation_api_requests_total"
	metricProcessStart = "process_start_time_seconds"
	// MetricProcessCPU and MetricProcessRSS are client_golang's process
	// collector's CPU time (seconds, a counter) and resident memory
	// (bytes): not in the contract, exposed by every Go service.
	MetricProcessCPU    = "process_cpu_seconds_total"
	MetricProcessRSS    = "process_resident_memory_bytes"
	acceptTextFormat    = "text/plain;version=0.0.4;q=1,*/*;q=0.1"
	maxTrackedSeries    = 5000
	slowPointSpacing    = 15 * time.Second
	maxFastPoints       = 600
	maxSlowPoints       = int(SlowWindow/slowPointSpacing) + 2
	minSamplesForRate   = 2
	counterBackwardsMsg = "counter went backwards without a restart"
)

// ScrapeOptions configure a scrape source.
type ScrapeOptions struct {
	Name string // default "service"
	URL  string
	// Client does the requests; its Timeout, or the context's deadline,
	// bounds a scrape. Default: a client with a 2 s timeout.
	Client *http.Client
	// MaxBodyBytes caps the body; a larger body is an error. Default
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
}

// ScrapeSource scrapes the service's /metrics directly and computes the
// panels as Prometheus would from successive scrapes: rates over the last
// minute (negotiation durations over the last hour), counter resets
// handled, histogram quantiles interpolated. It keeps the points of the
// last minute (every scrape, at most 600) and of the last hour (one every
// 15 s, at most 242), each a []float64 over the contract's series only.
type ScrapeSource struct {
	opts ScrapeOptions

	mu     sync.Mutex
	index  map[string]int // series key -> position in a point's values
	series []seriesInfo   // by position
	fast   []point        // oldest first, within FastWindow
	slow   []point        // oldest first, 15 s apart, within SlowWindow
}

// seriesInfo describes a tracked series.
type seriesInfo struct {
	family string  // the metric family (histograms: the base name)
	kind   byte    // 'c' counter, 'g' gauge, 'b' bucket, 's' sum, 'n' count
	le     float64 // bucket's upper bound
	code   string  // the code label of API requests
}

// point is one scrape's values; NaN marks a series absent from it.
type point struct {
	t        time.Time
	v        []float64
	start    float64           // process_start_time_seconds, NaN if absent
	problems map[string]string // family -> why it cannot be used
}

var _ Source = (*ScrapeSource)(nil)

// NewScrapeSource builds a scrape source for o.URL.
func NewScrapeSource(o ScrapeOptions) (*ScrapeSource, error) {
	if _, err := ParseHTTPURL("metrics url", o.URL, "http://host:port/metrics", false); err != nil {
		return nil, err
	}
	if o.Name == "" {
		o.Name = "service"
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 2 * time.Second}
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	return &ScrapeSource{opts: o, index: map[string]int{}}, nil
}

// Name implements Source.
func (s *ScrapeSource) Name() string { return s.opts.Name }

// Kind implements Source.
func (s *ScrapeSource) Kind() string { return KindScrape }

// Target implements Source.
func (s *ScrapeSource) Target() string { return s.opts.URL }

// Collect scrapes once and computes the panels. When the scrape fails the
// error says why and the result still carries service_up = 0.
func (s *ScrapeSource) Collect(ctx context.Context, now time.Time) (Result, error) {
	fams, err := s.fetch(ctx)
	if err != nil {
		return Result{Panels: map[string]Value{PanelServiceUp: Known(0)}}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.record(fams, now)
	s.append(p)
	return Result{Panels: s.compute(now)}, nil
}

// fetch gets and parses the body.
func (s *ScrapeSource) fetch(ctx context.Context) (map[string]*dto.MetricFamily, error) {
	return fetchTextFamilies(ctx, s.opts.Client, s.opts.URL, s.opts.MaxBodyBytes, "the service's /metrics")
}

// fetchTextFamilies gets url and parses it as the Prometheus text format
// (the scrape of the service, Litestream's metrics), the body bounded by
// maxBody; what names the page the errors say it is not ("the service's
// /metrics"). The client library's go_* and process_* families the
// panels do not use are dropped before parsing.
func fetchTextFamilies(ctx context.Context, client *http.Client, url string, maxBody int64, what string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	req.Header.Set("Accept", acceptTextFormat)
	// Uncompressed: the page is a few KiB, and compressing it on one side
	// and inflating it on the other costs both more CPU than it saves.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, describeNetErr(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("scrape %s: HTTP %s", url, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := mime.ParseMediaType(ct)
		switch mt {
		case "text/html", "application/xhtml+xml":
			return nil, fmt.Errorf("scrape %s: answered HTML, not the Prometheus text format (is this %s?)", url, what)
		case "application/json":
			return nil, fmt.Errorf("scrape %s: answered JSON, not the Prometheus text format (is this %s?)", url, what)
		}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("scrape %s: read body: %w", url, describeNetErr(err))
	}
	if int64(len(body)) > maxBody {
		return nil, fmt.Errorf("scrape %s: body larger than %d MiB: not a metrics page", url, maxBody>>20)
	}
	if looksLikeHTML(body) {
		return nil, fmt.Errorf("scrape %s: answered HTML, not the Prometheus text format (is this %s?)", url, what)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(dropRuntimeFamilies(body)))
	if err != nil {
		return nil, fmt.Errorf("scrape %s: not the Prometheus text format: %s", url, reasonLine(err.Error()))
	}
	return fams, nil
}

// usedRuntimeFamilies are the go_* and process_* families the panels use.
var usedRuntimeFamilies = map[string]bool{metricProcessStart: true, MetricProcessCPU: true, MetricProcessRSS: true}

// dropRuntimeFamilies removes from a text-format page the lines (samples,
// HELP and TYPE) of the client library's go_* and process_* families
// that no panel uses: half of a client_golang service's page, and most of
// the parser's work. Every other line is kept as it is, so a malformed
// page is still reported as one.
func dropRuntimeFamilies(body []byte) []byte {
	out := body[:0:0]
	dropped := false
	for rest := body; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i+1], rest[i+1:]
		} else {
			rest = nil
		}
		name := line
		if bytes.HasPrefix(name, []byte("# HELP ")) || bytes.HasPrefix(name, []byte("# TYPE ")) {
			name = name[7:]
		}
		if end := bytes.IndexAny(name, "{ \t\n"); end >= 0 {
			name = name[:end]
		}
		if (bytes.HasPrefix(name, []byte("go_")) || bytes.HasPrefix(name, []byte("process_"))) && !usedRuntimeFamilies[string(name)] {
			if !dropped {
				// Copy what was kept so far, once.
				out = append(make([]byte, 0, len(body)), body[:len(body)-len(line)-len(rest)]...)
				dropped = true
			}
			continue
		}
		if dropped {
			out = append(out, line...)
		}
	}
	if !dropped {
		return body
	}
	return out
}

func looksLikeHTML(b []byte) bool {
	t := bytes.TrimSpace(b)
	if len(t) > 512 {
		t = t[:512]
	}
	l := bytes.ToLower(t)
	return bytes.HasPrefix(l, []byte("<!doctype html")) || bytes.HasPrefix(l, []byte("<html")) || bytes.Contains(l, []byte("<body"))
}

func describeNetErr(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		return fmt.Errorf("timed out: %w", err)
	}
	return err
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// record turns the contract's families into a point.
func (s *ScrapeSource) record(fams map[string]*dto.MetricFamily, now time.Time) point {
	p := point{t: now, start: math.NaN(), problems: map[string]string{}}
	vals := map[int]float64{}
	put := func(fam string, key string, info seriesInfo, v float64) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			p.problems[fam] = fmt.Sprintf("%s has value %v", key, v)
			return
		}
		i, ok := s.index[key]
		if !ok {
			if len(s.series) >= maxTrackedSeries {
				p.problems[fam] = fmt.Sprintf("more than %d series: label cardinality explosion", maxTrackedSeries)
				return
			}
			i = len(s.series)
			s.index[key] = i
			s.series = append(s.series, info)
		}
		if _, dup := vals[i]; dup {
			p.problems[fam] = "duplicate series " + key
			return
		}
		vals[i] = v
	}
	if mf := fams[metricProcessStart]; mf != nil && len(mf.GetMetric()) == 1 {
		p.start = scalarOf(mf.GetMetric()[0])
	}
	for _, name := range []string{MetricSubmitted, MetricErrors, MetricAPIRequests, MetricConnActive, MetricConnMax, MetricProcessCPU, MetricProcessRSS} {
		mf := fams[name]
		if mf == nil {
			continue
		}
		kind := byte('c')
		if name == MetricConnActive || name == MetricConnMax || name == MetricProcessRSS {
			kind = 'g'
		}
		for _, m := range mf.GetMetric() {
			code := ""
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "code" {
					code = lp.GetValue()
				}
			}
			put(name, name+labelString(m, ""), seriesInfo{family: name, kind: kind, code: code}, scalarOf(m))
		}
	}
	for _, name := range []string{MetricProcessing, MetricNegotiation, MetricMLPrediction} {
		mf := fams[name]
		if mf == nil {
			continue
		}
		if mf.GetType() != dto.MetricType_HISTOGRAM {
			p.problems[name] = fmt.Sprintf("%s is a %s, want a histogram", name, strings.ToLower(mf.GetType().String()))
			continue
		}
		for _, m := range mf.GetMetric() {
			h := m.GetHistogram()
			ls := labelString(m, "")
			hasInf := false
			for _, b := range h.GetBucket() {
				ub := b.GetUpperBound()
				if math.IsInf(ub, 1) {
					hasInf = true
				}
				c := float64(b.GetCumulativeCount())
				if b.CumulativeCountFloat != nil {
					c = b.GetCumulativeCountFloat()
				}
				put(name, name+"_bucket"+ls+"\xffle="+strconv.FormatFloat(ub, 'g', -1, 64), seriesInfo{family: name, kind: 'b', le: ub}, c)
			}
			if !hasInf {
				p.problems[name] = name + "_bucket" + ls + " has no le=\"+Inf\" bucket"
			}
			cnt := float64(h.GetSampleCount())
			if h.SampleCountFloat != nil {
				cnt = h.GetSampleCountFloat()
			}
			put(name, name+"_sum"+ls, seriesInfo{family: name, kind: 's'}, h.GetSampleSum())
			put(name, name+"_count"+ls, seriesInfo{family: name, kind: 'n'}, cnt)
		}
	}
	p.v = make([]float64, len(s.series))
	for i := range p.v {
		p.v[i] = math.NaN()
	}
	for i, v := range vals {
		p.v[i] = v
	}
	return p
}

func scalarOf(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	return math.NaN()
}

// labelString is the sorted label set as {a="b",c="d"}, without skip.
func labelString(m *dto.Metric, skip string) string {
	lps := m.GetLabel()
	if len(lps) == 0 {
		return "{}"
	}
	parts := make([]string, 0, len(lps))
	for _, lp := range lps {
		if lp.GetName() == skip {
			continue
		}
		parts = append(parts, lp.GetName()+"="+strconv.Quote(lp.GetValue()))
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

// append adds p to the windows, dropping what fell out of them.
func (s *ScrapeSource) append(p point) {
	s.fast = append(s.fast, p)
	cut := 0
	for cut < len(s.fast)-1 && (p.t.Sub(s.fast[cut].t) > FastWindow || len(s.fast)-cut > maxFastPoints) {
		cut++
	}
	if cut > 0 {
		s.fast = append(s.fast[:0:0], s.fast[cut:]...)
	}
	if n := len(s.slow); n == 0 || p.t.Sub(s.slow[n-1].t) >= slowPointSpacing {
		s.slow = append(s.slow, p)
		cut = 0
		for cut < len(s.slow)-1 && (p.t.Sub(s.slow[cut].t) > SlowWindow || len(s.slow)-cut > maxSlowPoints) {
			cut++
		}
		if cut > 0 {
			s.slow = append(s.slow[:0:0], s.slow[cut:]...)
		}
	}
}

// window returns the points within w before now, oldest first, always
// ending with the newest scrape.
func (s *ScrapeSource) window(now time.Time, w time.Duration) []point {
	if w <= FastWindow {
		i := 0
		for i < len(s.fast) && now.Sub(s.fast[i].t) > w {
			i++
		}
		return s.fast[i:]
	}
	var out []point
	for _, p := range s.slow {
		if now.Sub(p.t) <= w {
			out = append(out, p)
		}
	}
	newest := s.fast[len(s.fast)-1]
	if len(out) == 0 || out[len(out)-1].t.Before(newest.t) {
		out = append(out, newest)
	}
	return out
}

// problem returns why family cannot be used in the newest scrape, or "".
func (s *ScrapeSource) problem(pts []point, family string) string {
	newest := pts[len(pts)-1]
	if r := newest.problems[family]; r != "" {
		return r
	}
	return ""
}

// seriesRates returns, for each tracked series selected by keep, its
// per-second rate over pts (Prometheus' rate: increase with counter
// resets handled, over the span of the series' own samples). A series with
// fewer than two samples in the window is left out, as Prometheus does.
func (s *ScrapeSource) seriesRates(pts []point, keep func(seriesInfo) bool) (map[int]float64, error) {
	out := map[int]float64{}
	for i, info := range s.series {
		if !keep(info) {
			continue
		}
		var first, prev float64
		var t0, t1 time.Time
		var startPrev float64
		n := 0
		inc := 0.0
		for _, p := range pts {
			if i >= len(p.v) || math.IsNaN(p.v[i]) {
				continue
			}
			v := p.v[i]
			if n == 0 {
				first, t0 = v, p.t
			} else if v < prev {
				if !math.IsNaN(startPrev) && startPrev == p.start {
					return nil, fmt.Errorf("%s: %s (%g then %g)", info.family, counterBackwardsMsg, prev, v)
				}
				inc += prev // reset: the counter restarted from 0
			}
			prev, t1, startPrev = v, p.t, p.start
			n++
		}
		if n < minSamplesForRate {
			continue
		}
		inc += prev - first
		d := t1.Sub(t0).Seconds()
		if d <= 0 {
			continue
		}
		out[i] = inc / d
	}
	return out, nil
}

// compute derives every panel the scrape can give.
func (s *ScrapeSource) compute(now time.Time) map[string]Value {
	out := map[string]Value{PanelServiceUp: Known(1)}
	fast := s.window(now, FastWindow)
	slow := s.window(now, SlowWindow)

	out[PanelSubmissionRate] = s.rateSum(fast, MetricSubmitted, nil, 60)
	out[PanelAppealErrorRate] = s.ratio(fast, MetricErrors, nil, MetricSubmitted, nil)
	out[PanelAPIErrorRate] = s.ratio(fast, MetricAPIRequests, func(i seriesInfo) bool { return strings.HasPrefix(i.code, "5") }, MetricAPIRequests, nil)
	out[PanelProcessingP95] = scale(s.quantile(fast, MetricProcessing, 0.95), 1000)
	out[PanelMLLatencyP99] = scale(s.quantile(fast, MetricMLPrediction, 0.99), 1000)
	out[PanelPredictionLatency] = scale(s.average(fast, MetricMLPrediction), 1000)
	// Negotiations: those finished in the last minute, or in the last
	// hour when none finished in the minute (the exported PromQL's
	// fallback), so that a slow spell clears within a minute of its end.
	out[PanelNegotiationP95] = recentOr(s.quantile(fast, MetricNegotiation, 0.95), s.quantile(slow, MetricNegotiation, 0.95))
	out[PanelNegotiationAvg] = recentOr(s.average(fast, MetricNegotiation), s.average(slow, MetricNegotiation))

	// The process collector's CPU seconds: a rate in cores, shown in %
	// of one core; its resident bytes in MiB.
	out[PanelServiceCPU] = s.rateSum(fast, MetricProcessCPU, nil, 100)
	out[PanelServiceMemory] = scale(s.gauge(fast, MetricProcessRSS), 1.0/(1<<20))

	active := s.gauge(fast, MetricConnActive)
	out[PanelDBConnections] = active
	maxc := s.gauge(fast, MetricConnMax)
	switch {
	case !active.OK:
		out[PanelDBConnectionsUsage] = active
	case !maxc.OK:
		out[PanelDBConnectionsUsage] = maxc
	case maxc.V <= 0:
		out[PanelDBConnectionsUsage] = Unknown(MetricConnMax + " is 0")
	default:
		out[PanelDBConnectionsUsage] = Known(100 * active.V / maxc.V)
	}
	return out
}

// recentOr is recent when it is known, else the longer window's figure.
func recentOr(recent, longer Value) Value {
	if recent.OK && !math.IsNaN(recent.V) {
		return recent
	}
	return longer
}

func scale(v Value, f float64) Value {
	if v.OK {
		v.V *= f
	}
	return v
}

// need checks that family is usable in pts, and that pts allow a rate.
func (s *ScrapeSource) need(pts []point, family string) (Value, bool) {
	if r := s.problem(pts, family); r != "" {
		return Unknown(r), false
	}
	found := false
	for i, info := range s.series {
		if info.family == family && i < len(pts[len(pts)-1].v) && !math.IsNaN(pts[len(pts)-1].v[i]) {
			found = true
			break
		}
	}
	if !found {
		return Unknown(family + " missing from the scrape"), false
	}
	if len(pts) < minSamplesForRate {
		return Unknown("one scrape so far: a rate needs two"), false
	}
	return Value{}, true
}

func (s *ScrapeSource) rateSum(pts []point, family string, sel func(seriesInfo) bool, factor float64) Value {
	if v, ok := s.need(pts, family); !ok {
		return v
	}
	rates, err := s.seriesRates(pts, func(i seriesInfo) bool { return i.family == family && (sel == nil || sel(i)) })
	if err != nil {
		return Unknown(err.Error())
	}
	sum := 0.0
	for _, r := range rates {
		sum += r
	}
	return Known(sum * factor)
}

// ratio is 100 * rate(num) / rate(den); 0 when both are 0 (nothing
// submitted, nothing failed), as the exported PromQL's clamp_min gives.
func (s *ScrapeSource) ratio(pts []point, num string, nsel func(seriesInfo) bool, den string, dsel func(seriesInfo) bool) Value {
	if v, ok := s.need(pts, den); !ok {
		return v
	}
	d := s.rateSum(pts, den, dsel, 1)
	if !d.OK {
		return d
	}
	var n Value
	if num == den || s.hasFamily(pts, num) {
		n = s.rateSum(pts, num, nsel, 1)
		if !n.OK {
			return n
		}
	} else if r := s.problem(pts, num); r != "" {
		return Unknown(r)
	} else {
		return Unknown(num + " missing from the scrape")
	}
	if d.V <= 0 {
		if n.V == 0 {
			return Known(0)
		}
		return Unknown(fmt.Sprintf("%s rises while %s does not", num, den))
	}
	return Known(100 * n.V / d.V)
}

func (s *ScrapeSource) hasFamily(pts []point, family string) bool {
	_, ok := s.need(pts, family)
	return ok
}

// quantile is histogram_quantile(q, sum by (le) (rate(family_bucket[w]))).
func (s *ScrapeSource) quantile(pts []point, family string, q float64) Value {
	if v, ok := s.need(pts, family); !ok {
		return v
	}
	rates, err := s.seriesRates(pts, func(i seriesInfo) bool { return i.family == family && i.kind == 'b' })
	if err != nil {
		return Unknown(err.Error())
	}
	byLE := map[float64]float64{}
	for i, r := range rates {
		byLE[s.series[i].le] += r
	}
	buckets := make([]Bucket, 0, len(byLE))
	for le, c := range byLE {
		buckets = append(buckets, Bucket{UpperBound: le, Count: c})
	}
	v, err := HistogramQuantile(q, buckets)
	if err != nil {
		return Unknown(family + ": " + err.Error())
	}
	return Known(v)
}

// average is rate(family_sum) / rate(family_count).
func (s *ScrapeSource) average(pts []point, family string) Value {
	if v, ok := s.need(pts, family); !ok {
		return v
	}
	rates, err := s.seriesRates(pts, func(i seriesInfo) bool { return i.family == family && (i.kind == 's' || i.kind == 'n') })
	if err != nil {
		return Unknown(err.Error())
	}
	var sum, cnt float64
	for i, r := range rates {
		if s.series[i].kind == 's' {
			sum += r
		} else {
			cnt += r
		}
	}
	if cnt == 0 {
		return Unknown(family + ": " + ErrNoObservations.Error())
	}
	return Known(sum / cnt)
}

// gauge is the largest value of family in the newest scrape (max across
// series, as the PromQL max()).
func (s *ScrapeSource) gauge(pts []point, family string) Value {
	if len(pts) == 0 {
		return Unknown("no scrape")
	}
	newest := pts[len(pts)-1]
	if r := newest.problems[family]; r != "" {
		return Unknown(r)
	}
	v, found := math.Inf(-1), false
	for i, info := range s.series {
		if info.family == family && i < len(newest.v) && !math.IsNaN(newest.v[i]) {
			found = true
			v = math.Max(v, newest.v[i])
		}
	}
	if !found {
		return Unknown(family + " missing from the scrape")
	}
	return Known(v)
}
