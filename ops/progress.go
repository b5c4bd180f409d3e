// Package ops holds the operations guide's procedures (backup, restore,
// verify, optimise, archive, DR drill) and the ops journal and lock. Each
// procedure is a plain function taking a context, its options and a
// Progress callback, and returning a structured result; the CLI, the
// console and the runbook engine all call the same functions.
package ops

// ProgressEvent is one report of a long procedure's advance.
type ProgressEvent struct {
	Phase   string // short name of the current phase, e.g. "copy", "verify"
	Done    int64  // units done in this phase
	Total   int64  // units in this phase, 0 when unknown
	Unit    string // "pages", "rows", "bytes", ...
	Message string // one line for the operator
}

// Fraction is Done/Total, or -1 when the total is unknown.
func (e ProgressEvent) Fraction() float64 {
	if e.Total <= 0 {
		return -1
	}
	return float64(e.Done) / float64(e.Total)
}

// Progress receives progress events. It must not block for long: the
// console feeds a channel from it. A nil Progress is allowed.
type Progress func(ProgressEvent)

// report calls p when it is set.
func (p Progress) report(e ProgressEvent) {
	if p != nil {
		p(e)
	}
}
