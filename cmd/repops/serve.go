package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/spf13/cobra"
	gossh "golang.org/x/crypto/ssh"

	"github.com/repops/repops/metrics"
	"github.com/repops/repops/ops"
	"github.com/repops/repops/presence"
	"github.com/repops/repops/runbooks"
	"github.com/repops/repops/serve"
	"github.com/repops/repops/silence"
	"github.com/repops/repops/tui"
)

// serveOptions are the flags of 'repops serve'.
type serveOptions struct {
	listen string
}

// serveDrainWait is how long a stopping server waits for its sessions'
// consoles to close before it closes their connections.
const serveDrainWait = 5 * time.Second

// newServeCmd serves the console over SSH.
func newServeCmd(a *app) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the console over SSH: keys with roles, one collector for every session",
		Long: `Serve the console over SSH (charm.land/wish). Each session runs its own
console on the client's terminal; one collector scrapes the sources once per
refresh interval for all of them, and keeps the rules' states for 'repops status'.

Keys: console.serve.authorized_keys (default STATE_DIR/authorized_keys), one
line per key in OpenSSH's format with a role and a name:

  role="operator",name="alice" ssh-ed25519 AAAA... alice@laptop

viewer: read-only, everything visible; operator: runs runbooks and procedures;
admin: also breaks locks and changes silences of others. The file is read
again when it changes (checked at each login) and on SIGHUP.

Public-key authentication only; a pty is required; commands (exec),
subsystems and port, agent or X11 forwarding are refused. The host key is
console.serve.host_key (default STATE_DIR/ssh_host_ed25519_key), generated
(0600) on first start. SIGTERM or SIGINT tells every session the server is
stopping and closes them within seconds; a runbook run under way is left
resumable.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runServe(cmd.Context(), a, o, nil)
		},
	}
	cmd.Flags().StringVar(&o.listen, "listen", "", "address to listen on (default console.serve.listen, 127.0.0.1:2222)")
	return cmd
}

// runServe serves until ctx ends. ready, when set, receives the address
// actually listened on (tests listen on port 0).
func runServe(ctx context.Context, a *app, o *serveOptions, ready func(addr string)) error {
	cfg, _, _ := withDemoService(a.cfg, os.Getenv)
	sc := cfg.Console.Serve
	listen := sc.Listen
	if o.listen != "" {
		listen = o.listen
	}
	keys, err := serve.OpenKeyFile(cfg.ServeAuthorizedKeys())
	if err != nil {
		return withCode(exitUsage, fmt.Errorf("serve: %w", err))
	}
	hostKey, generated, err := serve.LoadHostKey(cfg.ServeHostKey())
	if err != nil {
		return withCode(exitUsage, fmt.Errorf("serve: %w", err))
	}
	if generated {
		fmt.Fprintf(a.err, "repops serve: generated the host key %s (%s)\n", cfg.ServeHostKey(), gossh.FingerprintSHA256(hostKey.PublicKey()))
	}

	// The one collector.
	eo, err := metrics.OptionsFromConfig(cfg)
	if err != nil {
		return withCode(exitUsage, fmt.Errorf("serve: %w", err))
	}
	eo.DBOptions = readerDBOptions(a)
	eo.SizesAfter = sizesAfter
	interval := max(cfg.Console.RefreshInterval, time.Second/10)
	eo.PersistPath, eo.PersistInterval = metrics.CollectorStatePath(cfg.StateDir()), interval
	// As every collector: the history for going back in time, and the
	// silences the rules are matched against.
	withHistory(&eo, cfg.StateDir())
	silSvc, silSet, stopSilences := startSilences(ctx, cfg, interval)
	defer stopSilences()
	if silSet != nil {
		eo.Silences = silSet
	}
	engine, err := metrics.NewEngine(eo)
	if err != nil {
		return withCode(exitUsage, fmt.Errorf("serve: %w", err))
	}
	defer engine.Close()
	importCollectorState(engine, eo.PersistPath, cfg.Database.Path, time.Now())
	// The collector journals the alerts' transitions, as the exporter
	// does (unless another collector holds the journaling; alertJournal).
	aj := newAlertJournal(cfg.StateDir(), a.err)
	defer aj.Close(5 * time.Second)
	collector := serve.NewCollector(journalingFigures{Engine: engine, aj: aj}, interval, firstCycleTimeout(cfg))
	cctx, stopCollector := context.WithCancel(context.Background())
	collected := make(chan struct{})
	go func() { defer close(collected); collector.Run(cctx) }()
	defer func() { stopCollector(); <-collected }()

	// What every session shares: the journal, the tables' pool, the
	// runbooks' catalogue.
	stateDir := cfg.StateDir()
	journal, jerr := ops.OpenJournal(stateDir)
	if jerr == nil {
		defer journal.Close()
	}
	tables, closeTables := consoleTables(ctx, a)
	defer closeTables()
	catalogue, catErr := runbooks.Load(cfg.Console.RunbookDir)
	if catErr != nil {
		fmt.Fprintf(a.err, "repops serve: runbooks unavailable: %v\n", catErr)
	}

	// Presence: every session sees the others, follows their runs, hands
	// over, and approves their destructive steps (four eyes).
	hub := presence.NewHub(presence.Options{StateDir: stateDir, Journal: func(e ops.Entry) {
		if journal != nil {
			if _, err := journal.Append(e); err != nil {
				a.log.Warn("journal: could not record a presence entry", "action", e.Action, "error", err)
			}
		}
	}})
	fourEyes := cfg.FourEyesOn()

	console := func(_ context.Context, s *serve.Session) (tea.Model, func(tea.Model), error) {
		readOnly := a.readOnly || s.Identity.Role.ReadOnly()
		opts := tui.Options{
			Config: cfg, Figures: collector.Figures(), Tables: tables,
			Lock:            func() (*ops.LockInfo, bool, error) { return ops.ReadLock(stateDir) },
			ReadOnly:        readOnly,
			Started:         s.Started,
			ReplicationNote: replicationNote(cfg),
			Identity:        s.Identity.Banner(),
			FourEyes:        fourEyes,
			Actor:           s.Identity.Actor(),
			History:         consoleHistory{engine},
		}
		if silSet != nil {
			opts.Silences = sessionSilences(silSvc, silSet, stateDir, s.Identity)
		}
		// Only an admin key breaks the procedure lock (the keys file's
		// roles); a read-only server breaks nothing.
		if s.Identity.Role.IsAdmin() && !readOnly {
			opts.BreakLock = lockBreaker(stateDir, s.Identity.Actor(), journal, jerr)
		}
		member := hub.Join(s.Identity)
		opts.Presence = member
		if jerr != nil {
			opts.JournalErr = jerr
		} else {
			opts.Journal = journal
		}
		if catErr == nil {
			actor := s.Identity.Actor()
			env := runbooks.NewOpsEnv(runbooks.EnvConfig{
				Config: cfg, DB: a.dbOptions(), Actor: actor, ReadOnly: readOnly,
				Metrics: func(ctx context.Context) (runbooks.MetricReader, error) {
					return runbooks.SnapshotReader(engine.Last()), nil
				},
			})
			eng := runbooks.NewEngine(env, runbooks.EngineOptions{StateDir: stateDir, Actor: actor, Vars: runbooks.VarsFromConfig(cfg)})
			opts.Runbooks = tui.RunbookEngine{Catalogue: catalogue, Engine: eng}
		}
		m, err := tui.New(opts)
		if err != nil {
			member.Leave()
			return nil, nil, err
		}
		done := func(final tea.Model) {
			if fm, ok := final.(tui.Model); ok {
				fm.Close()
			}
			member.Leave()
		}
		return m, done, nil
	}
	srv, err := serve.New(serve.Options{
		HostKey: hostKey, Keys: keys, MaxSessions: sc.MaxSessions, IdleTimeout: sc.IdleTimeout,
		LoginRate: sc.LoginRate, Console: console, Log: a.log,
	})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return usageError("serve: listen on %s: %w (is the port in use? choose another with --listen or console.serve.listen)", listen, err)
	}
	fmt.Fprintf(a.err, "repops serve: serving the console of %s on ssh://%s (%d keys in %s; host key %s)\n",
		cfg.Database.Path, l.Addr(), mustLen(keys), keys.Path(), gossh.FingerprintSHA256(hostKey.PublicKey()))
	if ready != nil {
		ready(l.Addr().String())
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	for {
		select {
		case <-hup:
			if err := keys.Reload(); err != nil {
				fmt.Fprintf(a.err, "repops serve: SIGHUP: %v (every login is refused until the file is fixed)\n", err)
			} else {
				fmt.Fprintf(a.err, "repops serve: SIGHUP: %d keys in %s\n", mustLen(keys), keys.Path())
			}
		case <-ctx.Done():
			n, word := srv.Sessions(), "sessions"
			if n == 1 {
				word = "session"
			}
			fmt.Fprintf(a.err, "repops serve: stopping: closing %d %s\n", n, word)
			srv.Drain("repops serve is stopping (the server was asked to stop): reconnect in a moment; a runbook run under way can be resumed", serveDrainWait)
			<-errc
			return nil
		case err := <-errc:
			if err != nil && !errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("serve: %w", err)
			}
			return nil
		}
	}
}

// mustLen is the number of keys in force (0 while the file is broken).
func mustLen(k *serve.KeyFile) int {
	keys, err := k.Current()
	if err != nil || keys == nil {
		return 0
	}
	return keys.Len()
}

// sessionSilences is a served session's silences: as the console's, in
// the key's name; a key that is not an admin's extends and expires only
// the silences its own name created.
func sessionSilences(svc *silence.Service, set *silence.Set, stateDir string, id serve.Identity) *consoleSilences {
	own := *svc
	if !id.Role.IsAdmin() {
		own.MayChange = func(x silence.Silence) error {
			if strings.HasPrefix(x.CreatedBy, id.Name+"@") {
				return nil
			}
			return fmt.Errorf("created by %s: only an admin key changes another operator's silence", x.CreatedBy)
		}
	}
	return &consoleSilences{svc: &own, set: set, stateDir: stateDir, actor: id.Actor()}
}
