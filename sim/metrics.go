package sim

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Histogram buckets. Each set brackets its panel's target and alert
// threshold with a bucket boundary, so that histogram_quantile resolves
// them: 0.5 s and 1 s for processing, 24 h and 72 h for negotiations,
// 0.1 s and 0.5 s for ML predictions.
func processingBuckets() []float64 { return []float64{.05, .1, .25, .5, .75, 1, 2.5, 5, 10} }
func negotiationBuckets() []float64 {
	return []float64{1, 2, 4, 8, 12, 24, 48, 72, 120, 168}
}
func mlBuckets() []float64 { return []float64{.01, .025, .05, .1, .25, .5, 1, 2.5} }

// apiCodes are the status codes the simulated API answers; every one is
// exported from the start (at 0) so that an error rate has a denominator
// before the first error.
func apiCodes() []string { return []string{"200", "201", "400", "404", "429", "500", "503"} }

// serviceMetrics is the reputation service's metrics contract (DESIGN.md),
// plus the process and Go runtime collectors and the simulator's own
// scenario and writer series, on a registry of its own.
type serviceMetrics struct {
	reg         *prometheus.Registry
	submitted   prometheus.Counter
	errors      prometheus.Counter
	processing  prometheus.Histogram
	negotiation prometheus.Histogram
	ml          prometheus.Histogram
	connActive  prometheus.Gauge
	connMax     prometheus.Gauge
	api         *prometheus.CounterVec
	scenario    *prometheus.GaugeVec
	writes      prometheus.Counter
	writeErrors prometheus.Counter
}

func newServiceMetrics() *serviceMetrics {
	m := &serviceMetrics{
		reg: prometheus.NewRegistry(),
		submitted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "reputation_appeals_submitted_total",
			Help: "Appeal submissions received (successful or not).",
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "reputation_appeal_errors_total",
			Help: "Appeal submissions that failed.",
		}),
		processing: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "reputation_appeal_processing_seconds",
			Help:    "Time to process an appeal submission, in seconds.",
			Buckets: processingBuckets(),
		}),
		negotiation: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "reputation_negotiation_duration_hours",
			Help:    "Duration of finished negotiations, first to last message, in hours.",
			Buckets: negotiationBuckets(),
		}),
		ml: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "reputation_ml_prediction_seconds",
			Help:    "ML prediction latency, in seconds.",
			Buckets: mlBuckets(),
		}),
		connActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "reputation_db_connections_active",
			Help: "Database connections in use.",
		}),
		connMax: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "reputation_db_connections_max",
			Help: "Size of the database connection pool (MAX_DB_CONNECTIONS).",
		}),
		api: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reputation_api_requests_total",
			Help: "API requests by HTTP status code.",
		}, []string{"code"}),
		scenario: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reputation_sim_scenario",
			Help: "The simulator's current scenario (1 for the one running).",
		}, []string{"name"}),
		writes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "reputation_sim_writes_total",
			Help: "Write transactions the simulator committed.",
		}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "reputation_sim_write_errors_total",
			Help: "Write transactions of the simulator that failed (busy beyond the timeout, disk full, ...).",
		}),
	}
	m.reg.MustRegister(
		m.submitted, m.errors, m.processing, m.negotiation, m.ml,
		m.connActive, m.connMax, m.api, m.scenario, m.writes, m.writeErrors,
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
	)
	for _, c := range apiCodes() {
		m.api.WithLabelValues(c)
	}
	return m
}

// setScenario makes name the one scenario series.
func (m *serviceMetrics) setScenario(name string) {
	m.scenario.Reset()
	m.scenario.WithLabelValues(name).Set(1)
}
