package main

import (
	"errors"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/repops/repops/config"
)

var errReadOnlyMode = errors.New("repops is in read-only mode (--read-only or console.read_only): this action writes and is disabled")

// setup loads the config and applies the global flags, which win over the
// file and the environment.
func (a *app) setup(cmd *cobra.Command, g *globalOptions) error {
	cfg, file, err := config.Load(config.LoadOptions{File: g.configFile})
	if err != nil {
		return withCode(exitUsage, err)
	}
	if g.dbPath != "" {
		cfg.Database.Path = g.dbPath
	}
	if g.env != "" {
		cfg.Environment = g.env
	}
	a.cfg, a.configFile = cfg, file
	a.readOnly = g.readOnly || cfg.Console.ReadOnly
	a.log = slog.New(slog.NewTextHandler(a.err, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return nil
}
