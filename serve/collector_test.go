package serve

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/repops/repops/metrics"
)

// countingEngine counts cycles and stamps each snapshot with its number.
type countingEngine struct{ n atomic.Int64 }

func (e *countingEngine) Cycle(ctx context.Context) metrics.Snapshot {
	n := e.n.Add(1)
	return metrics.Snapshot{Time: time.Unix(n, 0)}
}
func (e *countingEngine) HistoryN(string, int) []float64 { return nil }
func (e *countingEngine) HistoryTimes(int) []time.Time   { return nil }

var _ Engine = (*countingEngine)(nil)

// Ten sessions refreshing as fast as they can never make the engine
// cycle more than the collector does: each session sees every snapshot
// once, in order, and no session runs a cycle itself.
func TestCollectorOneCyclePerInterval(t *testing.T) {
	eng := &countingEngine{}
	c := NewCollector(eng, 20*time.Millisecond, time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	var wg sync.WaitGroup
	const sessions, reads = 10, 15
	seen := make([][]int64, sessions)
	for i := 0; i < sessions; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			f := c.Figures()
			for r := 0; r < reads; r++ {
				cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
				seen[i] = append(seen[i], f.Cycle(cctx).Time.Unix())
				ccancel()
			}
		}(i)
	}
	wg.Wait()
	cancel()
	<-done
	cycles := eng.n.Load()
	for i, s := range seen {
		for j := 1; j < len(s); j++ {
			if s[j] < s[j-1] {
				t.Fatalf("session %d went back in time: %v", i, s)
			}
		}
		if last := s[len(s)-1]; last > cycles {
			t.Fatalf("session %d saw snapshot %d of %d cycles", i, last, cycles)
		}
	}
	// Each session read 15 snapshots; without the collector that is 150
	// cycles. With it, the cycles are those of the ticker alone.
	if cycles >= sessions*reads/2 {
		t.Errorf("%d engine cycles for %d sessions × %d reads: the sessions are cycling the engine", cycles, sessions, reads)
	}
}

// Before the first snapshot a session waits for it (bounded by its
// context), and never gets a zero snapshot when one comes.
func TestFiguresWaitForTheFirstSnapshot(t *testing.T) {
	c := NewCollector(&countingEngine{}, time.Hour, time.Second)
	f := c.Figures()
	got := make(chan metrics.Snapshot, 1)
	go func() { got <- f.Cycle(context.Background()) }()
	c.publish(metrics.Snapshot{Time: time.Unix(7, 0)})
	if s := <-got; s.Time.Unix() != 7 {
		t.Fatalf("got %v", s.Time)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if s := f.Cycle(ctx); s.Time.Unix() != 7 {
		t.Fatalf("a cancelled refresh: %v, want the newest snapshot", s.Time)
	}
}
