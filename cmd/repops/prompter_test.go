package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/repops/repops/ops"
	"github.com/repops/repops/state"
)

// fakePrompter records every prompt and answers from answers in turn; when
// they run out, it is the end of input.
type fakePrompter struct {
	answers []string
	prompts []string
}

var _ prompter = (*fakePrompter)(nil)

func (f *fakePrompter) next(prompt string) (string, error) {
	f.prompts = append(f.prompts, prompt)
	if len(f.answers) == 0 {
		return "", io.EOF
	}
	a := f.answers[0]
	f.answers = f.answers[1:]
	return a, nil
}

func (f *fakePrompter) Input(prompt string) (string, error) { return f.next(prompt) }

func (f *fakePrompter) ConfirmName(prompt, want string) (string, bool, error) {
	a, _ := f.next(prompt)
	return a, a == want, nil
}

// runPrompted runs repops --config cfg args with fake asking the questions.
func runPrompted(t *testing.T, fake *fakePrompter, cfg string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCmdWith(&app{in: strings.NewReader(""), out: &out, err: &errOut, prompt: fake})
	root.SetArgs(append([]string{"--config", cfg}, args...))
	err := root.ExecuteContext(context.Background())
	if err != nil {
		errOut.WriteString(err.Error())
	}
	return out.String(), errOut.String(), exitCode(err)
}

const confirmQuestion = "Type the database's name (architect.db) to go on, anything else cancels: "

// TestRestoreAsksThePrompter: restore's typed confirmation is the
// prompter's question, after what the restore will do; a wrong name and
// the end of input cancel, journaled; the name goes on; --yes asks
// nothing.
func TestRestoreAsksThePrompter(t *testing.T) {
	cfg, dbPath, stateDir := recoveryEnv(t)
	if _, stderr, code := runRecovery(t, cfg, "", "backup"); code != 0 {
		t.Fatalf("backup: %s", stderr)
	}
	list, _ := state.ListBackups(filepath.Join(filepath.Dir(dbPath), "backups"))
	name := list[0].Name
	for _, answers := range [][]string{{"architect"}, {""}, nil} {
		fake := &fakePrompter{answers: answers}
		_, stderr, code := runPrompted(t, fake, cfg, "restore", name)
		if code != exitFailure || !strings.Contains(stderr, "restore cancelled") || !strings.Contains(stderr, "nothing was changed") {
			t.Fatalf("answers %q: exit %d\n%s", answers, code, stderr)
		}
		if len(fake.prompts) != 1 || !strings.HasPrefix(fake.prompts[0], "This replaces "+dbPath+" with the backup "+name) ||
			!strings.HasSuffix(fake.prompts[0], "\nThe current database is copied aside first.\n"+confirmQuestion) {
			t.Fatalf("prompts: %q", fake.prompts)
		}
	}
	cancelled := 0
	for _, e := range recoveryJournal(t, stateDir) {
		if e.Action == "restore" && e.Outcome == ops.OutcomeCancelled && e.Message == "confirmation not given" && e.Params["backup"] != "" {
			cancelled++
		}
	}
	if cancelled != 3 {
		t.Errorf("%d cancellations journaled, want 3", cancelled)
	}
	fake := &fakePrompter{answers: []string{"architect.db"}}
	if stdout, stderr, code := runPrompted(t, fake, cfg, "restore", name); code != 0 || !strings.Contains(stdout, "restore (") {
		t.Fatalf("restore with the name typed: exit %d\n%s\n%s", code, stdout, stderr)
	}
	fake = &fakePrompter{}
	if _, stderr, code := runPrompted(t, fake, cfg, "restore", "--latest", "--yes"); code != 0 || len(fake.prompts) != 0 {
		t.Fatalf("restore --yes: exit %d, prompts %q\n%s", code, fake.prompts, stderr)
	}
}

// TestMaintenanceAsksThePrompter: a destructive optimisation asks the
// prompter; the default cancels, journaled under the operation with the
// database's absolute path, as its own entries name it.
func TestMaintenanceAsksThePrompter(t *testing.T) {
	cfg, dbPath, stateDir := recoveryEnv(t)
	fake := &fakePrompter{answers: []string{""}}
	_, stderr, code := runPrompted(t, fake, cfg, "optimize", "vacuum")
	if code != exitFailure || !strings.Contains(stderr, `cancelled: the answer "" is not "architect.db"; nothing was changed`) {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if len(fake.prompts) != 1 || !strings.HasPrefix(fake.prompts[0], "This runs vacuum on the live database "+dbPath) ||
		!strings.HasSuffix(fake.prompts[0], ".\n"+confirmQuestion) {
		t.Fatalf("prompts: %q", fake.prompts)
	}
	abs, _ := filepath.Abs(dbPath)
	es := recoveryJournal(t, stateDir)
	if len(es) != 1 || es[0].Action != "optimize.vacuum" || es[0].Outcome != ops.OutcomeCancelled || es[0].Target != abs {
		t.Fatalf("journal: %+v", es)
	}
	fake = &fakePrompter{answers: []string{"architect.db"}}
	if _, stderr, code := runPrompted(t, fake, cfg, "optimize", "vacuum"); code != 0 {
		t.Fatalf("vacuum with the name typed: exit %d\n%s", code, stderr)
	}
}

// TestRunbookAsksThePrompter: a runbook's steps are the prompter's
// questions; Enter stops the run.
func TestRunbookAsksThePrompter(t *testing.T) {
	cfg, _, _ := recoveryEnv(t)
	fake := &fakePrompter{answers: []string{"y", ""}}
	stdout, stderr, code := runPrompted(t, fake, cfg, "runbook", "run", "backup")
	if code != exitFailure || !strings.Contains(stderr, "stopped") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	const runIt = "Run it? 'y', 's REASON' skip, Enter to stop: "
	if len(fake.prompts) != 2 || fake.prompts[0] != runIt || fake.prompts[1] != runIt {
		t.Fatalf("prompts: %q", fake.prompts)
	}
}

// TestLinePrompter: the terminal prompter writes the prompt as given,
// reads a line per question from one buffer (two questions never lose a
// line to each other), and takes an empty line or the end of input as no.
func TestLinePrompter(t *testing.T) {
	var out bytes.Buffer
	p := newPrompter(strings.NewReader("  architect.db \narchitect\n\ny\n"), &out)
	for i, want := range []struct {
		answer string
		ok     bool
	}{{"architect.db", true}, {"architect", false}, {"", false}} {
		answer, ok, err := p.ConfirmName("name? ", "architect.db")
		if answer != want.answer || ok != want.ok || err != nil {
			t.Errorf("question %d: %q %v %v, want %q %v", i, answer, ok, err, want.answer, want.ok)
		}
	}
	if line, err := p.Input("go? "); line != "y" || err != nil {
		t.Errorf("input: %q %v", line, err)
	}
	if line, err := p.Input("again? "); line != "" || !errors.Is(err, io.EOF) {
		t.Errorf("input at the end: %q %v", line, err)
	}
	if answer, ok, err := p.ConfirmName("name? ", "architect.db"); ok || answer != "" || err != nil {
		t.Errorf("confirm at the end of input: %q %v %v", answer, ok, err)
	}
	// A no ends the prompt's line; so does an empty answer at the end.
	if want := "name? name? \nname? \ngo? again? \nname? \n"; out.String() != want {
		t.Errorf("written %q, want %q", out.String(), want)
	}
}
