package ops

import (
	"context"
	"strings"
)

// ShellCommand is args as one line a POSIX shell reads back as the same
// words: the printed equivalent of a console action (Entry.Command), e.g.
// ShellCommand("repops", "backup", "--db", "/srv/architect.db").
// A word with anything beyond letters, digits and -_./:=@,+% is put in
// single quotes (a quote inside becomes '\”).
func ShellCommand(args ...string) string {
	words := make([]string, len(args))
	for i, a := range args {
		words[i] = shellQuote(a)
	}
	return strings.Join(words, " ")
}

func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./:=@,+%", c)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

type commandKey struct{}

// WithCommand is ctx carrying the shell command a procedure run under it
// records in the journal (Procedure.Command): the command line of a
// procedure run from a shell ('repops backup ...'), so that the journal
// says how to run it again as it says it for a console's runbook step.
func WithCommand(ctx context.Context, cmd string) context.Context {
	return context.WithValue(ctx, commandKey{}, cmd)
}

// CommandFrom is WithCommand's command, "" when none.
func CommandFrom(ctx context.Context) string {
	s, _ := ctx.Value(commandKey{}).(string)
	return s
}
