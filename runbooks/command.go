package runbooks

import (
	"path/filepath"

	"github.com/repops/repops/ops"
)

// StepCommand is the shell equivalent of step s run on the database
// dbPath ("repops backup --db /srv/architect.db"): what the console shows
// under a running step ("same as: ...") and the journal keeps
// (ops.Entry.Command), so that an incident can be replayed from a shell.
// "" for a manual step and an action without a command of its own.
//
// Decision: the equivalent names --db and the step's parameters, not
// --config: the console's config is the operator's, and its path is not
// the runbook's to know; a replay from another shell passes its own.
func StepCommand(s *Step, dbPath string) string {
	switch s.Kind {
	case Check:
		if s.Metric != nil {
			return ops.ShellCommand("repops", "status", "--db", dbPath)
		}
		if s.Query != "" {
			return ops.ShellCommand("sqlite3", "-readonly", dbPath, s.Query)
		}
		return ""
	case Action:
		return ActionCommand(s.Action, s.Params, dbPath)
	}
	return ""
}

// ActionCommand is the repops command that does what the catalogue's
// action does with params on dbPath; "" when no command does.
func ActionCommand(action string, params map[string]string, dbPath string) string {
	args := []string{"repops"}
	flag := func(name, param string) {
		if v := params[param]; v != "" {
			args = append(args, name, v)
		}
	}
	switch action {
	case "backup":
		args = append(args, "backup")
		flag("--dir", "dir")
	case "list_backups":
		args = append(args, "backups")
	case "verify_backup":
		b := params["backup"]
		if b == "" || b == "latest" {
			args = append(args, "backups")
		} else {
			args = append(args, "backups", "verify", b)
		}
	case "restore":
		if b := params["backup"]; b == "latest" || b == "" {
			args = append(args, "restore", "--latest")
		} else {
			args = append(args, "restore", b)
		}
	case "check", "health":
		args = append(args, "check")
		if params["mode"] == "full" {
			args = append(args, "--full")
		}
	case "drill":
		args = append(args, "drill")
		if b := params["backup"]; b != "" && b != "latest" {
			args = append(args, b)
		}
		flag("--scenario", "scenario")
	case "analyze", "optimize", "reindex", "vacuum", "checkpoint":
		args = append(args, "optimize", action)
		flag("--target", "target")
		flag("--analysis-limit", "analysis_limit")
	case "incremental_vacuum":
		args = append(args, "optimize", "incremental-vacuum")
		flag("--step-pages", "step_pages")
		flag("--max-pages", "max_pages")
	case "archive":
		args = append(args, "archive")
		flag("--older-than", "appeals_older_than")
		flag("--messages-older-than", "messages_older_than")
		flag("--batch-rows", "batch_rows")
	case "migrate":
		args = append(args, "migrate", "apply")
	case "migration_status":
		args = append(args, "migrate", "status")
	case "validate_schema":
		args = append(args, "migrate", "validate")
	case "table_sizes":
		args = append(args, "migrate", "stats")
	case "index_report":
		args = append(args, "indexes")
	case "create_index":
		args = append(args, "indexes")
		flag("--create", "index")
	case "disk_space":
		return ops.ShellCommand("df", "-h", filepath.Dir(dbPath))
	case "explain":
		return ops.ShellCommand("sqlite3", "-readonly", dbPath, "EXPLAIN QUERY PLAN "+params["query"])
	default:
		return ""
	}
	return ops.ShellCommand(append(args, "--db", dbPath)...)
}
