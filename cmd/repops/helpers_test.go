package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// execRoot runs the root command with stdin and args as main does, without
// exiting; a panic fails the test.
func execRoot(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("repops %s panicked: %v", strings.Join(args, " "), r)
		}
	}()
	root := newRootCmd(strings.NewReader(stdin), &out, &errOut)
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), exitCode(err), err
}

// runRepopsCmd runs repops with args and no input.
func runRepopsCmd(t *testing.T, args ...string) (stdout, stderr string, code int, err error) {
	t.Helper()
	return execRoot(t, "", args...)
}

// runRepopsIn runs repops with stdin and args; the error main would print
// is appended to stderr, as the user would see it.
func runRepopsIn(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	stdout, stderr, code, err := execRoot(t, stdin, args...)
	if err != nil {
		stderr += err.Error()
	}
	return stdout, stderr, code
}

// runRecovery runs repops --config cfg with stdin and args.
func runRecovery(t *testing.T, cfg, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runRepopsIn(t, stdin, append([]string{"--config", cfg}, args...)...)
}
