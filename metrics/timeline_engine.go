package metrics

import (
	"context"
	"time"
)

// openTimeline opens the history store the options name. A store that
// cannot be opened is not a reason to refuse the figures: the engine runs
// without it and TimelineErr says why.
func (e *Engine) openTimeline() {
	if e.opts.TimelinePath == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tl, err := OpenTimeline(ctx, e.opts.TimelinePath, TimelineOptions{Step: e.opts.PersistInterval})
	e.timeline, e.timelineErr = tl, err
	if tl != nil {
		e.closers = append(e.closers, tl.Close)
	}
}

// recordTimeline records snap's frame. Called by Cycle with cycleMu held.
//
// Decision: on the refresh path, synchronously: a frame is two small
// INSERT OR REPLACE in one WAL transaction with synchronous=NORMAL (no
// fsync), measured at well under a millisecond (BenchmarkTimelineRecord),
// which a goroutine and a queue would not make cheaper.
func (e *Engine) recordTimeline(ctx context.Context, snap Snapshot) {
	if e.timeline == nil {
		return
	}
	lock := ""
	if e.opts.TimelineLock != nil {
		lock = e.opts.TimelineLock()
	}
	// A cycle cancelled at the end (the console quitting) still records.
	err := e.timeline.Record(context.WithoutCancel(ctx), snap, lock)
	e.mu.Lock()
	e.timelineErr = err
	e.mu.Unlock()
}

// Timeline is the history store the engine records in (nil when
// EngineOptions.TimelinePath is unset or it could not be opened).
func (e *Engine) Timeline() *Timeline { return e.timeline }

// TimelineErr is why the history store could not be opened or the last
// frame not recorded; nil when all is well.
func (e *Engine) TimelineErr() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.timelineErr
}
