package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/repops/repops/metrics"
	"github.com/repops/repops/ops"
	"github.com/repops/repops/tui"
)

// withHistory makes the engine of a collector (the console, the
// exporter) record its frames in the state dir's history store
// (history.db, metrics/timeline.go), with the procedure lock's holder,
// for the console's time travel (issue 17).
func withHistory(eo *metrics.EngineOptions, stateDir string) {
	if stateDir == "" {
		return
	}
	eo.TimelinePath = metrics.TimelinePath(stateDir)
	eo.TimelineLock = func() string {
		info, present, err := ops.ReadLock(stateDir)
		if err != nil {
			return ""
		}
		return tui.LockWords(info, present)
	}
}

// consoleHistory is the console's tui.TimeMachine: the engine's history
// store, or why there is none (it could not be opened: a read-only state
// dir, a damaged file), said where the frame would be.
type consoleHistory struct{ engine *metrics.Engine }

var _ tui.TimeMachine = consoleHistory{}

func (h consoleHistory) timeline() (*metrics.Timeline, error) {
	if tl := h.engine.Timeline(); tl != nil {
		return tl, nil
	}
	if err := h.engine.TimelineErr(); err != nil {
		return nil, fmt.Errorf("no history: %w", err)
	}
	return nil, errors.New("no history: the state dir keeps none")
}

// At implements tui.TimeMachine.
func (h consoleHistory) At(ctx context.Context, t time.Time) (metrics.Frame, error) {
	tl, err := h.timeline()
	if err != nil {
		return metrics.Frame{}, err
	}
	return tl.At(ctx, t)
}

// SeriesAll implements tui.TimeMachine.
func (h consoleHistory) SeriesAll(ctx context.Context, panels []string, from, to time.Time, points int) (map[string][]float64, error) {
	tl, err := h.timeline()
	if err != nil {
		return nil, err
	}
	return tl.SeriesAll(ctx, panels, from, to, points)
}
