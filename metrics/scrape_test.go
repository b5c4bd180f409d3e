package metrics

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// scrapeEngine builds an engine over a scrape of url and a fake database
// source that always answers, so that a test can check the other panels
// keep working.
func scrapeEngine(t testing.TB, url string, clock *fakeClock, timeout time.Duration) *Engine {
	t.Helper()
	client := &http.Client{Timeout: timeout}
	sc, err := NewScrapeSource(ScrapeOptions{URL: url, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	dbs := &fakeSource{name: "database", kind: KindDatabase, collect: func(ctx context.Context, now time.Time) (Result, error) {
		return Result{Panels: map[string]Value{PanelBackupAge: Known(0.5), PanelDiskFree: Known(50)}}, nil
	}}
	e, err := NewEngine(EngineOptions{Sources: []Source{sc, dbs}, Now: clock.now, Timeout: timeout, HistorySize: 100})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func panelOf(t *testing.T, s Snapshot, name string) Panel {
	t.Helper()
	p, ok := s.Panel(name)
	if !ok {
		t.Fatalf("no panel %s", name)
	}
	return p
}

func alertOf(t *testing.T, s Snapshot, rule string) AlertStatus {
	t.Helper()
	for _, a := range s.Alerts {
		if a.Rule.Name == rule {
			return a
		}
	}
	t.Fatalf("no rule %s", rule)
	return AlertStatus{}
}

func TestScrapeComputesRatesAndQuantiles(t *testing.T) {
	ps := newPayloadServer(t)
	clock := newFakeClock()
	e := scrapeEngine(t, ps.url(), clock, 2*time.Second)
	st := newContractState()
	st.submitted, st.errors = 5000, 100
	var snap Snapshot
	for i := 0; i < 61; i++ {
		ps.set(st.payload())
		snap = e.Cycle(context.Background())
		if i == 0 {
			if v := panelOf(t, snap, PanelSubmissionRate).Value; v.OK || !strings.Contains(v.Reason, "two") {
				t.Fatalf("first scrape: submission rate = %+v, want unknown: a rate needs two scrapes", v)
			}
		}
		st.advance(90)
		clock.add(time.Second)
	}
	cases := []struct {
		panel string
		want  float64
	}{
		{PanelSubmissionRate, 90},
		{PanelAppealErrorRate, 2},
		{PanelAPIErrorRate, 0.5},
		// 90 % at 0.2 s, 10 % at 0.7 s: p95 falls in the (0.5, 1] bucket,
		// at rank 0.95: 0.5 + 0.5 * (0.95-0.9)/0.1 = 0.75 s.
		{PanelProcessingP95, 750},
		{PanelDBConnections, 3},
		{PanelDBConnectionsUsage, 30},
		{PanelServiceUp, 1},
		{PanelNegotiationAvg, (10*0.5 + 30*0.1) / 0.6},
		{PanelBackupAge, 0.5},
	}
	for _, c := range cases {
		t.Run(c.panel, func(t *testing.T) {
			p := panelOf(t, snap, c.panel)
			if !p.Value.OK || !approx(p.Value.V, c.want, 1e-6) {
				t.Fatalf("%s = %+v, want %g", c.panel, p.Value, c.want)
			}
		})
	}
	if a := alertOf(t, snap, "appeal_error_rate"); a.State != StateWarning {
		t.Fatalf("appeal_error_rate state %s (%s), want warning (2 %% > target 1 %%)", a.State, a.Reason)
	}
	if a := alertOf(t, snap, "appeal_submission_rate"); a.State != StateOK {
		t.Fatalf("appeal_submission_rate state %s (%s), want ok", a.State, a.Reason)
	}
}

func TestScrapeCounterReset(t *testing.T) {
	ps := newPayloadServer(t)
	clock := newFakeClock()
	e := scrapeEngine(t, ps.url(), clock, 2*time.Second)
	st := newContractState()
	st.submitted = 1000
	for i := 0; i < 10; i++ {
		ps.set(st.payload())
		e.Cycle(context.Background())
		st.advance(120)
		clock.add(time.Second)
	}
	t.Run("restart is a reset", func(t *testing.T) {
		// The service restarts: a new start time, counters from zero.
		st2 := newContractState()
		st2.start = st.start + 100
		st2.advance(120)
		ps.set(st2.payload())
		snap := e.Cycle(context.Background())
		v := panelOf(t, snap, PanelSubmissionRate).Value
		if !v.OK || v.V < 100 || v.V > 140 {
			t.Fatalf("rate across a restart = %+v, want about 120/min (reset handled, never negative)", v)
		}
	})
	t.Run("backwards without restart is unknown", func(t *testing.T) {
		clock.add(time.Second)
		st3 := newContractState()
		st3.start = st.start + 100
		st3.submitted = 0.5 // went back from 2 to 0.5 with the same start time
		ps.set(st3.payload())
		snap := e.Cycle(context.Background())
		v := panelOf(t, snap, PanelSubmissionRate).Value
		if v.OK || !strings.Contains(v.Reason, "backwards") {
			t.Fatalf("rate = %+v, want unknown: counter went backwards", v)
		}
		if p := panelOf(t, snap, PanelDBConnections); !p.Value.OK {
			t.Fatalf("gauge panel should keep working: %+v", p.Value)
		}
	})
}

// TestScrapeBadInput: every bad answer gives unknown with the reason,
// nothing panics, and the database panels keep working.
func TestScrapeBadInput(t *testing.T) {
	good := newContractState().payload()
	noInf := strings.Replace(good, MetricProcessing+"_bucket{le=\"+Inf\"} 0\n", "", 1)
	cases := []struct {
		name    string
		handler http.HandlerFunc
		url     string // instead of a handler
		second  string // a second body after a good one (for rate cases)
		panel   string // the panel to check ("" = every scrape panel)
		reason  string
	}{
		{name: "endpoint down", url: "closed", reason: "connection refused"},
		{name: "timeout", handler: func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(3 * time.Second):
			}
		}, reason: "timed out"},
		{name: "HTML", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<!DOCTYPE html><html><body>Login</body></html>")
		}, reason: "HTML"},
		{name: "HTML as text/plain", handler: func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "<html><head></head><body>oops</body></html>")
		}, reason: "HTML"},
		{name: "garbage", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprint(w, "\x00\x01 this is { not metrics\n")
		}, reason: "not the Prometheus text format"},
		{name: "50 MB body", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			line := strings.Repeat("# padding padding padding padding padding padding\n", 1000)
			for written := 0; written < 50<<20; written += len(line) {
				if _, err := io.WriteString(w, line); err != nil {
					return
				}
			}
		}, reason: "larger than 10 MiB"},
		{name: "HTTP 500", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "boom", 500)
		}, reason: "HTTP 500"},
		{name: "duplicate series", second: good + MetricSubmitted + " 7\n", panel: PanelSubmissionRate, reason: "duplicate series"},
		{name: "NaN value", second: strings.Replace(good, MetricConnActive+" 3", MetricConnActive+" NaN", 1), panel: PanelDBConnections, reason: "NaN"},
		{name: "+Inf value", second: strings.Replace(good, MetricSubmitted+" 0", MetricSubmitted+" +Inf", 1), panel: PanelSubmissionRate, reason: "+Inf"},
		{name: "-Inf value", second: strings.Replace(good, MetricErrors+" 0", MetricErrors+" -Inf", 1), panel: PanelAppealErrorRate, reason: "-Inf"},
		{name: "histogram without +Inf", second: noInf, panel: PanelProcessingP95, reason: "+Inf"},
		{name: "series missing", second: strings.Replace(good, MetricConnMax, "other_metric", -1), panel: PanelDBConnectionsUsage, reason: "missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clock := newFakeClock()
			url := c.url
			switch {
			case c.url == "closed":
				l, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				url = "http://" + l.Addr().String() + "/metrics"
				l.Close()
			case c.handler != nil:
				srv := httptest.NewServer(c.handler)
				defer srv.Close()
				url = srv.URL + "/metrics"
			}
			var ps *payloadServer
			if c.second != "" {
				ps = newPayloadServer(t)
				ps.set(good)
				url = ps.url()
			}
			e := scrapeEngine(t, url, clock, 300*time.Millisecond)
			snap := e.Cycle(context.Background())
			if ps != nil {
				clock.add(time.Second)
				ps.set(c.second)
				snap = e.Cycle(context.Background())
			}
			panels := []string{c.panel}
			if c.panel == "" {
				panels = []string{PanelSubmissionRate, PanelProcessingP95, PanelDBConnections, PanelAPIErrorRate}
				if sh := snap.Sources[0]; sh.Up || !strings.Contains(sh.Err, c.reason) {
					t.Fatalf("source health %+v, want down with %q", sh, c.reason)
				}
				if p := panelOf(t, snap, PanelServiceUp); !p.Value.OK || p.Value.V != 0 {
					t.Fatalf("service_up = %+v, want 0", p.Value)
				}
				if a := alertOf(t, snap, "service_down"); a.State != StatePending {
					t.Fatalf("service_down = %s (%s), want pending", a.State, a.Reason)
				}
			}
			for _, name := range panels {
				p := panelOf(t, snap, name)
				if p.Value.OK || p.State != StateUnknown || !strings.Contains(p.Value.Reason, c.reason) {
					t.Fatalf("%s = %+v state %s, want unknown with %q", name, p.Value, p.State, c.reason)
				}
			}
			for _, name := range []string{PanelBackupAge, PanelDiskFree} {
				if p := panelOf(t, snap, name); !p.Value.OK {
					t.Fatalf("%s should keep working: %+v", name, p.Value)
				}
			}
		})
	}
}

func TestDropRuntimeFamilies(t *testing.T) {
	page := "# HELP go_goroutines Goroutines.\n# TYPE go_goroutines gauge\ngo_goroutines 12\n" +
		"# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 4.5\n" +
		"process_open_fds 9\nprocess_resident_memory_bytes 1.2e+07\n" +
		"# TYPE reputation_db_connections_active gauge\nreputation_db_connections_active{pool=\"main\"} 3\n" +
		"go_memstats_alloc_bytes 1e6"
	for _, tt := range []struct {
		name, in, want string
	}{
		{"unused runtime families dropped, the rest kept as is", page,
			"# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 4.5\nprocess_resident_memory_bytes 1.2e+07\n" +
				"# TYPE reputation_db_connections_active gauge\nreputation_db_connections_active{pool=\"main\"} 3\n"},
		{"nothing to drop", "reputation_db_connections_active 3\n", "reputation_db_connections_active 3\n"},
		{"a malformed line is kept for the parser to report", "go_x 1\nnot a metric line {\n", "not a metric line {\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(dropRuntimeFamilies([]byte(tt.in))); got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}
