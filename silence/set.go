package silence

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/repops/repops/internal/fsutil"
	"github.com/repops/repops/metrics"
	"github.com/repops/repops/runbooks"
)

// MatchedFile keeps, per silence, when it last matched a firing alert:
// the expiry guard's "matched nothing for an hour" survives a restart and
// is shared by every repops process.
const MatchedFile = "silences-matched.json"

// Set is the current silences in memory, refreshed from a Backend once
// per engine cycle (Run, or Refresh by the caller): it implements
// metrics.SilenceMatcher, answering from memory as the engine requires.
type Set struct {
	backend  Backend
	stateDir string
	// RunEnded says whether an ack's runbook run has ended (finished,
	// aborted or gone); by default it reads the run's state file.
	RunEnded func(runID string) bool

	mu          sync.RWMutex
	list        []Silence
	ackEnded    map[string]bool
	err         error
	refreshed   time.Time
	lastMatched map[string]time.Time
	dirty       bool
	// persisted is when the last-matched times were last written.
	persisted time.Time
}

// persistEvery bounds how often the last-matched times are written: the
// guard's threshold is an hour, a minute's lag is nothing, and a console
// refreshing every second does not rewrite a file every second.
const persistEvery = time.Minute

var _ metrics.SilenceMatcher = (*Set)(nil)

// NewSet is an empty set on b, persisting last-matched times in stateDir
// ("" keeps them in memory only).
func NewSet(b Backend, stateDir string) *Set {
	s := &Set{backend: b, stateDir: stateDir, ackEnded: map[string]bool{}, lastMatched: map[string]time.Time{}}
	s.RunEnded = func(runID string) bool { return RunEnded(stateDir, runID) }
	return s
}

// RunEnded reports whether runbook run runID in stateDir is over:
// finished, aborted, or no longer kept (an ack never outlives its run).
func RunEnded(stateDir, runID string) bool {
	st, err := runbooks.LoadRun(stateDir, runID)
	if err != nil {
		return errors.Is(err, runbooks.ErrNoSuchRun)
	}
	return !st.Status.Resumable()
}

// Backend is where the set's silences live.
func (s *Set) Backend() Backend { return s.backend }

// Refresh lists the silences again. On error the last good list stays
// (a silence does not vanish because Alertmanager blinked) and Err says
// why.
func (s *Set) Refresh(ctx context.Context) error {
	list, err := s.backend.List(ctx)
	now := time.Now()
	ended := map[string]bool{}
	if err == nil {
		for _, x := range list {
			if x.Ack && x.Active(now) && s.RunEnded != nil && s.RunEnded(x.RunID) {
				ended[x.ID] = true
			}
		}
	}
	// Alertmanager's own alerts count as matches too: a silence there
	// may be for alerts repops does not judge.
	var amAlerts []Alert
	if am, ok := s.backend.(*Alertmanager); ok && err == nil {
		amAlerts, _ = am.Alerts(ctx, nil)
	}
	s.mu.Lock()
	if err == nil {
		s.list, s.ackEnded, s.refreshed = list, ended, now
		for _, a := range amAlerts {
			for _, x := range list {
				if x.Active(now) && x.Matches(a.Labels) {
					s.lastMatched[x.ID] = now
					s.dirty = true
				}
			}
		}
	}
	s.err = err
	s.mu.Unlock()
	s.persistMatched()
	return err
}

// Run refreshes every interval until ctx ends.
func (s *Set) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, every)
		_ = s.Refresh(rctx)
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Err is why the last refresh failed, nil when it did not.
func (s *Set) Err() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.err
}

// Silences is a copy of the current list, newest first.
func (s *Set) Silences() []Silence {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]Silence(nil), s.list...)
}

// InForce reports whether x silences at now: active, and not an ack
// whose run has ended.
func (s *Set) InForce(x Silence, now time.Time) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return x.Active(now) && !s.ackEnded[x.ID]
}

// Match is the silence in force that covers labels at now (the one
// ending last when several do), recording the match for the guard.
func (s *Set) Match(labels map[string]string, now time.Time) (metrics.SilenceRef, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var best *Silence
	for i := range s.list {
		x := &s.list[i]
		if !x.Active(now) || s.ackEnded[x.ID] || !x.Matches(labels) {
			continue
		}
		s.lastMatched[x.ID] = now
		s.dirty = true
		if best == nil || x.EndsAt.After(best.EndsAt) {
			best = x
		}
	}
	if best == nil {
		return metrics.SilenceRef{}, false
	}
	return Ref(*best), true
}

// Ref is x as the metrics engine names it.
func Ref(x Silence) metrics.SilenceRef {
	return metrics.SilenceRef{ID: x.ID, CreatedBy: x.CreatedBy, Comment: x.Comment, EndsAt: x.EndsAt,
		Ack: x.Ack, RunID: x.RunID, Source: x.Source}
}

// LastMatched is when x last matched a firing alert (zero: never seen).
func (s *Set) LastMatched(id string) time.Time {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lastMatched[id]
}

// persistMatched merges the last-matched times with the file's (the
// latest of each wins, so several processes only ever move them
// forward) and writes them back when this set saw a new match.
// Decision: no lock: two writers racing lose at most one refresh's
// newer time, which the next refresh writes again.
func (s *Set) persistMatched() {
	if s.stateDir == "" {
		return
	}
	path := filepath.Join(s.stateDir, MatchedFile)
	disk := map[string]time.Time{}
	if b, err := fsutil.ReadRegularFile(context.Background(), path, maxStoreSize); err == nil {
		_ = json.Unmarshal(b, &disk)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return
	}
	s.mu.Lock()
	for id, t := range disk {
		if t.After(s.lastMatched[id]) {
			s.lastMatched[id] = t
		}
	}
	now := time.Now()
	dirty := s.dirty && now.Sub(s.persisted) >= persistEvery
	if dirty {
		s.dirty, s.persisted = false, now
	}
	keep := map[string]bool{}
	for _, x := range s.list {
		keep[x.ID] = true
	}
	out := map[string]time.Time{}
	for id, t := range s.lastMatched {
		if keep[id] || len(s.list) == 0 {
			out[id] = t.UTC()
		}
	}
	s.mu.Unlock()
	if !dirty {
		return
	}
	if b, err := json.Marshal(out); err == nil {
		_ = os.MkdirAll(s.stateDir, 0o700)
		_ = fsutil.WriteAtomic(path, b, 0o600)
	}
}
