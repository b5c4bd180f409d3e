package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/repops/repops/incident"
	"github.com/repops/repops/ops"
)

// scenarioJournal is sim.Options.OnScenario for the simulator of 'repops
// simulate' and 'repops demo': each switch is one "scenario" entry in the
// ops journal of stateDir (target the scenario, params from and via), with
// the shell command that does the same (a POST to the control endpoint,
// controlURL()). The demo's incidents are then in the timeline beside the
// alerts they cause, and the switch back to normal is the demo's
// mitigation (incident.Build).
//
// The journal is opened per switch (a few a demo): a switch is rare and
// the simulator keeps no file open that it does not need.
func scenarioJournal(stateDir string, controlURL func() string, errOut io.Writer) func(at time.Time, from, to, by string) {
	var once sync.Once
	actor := ops.CurrentActor("")
	return func(at time.Time, from, to, by string) {
		e := ops.Entry{Time: at, Actor: actor, Action: incident.ActionScenario, Target: to, Outcome: ops.OutcomeOK,
			Params:  map[string]any{"from": from},
			Command: ops.ShellCommand("curl", "-X", "POST", controlURL()+"?name="+to)}
		if by != "" {
			e.Params["via"] = by
			e.Message = "switched through the " + by
		}
		j, err := ops.OpenJournal(stateDir)
		if err == nil {
			_, err = j.Append(e)
			j.Close()
		}
		if err != nil {
			once.Do(func() { fmt.Fprintf(errOut, "repops: scenario switches not journaled: %v\n", err) })
		}
	}
}
