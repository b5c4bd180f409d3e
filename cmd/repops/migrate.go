package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/repops/repops/db"
)

// newMigrateCmd is the guide's manage_migrations.sh.
// TODO(issue 2): list, apply with backup, validate, report, stats, backup.
func newMigrateCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Schema migrations: status, list, apply, validate, report, stats, backup",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Applied and pending migrations with times",
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := a.openRead(cmd.Context())
			if err != nil {
				return err
			}
			defer r.Close()
			states, _, err := db.Status(cmd.Context(), r)
			if err != nil {
				return err
			}
			for _, s := range states {
				fmt.Fprintf(a.out, "%05d %-30s applied=%v\n", s.Version, s.Name, s.Applied)
			}
			return nil
		},
	})
	return cmd
}
