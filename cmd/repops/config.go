package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/repops/repops/config"
)

// configOptions are the options of 'repops config check' and 'config show'.
type configOptions struct {
	load config.LoadOptions
	json bool
}

// newConfigCmd is 'repops config {check,show}'. Both report a bad config
// themselves (annotated so that setup does not stop on it first).
func newConfigCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check the configuration, or show the effective one and where each value came from",
		Long: `Configuration: defaults, then the first config file found (--config,
$REPOPS_CONFIG, config/reputation_$ENVIRONMENT.yml, then the user's config dir's
repops/config.yml), then the operations guide's environment variables
(DATABASE_PATH, MAX_DB_CONNECTIONS, ...), then the flags --db and --env.`,
	}
	check := &cobra.Command{
		Use:         "check [FILE]",
		Short:       "Validate a config file (default: the one the search order finds)",
		Long:        "Validate a config file, with the environment variables and flags applied. Each problem is printed as file:line: key: message; the exit status is 1 when there is any.",
		Args:        cobra.MaximumNArgs(1),
		Annotations: map[string]string{reportsConfigErrors: "true"},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := configOptions{load: loadOptionsFromFlags(cmd)}
			if len(args) == 1 {
				opts.load.File, opts.load.FileFrom = args[0], "the command line"
			}
			return runConfigCheck(cmd.Context(), a, opts)
		},
	}
	var showOpts configOptions
	show := &cobra.Command{
		Use:         "show",
		Short:       "Print the effective config, each value with its source (default, file:line, env, flag); secrets redacted",
		Args:        cobra.NoArgs,
		Annotations: map[string]string{reportsConfigErrors: "true"},
		RunE: func(cmd *cobra.Command, args []string) error {
			showOpts.load = loadOptionsFromFlags(cmd)
			return runConfigShow(cmd.Context(), a, showOpts)
		},
	}
	show.Flags().BoolVar(&showOpts.json, "json", false, "print JSON: the config, the derived paths and every key's source")
	cmd.AddCommand(check, show)
	return cmd
}

// loadOptionsFromFlags reads the global flags that choose and override
// the config.
func loadOptionsFromFlags(cmd *cobra.Command) config.LoadOptions {
	get := func(name string) string {
		if f := cmd.Flags().Lookup(name); f != nil {
			return f.Value.String()
		}
		return ""
	}
	return config.LoadOptions{File: get("config"), DBPath: get("db"), Environment: get("env")}
}

// reportConfigError prints each problem of a bad config on its own line
// and returns the exit status to end with; other errors pass through.
func reportConfigError(a *app, err error) error {
	var ce *config.Error
	if !errors.As(err, &ce) {
		return err
	}
	for _, p := range ce.Problems {
		fmt.Fprintln(a.err, p.String())
	}
	return silentExit(exitFailure)
}

// runConfigCheck validates the config and says so.
func runConfigCheck(_ context.Context, a *app, opts configOptions) error {
	l, err := config.LoadWithSources(opts.load)
	if err != nil {
		return reportConfigError(a, err)
	}
	if l.File == "" {
		fmt.Fprintf(a.out, "no config file found (searched %s): the defaults and environment are valid\n", joinOr(l.Searched))
		return nil
	}
	fmt.Fprintf(a.out, "config %s is valid\n", l.File)
	return nil
}

// runConfigShow prints the effective config with each value's source.
func runConfigShow(_ context.Context, a *app, opts configOptions) error {
	l, err := config.LoadWithSources(opts.load)
	if err != nil {
		return reportConfigError(a, err)
	}
	if opts.json {
		return l.WriteJSON(a.out)
	}
	return l.WriteYAML(a.out)
}

func joinOr(s []string) string {
	switch len(s) {
	case 0:
		return "nothing"
	case 1:
		return s[0]
	}
	out := s[0]
	for _, p := range s[1 : len(s)-1] {
		out += ", " + p
	}
	return out + " and " + s[len(s)-1]
}
