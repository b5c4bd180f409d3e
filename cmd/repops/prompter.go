package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/repops/repops/ops"
)

// prompter asks the operator questions. Every question a command asks
// goes through the app's one prompter (newRootCmd builds it on standard
// input and standard error; a test injects a fake), as cli/cli's
// internal/prompter: one reader of standard input, so that two questions
// in one run never lose a line to each other's buffer.
//
// Contract: the prompt is written as given (no line end added), then one
// line is read. The default of every question, an empty line or the end
// of input, is the answer that changes nothing. --yes is the caller's:
// with it, no question is asked.
type prompter interface {
	// Input shows prompt and returns the next line, blanks and line end
	// trimmed. At the end of input it returns what was typed and io.EOF;
	// an empty answer at the end of input ends the prompt's line.
	Input(prompt string) (string, error)
	// ConfirmName shows prompt and reports whether the operator typed
	// want (blanks around it ignored); answer is what was typed, for the
	// cancellation's message. Anything else, an empty line and the end of
	// input are no; a no ends the prompt's line.
	ConfirmName(prompt, want string) (answer string, ok bool, err error)
}

// linePrompter is the prompter on a terminal: prompts on out, answers
// from in, a line each.
type linePrompter struct {
	in  *bufio.Reader
	out io.Writer
}

var _ prompter = (*linePrompter)(nil)

// newPrompter asks on out and reads the answers from in.
func newPrompter(in io.Reader, out io.Writer) *linePrompter {
	return &linePrompter{in: bufio.NewReader(in), out: out}
}

func (p *linePrompter) Input(prompt string) (string, error) {
	fmt.Fprint(p.out, prompt)
	line, err := p.in.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimSpace(line)
	if line == "" && errors.Is(err, io.EOF) {
		fmt.Fprintln(p.out)
	}
	return line, err
}

func (p *linePrompter) ConfirmName(prompt, want string) (string, bool, error) {
	fmt.Fprint(p.out, prompt)
	line, err := p.in.ReadString('\n')
	if errors.Is(err, io.EOF) {
		err = nil
	}
	answer := strings.TrimSpace(line)
	if answer != want || err != nil {
		fmt.Fprintln(p.out)
		return answer, false, err
	}
	return answer, true, nil
}

// confirmDatabase asks for the database's file name to be typed, after
// what (what is about to happen, a line or more); anything else cancels.
// A cancellation is journaled as p's, one "cancelled" entry ("confirmation
// not given": the incident timeline shows what an operator decided not to
// do), and returned with exit status 1 as "<cancelled>: the answer ...".
func (a *app) confirmDatabase(what string, p ops.Procedure, cancelled string) error {
	base := filepath.Base(a.cfg.Database.Path)
	answer, ok, err := a.prompt.ConfirmName(fmt.Sprintf("%s\nType the database's name (%s) to go on, anything else cancels: ", what, base), base)
	if ok {
		return nil
	}
	ops.JournalNotRun(p, ops.OutcomeCancelled, "confirmation not given")
	if err != nil {
		return withCode(exitFailure, fmt.Errorf("%s: no answer (%v); nothing was changed", cancelled, err))
	}
	return withCode(exitFailure, fmt.Errorf("%s: the answer %q is not %q; nothing was changed", cancelled, answer, base))
}
