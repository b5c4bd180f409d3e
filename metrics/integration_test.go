package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// requireBinary finds a Debian package's binary or fails saying how to
// install it.
func requireBinary(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found (%v): install it: apt-get install %s", name, err, pkg)
	}
	return p
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// startDaemon runs a server binary until the test ends, and waits (at most
// 20 s) for its readiness URL to answer 200.
func startDaemon(t *testing.T, ready string, bin string, args ...string) {
	t.Helper()
	var logs bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(bin), logs.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Fatalf("%s exited early:\n%s", bin, logs.String())
		default:
		}
		resp, err := http.Get(ready)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s not ready at %s after 20 s:\n%s", bin, ready, logs.String())
}

// linearTarget is a service whose every counter grows linearly with time
// from large initial values (a service that has run for a long time): the
// same function gives the backfilled history, the live scrapes and the
// direct scrapes, so both paths see one series.
type linearTarget struct {
	t0     time.Time
	series []linSeries
	mu     sync.Mutex
	at     time.Time // when set, the handler serves this moment (prefill)
}

type linSeries struct {
	name, labels, typ string // typ: counter, gauge, histogram part
	base, rate        float64
}

func newLinearTarget(t0 time.Time) *linearTarget {
	lt := &linearTarget{t0: t0}
	add := func(name, labels, typ string, base, rate float64) {
		lt.series = append(lt.series, linSeries{name, labels, typ, base, rate})
	}
	add(MetricSubmitted, "", "counter", 1e6, 1.5)
	add(MetricErrors, "", "counter", 2e4, 0.03)
	add(MetricAPIRequests, `code="200"`, "counter", 5e6, 10)
	add(MetricAPIRequests, `code="500"`, "counter", 1e4, 0.05)
	add(MetricConnActive, "", "gauge", 4, 0)
	add(MetricConnMax, "", "gauge", 10, 0)
	hist := func(name string, les []string, rates []float64, sumRate float64) {
		for i, le := range les {
			add(name+"_bucket", `le="`+le+`"`, "histogram", 1e5*float64(i+1), rates[i])
		}
		add(name+"_sum", "", "histogram", 3e4, sumRate)
		add(name+"_count", "", "histogram", 1e5*float64(len(les)), rates[len(rates)-1])
	}
	hist(MetricProcessing, []string{"0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"}, []float64{0.2, 0.5, 1.0, 1.3, 1.46, 1.49, 1.5}, 0.3)
	hist(MetricMLPrediction, []string{"0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "+Inf"}, []float64{0.4, 0.9, 1.2, 1.35, 1.42, 1.48, 1.5}, 0.06)
	hist(MetricNegotiation, []string{"6", "12", "24", "48", "72", "+Inf"}, []float64{0.01, 0.03, 0.05, 0.08, 0.095, 0.1}, 1.8)
	return lt
}

func (lt *linearTarget) value(s linSeries, at time.Time) float64 {
	return s.base + s.rate*at.Sub(lt.t0).Seconds()
}

func (lt *linearTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	lt.mu.Lock()
	at := lt.at
	lt.mu.Unlock()
	if at.IsZero() {
		at = time.Now()
	}
	var b strings.Builder
	typed := map[string]bool{}
	for _, s := range lt.series {
		fam := s.name
		if s.typ == "histogram" {
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				fam = strings.TrimSuffix(fam, suf)
			}
		}
		if !typed[fam] {
			typed[fam] = true
			fmt.Fprintf(&b, "# TYPE %s %s\n", fam, s.typ)
		}
		lbl := ""
		if s.labels != "" {
			lbl = "{" + s.labels + "}"
		}
		fmt.Fprintf(&b, "%s%s %s\n", s.name, lbl, fmtFloat(lt.value(s, at)))
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprint(w, b.String())
}

// openMetrics writes the series' history from..to (every step) as the
// OpenMetrics input of promtool's backfill, with the labels Prometheus's
// scrape will attach.
func (lt *linearTarget) openMetrics(from, to time.Time, step time.Duration, job, instance string) string {
	var b strings.Builder
	names := map[string][]linSeries{}
	var order []string
	for _, s := range lt.series {
		if _, ok := names[s.name]; !ok {
			order = append(order, s.name)
		}
		names[s.name] = append(names[s.name], s)
	}
	sort.Strings(order)
	for _, name := range order {
		fmt.Fprintf(&b, "# TYPE %s unknown\n", name)
		for _, s := range names[name] {
			lbl := fmt.Sprintf(`instance="%s",job="%s"`, instance, job)
			if s.labels != "" {
				lbl = s.labels + "," + lbl
			}
			for at := from; !at.After(to); at = at.Add(step) {
				fmt.Fprintf(&b, "%s{%s} %s %.3f\n", s.name, lbl, fmtFloat(lt.value(s, at)), float64(at.UnixMilli())/1000)
			}
		}
	}
	b.WriteString("# EOF\n")
	return b.String()
}

// TestPrometheusAgreesWithDirectScrape starts a real Prometheus (Debian's
// package) scraping a loopback target every second, and checks that the
// Prometheus API source and the direct scrape report the same rates and
// quantiles within 1 % (relative; they scrape at slightly different
// moments). Two minutes of the target's history are backfilled into
// Prometheus with promtool and fed to the direct scrape first, so both have
// full one-minute windows without the test waiting a minute.
func TestPrometheusAgreesWithDirectScrape(t *testing.T) {
	prom := requireBinary(t, "prometheus", "prometheus")
	promtool := requirePromtool(t)
	dir := t.TempDir()

	now := time.Now().Truncate(time.Second)
	lt := newLinearTarget(now.Add(-10 * time.Minute))
	target := httptest.NewServer(lt)
	defer target.Close()
	instance := strings.TrimPrefix(target.URL, "http://")

	// History: 130 s up to 2 s ago, one point a second.
	from, to := now.Add(-130*time.Second), now.Add(-2*time.Second)
	om := filepath.Join(dir, "history.om")
	if err := os.WriteFile(om, []byte(lt.openMetrics(from, to, time.Second, "reputation", instance)), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if out, err := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", om, data).CombinedOutput(); err != nil {
		t.Fatalf("promtool backfill: %v\n%s", err, out)
	}

	// The direct scrape sees the same history.
	direct, err := NewScrapeSource(ScrapeOptions{URL: target.URL + "/metrics"})
	if err != nil {
		t.Fatal(err)
	}
	for at := from; !at.After(to); at = at.Add(time.Second) {
		lt.mu.Lock()
		lt.at = at
		lt.mu.Unlock()
		if _, err := direct.Collect(context.Background(), at); err != nil {
			t.Fatal(err)
		}
	}
	lt.mu.Lock()
	lt.at = time.Time{}
	lt.mu.Unlock()

	addr := freePort(t)
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: reputation
    static_configs:
      - targets: ['%s']
`, instance)), 0o644); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, "http://"+addr+"/-/ready", prom, "--config.file="+cfg, "--storage.tsdb.path="+data,
		"--web.listen-address="+addr, "--storage.tsdb.retention.time=1d")

	ps, err := NewPrometheusSource(PrometheusOptions{URL: "http://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	compare := []string{PanelSubmissionRate, PanelAppealErrorRate, PanelAPIErrorRate, PanelProcessingP95, PanelMLLatencyP99,
		PanelPredictionLatency, PanelNegotiationAvg, PanelNegotiationP95, PanelDBConnections, PanelDBConnectionsUsage, PanelServiceUp}
	deadline := time.Now().Add(40 * time.Second)
	agreed := 0
	var lastDiff string
	for time.Now().Before(deadline) && agreed < 3 {
		time.Sleep(time.Second)
		at := time.Now()
		dres, err := direct.Collect(ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		pres, err := ps.Collect(ctx, at)
		if err != nil {
			lastDiff = "prometheus: " + err.Error()
			continue
		}
		var diffs []string
		for _, p := range compare {
			d, q := dres.Panels[p], pres.Panels[p]
			if !d.OK || !q.OK || !approx(d.V, q.V, 0.01) {
				diffs = append(diffs, fmt.Sprintf("%s: direct %+v, prometheus %+v", p, d, q))
			}
		}
		if len(diffs) > 0 {
			lastDiff = strings.Join(diffs, "\n")
			agreed = 0
			continue
		}
		if len(pres.Nodes) != 1 || pres.Nodes[0].Instance != instance || !pres.Nodes[0].Up {
			lastDiff = fmt.Sprintf("nodes %+v", pres.Nodes)
			agreed = 0
			continue
		}
		agreed++
	}
	if agreed < 3 {
		t.Fatalf("the sources did not agree within 1 %% for 3 cycles in 40 s; last differences:\n%s", lastDiff)
	}
	// The values are the target's: 90/min, 2 %, 0.5 %...
	res, _ := direct.Collect(ctx, time.Now())
	if v := res.Panels[PanelSubmissionRate]; !approx(v.V, 90, 0.01) {
		t.Fatalf("submission rate %+v, want 90/min", v)
	}
}

func TestPrometheusQueryError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		q := r.Form.Get("query")
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(q, "histogram_quantile") {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"status":"error","errorType":"bad_data","error":"1:1: parse error: boom"}`)
			return
		}
		fmt.Fprintf(w, `{"status":"success","warnings":["partial data"],"data":{"resultType":"vector","result":[{"metric":{"instance":"n1:9090"},"value":[%d,"42"]}]}}`, time.Now().Unix())
	}))
	defer srv.Close()
	ps, err := NewPrometheusSource(PrometheusOptions{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(EngineOptions{Sources: []Source{ps}})
	if err != nil {
		t.Fatal(err)
	}
	snap := e.Cycle(context.Background())
	p := panelOf(t, snap, PanelProcessingP95)
	if p.Value.OK || !strings.Contains(p.Value.Reason, "boom") {
		t.Fatalf("p95 %+v, want unknown with the server's error", p.Value)
	}
	if p := panelOf(t, snap, PanelSubmissionRate); !p.Value.OK || p.Value.V != 42 {
		t.Fatalf("other panels should keep working: %+v", p.Value)
	}
	if !snap.Sources[0].Up || len(snap.Sources[0].Warnings) == 0 {
		t.Fatalf("source health %+v: up, with the warnings", snap.Sources[0])
	}
	if len(snap.Nodes) != 1 || snap.Nodes[0].Instance != "n1:9090" {
		t.Fatalf("nodes %+v", snap.Nodes)
	}
}

// TestAlertmanagerClient starts a real Alertmanager (Debian's package),
// posts an alert and reads it back through our client.
func TestAlertmanagerClient(t *testing.T) {
	am := requireBinary(t, "prometheus-alertmanager", "prometheus-alertmanager")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte("route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	startDaemon(t, "http://"+addr+"/-/ready", am, "--config.file="+cfg, "--storage.path="+dir,
		"--web.listen-address="+addr, "--cluster.listen-address=")

	starts := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	body, _ := json.Marshal([]map[string]any{{
		"labels":      map[string]string{"alertname": "ReputationAppealErrorRate", "severity": "critical", "instance": "node-1:9090"},
		"annotations": map[string]string{"summary": "Appeal error rate: 7 % > alert threshold 5 %"},
		"startsAt":    starts.Format(time.RFC3339),
	}})
	resp, err := http.Post("http://"+addr+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("post alert: HTTP %d", resp.StatusCode)
	}
	src, err := NewAlertmanagerSource("http://"+addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []ExternalAlert
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && len(got) == 0 {
		if got, err = src.Alerts(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			time.Sleep(200 * time.Millisecond)
		}
	}
	if len(got) != 1 {
		t.Fatalf("alerts %+v, want the one posted", got)
	}
	a := got[0]
	if a.Name != "ReputationAppealErrorRate" || a.Severity != "critical" || a.Instance != "node-1:9090" ||
		!strings.Contains(a.Summary, "7 %") || a.State != "active" || !a.StartsAt.Equal(starts) || a.Fingerprint == "" {
		t.Fatalf("alert %+v", a)
	}

	t.Run("down", func(t *testing.T) {
		src, _ := NewAlertmanagerSource("http://"+freePort(t), &http.Client{Timeout: time.Second})
		e, _ := NewEngine(EngineOptions{Sources: []Source{src}})
		snap := e.Cycle(context.Background())
		if snap.Sources[0].Up || !strings.Contains(snap.Sources[0].Err, "refused") {
			t.Fatalf("health %+v", snap.Sources[0])
		}
	})
	t.Run("not JSON", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<html>") }))
		defer srv.Close()
		src, _ := NewAlertmanagerSource(srv.URL, nil)
		if _, err := src.Alerts(context.Background()); err == nil || !strings.Contains(err.Error(), "not the v2 alerts JSON") {
			t.Fatalf("err %v", err)
		}
	})
}
