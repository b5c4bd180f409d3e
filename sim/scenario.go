package sim

import (
	"fmt"
	"strings"
)

// The scenario names. Normal is the healthy service; every other one is an
// incident that moves one of the guide's key metrics past its alert
// threshold.
const (
	ScenarioNormal               = "normal"
	ScenarioAppealFlood          = "appeal-flood"
	ScenarioErrorSpike           = "error-spike"
	ScenarioSlowProcessing       = "slow-processing"
	ScenarioMLTimeouts           = "ml-timeouts"
	ScenarioConnectionExhaustion = "connection-exhaustion"
	ScenarioAPIErrors            = "api-errors"
	ScenarioDBGrowth             = "db-growth"
	ScenarioSlowNegotiations     = "slow-negotiations"
)

// ScenarioInfo describes one scenario for a menu, the control endpoint's
// listing and the docs: what happens and which metric shows it.
type ScenarioInfo struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Metric is the metric the scenario moves, and how far.
	Metric string `json:"metric"`
}

// Scenarios lists every scenario, normal first.
func Scenarios() []ScenarioInfo {
	return []ScenarioInfo{
		{ScenarioNormal, "healthy service: about the configured rate of appeals with short bursts, every key metric within target",
			"none: every key metric within target"},
		{ScenarioAppealFlood, "a client floods the appeal endpoint: 240-300 appeals a minute, some answered 429",
			"reputation_appeals_submitted_total: rate over 100/min"},
		{ScenarioErrorSpike, "a quarter of appeal submissions fail (answered 500)",
			"reputation_appeal_errors_total / reputation_appeals_submitted_total: over 5 %"},
		{ScenarioSlowProcessing, "appeal processing slows to a median of 1.6 s",
			"reputation_appeal_processing_seconds: p95 over 1000 ms"},
		{ScenarioMLTimeouts, "the ML model times out on 15 % of predictions (0.6-2 s, low confidence)",
			"reputation_ml_prediction_seconds: p99 over 500 ms"},
		{ScenarioConnectionExhaustion, "slow queries hold the connection pool: 90-100 % of the maximum in use",
			"reputation_db_connections_active / reputation_db_connections_max: over 0.8"},
		{ScenarioAPIErrors, "the API answers 5xx to 4 % of requests",
			"reputation_api_requests_total{code=~\"5..\"}: over 1 % of requests"},
		{ScenarioDBGrowth, "heavy inserts: about 200 rows a second of audit messages and predictions (12,000 rows a minute), the database grows by several MB a minute",
			"db_growth: rows inserted per minute into ml_predictions, appeal_negotiation_messages and appeals (the database's largest rowids), over the last minute: over 5000/min"},
		{ScenarioSlowNegotiations, "negotiations drag on: a median of 36 h, some expire at the timeout; the database's negotiation panels judge the negotiations finished in the last 30 s, so the p95 crosses 24 h within a minute of the switch and clears within a minute of normal (the Prometheus panel judges the last hour)",
			"negotiation p95 (first to last message of the negotiations finished in the last 30 s; reputation_negotiation_duration_hours over an hour in Prometheus): over 24 h"},
	}
}

// ScenarioNames lists the scenario names, normal first.
func ScenarioNames() []string {
	list := Scenarios()
	names := make([]string, len(list))
	for i, s := range list {
		names[i] = s.Name
	}
	return names
}

// checkScenario returns an error naming the known scenarios unless name is one.
func checkScenario(name string) error {
	if _, ok := profileOf(name); ok {
		return nil
	}
	return fmt.Errorf("unknown scenario %q: want one of %s", name, strings.Join(ScenarioNames(), ", "))
}

// profile is what the generator draws from under a scenario. Each scenario
// is the normal profile with one thing changed, so that one incident shows
// on one panel (and, as in a real incident, sometimes a warning beside it).
type profile struct {
	flood      bool    // submissions at 240-300/min instead of the base rate
	errorProb  float64 // share of submissions that fail
	procMedian float64 // appeal processing time, seconds (log-normal)
	procSigma  float64
	mlMedian   float64 // ML prediction latency, seconds (log-normal)
	mlSigma    float64
	mlMax      float64 // longest ML latency off the timeout path, seconds
	mlSlowProb float64 // share of predictions that hit the model's timeout path
	negMedianH float64 // negotiation duration, hours (log-normal)
	negSigma   float64
	negMaxH    float64 // longest negotiation, hours, besides the timeout; 0 for none
	connBusy   bool    // the pool is held near its maximum
	api4xxProb float64 // share of API requests answered 4xx
	api5xxProb float64 // share of API requests answered 5xx
	growthRows float64 // extra rows a second (messages and predictions)
}

// Background rates of the normal service, per second of simulated time.
const (
	apiRequestsPerSec   = 20.0 // API requests besides appeal submissions
	bgPredictionsPerSec = 0.5  // reputation-score predictions
	floodMinPerMin      = 240.0
	// MaxRate is the cap on appeal submissions per minute, in every
	// scenario (appeal-flood included).
	MaxRate = 300.0
)

func profileOf(name string) (profile, bool) {
	// The healthy service's tails are bounded below the guide's alert
	// thresholds, because the console judges small windows: a one-minute
	// window holds about 70 ML predictions, so its p99 is the largest one
	// or two of them, and the first minutes of the hour window hold a
	// handful of negotiations, so a single one past 24 h would make the
	// p95 cross the alert. Under these bounds no window of normal traffic
	// can: the ML p99 of a minute reads about 49 ms (65 ms in one minute
	// of a hundred, never 100 ms), the negotiation p95 about 13 h and
	// never 24 h (TestNormalTailsBounded). For the same reason the healthy
	// service fails no submission and answers no 5xx of its own: at 40
	// appeals a minute one failure is 2.5 % of the minute, past the
	// guide's 1 % target, and one 5xx in the first minute's few hundred
	// requests is past the 0.1 % target (a write that fails, e.g. behind
	// an operator's lock, still counts as both).
	p := profile{
		errorProb:  0,
		procMedian: 0.1, procSigma: 0.45, // p95 about 0.21 s
		mlMedian: 0.018, mlSigma: 0.35, mlMax: 0.09, // p99 about 41 ms
		negMedianH: 4, negSigma: 0.7, negMaxH: 20, // p95 about 13 h, mean about 5 h
		api4xxProb: 0.02,
		api5xxProb: 0,
	}
	switch name {
	case ScenarioNormal:
	case ScenarioAppealFlood:
		p.flood = true
		p.api4xxProb = 0.12 // rate limiting answers 429
	case ScenarioErrorSpike:
		p.errorProb = 0.25
	case ScenarioSlowProcessing:
		p.procMedian, p.procSigma = 1.6, 0.4 // p95 about 3.1 s
	case ScenarioMLTimeouts:
		p.mlMedian, p.mlSlowProb, p.mlMax = 0.08, 0.15, 2
	case ScenarioConnectionExhaustion:
		p.connBusy = true
		p.procMedian = 0.25 // requests wait for a connection: p95 about 0.57 s
	case ScenarioAPIErrors:
		p.api5xxProb = 0.04
	case ScenarioDBGrowth:
		p.growthRows = 200
	case ScenarioSlowNegotiations:
		p.negMedianH, p.negSigma, p.negMaxH = 36, 0.5, 0
	default:
		return profile{}, false
	}
	return p, true
}
