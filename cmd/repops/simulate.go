package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/repops/repops/ops"
	"github.com/repops/repops/sim"
)

// simulateOptions are 'repops simulate' flags.
type simulateOptions struct {
	listen      string
	scenario    string
	rate        float64
	seed        uint64
	speed       float64
	allowRemote bool
}

// newSimulateCmd runs the simulated reputation service.
func newSimulateCmd(a *app) *cobra.Command {
	o := simulateOptions{}
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Run a simulated reputation service: writes like it, serves its metrics, injects incidents",
		Long: `Run a stand-in for the reputation service against an existing, migrated
database: it submits appeals, runs negotiations to approved, denied or
expired, records ML predictions and counts API requests, through its own
connection with short transactions; it serves the service's /metrics on
loopback; and it injects incidents (scenarios) that move one of the
operations guide's key metrics past its alert threshold within a minute,
and back within a minute of switching to normal.

Scenarios:
` + scenarioHelp() + `
Switch while it runs:
  curl -X POST 'http://127.0.0.1:9090/scenario?name=error-spike'
  curl http://127.0.0.1:9090/scenario        (current and list, JSON)

It stops cleanly on Ctrl-C or SIGTERM.`,
		Example: `  repops simulate --db data/architect.db --listen 127.0.0.1:9090
  repops simulate --db /tmp/drill.db --listen 127.0.0.1:9191 --scenario appeal-flood --rate 60`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSimulate(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "", "address to serve /metrics and /scenario on (default 127.0.0.1:$METRICS_PORT, 9090)")
	f.StringVar(&o.scenario, "scenario", sim.ScenarioNormal, "initial scenario: "+strings.Join(sim.ScenarioNames(), ", "))
	f.Float64Var(&o.rate, "rate", 40, fmt.Sprintf("normal appeal submissions per minute (bursts reach about twice it; at most %g)", sim.MaxRate))
	f.Uint64Var(&o.seed, "seed", 0, "random seed (0: from the clock)")
	f.Float64Var(&o.speed, "speed", 1, "time compression: seconds of service traffic per second")
	f.BoolVar(&o.allowRemote, "allow-remote", false, "allow a listen address that is not loopback (the control endpoint still answers loopback only)")
	return cmd
}

func scenarioHelp() string {
	var b strings.Builder
	for _, s := range sim.Scenarios() {
		fmt.Fprintf(&b, "  %-22s %s\n", s.Name, s.Metric)
	}
	return b.String()
}

// runSimulate runs the simulator until ctx ends (SIGINT or SIGTERM).
func runSimulate(ctx context.Context, a *app, o simulateOptions) error {
	if a.readOnly {
		return ops.ErrReadOnlyMode
	}
	listen := o.listen
	if listen == "" {
		port := a.cfg.Monitoring.MetricsPort
		if port == 0 {
			port = 9090
		}
		listen = fmt.Sprintf("127.0.0.1:%d", port)
	}
	if o.rate <= 0 || o.rate > sim.MaxRate {
		return usageError("--rate %g: want more than 0 and at most %g appeals per minute", o.rate, sim.MaxRate)
	}
	if o.speed <= 0 || o.speed > 1000 {
		return usageError("--speed %g: want more than 0 and at most 1000", o.speed)
	}
	if o.scenario != "" {
		if err := checkScenarioName(o.scenario); err != nil {
			return err
		}
	}
	// Decision: the switches are journaled when the config names a state
	// dir (console.state_dir), as the demo's and a test stack's do; a
	// simulator run for a quick look does not write into the operator's
	// default journal.
	var s *sim.Sim
	var onScenario func(time.Time, string, string, string)
	if a.cfg.Console.StateDir != "" {
		onScenario = scenarioJournal(a.cfg.StateDir(), func() string { return s.ControlURL() }, a.err)
	}
	s, err := sim.New(sim.Options{
		OnScenario:         onScenario,
		DBPath:             a.cfg.Database.Path,
		DB:                 a.dbOptions(),
		Listen:             listen,
		AllowRemote:        o.allowRemote,
		Rate:               o.rate,
		Seed:               o.seed,
		Scenario:           o.scenario,
		Speed:              o.speed,
		MaxConnections:     a.cfg.Database.MaxConnections,
		NegotiationTimeout: time.Duration(a.cfg.Reputation.NegotiationTimeoutHours) * time.Hour,
		ModelVersion:       a.cfg.Reputation.MLModelVersion,
		Logger:             a.log,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(a.out, "simulating the reputation service on %s (scenario %s, %g appeals/min)\n", a.cfg.Database.Path, s.Scenario(), o.rate)
	fmt.Fprintf(a.out, "metrics: %s\n", s.MetricsURL())
	fmt.Fprintf(a.out, "control: %s   (switch: curl -X POST '%s?name=error-spike')\n", s.ControlURL(), s.ControlURL())
	fmt.Fprintln(a.out, "press Ctrl-C to stop")
	if err := s.Run(ctx); err != nil {
		return err
	}
	st := s.Stats()
	fmt.Fprintf(a.out, "stopped: %d writes, %d rows, %d write errors, worst write %s\n",
		st.Writes, st.Rows, st.WriteErrors, st.WorstWriteLatency.Round(time.Millisecond))
	return nil
}

// checkScenarioName turns an unknown --scenario into a usage error.
func checkScenarioName(name string) error {
	for _, n := range sim.ScenarioNames() {
		if n == name {
			return nil
		}
	}
	return usageError("--scenario %q: want one of %s", name, strings.Join(sim.ScenarioNames(), ", "))
}
