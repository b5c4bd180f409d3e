package main

import (
	"errors"
	"fmt"
)

// Exit codes. 0-3 follow the Nagios plugin convention that 'repops status'
// and 'repops check' speak; every other failure is 1 unless it says more.
const (
	exitOK       = 0
	exitWarning  = 1
	exitCritical = 2
	exitUnknown  = 3
	exitFailure  = 1
	exitUsage    = 64 // bad flags or arguments (sysexits EX_USAGE)
)

// exitError carries an exit code chosen by a command. Silent means the
// command has already told the user everything (a status report, a list of
// problems), so main prints nothing more.
type exitError struct {
	code   int
	err    error
	silent bool
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// withCode wraps err so that main exits with code.
func withCode(code int, err error) error { return &exitError{code: code, err: err} }

// silentExit ends with code and no further message.
func silentExit(code int) error { return &exitError{code: code, silent: true} }

// usageError marks bad arguments.
func usageError(format string, args ...any) error {
	return withCode(exitUsage, fmt.Errorf(format, args...))
}

// exitCode maps an error to the process's exit status, in one place.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitFailure
}

func isSilent(err error) bool {
	var ee *exitError
	return errors.As(err, &ee) && ee.silent
}
