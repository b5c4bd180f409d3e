package runbooks

import (
	"context"

	"github.com/repops/repops/ops"
)

// Env is everything a run touches outside itself: the database it reads,
// the metrics, the procedures it runs and the journal it writes. The
// engine does nothing else, so the caller decides what a run can reach:
// OpsEnv wires the real ops, db and metrics packages; a test may wrap it.
//
// Contract: Query runs exactly the statement given through a read-only
// connection (the engine has already checked it with CheckReadOnlySQL);
// Act runs one action of the catalogue (Actions) with already-validated
// parameters, reports progress through progress (which may be nil) and
// returns its figures, or an error when it failed;
// Record appends one entry to the ops journal (ops.Journal.Append),
// durably, before returning.
type Env interface {
	// Target is the database file the run works on. Its base name is the
	// typed confirmation of destructive steps.
	Target() string
	Query(ctx context.Context, query string) (QueryResult, error)
	Metrics(ctx context.Context) (MetricReader, error)
	Act(ctx context.Context, action string, params map[string]string, progress ops.Progress) (ActionResult, error)
	Record(e ops.Entry) error
}

// MetricReader is what a metric condition reads: one panel's current value,
// whether it has data, and its alert state (ok, warning, critical,
// unknown). metrics.Snapshot is adapted to it by the caller (OpsEnv's
// EnvConfig.Metrics); tests feed values directly.
type MetricReader interface {
	Panel(name string) (value float64, ok bool, state string)
}

// MetricMap is a MetricReader of fixed values, for tests and for a caller
// that already has the figures.
type MetricMap map[string]MetricValue

// MetricValue is one panel's reading in a MetricMap.
type MetricValue struct {
	Value float64
	State string
}

// Panel implements MetricReader.
func (m MetricMap) Panel(name string) (float64, bool, string) {
	v, ok := m[name]
	if !ok {
		return 0, false, "unknown"
	}
	return v.Value, true, v.State
}

// QueryResult is what a check's query returned: the columns and the first
// rows as text (at most MaxQueryRows), and how many rows there were.
type QueryResult struct {
	Columns []string
	Rows    [][]string
	Count   int  // rows returned in all
	Trunc   bool // Rows holds only the first MaxQueryRows
}

// MaxQueryRows bounds the rows a check keeps to show.
const MaxQueryRows = 50

// ActionResult is what an action did: a line for the operator, the
// figures (rows moved, bytes written, seconds taken, ...) and the detail
// lines to show.
type ActionResult struct {
	Message string
	Figures map[string]float64
	Details []string
}

// ErrReadOnly is returned, wrapped, by an action that writes to the live
// database (ActionSpec.Writes) when repops is in read-only mode. It is
// ops.ErrReadOnlyMode, the commands' refusal: one value, one message.
var ErrReadOnly = ops.ErrReadOnlyMode
