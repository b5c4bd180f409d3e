package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/repops/repops/ops"
)

// markUsageErrors makes every mistake on the command line (an unknown
// command, a wrong number of arguments, an unknown or malformed flag)
// end with exit status 64 and a pointer to the command's help, as
// usageError does for the arguments a command checks itself. Cobra's own
// errors would otherwise exit 1, which a script cannot tell from a
// procedure that failed.
func markUsageErrors(root *cobra.Command) {
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return withCode(exitUsage, fmt.Errorf("%w (see '%s --help')", err, c.CommandPath()))
	})
	var wrap func(c *cobra.Command)
	wrap = func(c *cobra.Command) {
		c.SuggestionsMinimumDistance = 2
		switch {
		case c == root:
			// The root runs the console and takes no arguments: a word
			// that is no command is a typo of one.
			c.Args = unknownSubcommand
		case c.HasSubCommands() && !c.Runnable():
			// A group ('migrate', 'rules', ...): alone it prints its
			// help; a word that is none of its commands is an error, not
			// the help with exit 0, which would let a script's typo
			// ('repops migrate aply') pass for success.
			c.Args = unknownSubcommand
			c.RunE = func(c *cobra.Command, args []string) error { return c.Help() }
		case c.Args != nil:
			check := c.Args
			c.Args = func(c *cobra.Command, args []string) error {
				if err := check(c, args); err != nil {
					if !strings.Contains(err.Error(), c.CommandPath()) {
						err = fmt.Errorf("%s: %w", strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" "), err)
					}
					return withCode(exitUsage, fmt.Errorf("%w (see '%s --help')", err, c.CommandPath()))
				}
				return nil
			}
		}
		for _, sub := range c.Commands() {
			wrap(sub)
		}
	}
	wrap(root)
}

// unknownSubcommand is the Args check of a command whose arguments can
// only be its subcommands' names.
func unknownSubcommand(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
	if s := c.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, ", "))
	}
	return withCode(exitUsage, fmt.Errorf("%s: '%s --help' lists them", msg, c.CommandPath()))
}

// namesUnknown is a procedure's refusal of a name the operator gave (an
// optimisation, a table, an index, a cutoff): a usage error, exit 64,
// like a bad flag. Any other error keeps code.
func namesUnknown(code int, err error) error {
	for _, e := range []error{ops.ErrUnknownOp, ops.ErrUnknownObject, ops.ErrNotArchivable, ops.ErrUnknownIndex, ops.ErrBadCutoff} {
		if errors.Is(err, e) {
			return withCode(exitUsage, err)
		}
	}
	return withCode(code, err)
}
