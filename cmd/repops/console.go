package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/term"
	"github.com/spf13/cobra"

	"github.com/repops/repops/config"
	"github.com/repops/repops/db"
	"github.com/repops/repops/metrics"
	"github.com/repops/repops/ops"
	"github.com/repops/repops/replicate"
	"github.com/repops/repops/runbooks"
	"github.com/repops/repops/tui"
)

// consoleOptions are what opening the console needs beyond the config.
type consoleOptions struct {
	// sim is the in-process simulator of 'repops demo' (nil otherwise).
	sim tui.Simulator
	// programOpts are extra bubbletea options (tests: input, output, size).
	programOpts []tea.ProgramOption
}

// runConsole opens the console on the configured database and sources:
// 'repops' with no command.
func runConsole(ctx context.Context, a *app, o consoleOptions) error {
	// From a second terminal beside 'repops demo': its simulated service,
	// unless the config names the service's metrics.
	cfg, _, _ := withDemoService(a.cfg, os.Getenv)
	started := time.Now()
	// Without a terminal (a pipe, a file, a test's buffer) the console
	// would wait for keys that never come.
	if f, ok := a.out.(*os.File); len(o.programOpts) == 0 && (!ok || !term.IsTerminal(f.Fd())) {
		return withCode(exitUsage, errors.New("the console needs a terminal: for a one-shot glance from a script use 'repops status' (or --json)"))
	}
	if path := os.Getenv(cpuProfileEnv); path != "" {
		stop, err := startCPUProfile(path)
		if err != nil {
			return err
		}
		defer stop()
	}
	eo, err := metrics.OptionsFromConfig(cfg)
	if err != nil {
		return withCode(exitUsage, fmt.Errorf("console: %w", err))
	}
	eo.DBOptions = readerDBOptions(a)
	eo.SizesAfter = sizesAfter
	// The console is a collector while it runs: it keeps the rules' states
	// in the state dir for 'repops status', and starts from the last ones.
	eo.PersistPath, eo.PersistInterval = metrics.CollectorStatePath(cfg.StateDir()), cfg.Console.RefreshInterval
	withHistory(&eo, cfg.StateDir())
	silSvc, silSet, stopSilences := startSilences(ctx, cfg, cfg.Console.RefreshInterval)
	defer stopSilences()
	if silSet != nil {
		eo.Silences = silSet
	}
	engine, err := metrics.NewEngine(eo)
	if err != nil {
		return withCode(exitUsage, fmt.Errorf("console: %w", err))
	}
	defer engine.Close()
	importCollectorState(engine, eo.PersistPath, cfg.Database.Path, time.Now())
	// The first cycle starts now, while the journal, the tables and the
	// runbooks' catalogue are opened and parsed (tens of milliseconds):
	// the first full frame waits for whichever ends last, not for both.
	// Quitting before it ends cancels it and waits for it, before the
	// engine closes.
	first, firstDone := make(chan metrics.Snapshot, 1), make(chan struct{})
	firstCtx, cancelFirst := context.WithTimeout(ctx, firstCycleTimeout(cfg))
	// The console journals the alerts' transitions while it runs, unless
	// another collector (the exporter, another console) does (see
	// alertJournal). Its one-line complaints (a journal it cannot write)
	// would land on the console's screen: they go nowhere, and the
	// journal view says why the journal is unavailable.
	aj := newAlertJournal(cfg.StateDir(), io.Discard)
	defer aj.Close(5 * time.Second)
	figures := journalingFigures{Engine: engine, aj: aj}
	go func() { first <- figures.Cycle(firstCtx); close(firstDone) }()
	defer func() { cancelFirst(); <-firstDone }()

	stateDir := cfg.StateDir()
	opts := tui.Options{
		Config:          cfg,
		Figures:         figures,
		Lock:            func() (*ops.LockInfo, bool, error) { return ops.ReadLock(stateDir) },
		ReadOnly:        a.readOnly,
		Sim:             o.sim,
		Started:         started,
		FirstCycle:      first,
		ReplicationNote: replicationNote(cfg),
		History:         consoleHistory{engine},
		Actor:           ops.CurrentActor(""),
	}
	if silSet != nil {
		opts.Silences = &consoleSilences{svc: silSvc, set: silSet, stateDir: stateDir, actor: ops.CurrentActor("")}
	}
	journal, jerr := ops.OpenJournal(stateDir)
	if jerr != nil {
		opts.JournalErr = jerr
	} else {
		opts.Journal = journal
		defer journal.Close()
	}
	// The local console's Unix user is trusted as the CLI's (--force):
	// it breaks the lock unless read-only.
	if !a.readOnly {
		opts.BreakLock = lockBreaker(stateDir, ops.CurrentActor(""), journal, jerr)
	}
	tables, closeTables := consoleTables(ctx, a)
	defer closeTables()
	opts.Tables = tables
	// The runbooks' catalogue (tens of milliseconds of parsing) loads
	// while the console starts: the first frame does not wait for it.
	// It starts once the first cycle has delivered its snapshot: parsing
	// is Go work, and run beside the first cycle it delays the first full
	// frame (measured: the first cycle took 30 to 65 ms beside it on the
	// 1M-appeal database, 6 to 11 ms alone).
	//
	// And it waits a little more (settled): on one processor (below),
	// parsing right after the first cycle took the processor from the
	// program drawing the first full frame, which then missed its tick and
	// came a tick later (a first full frame at 65 or 100 ms, one start in
	// four the latter).
	settled := make(chan struct{})
	go func() {
		<-firstDone
		t := time.NewTimer(firstFrameSettle)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		close(settled)
	}()
	rb := newLazyRunbooks(settled, func() (tui.RunbookService, error) { return consoleRunbooks(a, journal, engine) })
	opts.Runbooks = rb
	defer func() {
		if err := rb.err(); err != nil {
			fmt.Fprintf(a.err, "repops: runbooks unavailable: %v\n", err)
		}
	}()

	// The console's heap is small (a few MB) and short-lived garbage is
	// made at every refresh: collecting less often costs a few MB of
	// memory and saves CPU on an idle dashboard.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	// Decision: one processor for Go code, unless GOMAXPROCS says
	// otherwise. An idle console's CPU is mostly the runtime waking up
	// (10 frame ticks and one refresh a second), and with two processors
	// each wake-up also wakes a second thread to look for work: measured
	// side by side on the 1M-appeal demo database, 0.64 s of CPU a minute
	// with one against 0.76 s with two. SQLite's work (cgo calls, such as
	// the table-size scan on two connections, or a runbook's backup) is
	// not bound by it; the console's own Go work is a few milliseconds a
	// second.
	// Set once the first frame has settled (settled): until then two processors let the
	// first cycle's Go work run beside the program's start.
	if os.Getenv("GOMAXPROCS") == "" {
		prev, set := runtime.GOMAXPROCS(0), make(chan struct{})
		go func() { <-settled; runtime.GOMAXPROCS(1); close(set) }()
		defer func() { cancelFirst(); <-set; runtime.GOMAXPROCS(prev) }()
	}
	m, err := tui.New(opts)
	if err != nil {
		return withCode(exitUsage, err)
	}
	// 30 frames a second at most: keys answer within 33 ms. The first
	// frame is drawn at the first tick after the program starts, whatever
	// the data: the program starts as soon as the engine exists (the
	// first cycle runs meanwhile, the runbooks' catalogue after it), so
	// the tick is the floor of the first full frame.
	//
	// Decision: 30, not 10 or 20. Measured on the 1M-appeal demo
	// database, the process reaches the program 29 to 55 ms after exec
	// and the first cycle ends 10 to 35 ms later, before the first tick:
	// the first full frame is the program's start plus one tick. At 10
	// frames that was 122 to 150 ms, at 20 a p95 of 91 to 104 ms, against
	// the goal of 100 ms. Each tick wakes the runtime even when nothing
	// changed: idle on the same database, 0.32 s of CPU a minute at 10
	// frames, 0.34 at 20, 0.50 at 30 (htop: 0.74 to 0.86 in the same
	// runs). Figures in the README's console section.
	popts := []tea.ProgramOption{tea.WithContext(ctx), tea.WithInput(a.in), tea.WithOutput(a.out), tea.WithFPS(30)}
	// The colour profile is detected once. Inside tmux detection runs
	// 'tmux info' (a subprocess, tens of milliseconds before the first
	// frame); lipgloss has already detected stdout's profile when it was
	// loaded, so that one is reused, and the program is given it rather
	// than detecting again.
	env := os.Environ()
	var profile colorprofile.Profile
	if a.out == io.Writer(os.Stdout) {
		profile = lipgloss.Writer.Profile
	} else {
		profile = colorprofile.Detect(a.out, env)
	}
	if noColor() {
		profile = colorprofile.Ascii
	}
	popts = append(popts, tea.WithColorProfile(profile), tea.WithEnvironment(env))
	popts = append(popts, o.programOpts...)
	final, err := tea.NewProgram(m, popts...).Run()
	if fm, ok := final.(tui.Model); ok {
		fm.Close()
	}
	if err != nil && !errors.Is(err, tea.ErrProgramKilled) && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("console: %w", err)
	}
	return nil
}

// firstFrameSettle is how long after the first cycle the console leaves
// the first full frame to be drawn before it parses the runbooks'
// catalogue and goes down to one processor: a few frame ticks.
const firstFrameSettle = 150 * time.Millisecond

// cpuProfileEnv names the environment variable that, set to a file path,
// makes the console write a CPU profile of its whole run there (go tool
// pprof reads it): a debugging aid for the console's own cost,
// described in the README's console section.
const cpuProfileEnv = "REPOPS_CPUPROFILE"

// startCPUProfile starts profiling the CPU into path; the returned func
// stops and writes the profile.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("console: create the CPU profile named by %s: %w", cpuProfileEnv, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("console: start the CPU profile %s: %w", path, err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

// sizesAfter is how long after start the console's database source first
// measures table sizes (a scan of the whole file, about half a second of
// both cores on the 1M-appeal demo database): not while the first frames
// are drawn.
const sizesAfter = 10 * time.Second

// tablesCacheKiB is the page cache of each connection of the tables
// view's pool: its scan reads every page once, a cache saves nothing.
const tablesCacheKiB = 1024

// readerCacheKiB is the page cache of each of the console's and status'
// read-only connections: 8 MiB.
const readerCacheKiB = 8 << 10

// readerDBOptions are the connection options of the console's and
// status' read-only connections. Decision: they use a small page cache
// rather than the config's database.cache_size. The guide's cache_size
// (100000 pages, about 400 MB) is sized for the service's writer; a
// monitoring reader that scans the file (table sizes read every page)
// would otherwise keep hundreds of megabytes per connection resident on
// the database host. The figures are read with a few indexed queries
// each refresh, which a small cache serves.
func readerDBOptions(a *app) db.Options {
	o := a.dbOptions()
	if o.CacheSize > 0 || o.CacheSize < -readerCacheKiB {
		o.CacheSize = -readerCacheKiB
	}
	return o
}

// noColor is the NO_COLOR convention (https://no-color.org): set and not
// empty means no colour, whatever its value.
func noColor() bool { return os.Getenv("NO_COLOR") != "" }

// consoleCmdRunE is the root command's RunE: no subcommand opens the
// console.
func consoleCmdRunE(a *app) func(cmd *cobra.Command, args []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usageError("unknown command %q: see 'repops --help'", args[0])
		}
		return runConsole(cmd.Context(), a, consoleOptions{})
	}
}

// consoleRunbooks loads the catalogue (embedded, plus console.runbook_dir)
// and builds the engine the console drives, on the real procedures.
func consoleRunbooks(a *app, journal *ops.Journal, engine *metrics.Engine) (tui.RunbookService, error) {
	cfg := a.cfg
	cat, err := runbooks.Load(cfg.Console.RunbookDir)
	if err != nil {
		return nil, err
	}
	actor := ops.CurrentActor("")
	env := runbooks.NewOpsEnv(runbooks.EnvConfig{
		Config: cfg, DB: a.dbOptions(), Actor: actor, ReadOnly: a.readOnly,
		Metrics: func(ctx context.Context) (runbooks.MetricReader, error) {
			return runbooks.SnapshotReader(engine.Last()), nil
		},
	})
	eng := runbooks.NewEngine(env, runbooks.EngineOptions{
		StateDir: cfg.StateDir(), Actor: actor, Vars: runbooks.VarsFromConfig(cfg),
	})
	return tui.RunbookEngine{Catalogue: cat, Engine: eng}, nil
}

// lazyRunbooks is the runbooks' service while its catalogue loads in the
// background (tui.RunbookLoader): every method waits for the load; when
// it failed, the list is empty and starting a run says why.
type lazyRunbooks struct {
	loaded chan struct{}
	svc    tui.RunbookService
	loadEr error
}

func newLazyRunbooks(after <-chan struct{}, load func() (tui.RunbookService, error)) *lazyRunbooks {
	l := &lazyRunbooks{loaded: make(chan struct{})}
	go func() {
		defer close(l.loaded)
		if after != nil {
			<-after
		}
		l.svc, l.loadEr = load()
	}()
	return l
}

// Loaded is closed once the catalogue is loaded (or failed to).
func (l *lazyRunbooks) Loaded() <-chan struct{} { return l.loaded }

func (l *lazyRunbooks) ready() bool {
	<-l.loaded
	return l.loadEr == nil && l.svc != nil
}

func (l *lazyRunbooks) err() error {
	<-l.loaded
	return l.loadEr
}

// List is every runbook of the catalogue.
func (l *lazyRunbooks) List() []*runbooks.Runbook {
	if !l.ready() {
		return nil
	}
	return l.svc.List()
}

// Get is the runbook with that id.
func (l *lazyRunbooks) Get(id string) (*runbooks.Runbook, bool) {
	if !l.ready() {
		return nil, false
	}
	return l.svc.Get(id)
}

// ForAlert is the runbooks that fit the rule.
func (l *lazyRunbooks) ForAlert(rule string) []*runbooks.Runbook {
	if !l.ready() {
		return nil
	}
	return l.svc.ForAlert(rule)
}

// Start starts a run of rb.
func (l *lazyRunbooks) Start(rb *runbooks.Runbook) (tui.RunbookRun, error) {
	if !l.ready() {
		return nil, fmt.Errorf("runbooks unavailable: %w", l.err())
	}
	return l.svc.Start(rb)
}

// Resume continues a kept run.
func (l *lazyRunbooks) Resume(runID string) (tui.RunbookRun, error) {
	if !l.ready() {
		return nil, fmt.Errorf("runbooks unavailable: %w", l.err())
	}
	return l.svc.Resume(runID)
}

// consoleTables reads table and index sizes through one read-only pool
// of two connections kept for the console's life (opened lazily, at the
// first look at the tables view). Like the dashboard's measurement
// (metrics.DatabaseSource) it reads dbstat without memory-mapping the
// file and through a 1 MiB page cache per connection, so that the
// console's resident memory stays small during the scan.
func consoleTables(ctx context.Context, a *app) (tui.TableSource, func()) {
	o := readerDBOptions(a)
	o.MaxConns, o.CacheSize, o.Owner = 2, -tablesCacheKiB, "console tables"
	h := db.NewHandle(a.cfg.Database.Path, false, o)
	src := tui.TableSourceFunc(func(ctx context.Context) (tui.TableReport, error) {
		conn, err := h.DB(ctx)
		if err != nil {
			return tui.TableReport{}, err
		}
		sizes, err := db.TableSizes(ctx, conn, a.cfg.Database.Path, db.SizeOptions{NoMmap: true})
		if err != nil {
			return tui.TableReport{}, err
		}
		out := tui.TableReport{FileBytes: sizes.FileBytes, WALBytes: sizes.WALBytes, FreeBytes: sizes.FreePages * sizes.PageSize}
		for _, s := range sizes.Objects {
			t := tui.TableStat{Name: s.Name, Rows: s.Rows, Estimated: s.Estimated, Bytes: s.Bytes}
			if s.Kind == "index" {
				t.Table = s.Table
			}
			out.Tables = append(out.Tables, t)
		}
		return out, nil
	})
	return src, func() { h.Close() }
}

// firstCycleTimeout bounds the first cycle as the console bounds every
// refresh: the sources' timeout and a second, at least 2 s.
func firstCycleTimeout(cfg *config.Config) time.Duration {
	return max(2*time.Second, cfg.Console.Sources.Timeout+time.Second)
}

// replicationNote is what the console's Infrastructure tab says while
// replication is off: that no replica is configured and, when the
// litestream binary is missing too, how to install it.
func replicationNote(cfg *config.Config) string {
	if len(cfg.Console.Replication.Replicas) > 0 {
		return ""
	}
	if _, err := replicate.Binary(); err != nil {
		return "off · Litestream not installed: make litestream"
	}
	return "off · no replica in console.replication ('repops replicate config' then)"
}
