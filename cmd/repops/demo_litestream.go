package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/repops/repops/config"
	"github.com/repops/repops/internal/fsutil"
	"github.com/repops/repops/replicate"
	"github.com/repops/repops/sim"
)

// The demo's continuous protection: when the litestream binary is found,
// 'repops demo' replicates its database with Litestream into a file
// replica beside it (data/demo/replica/), so that the console's
// replication panel is live, and its scenario ScenarioReplicationStopped
// stops Litestream to show the lag alert. Litestream runs as a child
// process, never inside repops (package replicate says why).

// ScenarioReplicationStopped is the demo's own scenario: Litestream is
// stopped (the service keeps its normal traffic), so nothing is shipped
// and the replication lag grows until its alert fires (over 60 s for a
// minute: about 2 minutes after the switch). Any other scenario starts
// Litestream again.
const ScenarioReplicationStopped = "replication-stopped"

// The demo's Litestream files in the state dir: its config (not
// litestream.yml, which may be an operator's own when the config names
// the state dir) and its log.
const (
	demoLitestreamConfig = "litestream-demo.yml"
	demoLitestreamLog    = "litestream-demo.log"
)

// demoLitestreamStopWait is how long Litestream is given to exit after
// SIGTERM (it ships what it has read first) before it is killed.
const demoLitestreamStopWait = 10 * time.Second

// demoReplicaDir is the demo's file replica: "replica" beside the demo
// database.
func demoReplicaDir(dbPath string) (string, error) {
	abs, err := filepath.Abs(dbPath)
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(abs), "replica"), nil
}

// freeLoopbackAddr is a free TCP port on 127.0.0.1, for Litestream's
// metrics listener: two demos side by side do not collide.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

// demoLitestream is the demo's Litestream child process.
type demoLitestream struct {
	bin        string
	configFile string
	logFile    string
	replicaDir string
	dbPath     string

	mu      sync.Mutex
	log     *os.File
	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd has exited
	exitErr error         // cmd's exit, once done is closed
	// stopping: the demo (a stop or the scenario) ended cmd, so its exit
	// is not a failure to report.
	stopping bool
	// died is the exit of a Litestream the demo did not stop ("" none).
	died string
}

// setupDemoLitestream configures replication for the demo database in cfg
// when the litestream binary is found: a file replica beside the
// database, a free loopback port for Litestream's metrics, and Litestream's
// config written into the state dir. It returns nil, with the reason,
// when Litestream is not installed; an error when it is but the config
// cannot be written. The operator's own replication settings are never
// used: the demo must not ship into a real replica.
func setupDemoLitestream(cfg *config.Config) (*demoLitestream, error) {
	bin, err := replicate.Binary()
	if err != nil {
		return nil, err
	}
	dbPath, err := filepath.Abs(cfg.Database.Path)
	if err != nil {
		return nil, err
	}
	replica, err := demoReplicaDir(dbPath)
	if err != nil {
		return nil, err
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, fmt.Errorf("a port for Litestream's metrics: %w", err)
	}
	// Absolute: Litestream's command line names its config, which is how
	// 'repops replicate check' finds the process.
	stateDir, err := filepath.Abs(cfg.StateDir())
	if err != nil {
		return nil, err
	}
	rp := cfg.Console.Replication
	rp.Replicas = []config.Replica{{Type: "file", Path: replica}}
	if rp.SyncInterval <= 0 || rp.SyncInterval > replicate.RPO {
		rp.SyncInterval = time.Second
	}
	rp.MetricsAddr = addr
	rp.ConfigFile = filepath.Join(stateDir, demoLitestreamConfig)
	cfg.Console.Replication = rp
	data, err := replicate.LitestreamYAML(cfg)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, fmt.Errorf("create the state dir: %w", err)
	}
	if err := os.MkdirAll(replica, 0o755); err != nil {
		return nil, fmt.Errorf("create the demo's replica dir: %w", err)
	}
	if err := fsutil.WriteAtomic(rp.ConfigFile, data, 0o600); err != nil {
		return nil, fmt.Errorf("write Litestream's config: %w", err)
	}
	return &demoLitestream{bin: bin, configFile: rp.ConfigFile, logFile: filepath.Join(stateDir, demoLitestreamLog),
		replicaDir: replica, dbPath: dbPath}, nil
}

// Start starts 'litestream replicate -config FILE' as a child process,
// its output appended to the log file; a no-op while it runs. It returns
// once the process has started, not once it replicates.
func (l *demoLitestream) Start() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cmd != nil {
		return nil
	}
	if l.log == nil {
		f, err := os.OpenFile(l.logFile, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return fmt.Errorf("open Litestream's log: %w", err)
		}
		l.log = f
	}
	fmt.Fprintf(l.log, "--- %s repops demo: starting %s replicate -config %s\n", time.Now().UTC().Format(time.RFC3339), l.bin, l.configFile)
	cmd := exec.Command(l.bin, "replicate", "-config", l.configFile)
	cmd.Stdout, cmd.Stderr = l.log, l.log
	// Its own process group: the terminal's Ctrl-C is repops' to handle
	// (it stops Litestream cleanly); and SIGTERM if repops dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start litestream: %w", err)
	}
	done := make(chan struct{})
	l.cmd, l.done, l.exitErr, l.stopping = cmd, done, nil, false
	go func() {
		err := cmd.Wait()
		l.mu.Lock()
		defer l.mu.Unlock()
		l.exitErr = err
		if !l.stopping {
			why := "exit status 0"
			if err != nil {
				why = err.Error()
			}
			l.died = fmt.Sprintf("Litestream (pid %d) ended during the demo (%s)", cmd.Process.Pid, why)
			fmt.Fprintf(l.log, "--- %s repops demo: %s\n", time.Now().UTC().Format(time.RFC3339), l.died)
		}
		if l.cmd == cmd {
			l.cmd = nil
		}
		close(done)
	}()
	return nil
}

// Pid is the running Litestream's process id, 0 when none runs.
func (l *demoLitestream) Pid() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cmd == nil {
		return 0
	}
	return l.cmd.Process.Pid
}

// Running says whether the Litestream child runs.
func (l *demoLitestream) Running() bool { return l.Pid() != 0 }

// Died is what ended a Litestream the demo did not stop, "" when none did.
func (l *demoLitestream) Died() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.died
}

// Stop stops the Litestream child cleanly: SIGTERM (it ships what it has
// read and exits), then, if it has not exited within wait, SIGKILL. It
// returns once the process is gone; a no-op when none runs.
func (l *demoLitestream) Stop(wait time.Duration) error {
	l.mu.Lock()
	cmd, done := l.cmd, l.done
	if cmd == nil {
		l.mu.Unlock()
		return nil
	}
	l.stopping = true
	l.mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop litestream (pid %d): %w", cmd.Process.Pid, err)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-done:
		return nil
	case <-timer.C:
	}
	cmd.Process.Kill()
	select {
	case <-done:
		return fmt.Errorf("litestream (pid %d) did not exit within %s of SIGTERM: killed", cmd.Process.Pid, wait)
	case <-time.After(5 * time.Second):
		return fmt.Errorf("litestream (pid %d) did not exit even after SIGKILL", cmd.Process.Pid)
	}
}

// Close stops Litestream and closes its log.
func (l *demoLitestream) Close() error {
	err := l.Stop(demoLitestreamStopWait)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.log != nil && l.cmd == nil {
		l.log.Close()
		l.log = nil
	}
	return err
}

// demoSim adapts the simulator to the console's scenario keys, and adds
// the demo's own scenario, ScenarioReplicationStopped, when Litestream
// runs (ls is nil when it does not).
type demoSim struct {
	s  *sim.Sim
	ls *demoLitestream
}

// Scenarios lists the simulator's scenarios, normal first, then
// ScenarioReplicationStopped when the demo replicates.
func (d demoSim) Scenarios() []string {
	names := sim.ScenarioNames()
	if d.ls != nil {
		names = append(names, ScenarioReplicationStopped)
	}
	return names
}

// SetScenario switches the simulator's scenario. ScenarioReplicationStopped
// stops Litestream and puts the service back to normal; any other
// scenario starts Litestream again if it is stopped.
func (d demoSim) SetScenario(name string) error {
	if name == ScenarioReplicationStopped {
		if d.ls == nil {
			return fmt.Errorf("scenario %s: the demo does not replicate (litestream is not installed: %s)", name, replicate.InstallHint)
		}
		if err := d.s.SetScenario(sim.ScenarioNormal); err != nil {
			return err
		}
		return d.ls.Stop(demoLitestreamStopWait)
	}
	if err := d.s.SetScenario(name); err != nil {
		return err
	}
	if d.ls != nil {
		return d.ls.Start()
	}
	return nil
}

// startDemoLitestream starts the demo's replication on cfg's database when
// Litestream is installed and says so on stderr in one line; without it,
// one line says replication is off and how to install it. The returned
// func stops Litestream (call it once the console has closed); ls is nil
// when the demo does not replicate.
func startDemoLitestream(a *app, cfg *config.Config) (ls *demoLitestream, stop func()) {
	ls, err := setupDemoLitestream(cfg)
	if err != nil {
		cfg.Console.Replication.Replicas = nil
		if errors.Is(err, replicate.ErrNoBinary) {
			fmt.Fprintf(a.err, "demo: replication is off: litestream is not installed; to see the replication panel, %s\n", replicate.InstallHint)
		} else {
			fmt.Fprintf(a.err, "demo: replication is off: %v\n", err)
		}
		return nil, func() {}
	}
	if err := ls.Start(); err != nil {
		cfg.Console.Replication.Replicas = nil
		fmt.Fprintf(a.err, "demo: replication is off: %v\n", err)
		return nil, func() {}
	}
	fmt.Fprintf(a.err, "demo: Litestream (pid %d) replicates the demo database into %s (metrics at %s, log %s); scenario %s stops it\n",
		ls.Pid(), ls.replicaDir, cfg.Console.Replication.MetricsAddr, ls.logFile, ScenarioReplicationStopped)
	return ls, func() {
		died := ls.Died()
		if err := ls.Close(); err != nil {
			fmt.Fprintf(a.err, "demo: %v\n", err)
		}
		if died != "" {
			fmt.Fprintf(a.err, "demo: %s; its log: %s\n", died, ls.logFile)
		}
	}
}

// removeDemoReplication removes the replication of the demo database at
// dbPath before it is built again (--fresh): Litestream's state dir for it
// and the demo's replica beside it, the latter only when it holds nothing
// but Litestream's files (an "ltx" directory), so that a directory named
// replica that the demo did not make is left alone.
func removeDemoReplication(dbPath string) error {
	if err := os.RemoveAll(replicate.MetaDir(dbPath)); err != nil {
		return fmt.Errorf("remove the old demo database's Litestream state: %w", err)
	}
	dir, err := demoReplicaDir(dbPath)
	if err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil // none
	}
	for _, e := range entries {
		if e.Name() != "ltx" || !e.IsDir() {
			return nil
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove the old demo database's replica: %w", err)
	}
	return nil
}
