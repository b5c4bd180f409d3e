package serve

import (
	"context"
	"sync"
	"time"

	"github.com/repops/repops/metrics"
)

// Engine is what the collector cycles: *metrics.Engine.
type Engine interface {
	Cycle(ctx context.Context) metrics.Snapshot
	HistoryN(panel string, n int) []float64
	HistoryTimes(n int) []time.Time
}

// Collector is the one collector of a 'repops serve' process: it cycles
// the metrics engine every interval in its own goroutine, whatever the
// number of sessions, and every session reads its newest snapshot. So the
// sources are scraped once per interval, not once per session.
type Collector struct {
	engine   Engine
	interval time.Duration
	timeout  time.Duration

	mu      sync.Mutex
	snap    metrics.Snapshot
	seq     uint64
	changed chan struct{} // closed and replaced at every new snapshot
}

// NewCollector cycles engine every interval; one cycle is bounded by
// timeout.
func NewCollector(engine Engine, interval, timeout time.Duration) *Collector {
	if interval <= 0 {
		interval = time.Second
	}
	return &Collector{engine: engine, interval: interval, timeout: timeout, changed: make(chan struct{})}
}

// Run cycles at once, then every interval, until ctx ends. A cycle that
// takes longer than the interval delays the next rather than overlapping
// it.
func (c *Collector) Run(ctx context.Context) {
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, c.timeout)
		snap := c.engine.Cycle(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		c.publish(snap)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (c *Collector) publish(s metrics.Snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.snap = s
	c.seq++
	close(c.changed)
	c.changed = make(chan struct{})
}

// newest is the newest snapshot, its number and the channel closed at
// the next.
func (c *Collector) newest() (metrics.Snapshot, uint64, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snap, c.seq, c.changed
}

// Figures is one session's view of the collector (tui.Figures and
// tui.Historian).
func (c *Collector) Figures() *Figures { return &Figures{c: c} }

// Figures is a session's figures: Cycle returns the collector's newest
// snapshot, waiting for the next one (at most the interval) when the
// session has already seen the newest. It never runs a cycle itself.
type Figures struct {
	c    *Collector
	mu   sync.Mutex
	seen uint64
}

// Cycle implements tui.Figures.
func (f *Figures) Cycle(ctx context.Context) metrics.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	snap, seq, next := f.c.newest()
	if seq > f.seen {
		f.seen = seq
		return snap
	}
	// Before the first snapshot there is nothing to show: wait for it
	// as long as the session's refresh allows; afterwards at most the
	// interval, then the newest (unchanged) snapshot again.
	var wait <-chan time.Time
	if seq > 0 {
		t := time.NewTimer(f.c.interval)
		defer t.Stop()
		wait = t.C
	}
	select {
	case <-next:
	case <-wait:
	case <-ctx.Done():
	}
	snap, seq, _ = f.c.newest()
	f.seen = seq
	return snap
}

// HistoryN implements tui.Historian.
func (f *Figures) HistoryN(panel string, n int) []float64 { return f.c.engine.HistoryN(panel, n) }

// HistoryTimes implements tui.Historian.
func (f *Figures) HistoryTimes(n int) []time.Time { return f.c.engine.HistoryTimes(n) }
