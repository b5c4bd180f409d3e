package metrics

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/repops/repops/config"
	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/humanize"
)

// EngineOptions configure an Engine. OptionsFromConfig fills them from the
// configuration; tests set them directly.
type EngineOptions struct {
	// MetricsURL is the service's /metrics; "" for none.
	MetricsURL string
	// PrometheusURL is a Prometheus server's base URL; "" for none.
	PrometheusURL string
	// AlertmanagerURL is an Alertmanager's base URL; "" for none.
	AlertmanagerURL string
	// LitestreamURL is Litestream's own /metrics (replication configured:
	// see LitestreamSource); "" for none.
	LitestreamURL string
	// Timeout bounds each source's collection. Default 2 s.
	Timeout time.Duration
	// DatabasePath is the live database, read through a read-only
	// connection; "" for no database source.
	DatabasePath string
	// DBOptions for the read-only connection.
	DBOptions db.Options
	// StateDir holds the last integrity check and drill records.
	StateDir string
	// BackupDir holds the backups.
	BackupDir string
	// NegotiationDays is how far back the database source looks for
	// finished negotiations. Default 7.
	NegotiationDays int
	// Rules to evaluate; nil means DefaultRules.
	Rules []Rule
	// Sources, when non-nil, replace the sources built from the URLs and
	// the database path (tests, and callers with their own).
	Sources []Source
	// SizesAfter delays the database source's table and index sizes (a
	// scan of every page): 0 measures them from the first cycle, a
	// positive delay from that long after NewEngine (the console, so that
	// its first frames do not wait for the scan), a negative one never (a
	// one-shot 'repops status').
	SizesAfter time.Duration
	// HistorySize is the number of points kept per panel. Default
	// DefaultHistorySize (24 h at 1 s).
	HistorySize int
	// SnapshotHistory is the number of newest points copied into each
	// Snapshot panel's Recent. Default 120.
	SnapshotHistory int
	// TransitionHistory is the number of state transitions kept per rule.
	// Default 50.
	TransitionHistory int
	// MaxBodyBytes caps a scraped /metrics body. Default 10 MiB.
	MaxBodyBytes int64
	// HTTPClient is used for every HTTP source; nil builds one with
	// Timeout.
	HTTPClient *http.Client
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// PersistPath, when set, is the collector state file (see
	// WriteCollectorState) the engine writes after a cycle, at most once
	// every PersistEvery: the rule states of a long-running process (the
	// exporter, the console) for 'repops status' and a starting console.
	PersistPath string
	// Silences, when set, says which silence covers a rule's alert at a
	// moment (the local store and Alertmanager's, see silence.go).
	Silences SilenceMatcher
	// PersistInterval is the refresh interval of the process that
	// cycles. The state is written every max(PersistInterval,
	// MinPersistEvery) and that period goes with it, so that a reader can
	// tell a fresh file from one left by a collector that stopped.
	PersistInterval time.Duration
	// TimelinePath, when set, is the history store (timeline.go) the
	// engine records a frame in after each cycle, for the console's
	// time travel; TimelineLock says who holds the procedure lock then
	// ("" for nobody: metrics cannot read it, ops is above it).
	TimelinePath string
	TimelineLock func() string
}

// OptionsFromConfig builds engine options from the configuration: the
// sources' URLs and timeout, the database path, the state and backup dirs,
// and the default rules with the config's overrides applied.
func OptionsFromConfig(cfg *config.Config) (EngineOptions, error) {
	rules, err := ApplyOverrides(DefaultRules(), cfg.Console.Rules)
	if err != nil {
		return EngineOptions{}, err
	}
	for i := range rules {
		if rules[i].Name == "ml_confidence" && cfg.Reputation.MLConfidenceThreshold > 0 && !overridden(cfg, "ml_confidence") {
			rules[i].Target = cfg.Reputation.MLConfidenceThreshold
		}
	}
	litestream := ""
	if len(cfg.Console.Replication.Replicas) > 0 {
		litestream = LitestreamURL(cfg.Console.Replication.MetricsAddr)
	}
	return EngineOptions{
		LitestreamURL:   litestream,
		MetricsURL:      cfg.MetricsURL(),
		PrometheusURL:   cfg.Console.Sources.PrometheusURL,
		AlertmanagerURL: cfg.Console.Sources.AlertmanagerURL,
		Timeout:         cfg.Console.Sources.Timeout,
		DatabasePath:    cfg.Database.Path,
		DBOptions:       db.Options{CacheSize: cfg.Database.CacheSize},
		StateDir:        cfg.StateDir(),
		BackupDir:       cfg.BackupDir(),
		Rules:           rules,
	}, nil
}

func overridden(cfg *config.Config, name string) bool {
	for _, o := range cfg.Console.Rules {
		if o.Name == name && o.Target != nil {
			return true
		}
	}
	return false
}

func (o EngineOptions) withDefaults() EngineOptions {
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.NegotiationDays <= 0 {
		o.NegotiationDays = 7
	}
	if o.Rules == nil {
		o.Rules = DefaultRules()
	}
	if o.HistorySize <= 0 {
		o.HistorySize = DefaultHistorySize
	}
	if o.SnapshotHistory <= 0 {
		o.SnapshotHistory = 120
	}
	if o.TransitionHistory <= 0 {
		o.TransitionHistory = 50
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: o.Timeout}
	}
	return o
}

// staleAfter is how long a rule's alert keeps its ActiveSince through
// unknown values (a failed scrape or two) before it resets: Prometheus'
// staleness delta.
const staleAfter = 5 * time.Minute

// Engine collects, computes, judges and remembers. Cycle and the read
// methods are safe for concurrent use; cycles run one at a time.
type Engine struct {
	opts    EngineOptions
	defs    []PanelDef
	sources []*sourceSlot

	cycleMu sync.Mutex // one cycle at a time

	mu      sync.Mutex // guards what follows
	times   *ring      // cycle times, unix seconds
	hist    map[string]*ring
	panelSt map[string]stateSince
	rules   []*ruleState
	nodeAct map[string]time.Time // instance+"\x00"+rule -> active since
	last    Snapshot
	closers []func() error
	// persistErr is the last failure to write the collector state.
	persistErr  error
	lastPersist time.Time // when the collector state was last written (cycleMu)
	lastSig     string    // the rules' states at that write (cycleMu)
	// carry are the panels' values a collector left (ImportCollectorState),
	// shown until this engine knows the panel itself (persist_import.go).
	carry map[string]carried
	// timeline is the history store (nil when none or it failed to
	// open: timelineErr says why); timeline_engine.go.
	timeline    *Timeline
	timelineErr error
}

type stateSince struct {
	state State
	since time.Time
}

type ruleState struct {
	rule        Rule
	state       State
	since       time.Time
	activeSince time.Time
	lastKnown   time.Time
	history     []Transition
	// The last judgement's value and reason, for the persisted state.
	value  Value
	reason string
	judge  string
}

// sourceSlot is one source and its health; busy is set while a collection
// that outlived its timeout is still running, so that Collect is never
// called concurrently with itself.
type sourceSlot struct {
	src    Source
	busy   bool
	lastOK time.Time
}

// NewEngine builds an engine and its sources. It does not contact them:
// the first Cycle does.
func NewEngine(o EngineOptions) (*Engine, error) {
	o = o.withDefaults()
	e := &Engine{
		opts:    o,
		defs:    PanelDefs(),
		times:   newRing(o.HistorySize),
		hist:    map[string]*ring{},
		panelSt: map[string]stateSince{},
		nodeAct: map[string]time.Time{},
	}
	known := map[string]bool{}
	for _, d := range e.defs {
		e.hist[d.Name] = newRing(o.HistorySize)
		known[d.Name] = true
	}
	for _, r := range o.Rules {
		if !known[r.Panel] || !known[r.TargetOn()] {
			return nil, fmt.Errorf("rule %q: no panel named %q", r.Name, r.Panel)
		}
		if r.Compare != Above && r.Compare != Below {
			return nil, fmt.Errorf("rule %q: compare %q: want above or below", r.Name, r.Compare)
		}
		e.rules = append(e.rules, &ruleState{rule: r})
	}
	srcs := o.Sources
	if srcs == nil {
		var err error
		if srcs, e.closers, err = buildSources(o); err != nil {
			return nil, err
		}
	}
	for _, s := range srcs {
		e.sources = append(e.sources, &sourceSlot{src: s})
	}
	e.openTimeline()
	return e, nil
}

// buildSources builds the sources o names: the service's /metrics, a
// Prometheus server, Alertmanager, Litestream (replication configured)
// and the database, in that order. It is the one place the console,
// 'repops status' and the runbooks' engine get their sources from; the
// closers release the database's connections.
func buildSources(o EngineOptions) ([]Source, []func() error, error) {
	var srcs []Source
	var closers []func() error
	if o.MetricsURL != "" {
		s, err := NewScrapeSource(ScrapeOptions{Name: "service", URL: o.MetricsURL, Client: o.HTTPClient, MaxBodyBytes: o.MaxBodyBytes})
		if err != nil {
			return nil, nil, err
		}
		srcs = append(srcs, s)
	}
	if o.PrometheusURL != "" {
		s, err := NewPrometheusSource(PrometheusOptions{URL: o.PrometheusURL, Client: o.HTTPClient, Rules: o.Rules})
		if err != nil {
			return nil, nil, err
		}
		srcs = append(srcs, s)
	}
	if o.AlertmanagerURL != "" {
		s, err := NewAlertmanagerSource(o.AlertmanagerURL, o.HTTPClient)
		if err != nil {
			return nil, nil, err
		}
		srcs = append(srcs, s)
	}
	if o.LitestreamURL != "" {
		s, err := NewLitestreamSource(LitestreamOptions{URL: o.LitestreamURL, DBPath: o.DatabasePath, Client: o.HTTPClient, MaxBodyBytes: o.MaxBodyBytes})
		if err != nil {
			return nil, nil, err
		}
		// The replica's verification record, judged only while
		// replication is configured (its panels are Litestream's kind).
		srcs = append(srcs, s, NewReplicaVerifySource(o.StateDir, o.DatabasePath))
	}
	if o.DatabasePath != "" {
		do := DatabaseOptions{Path: o.DatabasePath, DBOptions: o.DBOptions, StateDir: o.StateDir,
			BackupDir: o.BackupDir, NegotiationDays: o.NegotiationDays}
		withSizes := NewDatabaseSource(do)
		closers = append(closers, withSizes.Close)
		if o.SizesAfter == 0 {
			srcs = append(srcs, withSizes)
		} else {
			do.NoSizes = true
			without := NewDatabaseSource(do)
			closers = append(closers, without.Close)
			d := &delayedSizes{without: without, with: withSizes}
			if o.SizesAfter > 0 {
				d.from = o.Now().Add(o.SizesAfter)
			}
			srcs = append(srcs, d)
		}
	}
	return srcs, closers, nil
}

// delayedSizes is the database source without table sizes until from,
// then with them (from zero: never). Cycles are serialised by the engine,
// so the switch needs no lock; the source without sizes is closed at the
// switch, its connection given back.
type delayedSizes struct {
	without, with *DatabaseSource
	from          time.Time
	switched      bool
}

// Name implements Source.
func (d *delayedSizes) Name() string { return d.with.Name() }

// Kind implements Source.
func (d *delayedSizes) Kind() string { return d.with.Kind() }

// Target implements Source.
func (d *delayedSizes) Target() string { return d.with.Target() }

// Collect implements Source.
func (d *delayedSizes) Collect(ctx context.Context, now time.Time) (Result, error) {
	if d.from.IsZero() || now.Before(d.from) {
		return d.without.Collect(ctx, now)
	}
	if !d.switched {
		d.switched = true
		_ = d.without.Close()
	}
	return d.with.Collect(ctx, now)
}

// Close releases the database source's connection.
func (e *Engine) Close() error {
	var first error
	for _, c := range e.closers {
		if err := c(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Rules returns the rules the engine evaluates.
func (e *Engine) Rules() []Rule {
	out := make([]Rule, len(e.rules))
	for i, r := range e.rules {
		out[i] = r.rule
	}
	return out
}

// Last returns the snapshot of the last cycle (zero before the first).
func (e *Engine) Last() Snapshot {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}

// History returns the whole history of panel, oldest first, one point per
// cycle, NaN where the value was unknown; nil for an unknown panel.
func (e *Engine) History(panel string) []float64 {
	return e.HistoryN(panel, 0)
}

// HistoryN returns the newest n points of panel's history (all when
// n <= 0), oldest first.
func (e *Engine) HistoryN(panel string, n int) []float64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.hist[panel]
	if r == nil {
		return nil
	}
	return r.last(n)
}

// HistoryTimes returns the times of the newest n cycles (all when n <= 0),
// oldest first, aligned with HistoryN's points.
func (e *Engine) HistoryTimes(n int) []time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	secs := e.times.last(n)
	out := make([]time.Time, len(secs))
	for i, s := range secs {
		out[i] = time.Unix(0, int64(s*1e9)).UTC()
	}
	return out
}

// HistoryBytes is the memory the history rings hold now.
func (e *Engine) HistoryBytes() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := e.times.bytes()
	for _, r := range e.hist {
		n += r.bytes()
	}
	return n
}

type collected struct {
	slot    *sourceSlot
	res     Result
	err     error
	latency time.Duration
	skipped bool
}

// Cycle runs one full cycle: collects every source concurrently, each
// bounded by the timeout; merges the panels (per panel, the first source
// in the panel's preference order that has a value); evaluates every rule;
// appends to the history; and returns the snapshot. It never panics: a
// source that panics is reported as down.
func (e *Engine) Cycle(ctx context.Context) Snapshot {
	e.cycleMu.Lock()
	defer e.cycleMu.Unlock()
	snap := e.cycle(ctx)
	sig := ruleSignature(snap)
	if e.opts.PersistPath != "" && (e.lastPersist.IsZero() || sig != e.lastSig || snap.Time.Sub(e.lastPersist) >= e.persistEvery()) {
		// Decision: not every cycle, but every change. The console
		// refreshes every second on the database host, and each write is
		// an fsync beside the service's own: the state is written when a
		// rule changes state (so that 'repops status' never lags a
		// transition by more than a cycle), and otherwise every
		// persistEvery; a reader computes pending -> critical from the
		// 'since' times, so a state a few seconds old judges the same.
		e.lastPersist, e.lastSig = snap.Time, sig
		err := WriteCollectorState(e.opts.PersistPath, e.collectorState(snap))
		e.mu.Lock()
		e.persistErr = err
		e.mu.Unlock()
	}
	e.recordTimeline(ctx, snap)
	return snap
}

// MinPersistEvery is the shortest period between two writes of the
// collector state.
const MinPersistEvery = 5 * time.Second

func (e *Engine) persistEvery() time.Duration { return max(e.opts.PersistInterval, MinPersistEvery) }

// PersistErr is the last failure to write the collector state (nil when
// the last write succeeded or nothing is persisted).
func (e *Engine) PersistErr() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.persistErr
}

// cycle is Cycle's work, with cycleMu held.
func (e *Engine) cycle(ctx context.Context) Snapshot {
	start := time.Now()
	now := e.opts.Now()

	results := e.collect(ctx, now)

	snap := Snapshot{Time: now}
	byKind := map[string][]collected{}
	for _, c := range results {
		k := c.slot.src.Kind()
		byKind[k] = append(byKind[k], c)
		h := SourceHealth{Name: c.slot.src.Name(), Kind: k, URL: c.slot.src.Target(), Latency: c.latency}
		if c.err == nil {
			h.Up = true
			c.slot.lastOK = now
		} else {
			h.Err = reasonLine(c.err.Error())
		}
		h.LastOK = c.slot.lastOK
		h.Warnings = c.res.Warnings
		snap.Sources = append(snap.Sources, h)
		snap.External = append(snap.External, c.res.Alerts...)
		snap.Nodes = append(snap.Nodes, c.res.Nodes...)
		if c.res.DB != nil {
			snap.DB = *c.res.DB
		}
	}
	sort.SliceStable(snap.External, func(i, j int) bool {
		return snap.External[i].StartsAt.After(snap.External[j].StartsAt)
	})

	values := map[string]Value{}
	sourceOf := map[string]string{}
	configured := map[string]bool{}
	for _, d := range e.defs {
		var reasons []string
		for _, kind := range d.Sources {
			for _, c := range byKind[kind] {
				configured[d.Name] = true
				if _, done := values[d.Name]; done {
					continue
				}
				v, has := c.res.Panels[d.Name]
				switch {
				case has && v.OK && !math.IsNaN(v.V):
					values[d.Name] = v
					sourceOf[d.Name] = c.slot.src.Name()
				case has && v.OK:
					reasons = append(reasons, c.slot.src.Name()+": value is NaN")
				case has && v.Reason != "":
					reasons = append(reasons, c.slot.src.Name()+": "+v.Reason)
				case c.err != nil:
					reasons = append(reasons, c.slot.src.Name()+": "+reasonLine(c.err.Error()))
				default:
					reasons = append(reasons, c.slot.src.Name()+": no value")
				}
			}
		}
		if _, done := values[d.Name]; done {
			continue
		}
		if !configured[d.Name] {
			values[d.Name] = Unknown("no configured source computes it (" + strings.Join(d.Sources, " or ") + ")")
		} else {
			values[d.Name] = Unknown(strings.Join(reasons, "; "))
		}
	}

	carriedAt := e.carryInto(now, values, sourceOf)

	// Prometheus' own verdicts (promrules.go): a rule Prometheus
	// evaluates as the config says, on a panel it computes, is judged by
	// Prometheus, on Prometheus' value.
	var prom map[string]PromRuleState
	for _, c := range byKind[KindPrometheus] {
		if c.err != nil || c.res.PromRules == nil {
			continue
		}
		prom = map[string]PromRuleState{}
		for _, r := range e.rules {
			ps, ok := c.res.PromRules[r.rule.Name]
			if !ok {
				continue
			}
			v, tv := c.res.Panels[r.rule.Panel], c.res.Panels[r.rule.TargetOn()]
			if _, _, _, adopt := ps.adopt(r.rule, v, tv, now); !adopt {
				// Prometheus evaluates the rule but has no data for it, and
				// repops has none either: Prometheus' "not alerting, no
				// data" is the verdict (unknown), not a reason to sample.
				if ps.Loaded && !v.OK && !values[r.rule.Panel].OK {
					ps.noData, ps.noDataReason = true, v.Reason
				}
				prom[r.rule.Name] = ps // its mismatch, if any, is said
				continue
			}
			ps.adopted = true
			prom[r.rule.Name] = ps
			values[r.rule.Panel], sourceOf[r.rule.Panel] = v, c.slot.src.Name()
			if tv.OK {
				values[r.rule.TargetOn()], sourceOf[r.rule.TargetOn()] = tv, c.slot.src.Name()
			}
		}
		break
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	e.evaluate(now, values, configured, prom, &snap)
	e.times.push(float64(now.UnixNano()) / 1e9)
	for _, d := range e.defs {
		v := values[d.Name]
		x := math.NaN()
		if v.OK {
			x = v.V
		}
		e.hist[d.Name].push(x)
	}
	for _, d := range e.defs {
		v := values[d.Name]
		p := Panel{Name: d.Name, Title: d.Title, Unit: d.Unit, Value: v, Source: sourceOf[d.Name],
			Target: math.NaN(), Alert: math.NaN()}
		st := StateOK
		if !v.OK {
			st = StateUnknown
		}
		for _, r := range e.rules {
			if r.rule.TargetOn() == d.Name && r.rule.HasTarget() {
				p.Target = r.rule.Target
				if v.OK && r.rule.OutsideTarget(v.V) {
					st = Worst(st, StateWarning)
				}
			}
			if r.rule.Panel == d.Name && r.rule.HasAlert() {
				p.Alert = r.rule.Alert
				if v.OK && (r.state == StatePending || r.state == StateCritical) {
					st = Worst(st, r.state)
				}
			}
		}
		prev, seen := e.panelSt[d.Name]
		if !seen || prev.state != st {
			prev = stateSince{state: st, since: now}
			e.panelSt[d.Name] = prev
		}
		p.State, p.Since = st, prev.since
		p.Recent = e.hist[d.Name].last(e.opts.SnapshotHistory)
		p.Carried = carriedAt[d.Name]
		snap.Panels = append(snap.Panels, p)
	}
	e.judgeNodes(now, snap.Nodes)
	snap.Duration = time.Since(start)
	e.last = snap
	return snap
}

// collect runs every source's Collect concurrently with the timeout.
func (e *Engine) collect(ctx context.Context, now time.Time) []collected {
	out := make([]collected, len(e.sources))
	done := make(chan int, len(e.sources))
	cctx, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	defer cancel()
	running := 0
	for i, s := range e.sources {
		out[i].slot = s
		e.mu.Lock()
		busy := s.busy
		if !busy {
			s.busy = true
		}
		e.mu.Unlock()
		if busy {
			out[i].skipped = true
			out[i].err = fmt.Errorf("previous collection still running after %s", e.opts.Timeout)
			continue
		}
		running++
		go func(i int, s *sourceSlot) {
			t0 := time.Now()
			res, err := safeCollect(cctx, s.src, now)
			e.mu.Lock()
			out[i].res, out[i].err, out[i].latency = res, err, time.Since(t0)
			s.busy = false
			e.mu.Unlock()
			done <- i
		}(i, s)
	}
	// Wait for every source, but not much longer than the timeout: a
	// source that ignores its context is reported and left to finish.
	grace := time.NewTimer(e.opts.Timeout + 250*time.Millisecond)
	defer grace.Stop()
	finished := map[int]bool{}
	for len(finished) < running {
		select {
		case i := <-done:
			finished[i] = true
		case <-grace.C:
			e.mu.Lock()
			res := make([]collected, len(out))
			for i := range out {
				res[i] = out[i]
				if !finished[i] && !out[i].skipped {
					res[i].res = Result{}
					res[i].err = fmt.Errorf("no answer within %s", e.opts.Timeout)
					res[i].latency = e.opts.Timeout
				}
			}
			e.mu.Unlock()
			return res
		}
	}
	return out
}

// safeCollect calls Collect, turning a panic into an error.
func safeCollect(ctx context.Context, s Source, now time.Time) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, err = Result{}, fmt.Errorf("source %s failed: %v", s.Name(), p)
		}
	}()
	return s.Collect(ctx, now)
}

// evaluate judges every rule against values. Called with e.mu held.
func (e *Engine) evaluate(now time.Time, values map[string]Value, configured map[string]bool, prom map[string]PromRuleState, snap *Snapshot) {
	for _, rs := range e.rules {
		r := rs.rule
		v, tv := values[r.Panel], values[r.TargetOn()]
		st, reason := StateUnknown, ""
		conf := configured[r.Panel] && configured[r.TargetOn()]
		judged := v
		if !r.HasAlert() {
			judged = tv
		}
		ps, byProm := prom[r.Name]
		judge := ""
		switch {
		case byProm && ps.adopted:
			var active time.Time
			st, active, reason, _ = ps.adopt(r, v, tv, now)
			rs.lastKnown, rs.activeSince, judge = now, active, JudgePrometheus
		case byProm && ps.noData:
			st, judge = StateUnknown, JudgePrometheus
			reason = "Prometheus: no data for " + AlertName(r.Name, false) + " (not alerting); " + judged.Reason
		case !judged.OK:
			reason = judged.Reason
			if !rs.lastKnown.IsZero() && now.Sub(rs.lastKnown) > staleAfter {
				rs.activeSince = time.Time{}
			}
		case r.BeyondAlert(v.V):
			rs.lastKnown = now
			if rs.activeSince.IsZero() {
				rs.activeSince = now
			}
			held := now.Sub(rs.activeSince)
			if held >= r.For {
				st = StateCritical
			} else {
				st = StatePending
			}
			reason = fmt.Sprintf("%s %s %s for %s (for: %s)", fmtValue(v.V, r.Unit), cmpSign(r.Compare), fmtValue(r.Alert, r.Unit), fmtDur(held), fmtDur(r.For))
		default:
			rs.lastKnown = now
			rs.activeSince = time.Time{}
			switch {
			case !tv.OK:
				reason = "target figure unknown: " + tv.Reason
			case r.OutsideTarget(tv.V):
				st = StateWarning
				reason = fmt.Sprintf("%s %s target %s", fmtValue(tv.V, r.TargetUnit()), r.OutsideTargetSign(tv.V), fmtValue(r.Target, r.TargetUnit()))
			default:
				st = StateOK
				reason = "within target"
				if r.HasTarget() {
					reason = fmt.Sprintf("%s, target %s %s", fmtValue(tv.V, r.TargetUnit()), r.TargetOp(), fmtValue(r.Target, r.TargetUnit()))
				}
			}
		}
		if byProm && ps.Mismatch != "" {
			reason += " (not Prometheus' verdict: " + ps.Mismatch + ")"
		}
		rs.value, rs.reason, rs.judge = v, reason, judge
		if rs.since.IsZero() || st != rs.state {
			if !rs.since.IsZero() {
				rs.history = append(rs.history, Transition{Time: now, From: rs.state, To: st, Value: v})
				snap.Changes = append(snap.Changes, RuleChange{Rule: r, Transition: Transition{Time: now, From: rs.state, To: st, Value: v}, Reason: reason})
				if over := len(rs.history) - e.opts.TransitionHistory; over > 0 {
					rs.history = append(rs.history[:0:0], rs.history[over:]...)
				}
			}
			rs.state, rs.since = st, now
		}
		hist := make([]Transition, len(rs.history))
		copy(hist, rs.history)
		snap.Alerts = append(snap.Alerts, AlertStatus{
			Rule: r, State: st, Value: v, TargetValue: tv, ActiveSince: rs.activeSince, Since: rs.since,
			Reason: reason, Runbook: r.Runbook, Configured: conf, History: hist, Judge: judge,
			Silenced: e.silencedAt(r, st, now),
		})
	}
}

// RuleRecord is one rule's judged state as a collector persists it and
// another process imports it: the state and since when, since when the
// value has been beyond the alert threshold (pending, then critical), when
// the value was last known, and the last value with its reason.
type RuleRecord struct {
	Rule        string     `json:"rule"`
	State       string     `json:"state"`
	Since       time.Time  `json:"since"`
	ActiveSince *time.Time `json:"active_since,omitempty"`
	LastKnown   *time.Time `json:"last_known,omitempty"`
	Value       *float64   `json:"value,omitempty"`
	Reason      string     `json:"reason,omitempty"`
	// Judge is AlertStatus.Judge ("prometheus" when Prometheus timed it).
	Judge string `json:"judge,omitempty"`
}

// ExportRuleStates returns every rule's state, in the rules' order, as
// Import takes it back.
func (e *Engine) ExportRuleStates() []RuleRecord {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]RuleRecord, 0, len(e.rules))
	for _, rs := range e.rules {
		if rs.since.IsZero() {
			continue // never judged
		}
		rec := RuleRecord{Rule: rs.rule.Name, State: rs.state.String(), Since: rs.since.UTC(),
			ActiveSince: optTime(rs.activeSince), LastKnown: optTime(rs.lastKnown), Reason: reasonLine(rs.reason), Judge: rs.judge}
		if rs.value.OK && !math.IsNaN(rs.value.V) && !math.IsInf(rs.value.V, 0) {
			v := rs.value.V
			rec.Value = &v
		}
		out = append(out, rec)
	}
	return out
}

// ImportRuleStates takes the states recs describe (a collector's, read
// back) for the rules of the same name that have not been judged yet, so
// that a rule beyond its alert threshold keeps the time it went beyond
// it: the next cycle that finds it still beyond judges it pending or
// critical from then, not from now. A record whose value was last known
// longer than the staleness delta before now keeps no active-since, as a
// running engine would have dropped it. The imported states show in Last
// until the first cycle. It returns how many rules it took.
func (e *Engine) ImportRuleStates(recs []RuleRecord, now time.Time) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	byName := map[string]RuleRecord{}
	for _, r := range recs {
		byName[r.Rule] = r
	}
	n := 0
	var alerts []AlertStatus
	for _, rs := range e.rules {
		rec, ok := byName[rs.rule.Name]
		if !ok || !rs.since.IsZero() {
			continue
		}
		st, ok := ParseState(rec.State)
		if !ok || rec.Since.IsZero() || rec.Since.After(now) {
			continue
		}
		rs.state, rs.since = st, rec.Since
		if rec.LastKnown != nil {
			rs.lastKnown = *rec.LastKnown
		}
		if rec.ActiveSince != nil && !rs.lastKnown.IsZero() && now.Sub(rs.lastKnown) <= staleAfter && !rec.ActiveSince.After(now) {
			rs.activeSince = *rec.ActiveSince
		}
		rs.value, rs.reason = Unknown(rec.Reason), rec.Reason
		if rec.Value != nil {
			rs.value = Value{V: *rec.Value, OK: true}
		}
		alerts = append(alerts, AlertStatus{Rule: rs.rule, State: rs.state, Value: rs.value, TargetValue: rs.value,
			ActiveSince: rs.activeSince, Since: rs.since, Reason: rs.reason, Runbook: rs.rule.Runbook, Configured: true})
		n++
	}
	if e.last.Time.IsZero() && n > 0 {
		e.last = Snapshot{Time: now, Alerts: alerts}
	}
	return n
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// judgeNodes sets each node's state from its panels, with each rule's for
// duration tracked per instance. Called with e.mu held.
func (e *Engine) judgeNodes(now time.Time, nodes []Node) {
	seen := map[string]bool{}
	for i := range nodes {
		n := &nodes[i]
		st := StateOK
		if !n.Up {
			st = StateCritical
		}
		for _, rs := range e.rules {
			r := rs.rule
			key := n.Instance + "\x00" + r.Name
			v, has := n.Panels[r.Panel]
			if !has || !v.OK {
				continue
			}
			seen[key] = true
			if r.BeyondAlert(v.V) {
				since, ok := e.nodeAct[key]
				if !ok {
					since = now
					e.nodeAct[key] = now
				}
				if now.Sub(since) >= r.For {
					st = Worst(st, StateCritical)
				} else {
					st = Worst(st, StatePending)
				}
				continue
			}
			delete(e.nodeAct, key)
			if tv, ok := n.Panels[r.TargetOn()]; ok && tv.OK && r.OutsideTarget(tv.V) {
				st = Worst(st, StateWarning)
			}
		}
		n.State = st
	}
	for k := range e.nodeAct {
		if !seen[k] {
			delete(e.nodeAct, k)
		}
	}
}

func cmpSign(c Compare) string {
	if c == Below {
		return "<"
	}
	return ">"
}

// FormatValue formats v in unit for one line of text: "123/min", "4.2 %",
// "850 ms", "3.5 h", "never" for +Inf ages.
func FormatValue(v Value, unit string) string {
	if !v.OK {
		return "unknown"
	}
	return fmtValue(v.V, unit)
}

func fmtValue(v float64, unit string) string {
	if math.IsInf(v, 1) && (unit == "h" || unit == "d") {
		return "never"
	}
	if math.IsNaN(v) {
		return "NaN"
	}
	var s string
	switch {
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		s = fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 100:
		s = fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		s = fmt.Sprintf("%.1f", v)
	default:
		s = fmt.Sprintf("%.3g", v)
	}
	switch unit {
	case "":
		return s
	case "/min":
		return s + "/min"
	default:
		return s + " " + unit
	}
}

func fmtDur(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	return d.Round(time.Second).String()
}

// maxReason bounds a reason (why a figure or a source is unknown) taken
// from text the source does not control, an error or a server's warning:
// the snapshot carries it to the console, 'repops status' and its JSON.
const maxReason = 300

// reasonLine is s as a reason: on one line as humanize.OneLine writes it,
// cut to maxReason bytes on a rune boundary, "..." marking the cut.
func reasonLine(s string) string {
	s = humanize.OneLine(s)
	if len(s) <= maxReason {
		return s
	}
	cut := maxReason
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
