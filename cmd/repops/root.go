package main

import (
	"context"
	"database/sql"
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/repops/repops/config"
	"github.com/repops/repops/db"
)

// globalOptions are the flags every command shares.
type globalOptions struct {
	configFile string
	dbPath     string
	readOnly   bool
	env        string
}

// app is what every command's run function receives: the effective config,
// the logger and the streams. Built once in PersistentPreRunE.
type app struct {
	cfg        *config.Config
	configFile string
	log        *slog.Logger
	in         io.Reader
	out, err   io.Writer
	// prompt asks the operator every question (typed confirmations, a
	// runbook's steps); newRootCmd builds it on in and err.
	prompt   prompter
	readOnly bool
}

// dbOptions are the connection options the config asks for.
func (a *app) dbOptions() db.Options {
	return db.Options{CacheSize: a.cfg.Database.CacheSize, WALAutocheckpoint: a.cfg.Database.WALAutocheckpoint}
}

// openRead opens the configured database read-only.
func (a *app) openRead(ctx context.Context) (*sql.DB, error) {
	return db.OpenRead(ctx, a.cfg.Database.Path, a.dbOptions())
}

// newRootCmd is the repops command on the process's streams: questions
// are asked on errOut and answered on in.
func newRootCmd(in io.Reader, out, errOut io.Writer) *cobra.Command {
	return newRootCmdWith(&app{in: in, out: out, err: errOut, prompt: newPrompter(in, errOut)})
}

// newRootCmdWith is the repops command on a's streams and prompter (a
// test's fake).
func newRootCmdWith(a *app) *cobra.Command {
	in, out, errOut := a.in, a.out, a.err
	g := &globalOptions{}
	root := &cobra.Command{
		Use:   "repops",
		Short: "Operations console for the reputation system",
		Long: `repops is the on-call console for the reputation system: a live dashboard of
the operations guide's key metrics and alert states, and its procedures
(backup, restore, reindex, archive, escalation, DR drills) made safe against
the live database, every step recorded in the ops journal.

Run with no command to open the console.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return a.setup(cmd, g)
		},
		RunE: consoleCmdRunE(a),
	}
	root.SetIn(in)
	root.SetOut(out)
	root.SetErr(errOut)
	pf := root.PersistentFlags()
	pf.StringVar(&g.configFile, "config", "", "config file (default: $REPOPS_CONFIG, config/reputation_$ENVIRONMENT.yml, then the user's config dir)")
	pf.StringVar(&g.dbPath, "db", "", "database file (overrides DATABASE_PATH and database.path)")
	pf.BoolVar(&g.readOnly, "read-only", false, "disable every action that writes")
	pf.StringVar(&g.env, "env", "", "environment name for the banner (overrides ENVIRONMENT)")

	// One constructor per command file; each gets the shared app.
	for _, c := range []func(*app) *cobra.Command{
		newMigrateCmd,
		newRunbookCmd,
		newDemoCmd,
		newRulesCmd,
		newExporterCmd,
		newStatusCmd,
		newConfigCmd,
		newSimulateCmd,
		newBackupCmd,
		newBackupsCmd,
		newRestoreCmd,
		newCheckCmd,
		newDrillCmd,
		newJournalCmd,
		newOptimizeCmd,
		newIndexesCmd,
		newDiagnoseCmd,
		newArchiveCmd,
		newGrowthCmd,
		newReplicateCmd,
		newServeCmd,
		newSilenceCmd,
		newIncidentCmd,
	} {
		root.AddCommand(c(a))
	}
	markUsageErrors(root)
	return root
}
