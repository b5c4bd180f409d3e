// Package sim is a stand-in for the reputation service, so that the
// console, the demo, drills and tests have something live to watch. It
// writes to the database as the service does (appeal submissions,
// negotiations that end approved, denied or expired, ML predictions),
// through its own connection with short IMMEDIATE transactions and a busy
// timeout; it serves the service's /metrics (DESIGN.md's metrics contract,
// plus process metrics); and it injects incidents: scenarios, switchable
// while it runs, each of which moves one of the operations guide's key
// metrics past its alert threshold.
//
// Time. The service's activity happens in seconds; negotiations last hours
// of business time. The simulator observes negotiation durations drawn in
// hours and writes each finished negotiation's messages spread over those
// hours in the past (so that the database gives the same durations from
// message timestamps), while appeals.created_at is always the time of
// submission. Options.Speed compresses the service's time (Speed 60: a
// minute of traffic a second) so that tests see a minute's worth of
// metrics in a second; database timestamps stay on the wall clock.
//
// Plain Go: no terminal UI; the console starts a Sim in-process for its
// demo and switches scenarios with SetScenario.
package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/repops/repops/db"
)

// Options configure a Sim. Only DBPath is required.
type Options struct {
	// DBPath is the service's database; it must exist and carry the
	// reputation schema (db.RequireSchema).
	DBPath string
	// DB are the connection options (cache size, checkpoints). The
	// simulator's writer uses synchronous NORMAL unless told otherwise,
	// as the service does, and a 5 s busy timeout.
	DB db.Options
	// Listen is the address /metrics and the control endpoint are served
	// on. Default 127.0.0.1:9090 (the guide's METRICS_PORT); port 0 picks a
	// free port (see Addr). Only loopback unless AllowRemote.
	Listen string
	// AllowRemote permits a listen address that is not loopback. The
	// control endpoint still answers only loopback clients.
	AllowRemote bool
	// Rate is the normal appeal submission rate per minute. Default 40;
	// bursts reach about twice that for 20-45 s every few minutes, staying
	// under 100/min. At most MaxRate.
	Rate float64
	// Seed seeds the generator; 0 picks one from the clock.
	Seed uint64
	// Scenario is the initial scenario. Default normal.
	Scenario string
	// Clock gives the time written to the database. Default time.Now.
	Clock func() time.Time
	// Speed compresses time: the service does Speed seconds of work each
	// second (rates, bursts, negotiation delays). Default 1; tests use
	// 30-120 to see a minute of traffic in a second or two. At most 1000.
	Speed float64
	// Tick is how often the generator runs (wall clock). Default 200 ms.
	Tick time.Duration
	// MaxConnections is the service's pool size (MAX_DB_CONNECTIONS,
	// database.max_connections), exported as reputation_db_connections_max.
	// Default 10.
	MaxConnections int
	// NegotiationTimeout is when a negotiation expires
	// (reputation.negotiation_timeout_hours). Default 72 h.
	NegotiationTimeout time.Duration
	// ModelVersion is written in ml_predictions.model_version. Default v1.0.
	ModelVersion string
	// Logger receives write failures and lifecycle events. Default: discard.
	Logger *slog.Logger
	// OnScenario, when set, is told of every switch to another scenario
	// (at, from, to), and by whom: "control endpoint (ADDR)" for a POST
	// to /scenario, "" for a call of SetScenario. It is called after the
	// switch, outside the simulator's lock, on the caller's goroutine:
	// the ops journal's record of the demo's incidents.
	OnScenario func(at time.Time, from, to, by string)
}

// Stats are the simulator's writer's figures: what it committed, what
// failed and how long its transactions took. A procedure that runs beside
// the live service (backup, archive, vacuum) proves it never blocked the
// service beyond its busy timeout by WriteErrors staying 0.
type Stats struct {
	Writes            int64         // transactions committed
	WriteErrors       int64         // transactions that failed
	Rows              int64         // rows inserted or updated by committed transactions
	LastWriteLatency  time.Duration // begin to commit of the last transaction
	WorstWriteLatency time.Duration // the longest so far
	LastError         string        // the last failure, "" when none
}

// Limits that keep every loop and transaction bounded.
const (
	maxInflight       = 20000 // appeals tracked through negotiation
	maxPerTick        = 1000  // submissions or stage changes in one tick
	maxRowsPerRealSec = 2000  // db-growth rows per wall-clock second
	maxRowsPerTx      = 500   // rows in one background transaction
	maxTickGap        = 5 * time.Second
	maxSpeed          = 1000
)

// Sim is the simulated reputation service. Build it with New, run it with
// Run; SetScenario, Scenario, Stats and Addr are safe from any goroutine.
type Sim struct {
	o     Options
	db    *db.Handle
	ln    net.Listener
	m     *serviceMetrics
	h     http.Handler
	log   *slog.Logger
	clock func() time.Time

	mu       sync.Mutex
	scenario string
	stats    Stats

	started   atomic.Bool
	closeOnce sync.Once
	closeErr  error

	g generator // touched only by the Run loop (and tests' direct steps)
}

// New checks the options, opens the database for writing (it must exist
// and be migrated) and binds the listen address, so that a wrong path, a
// schema missing or a port in use is reported here. Call Run to start, or
// Close to give the resources back without running.
func New(o Options) (*Sim, error) {
	if o.DBPath == "" {
		return nil, errors.New("simulator: no database path: give --db or DATABASE_PATH")
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:9090"
	}
	if o.Rate == 0 {
		o.Rate = 40
	}
	if o.Rate < 0 || o.Rate > MaxRate {
		return nil, fmt.Errorf("simulator: rate %g appeals/min out of range: want more than 0 and at most %g", o.Rate, MaxRate)
	}
	if o.Scenario == "" {
		o.Scenario = ScenarioNormal
	}
	if err := checkScenario(o.Scenario); err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	if o.Speed == 0 {
		o.Speed = 1
	}
	if o.Speed < 0 || o.Speed > maxSpeed {
		return nil, fmt.Errorf("simulator: speed %g out of range: want more than 0 and at most %d", o.Speed, maxSpeed)
	}
	if o.Tick <= 0 {
		o.Tick = 200 * time.Millisecond
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = 10
	}
	if o.MaxConnections < 1 {
		return nil, fmt.Errorf("simulator: max connections %d: want at least 1", o.MaxConnections)
	}
	if o.NegotiationTimeout <= 0 {
		o.NegotiationTimeout = 72 * time.Hour
	}
	if o.ModelVersion == "" {
		o.ModelVersion = "v1.0"
	}
	if o.Seed == 0 {
		o.Seed = uint64(time.Now().UnixNano())
	}
	s := &Sim{o: o, log: o.Logger, clock: o.Clock, scenario: o.Scenario}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if err := checkListen(o.Listen, o.AllowRemote); err != nil {
		return nil, err
	}

	dbo := o.DB
	dbo.Create = false
	dbo.MaxConns = 1
	if dbo.Synchronous == "" {
		dbo.Synchronous = "NORMAL"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if dbo.Owner == "" {
		dbo.Owner = "simulator"
	}
	// A Handle, not a pool: a restore in this process (the demo's console)
	// closes it before it replaces the file, and the next write reopens
	// the restored database.
	w := db.NewHandle(o.DBPath, true, dbo)
	wp, err := w.DB(ctx)
	if err != nil {
		w.Close()
		return nil, err
	}
	if _, err := db.RequireSchema(ctx, wp, o.DBPath); err != nil {
		w.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("simulator: listen on %s: %w (is another service on that port? choose another with --listen)", o.Listen, err)
	}
	if ta, ok := ln.Addr().(*net.TCPAddr); ok && !o.AllowRemote && !ta.IP.IsLoopback() {
		ln.Close()
		w.Close()
		return nil, fmt.Errorf("simulator: listen address %s resolved to %s, which is not loopback: use 127.0.0.1 or ::1, or allow remote access explicitly", o.Listen, ta.IP)
	}
	s.db, s.ln = w, ln
	s.m = newServiceMetrics()
	s.m.connMax.Set(float64(o.MaxConnections))
	s.m.connActive.Set(1)
	s.m.setScenario(o.Scenario)
	s.h = s.newHandler()
	s.g = newGenerator(o.Seed, o.Rate)
	return s, nil
}

// checkListen refuses an address that is not loopback (an empty host
// means every interface) unless remote access is allowed.
func checkListen(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("simulator: listen address %q: %w (want host:port, e.g. 127.0.0.1:9090)", addr, err)
	}
	if allowRemote || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("simulator: listen address %q is not loopback: the simulator listens on 127.0.0.1 or ::1 unless remote access is allowed explicitly (--allow-remote)", addr)
}

// Addr is the address the simulator listens on (host:port), with the port
// chosen when Listen asked for port 0.
func (s *Sim) Addr() string { return s.ln.Addr().String() }

// MetricsURL is the URL of /metrics.
func (s *Sim) MetricsURL() string { return "http://" + s.Addr() + "/metrics" }

// ControlURL is the URL of the scenario control endpoint.
func (s *Sim) ControlURL() string { return "http://" + s.Addr() + "/scenario" }

// Scenario is the name of the scenario running.
func (s *Sim) Scenario() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.scenario
}

// SetScenario switches to the named scenario; the next tick draws from it.
// An unknown name is an error that lists the known ones.
func (s *Sim) SetScenario(name string) error { return s.setScenario(name, "") }

// setScenario is SetScenario, by whom (see Options.OnScenario).
func (s *Sim) setScenario(name, by string) error {
	if err := checkScenario(name); err != nil {
		return err
	}
	s.mu.Lock()
	old := s.scenario
	s.scenario = name
	s.m.setScenario(name)
	s.mu.Unlock()
	if old != name {
		s.log.Info("scenario switched", "from", old, "to", name)
		if s.o.OnScenario != nil {
			s.o.OnScenario(time.Now(), old, name, by)
		}
	}
	return nil
}

// Stats returns the writer's figures so far.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Run serves /metrics and the control endpoint and generates the
// service's traffic until ctx is done, then stops the generator, shuts the
// server down (waiting up to 2 s for scrapes in flight) and closes the
// database. It returns nil after a clean stop, and an error when the
// server fails. A Sim runs once.
func (s *Sim) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("simulator: Run called twice")
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	srv := &http.Server{Handler: s.h, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(s.ln) }()
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		s.loop(ctx)
	}()
	s.log.Info("simulated reputation service started", "addr", s.Addr(), "db", s.o.DBPath, "scenario", s.Scenario(), "rate_per_min", s.o.Rate, "speed", s.o.Speed)

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("simulator: serve on %s: %w", s.Addr(), err)
		cancel()
	}
	<-loopDone
	sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer scancel()
	if serr := srv.Shutdown(sctx); serr != nil && err == nil && !errors.Is(serr, context.DeadlineExceeded) {
		err = fmt.Errorf("simulator: shut down the server: %w", serr)
	}
	st := s.Stats()
	s.log.Info("simulated reputation service stopped", "writes", st.Writes, "write_errors", st.WriteErrors, "worst_write_latency", st.WorstWriteLatency.String())
	return err
}

// Close releases the listener and the database. Run calls it when it
// ends; call it yourself only for a Sim that never ran. Idempotent.
func (s *Sim) Close() error {
	s.closeOnce.Do(func() {
		lerr := s.ln.Close()
		if errors.Is(lerr, net.ErrClosed) {
			lerr = nil
		}
		s.closeErr = errors.Join(lerr, s.db.Close())
	})
	return s.closeErr
}

// loop runs the generator once a tick, advancing the service's time by the
// wall-clock time since the last tick times Speed.
func (s *Sim) loop(ctx context.Context) {
	t := time.NewTicker(s.o.Tick)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			real := now.Sub(last)
			last = now
			if real > maxTickGap {
				real = maxTickGap
			}
			s.step(ctx, real)
		}
	}
}

// recordWrite accounts one transaction.
func (s *Sim) recordWrite(lat time.Duration, rows int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.LastWriteLatency = lat
	if lat > s.stats.WorstWriteLatency {
		s.stats.WorstWriteLatency = lat
	}
	if err != nil {
		s.stats.WriteErrors++
		s.stats.LastError = err.Error()
		s.m.writeErrors.Inc()
		return
	}
	s.stats.Writes++
	s.stats.Rows += int64(rows)
	s.m.writes.Inc()
}

// newRand makes the generator's source from a seed.
func newRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}
