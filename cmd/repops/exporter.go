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
)

// exporterOptions are the flags of 'repops exporter'.
type exporterOptions struct {
	listen      string
	allowRemote bool
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
	engine, err := metrics.NewEngine(eo)
	if err != nil {
		return nil, withCode(exitUsage, fmt.Errorf("exporter: %w", err))
	}
	importCollectorState(engine, eo.PersistPath, cfg.Database.Path, time.Now())
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		var reported bool
		for {
			engine.Cycle(cctx)
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
	return func() { cancel(); <-done; engine.Close() }, nil
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
