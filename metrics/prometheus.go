package metrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// PrometheusOptions configure a Prometheus API source.
type PrometheusOptions struct {
	Name string // default "prometheus"
	URL  string // base URL, e.g. http://127.0.0.1:9091
	// Client does the requests. Default: a client with a 2 s timeout.
	Client *http.Client
	// Parallel bounds the queries in flight. Default 4.
	Parallel int
	// Rules are the rules whose alerts Prometheus is asked about (its
	// rules API); none: Prometheus' alerts are not asked.
	Rules []Rule
}

// PrometheusSource asks a Prometheus server for each panel's PromQL (the
// same expressions the rules export writes), once for the fleet and once
// per instance (the aggregations grouped by instance) for the node table.
type PrometheusSource struct {
	opts PrometheusOptions
	api  v1.API
	defs []PanelDef
	// exporterOnly are the panels asked for their rules' verdicts only
	// (not per instance, not merged into the panels).
	exporterOnly []PanelDef
}

// ruleOn reports whether a rule of rules judges panel.
func ruleOn(rules []Rule, panel string) bool {
	for _, r := range rules {
		if r.Panel == panel || r.TargetOn() == panel {
			return true
		}
	}
	return false
}

var _ Source = (*PrometheusSource)(nil)

// NewPrometheusSource builds a Prometheus API source.
func NewPrometheusSource(o PrometheusOptions) (*PrometheusSource, error) {
	if o.Name == "" {
		o.Name = "prometheus"
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 2 * time.Second}
	}
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	c, err := api.NewClient(api.Config{Address: o.URL, Client: o.Client})
	if err != nil {
		return nil, fmt.Errorf("prometheus url %q: %w", o.URL, err)
	}
	s := &PrometheusSource{opts: o, api: v1.NewAPI(c)}
	for _, d := range PanelDefs() {
		switch {
		case d.PromQL != "" && hasKind(d.Sources, KindPrometheus):
			s.defs = append(s.defs, d)
		case len(o.Rules) > 0 && d.PromQLExporter != "" && ruleOn(o.Rules, d.Name):
			// What only repops measures (backup age, rows inserted...),
			// as Prometheus has it from 'repops exporter': asked only so
			// that a rule on it takes Prometheus' verdict, on the value
			// Prometheus judged (promrules.go); the engine's own panel
			// stays the database's.
			d.PromQL = d.PromQLExporter
			s.exporterOnly = append(s.exporterOnly, d)
		}
	}
	return s, nil
}

func hasKind(kinds []string, k string) bool {
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}

// Name implements Source.
func (s *PrometheusSource) Name() string { return s.opts.Name }

// Kind implements Source.
func (s *PrometheusSource) Kind() string { return KindPrometheus }

// Target implements Source.
func (s *PrometheusSource) Target() string { return s.opts.URL }

// PerInstance rewrites a panel's fleet-wide PromQL to keep one series per
// instance: every aggregation also groups by instance.
func PerInstance(expr string) string {
	expr = strings.ReplaceAll(expr, "sum by (le) (", "sum by (le, instance) (")
	return aggCall.ReplaceAllString(expr, "$1 by (instance) (")
}

// aggCall matches sum(, max( and min( as whole words (not clamp_min().
var aggCall = regexp.MustCompile(`\b(sum|max|min)\(`)

type promAnswer struct {
	vec      model.Vector
	warnings []string
	err      error
}

// Collect runs every panel's query, fleet-wide and per instance.
func (s *PrometheusSource) Collect(ctx context.Context, now time.Time) (Result, error) {
	type job struct {
		panel string
		node  bool
		expr  string
	}
	var jobs []job
	for _, d := range s.defs {
		jobs = append(jobs, job{d.Name, false, d.PromQL}, job{d.Name, true, PerInstance(d.PromQL)})
	}
	for _, d := range s.exporterOnly {
		jobs = append(jobs, job{d.Name, false, d.PromQL})
	}
	answers := make([]promAnswer, len(jobs))
	sem := make(chan struct{}, s.opts.Parallel)
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func(i int, j job) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			answers[i] = s.query(ctx, j.expr, now)
		}(i, j)
	}
	var ruleStates map[string]PromRuleState
	var rulesErr error
	if len(s.opts.Rules) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			ruleStates, rulesErr = promRuleStates(ctx, s.api, s.opts.Rules)
		}()
	}
	wg.Wait()

	res := Result{Panels: map[string]Value{}, PromRules: ruleStates}
	if rulesErr != nil {
		res.Warnings = append(res.Warnings, "rules API: "+reasonLine(rulesErr.Error())+" (repops times the rules' for itself)")
	}
	nodes := map[string]*Node{}
	failed, firstErr := 0, error(nil)
	seenWarn := map[string]bool{}
	for i, j := range jobs {
		a := answers[i]
		for _, w := range a.warnings {
			if !seenWarn[w] {
				seenWarn[w] = true
				res.Warnings = append(res.Warnings, w)
			}
		}
		if a.err != nil {
			failed++
			if firstErr == nil {
				firstErr = a.err
			}
			if !j.node {
				res.Panels[j.panel] = Unknown("query failed: " + reasonLine(a.err.Error()))
			}
			continue
		}
		if !j.node {
			res.Panels[j.panel] = vectorValue(a.vec)
			continue
		}
		for _, smp := range a.vec {
			inst := string(smp.Metric["instance"])
			if inst == "" {
				continue
			}
			n := nodes[inst]
			if n == nil {
				n = &Node{Instance: inst, Panels: map[string]Value{}}
				nodes[inst] = n
			}
			v := float64(smp.Value)
			if math.IsNaN(v) {
				n.Panels[j.panel] = Unknown("no data in the window")
			} else {
				n.Panels[j.panel] = Known(v)
			}
		}
	}
	if failed == len(jobs) && len(jobs) > 0 {
		return res, fmt.Errorf("query %s: %w", s.opts.URL, firstErr)
	}
	for _, n := range nodes {
		up, ok := n.Panels[PanelServiceUp]
		n.Up = ok && up.OK && up.V >= 1
		res.Nodes = append(res.Nodes, *n)
	}
	sort.Slice(res.Nodes, func(i, j int) bool { return res.Nodes[i].Instance < res.Nodes[j].Instance })
	return res, nil
}

func (s *PrometheusSource) query(ctx context.Context, expr string, now time.Time) promAnswer {
	val, warns, infos, err := s.api.Query(ctx, expr, now)
	a := promAnswer{}
	for _, w := range warns {
		a.warnings = append(a.warnings, "warning: "+reasonLine(w))
	}
	for _, w := range infos {
		a.warnings = append(a.warnings, "info: "+reasonLine(w))
	}
	if err != nil {
		var perr *v1.Error
		if errors.As(err, &perr) && perr.Detail != "" {
			err = fmt.Errorf("%s: %s", perr.Type, perr.Msg)
		}
		a.err = describeNetErr(err)
		return a
	}
	switch v := val.(type) {
	case model.Vector:
		a.vec = v
	case *model.Scalar:
		a.vec = model.Vector{&model.Sample{Value: v.Value, Timestamp: v.Timestamp}}
	default:
		a.err = fmt.Errorf("query %q returned a %s, want a vector", expr, val.Type())
	}
	return a
}

// vectorValue turns a fleet-wide answer into a panel value.
func vectorValue(vec model.Vector) Value {
	switch len(vec) {
	case 0:
		return Unknown("no series (not scraped by this Prometheus, or no data in the window)")
	case 1:
		v := float64(vec[0].Value)
		if math.IsNaN(v) {
			return Unknown("no data in the window (NaN)")
		}
		return Known(v)
	default:
		return Unknown(fmt.Sprintf("%d series where one was expected", len(vec)))
	}
}
