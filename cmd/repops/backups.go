package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/repops/repops/internal/humanize"
	"github.com/repops/repops/ops"
)

// backupsOptions are the flags of 'repops backups'.
type backupsOptions struct {
	dir string
}

// newBackupsCmd lists backups and verifies one.
func newBackupsCmd(a *app) *cobra.Command {
	o := &backupsOptions{}
	cmd := &cobra.Command{
		Use:   "backups [verify NAME]",
		Short: "List backups with age, size and verification state; verify one",
		Long: `List the finished backups in the backup dir, newest first, with their age,
size and state (ok: manifest present and matching; no-manifest; bad-manifest;
size-mismatch). 'repops backups verify NAME' re-reads the backup: sha256 and
size against the manifest, integrity_check, schema, rows per table. Exit 0
when it passes, 2 when it fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBackups(cmd.Context(), a, o)
		},
	}
	cmd.PersistentFlags().StringVar(&o.dir, "dir", "", "backup dir (overrides console.backup.dir)")
	cmd.AddCommand(&cobra.Command{
		Use:   "verify NAME",
		Short: "Re-check a backup's checksum, integrity, schema and rows",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBackupsVerify(cmd.Context(), a, o, args[0])
		},
	})
	return cmd
}

func (o *backupsOptions) backupDir(a *app) string {
	if o.dir != "" {
		return o.dir
	}
	return a.cfg.BackupDir()
}

func runBackups(_ context.Context, a *app, o *backupsOptions) error {
	dir := o.backupDir(a)
	list, err := ops.ListBackups(dir, time.Now())
	if err != nil {
		return err
	}
	if len(list) == 0 {
		fmt.Fprintf(a.out, "no backups in %s: take one with 'repops backup'\n", dir)
		return nil
	}
	fmt.Fprintf(a.out, "%-36s %10s %10s  %s\n", "NAME", "AGE", "SIZE", "STATE")
	for _, b := range list {
		state := b.State
		if b.Detail != "" {
			state += " (" + b.Detail + ")"
		}
		fmt.Fprintf(a.out, "%-36s %10s %10s  %s\n", b.Name, humanize.Age(b.Age), humanize.Bytes(b.Size), state)
	}
	return nil
}

func runBackupsVerify(ctx context.Context, a *app, o *backupsOptions, name string) error {
	path, err := ops.ResolveBackup(o.backupDir(a), a.cfg.Database.Path, name)
	if err != nil {
		return usageError("%w", err)
	}
	v, err := ops.VerifyBackup(ctx, path)
	if err != nil {
		return withCode(exitUnknown, err)
	}
	if v.OK() {
		fmt.Fprintf(a.out, "OK %s: sha256 matches the manifest, integrity_check ok, schema version %d, rows as the manifest (%s)\n",
			path, v.SchemaVersion, v.Took.Round(time.Millisecond))
		for _, n := range v.Notes {
			fmt.Fprintf(a.out, "  note: %s\n", n)
		}
		return nil
	}
	fmt.Fprintf(a.out, "FAILED %s:\n", path)
	for _, p := range v.Problems {
		fmt.Fprintf(a.out, "  %s\n", p)
	}
	return silentExit(exitCritical)
}
