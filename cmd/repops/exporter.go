package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/fsutil"
	"github.com/repops/repops/metrics"
	"github.com/repops/repops/ops"
	"github.com/repops/repops/replicate"
)

// exporterOptions are the flags of 'repops exporter'.
type exporterOptions struct {
	listen      string
	allowRemote bool
	// verifyEvery, when positive, replaces console.replication.verify_every
	// (at least 1m in the config): a hidden knob for tests.
	verifyEvery time.Duration
}

// defaultExporterListen is loopback: the exporter says how the database is
// doing, which is nobody else's business unless the operator decides so.
const defaultExporterListen = "127.0.0.1:9469"

// newExporterCmd serves repops' figures for Prometheus.
func newExporterCmd(a *app) *cobra.Command {
	o := &exporterOptions{}
	cmd := &cobra.Command{
		Use:   "exporter",
		Short: "Serve database and repops figures (backup age, drill RTO, checks) for Prometheus",
		Long: `Serve, on /metrics in the Prometheus text format, what the database source
measures (submissions per minute, negotiation durations, pending appeals, table
rows, file and WAL size, free disk, schema version) and what only repops knows
(backup age, the last DR drill's measured RTO and RPO, the last integrity
check, the ops journal's size), for the guide's Prometheus and Grafana. The
rules from 'repops rules export' use these series. Runs until interrupted.

With replication configured and litestream installed, it also verifies the
replica every console.replication.verify_every (what 'repops replicate
verify' does; a full integrity_check once a day), one at a time, and logs
one line per outcome on stderr; repops_replica_verify_* report the last.

It listens on loopback (127.0.0.1, ::1 or localhost) unless --allow-remote:
an address of another interface, or one without a host (":9469", every
interface), is refused, as 'repops simulate' refuses it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExporter(cmd.Context(), a, o, nil)
		},
	}
	cmd.Flags().StringVar(&o.listen, "listen", defaultExporterListen, "address to listen on (loopback unless --allow-remote)")
	cmd.Flags().BoolVar(&o.allowRemote, "allow-remote", false, "allow a listen address that is not loopback (what it serves is then anyone's who can reach the port)")
	return cmd
}

// runExporter serves until ctx ends. ready, when set, receives the
// address actually listened on (tests listen on port 0).
func runExporter(ctx context.Context, a *app, o *exporterOptions, ready func(addr string)) error {
	if err := checkExporterListen(o.listen, o.allowRemote); err != nil {
		return withCode(exitUsage, err)
	}
	stateDir := a.cfg.StateDir()
	exp := metrics.NewExporter(metrics.ExporterOptions{
		Database: metrics.DatabaseOptions{
			Path: a.cfg.Database.Path, DBOptions: a.dbOptions(),
			StateDir: stateDir, BackupDir: a.cfg.BackupDir(),
		},
		JournalEntries: func(ctx context.Context) (int64, error) { return journalEntries(ctx, stateDir) },
	})
	defer exp.Close()
	stopCollector, err := startCollector(ctx, a)
	if err != nil {
		return err
	}
	defer stopCollector()
	stopVerifier := startReplicaVerifier(ctx, a, o.verifyEvery, time.Time{})
	defer stopVerifier()
	mux := http.NewServeMux()
	mux.Handle("/metrics", exp.Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "repops exporter: figures on /metrics")
	})
	l, err := net.Listen("tcp", o.listen)
	if err != nil {
		return usageError("exporter: listen on %s: %w (is the port in use? choose another with --listen)", o.listen, err)
	}
	if ta, ok := l.Addr().(*net.TCPAddr); ok && !o.allowRemote && !ta.IP.IsLoopback() {
		l.Close()
		return usageError("exporter: listen address %s resolved to %s, which is not loopback: use 127.0.0.1 or ::1, or allow remote access explicitly (--allow-remote)", o.listen, ta.IP)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(a.err, "repops exporter: serving %s on http://%s/metrics\n", a.cfg.Database.Path, l.Addr())
	if ready != nil {
		ready(l.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("exporter: serve on %s: %w", l.Addr(), err)
	}
}

// startCollector runs the rules' engine every refresh interval until ctx
// ends or the returned func is called, persisting the rules' states in the
// state dir: the exporter is the collector 'repops status' reads.
func startCollector(ctx context.Context, a *app) (stop func(), err error) {
	cfg, _, _ := withDemoService(a.cfg, os.Getenv)
	eo, err := metrics.OptionsFromConfig(cfg)
	if err != nil {
		return nil, withCode(exitUsage, fmt.Errorf("exporter: %w", err))
	}
	eo.DBOptions = readerDBOptions(a)
	eo.SizesAfter = -1 // the exporter measures table sizes itself
	interval := cfg.Console.RefreshInterval
	if interval <= 0 {
		interval = time.Second
	}
	eo.PersistPath, eo.PersistInterval = metrics.CollectorStatePath(cfg.StateDir()), interval
	withHistory(&eo, cfg.StateDir())
	_, set, stopSilences := startSilences(ctx, cfg, interval)
	if set != nil {
		eo.Silences = set
	}
	engine, err := metrics.NewEngine(eo)
	if err != nil {
		stopSilences()
		return nil, withCode(exitUsage, fmt.Errorf("exporter: %w", err))
	}
	importCollectorState(engine, eo.PersistPath, cfg.Database.Path, time.Now())
	aj := newAlertJournal(cfg.StateDir(), a.err)
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		var reported bool
		for {
			aj.Observe(engine.Cycle(cctx))
			if err := engine.PersistErr(); err != nil && !reported {
				fmt.Fprintf(a.err, "repops exporter: cannot keep the rules' states: %v\n", err)
				reported = true
			}
			select {
			case <-cctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); <-done; aj.Close(5 * time.Second); engine.Close(); stopSilences() }, nil
}

// importCollectorState starts engine from the rules' states a collector
// left at path for the same database, if it wrote them within the last
// few minutes (a console just closed, an exporter restarted): a rule that
// was pending stays pending from when it began. It is in this file, not
// console.go, because the exporter and the console both start from it.
func importCollectorState(engine *metrics.Engine, path, dbPath string, now time.Time) {
	// The temp files of a collector killed mid-write go first.
	_, _ = fsutil.RemoveStale(filepath.Dir(path))
	st, err := metrics.ReadCollectorState(path)
	if err != nil {
		return
	}
	if abs, err := filepath.Abs(dbPath); err != nil || st.Database != abs || now.Sub(st.Written) > 5*time.Minute {
		return
	}
	engine.ImportCollectorState(st, now)
}

// checkExporterListen refuses, before anything listens, an address that is
// not loopback (an empty host means every interface) unless remote access
// is allowed, with the simulator's wording (sim's checkListen).
func checkExporterListen(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("exporter: listen address %q: %w (want host:port, e.g. %s)", addr, err, defaultExporterListen)
	}
	if allowRemote || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("exporter: listen address %q is not loopback: the exporter listens on 127.0.0.1 or ::1 unless remote access is allowed explicitly (--allow-remote)", addr)
}

// journalEntries counts the ops journal's entries through a read-only
// connection; no journal yet is 0.
func journalEntries(ctx context.Context, stateDir string) (int64, error) {
	path := filepath.Join(stateDir, ops.JournalFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	r, err := db.OpenRead(ctx, path, db.Options{})
	if err != nil {
		return 0, err
	}
	defer r.Close()
	var n int64
	if err := r.QueryRowContext(ctx, `SELECT COUNT(*) FROM entries`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count journal entries in %s: %w", path, db.Classify(path, err))
	}
	return n, nil
}

// Scheduled replica verification's bounds (see startReplicaVerifier).
const (
	verifyFullEvery  = 24 * time.Hour
	verifyMinTimeout = 5 * time.Minute
	verifyMaxTimeout = 30 * time.Minute
)

// startReplicaVerifier verifies the replica every
// console.replication.verify_every (every, when positive, instead) while
// ctx lasts, when replication is configured and the litestream binary is
// found; otherwise it says in one line why it does not and does nothing.
// It runs what 'repops replicate verify' runs (replicate.Verify, which
// records the outcome in the state dir: the replica_verify_* panels and
// the exporter's repops_replica_verify_* series read it), in a goroutine
// of its own that runs one verification at a time: the next is due
// every after the previous one ended, so that a slow one never overlaps
// the next.
//
// Decisions: the first is due one interval after the last recorded
// verification (at once when there is none or it is older), so that
// restarting the exporter neither repeats nor postpones it. A full
// integrity_check runs when none ran in this process within a day (so the
// first after start, unless the record is a full one of the last day),
// quick_check otherwise, as the "a full integrity check daily".
// Each is bounded by verify_every, at least 5 minutes (a restore and a
// full check of a large database) and at most 30. One line per outcome on
// stderr. The returned func stops it and waits for a running
// verification to end (cancelled). None starts before notBefore (the
// demo: Litestream has just started and the replica is still empty).
func startReplicaVerifier(ctx context.Context, a *app, every time.Duration, notBefore time.Time) (stop func()) {
	rp := a.cfg.Console.Replication
	if len(rp.Replicas) == 0 {
		return func() {}
	}
	if every <= 0 {
		every = rp.VerifyEvery
	}
	if every <= 0 {
		every = time.Hour
	}
	bin, err := replicate.Binary()
	if err != nil {
		fmt.Fprintf(a.err, "repops exporter: replica verification off: %v\n", err)
		return func() {}
	}
	timeout := min(max(every, verifyMinTimeout), verifyMaxTimeout)
	stateDir, dbPath := a.cfg.StateDir(), a.cfg.Database.Path
	var lastFull time.Time
	next := time.Now()
	if notBefore.After(next) {
		next = notBefore
	}
	if rec, ok, err := replicate.ReadVerify(stateDir, dbPath); err == nil && ok {
		if due := rec.Time.Add(every); due.After(next) {
			next = due
		}
		if rec.Status == replicate.VerifyOK && rec.Check == "integrity_check" {
			lastFull = rec.Time
		}
	}
	vctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			t := time.NewTimer(time.Until(next))
			select {
			case <-vctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			full := lastFull.IsZero() || time.Since(lastFull) >= verifyFullEvery
			rec := verifyReplicaOnce(vctx, a, bin, full, timeout)
			if vctx.Err() != nil {
				return
			}
			if full && rec.Status == replicate.VerifyOK {
				lastFull = time.Now()
			}
			fmt.Fprintf(a.err, "repops exporter: replica verification (%s, %.1fs): %s\n", rec.Check, rec.Took, rec.Summary())
			next = time.Now().Add(every)
		}
	}()
	return func() { cancel(); <-done }
}

// verifyReplicaOnce runs one verification, as 'repops replicate verify'
// does (runReplicateVerify), bounded by timeout.
func verifyReplicaOnce(ctx context.Context, a *app, bin string, full bool, timeout time.Duration) *replicate.VerifyRecord {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stateDir := a.cfg.StateDir()
	live, err := a.openRead(ctx)
	if err != nil {
		rec := &replicate.VerifyRecord{Database: a.cfg.Database.Path, Time: time.Now().UTC(), Status: replicate.VerifyUnknown,
			Check: "quick_check", Problems: []string{"the live database cannot be read: " + err.Error()}}
		if full {
			rec.Check = "integrity_check"
		}
		_ = replicate.WriteVerify(stateDir, rec)
		return rec
	}
	defer live.Close()
	rec, _ := replicate.Verify(ctx, replicate.VerifyOptions{ConfigPath: a.cfg.LitestreamConfig(), DBPath: a.cfg.Database.Path,
		StateDir: stateDir, Full: full, Live: live, Binary: bin, Timeout: timeout})
	return rec
}
