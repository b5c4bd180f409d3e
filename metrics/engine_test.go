package metrics

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/repops/repops/config"
)

// valueSource serves panel values set by the test.
type valueSource struct {
	mu   sync.Mutex
	vals map[string]Value
	err  error
}

func (v *valueSource) set(panel string, val Value) {
	v.mu.Lock()
	v.vals[panel] = val
	v.mu.Unlock()
}

func (v *valueSource) source(kind string) *fakeSource {
	return &fakeSource{name: kind, kind: kind, collect: func(ctx context.Context, now time.Time) (Result, error) {
		v.mu.Lock()
		defer v.mu.Unlock()
		out := map[string]Value{}
		for k, x := range v.vals {
			out[k] = x
		}
		return Result{Panels: out}, v.err
	}}
}

func TestRuleStates(t *testing.T) {
	vs := &valueSource{vals: map[string]Value{}}
	clock := newFakeClock()
	e, err := NewEngine(EngineOptions{Sources: []Source{vs.source(KindScrape)}, Now: clock.now, HistorySize: 10, TransitionHistory: 3})
	if err != nil {
		t.Fatal(err)
	}
	rule := "appeal_error_rate" // target 1 %, alert 5 %, for 5m
	steps := []struct {
		name    string
		val     Value
		advance time.Duration
		want    State
		reason  string
	}{
		{"within target", Known(0.5), 0, StateOK, "target"},
		{"outside target", Known(2), time.Minute, StateWarning, "> target 1 %"},
		{"beyond alert starts pending", Known(6), time.Minute, StatePending, "6 % > 5 %"},
		{"still pending after 4m", Known(7), 4 * time.Minute, StatePending, "for 4m0s"},
		{"critical after for", Known(7), time.Minute, StateCritical, "for 5m0s"},
		{"unknown keeps its reason", Unknown("scrape failed"), time.Second, StateUnknown, "scrape failed"},
		{"back beyond alert: still active", Known(8), time.Second, StateCritical, ""},
		{"recovers", Known(0.2), time.Minute, StateOK, ""},
		{"beyond alert again: pending anew", Known(9), time.Minute, StatePending, ""},
	}
	var last AlertStatus
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			clock.add(s.advance)
			vs.set(PanelAppealErrorRate, s.val)
			snap := e.Cycle(context.Background())
			a := alertOf(t, snap, rule)
			if a.State != s.want || !strings.Contains(a.Reason, s.reason) {
				t.Fatalf("state %s reason %q, want %s with %q", a.State, a.Reason, s.want, s.reason)
			}
			if !a.Configured {
				t.Fatal("rule should be configured: a scrape source is present")
			}
			if a.State != last.State && !a.Since.Equal(clock.now()) {
				t.Fatalf("since %v, want now %v on a change", a.Since, clock.now())
			}
			if len(a.History) > 3 {
				t.Fatalf("transition history %d entries, bound is 3", len(a.History))
			}
			p := panelOf(t, snap, PanelAppealErrorRate)
			if (p.State == StateUnknown) != !s.val.OK {
				t.Fatalf("panel state %s for value %+v", p.State, s.val)
			}
			last = a
		})
	}
	h := e.History(PanelAppealErrorRate)
	if len(h) != len(steps) || !math.IsNaN(h[5]) || h[len(h)-1] != 9 {
		t.Fatalf("history %v: want %d points, NaN where unknown, newest last", h, len(steps))
	}
}

func TestRuleBelowAndUnconfigured(t *testing.T) {
	vs := &valueSource{vals: map[string]Value{PanelDiskFree: Known(15)}}
	clock := newFakeClock()
	e, err := NewEngine(EngineOptions{Sources: []Source{vs.source(KindDatabase)}, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	snap := e.Cycle(context.Background())
	if a := alertOf(t, snap, "disk_free"); a.State != StateWarning {
		t.Fatalf("disk 15 %% free: %s (%s), want warning (target 20 %%)", a.State, a.Reason)
	}
	vs.set(PanelDiskFree, Known(5))
	clock.add(time.Second)
	snap = e.Cycle(context.Background())
	if a := alertOf(t, snap, "disk_free"); a.State != StatePending {
		t.Fatalf("disk 5 %% free: %s (%s), want pending", a.State, a.Reason)
	}
	a := alertOf(t, snap, "appeal_processing_latency")
	if a.Configured || a.State != StateUnknown || !strings.Contains(a.Reason, "no configured source") {
		t.Fatalf("latency with only a database: %+v, want unconfigured unknown", a)
	}
	if got := snap.Overall(); got != StatePending {
		t.Fatalf("overall %s, want pending (unconfigured rules ignored)", got)
	}
}

func TestSourcePanicAndHang(t *testing.T) {
	clock := newFakeClock()
	panicky := &fakeSource{name: "panicky", kind: KindScrape, collect: func(ctx context.Context, now time.Time) (Result, error) {
		panic("boom")
	}}
	hang := make(chan struct{})
	defer close(hang)
	hung := &fakeSource{name: "hung", kind: KindPrometheus, collect: func(ctx context.Context, now time.Time) (Result, error) {
		<-hang // ignores its context
		return Result{}, nil
	}}
	db := &fakeSource{name: "database", kind: KindDatabase, collect: func(ctx context.Context, now time.Time) (Result, error) {
		return Result{Panels: map[string]Value{PanelDiskFree: Known(40)}}, errors.New("partly broken")
	}}
	e, err := NewEngine(EngineOptions{Sources: []Source{panicky, hung, db}, Now: clock.now, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		snap := e.Cycle(context.Background())
		for _, sh := range snap.Sources {
			if sh.Up {
				t.Fatalf("source %s up, want down: %+v", sh.Name, sh)
			}
		}
		if !strings.Contains(snap.Sources[0].Err, "boom") {
			t.Fatalf("panic not reported: %+v", snap.Sources[0])
		}
		if i == 1 && !strings.Contains(snap.Sources[1].Err, "still running") {
			t.Fatalf("hung source not reported as still running: %+v", snap.Sources[1])
		}
		if p := panelOf(t, snap, PanelDiskFree); !p.Value.OK || p.Value.V != 40 {
			t.Fatalf("disk_free %+v: a source's values are used even when it reports an error", p.Value)
		}
		if p := panelOf(t, snap, PanelProcessingP95); p.Value.OK || !strings.Contains(p.Value.Reason, "boom") {
			t.Fatalf("p95 %+v, want unknown naming the panic", p.Value)
		}
	}
}

func TestRingBounded(t *testing.T) {
	r := newRing(5)
	for i := 0; i < 12; i++ {
		r.push(float64(i))
	}
	got := r.last(0)
	want := []float64{7, 8, 9, 10, 11}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if l := r.last(2); l[0] != 10 || l[1] != 11 {
		t.Fatalf("last(2) = %v", l)
	}
	if r.bytes() != 5*8 {
		t.Fatalf("ring of 5 holds %d bytes", r.bytes())
	}
}

func TestApplyOverrides(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	cases := []struct {
		name string
		o    []config.RuleOverride
		err  string
		chk  func(t *testing.T, rs []Rule)
	}{
		{name: "thresholds and for", o: []config.RuleOverride{{Name: "appeal_submission_rate", Target: f(200), Alert: f(300), For: time.Minute, Severity: "critical"}},
			chk: func(t *testing.T, rs []Rule) {
				r := rs[0]
				if r.Target != 200 || r.Alert != 300 || r.For != time.Minute || r.Severity != "critical" {
					t.Fatalf("got %+v", r)
				}
			}},
		{name: "disabled", o: []config.RuleOverride{{Name: "dr_drill_age", Disabled: true}},
			chk: func(t *testing.T, rs []Rule) {
				for _, r := range rs {
					if r.Name == "dr_drill_age" {
						t.Fatal("still there")
					}
				}
			}},
		{name: "unknown rule", o: []config.RuleOverride{{Name: "nope"}}, err: `no rule named "nope"`},
		{name: "bad severity", o: []config.RuleOverride{{Name: "backup_age", Severity: "urgent"}}, err: "want critical, warning or info"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rs, err := ApplyOverrides(DefaultRules(), c.o)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.chk(t, rs)
		})
	}
	if DefaultRules()[0].Target != 100 {
		t.Fatal("overrides changed the defaults")
	}
}

func TestOptionsFromConfig(t *testing.T) {
	cfg := config.Defaults()
	cfg.Database.Path = "/srv/gaia/architect.db"
	cfg.Console.StateDir = "/srv/state"
	cfg.Reputation.MLConfidenceThreshold = 0.7
	o, err := OptionsFromConfig(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	if o.MetricsURL != "http://127.0.0.1:9090/metrics" || o.BackupDir != "/srv/gaia/backups" || o.StateDir != "/srv/state" || o.Timeout != 2*time.Second {
		t.Fatalf("options %+v", o)
	}
	for _, r := range o.Rules {
		if r.Name == "ml_confidence" && r.Target != 0.7 {
			t.Fatalf("ml_confidence target %g, want the config's 0.7", r.Target)
		}
	}
}
