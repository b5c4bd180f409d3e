package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/repops/repops/internal/fsutil"
	"github.com/repops/repops/replicate"
)

// replicateSubcommands are the 'repops replicate' subcommands other files
// add (in init), beside config and check here.
var replicateSubcommands []func(*app) *cobra.Command

// newReplicateCmd is continuous protection with Litestream, which runs as
// its own process beside the service: repops writes its config and
// watches it.
func newReplicateCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "replicate",
		Short: "Continuous protection with Litestream: write its config, check it runs and keeps up",
		Long: `Litestream (` + replicate.Version + `) ships the database's WAL to a replica (a directory, an
sftp host, S3-compatible storage) every sync interval, as its own process
('litestream replicate'), never inside repops. 'config' writes its config
from console.replication; 'check' says whether it runs for this database
and how far its replica is behind.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newReplicateConfigCmd(a), newReplicateCheckCmd(a))
	for _, c := range replicateSubcommands {
		cmd.AddCommand(c(a))
	}
	return cmd
}

type replicateConfigOptions struct {
	output string
	print  bool
}

func newReplicateConfigCmd(a *app) *cobra.Command {
	o := &replicateConfigOptions{}
	cmd := &cobra.Command{
		Use:   "config [-o FILE] [--print]",
		Short: "Write Litestream's config for the database, validated",
		Long: `Write Litestream's config for the configured database from
console.replication (its replica, sync_interval, metrics_addr) atomically
to console.replication.config_file (default litestream.yml in the state
dir) or -o FILE, mode 0600, after validating it: repops' own checks, then
'litestream databases -config' of the installed litestream binary, which
must list the database. S3 credentials are never written: Litestream reads
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from its environment.
--print writes the config to standard output instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReplicateConfig(cmd.Context(), a, o)
		},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "file to write (default: console.replication.config_file)")
	cmd.Flags().BoolVar(&o.print, "print", false, "print the config instead of writing it")
	return cmd
}

func runReplicateConfig(ctx context.Context, a *app, o *replicateConfigOptions) error {
	if o.print && o.output != "" {
		return usageError("--print and -o are exclusive")
	}
	data, err := replicate.LitestreamYAML(a.cfg)
	if err != nil {
		return withCode(exitFailure, fmt.Errorf("replicate config: %w", err))
	}
	dbPath, _ := replicate.DBPath(a.cfg)
	bin, binErr := replicate.Binary()
	if binErr == nil {
		if err := replicate.CheckWithBinary(ctx, bin, data, dbPath); err != nil {
			return withCode(exitFailure, fmt.Errorf("replicate config: Litestream refuses it: %w", err))
		}
	}
	if o.print {
		_, err := a.out.Write(data)
		return err
	}
	file := o.output
	if file == "" {
		file = a.cfg.LitestreamConfig()
	}
	if abs, err := filepath.Abs(file); err == nil {
		file = abs
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return withCode(exitFailure, fmt.Errorf("replicate config: %w", err))
	}
	if err := fsutil.WriteAtomic(file, data, 0o600); err != nil {
		return withCode(exitFailure, fmt.Errorf("replicate config: %w", err))
	}
	fmt.Fprintf(a.out, "wrote %s (Litestream %s config for %s)\n", file, replicate.Version, dbPath)
	if binErr != nil {
		fmt.Fprintf(a.out, "not checked by Litestream: %v\n", binErr)
		bin = "litestream"
	} else {
		fmt.Fprintf(a.out, "checked: %s databases -config %s lists the database\n", bin, file)
	}
	fmt.Fprintf(a.out, "run it beside the service (a systemd unit: see the README, \"Continuous protection\"):\n  %s replicate -config %s\n", bin, file)
	fmt.Fprintf(a.out, "then: repops replicate check\n")
	return nil
}

type replicateCheckOptions struct {
	json bool
}

func newReplicateCheckCmd(a *app) *cobra.Command {
	o := &replicateCheckOptions{}
	cmd := &cobra.Command{
		Use:   "check [--json]",
		Short: "Litestream running, replica lag: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
		Long: `Whether a 'litestream replicate' process replicates the configured
database (found in /proc by its command line or its config's dbs, or by
its metrics at console.replication.metrics_addr), its replica, the
replica's newest position (transaction id and time, 'litestream ltx'), and
the lag: 0 when the replica holds every transaction Litestream has read
from the WAL, else the age of the oldest one it does not hold yet.
Litestream's own figures (WAL size, syncs, errors) from its /metrics.
Exit codes (Nagios convention, as 'repops status'):
  0 OK        running, lag at most 5 s or two sync intervals (the longer)
  1 WARNING   lag over that ("real-time" RPO of a partial failure missed),
              sync errors counted, two Litestreams, or no metrics
  2 CRITICAL  not running for this database, local disk full, or lag over
              5 minutes (the guide's RPO for database corruption)
  3 UNKNOWN   could not look: replication not configured, no config
              written, litestream not installed`,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{nagiosExitCodes: "true"},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReplicateCheck(cmd.Context(), a, o)
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON")
	return cmd
}

func runReplicateCheck(ctx context.Context, a *app, o *replicateCheckOptions) error {
	bin, binErr := replicate.Binary()
	rep := replicate.Check(ctx, replicate.CheckOptions{Config: a.cfg, Binary: bin, BinaryErr: binErr})
	if o.json {
		enc := json.NewEncoder(a.out)
		enc.SetIndent("", "  ")
		out := struct {
			*replicate.Report
			ExitCode int `json:"exit_code"`
		}{rep, rep.Status}
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(a.out, "%s %s\n", rep.StatusName, rep.Summary)
		for _, p := range rep.Problems {
			fmt.Fprintf(a.out, "  %s\n", p)
		}
		for _, p := range rep.Processes {
			fmt.Fprintf(a.out, "  process: pid %d: %s\n", p.Pid, p.Args)
		}
		if m := rep.Metrics; m != nil {
			fmt.Fprintf(a.out, "  metrics (%s): txid %d, WAL %s, %.0f syncs, %.0f sync errors, %.0f replica errors\n",
				a.cfg.Console.Replication.MetricsAddr, m.TXID, replicaBytes(m.WALBytes), m.Syncs, m.SyncErrors, m.ReplicaErrors)
		}
	}
	if rep.Status != replicate.OK {
		return silentExit(rep.Status)
	}
	return nil
}

func replicaBytes(b float64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}
