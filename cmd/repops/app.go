package main

import (
	"encoding/json"
	"fmt"
	"github.com/repops/repops/ops"
	"github.com/spf13/pflag"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/repops/repops/config"
)

// reportsConfigErrors annotates a command that reports a bad config itself
// ('config check', 'config show'): setup lets it run on the defaults
// instead of stopping with the first problem.
const reportsConfigErrors = "repops.reports-config-errors"

// nagiosExitCodes annotates a command that speaks the Nagios plugin
// convention ('repops check', 'repops status'): a bad config, which stops it before it
// could look, is reported on standard output as UNKNOWN with exit 3, as
// its other results are (a JSON document with --json), rather than as a usage error (64), which a
// monitoring system would not read as a state.
const nagiosExitCodes = "repops.nagios-exit-codes"

// setup loads the config and applies the global flags, which win over the
// file and the environment. A bad config stops every other command with a
// one-line error and exit status 64.
func (a *app) setup(cmd *cobra.Command, g *globalOptions) error {
	l, err := config.LoadWithSources(config.LoadOptions{File: g.configFile, DBPath: g.dbPath, Environment: g.env})
	if err != nil {
		if cmd.Annotations[nagiosExitCodes] != "" {
			if f := cmd.Flags().Lookup("json"); f != nil && f.Value.String() == "true" {
				b, _ := json.Marshal(map[string]any{"status": "UNKNOWN", "exit_code": exitUnknown, "error": err.Error()})
				fmt.Fprintf(a.out, "%s\n", b)
			} else {
				fmt.Fprintf(a.out, "UNKNOWN %v\n", err)
			}
			return silentExit(exitUnknown)
		}
		if cmd.Annotations[reportsConfigErrors] == "" {
			return withCode(exitUsage, err)
		}
		d := config.Defaults()
		a.cfg, a.configFile = &d, l.File
		a.log = slog.New(slog.NewTextHandler(a.err, &slog.HandlerOptions{Level: slog.LevelWarn}))
		return nil
	}
	cfg := l.Config
	a.cfg, a.configFile = cfg, l.File
	a.readOnly = g.readOnly || cfg.Console.ReadOnly
	// The closer is dropped on purpose: a file output is reopened for each
	// record and a syslog connection ends with the process.
	log, _, err := config.NewLogger(cfg.Logging, a.err)
	if err != nil {
		return withCode(exitUsage, fmt.Errorf("set up logging: %w", err))
	}
	a.log = log
	if words := strings.Fields(cmd.CommandPath()); len(words) > 1 && procedureCommands[words[1]] && cmd.Context() != nil {
		cmd.SetContext(ops.WithCommand(cmd.Context(), commandLine(cmd)))
	}
	return nil
}

// procedureCommands are the subcommands whose procedures are journaled
// with the command line that ran them (ops.WithCommand): the journal of an
// incident says how to run each step again, from a shell as from the
// console's runbooks.
var procedureCommands = map[string]bool{
	"backup": true, "restore": true, "optimize": true, "archive": true, "drill": true,
	"migrate": true, "check": true, "replicate": true,
}

// commandLine is cmd as it was run: its path, the flags given and the
// arguments, as one shell line (ops.ShellCommand).
func commandLine(cmd *cobra.Command) string {
	words := strings.Fields(cmd.CommandPath())
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Value.Type() == "bool" && f.Value.String() == "true" {
			words = append(words, "--"+f.Name)
			return
		}
		words = append(words, "--"+f.Name, f.Value.String())
	})
	return ops.ShellCommand(append(words, cmd.Flags().Args()...)...)
}
