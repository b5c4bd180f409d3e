// Package e2e drives the built repops binary in a real terminal (tmux):
// the demo database, the simulated service and the console, end to end.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/internal/testsupport"
)

// bin is the repops binary built once for the package.
var bin string

func TestMain(m *testing.M) {
	if _, err := exec.LookPath("tmux"); err != nil {
		fmt.Fprintln(os.Stderr, "the console's end-to-end test needs tmux: apt-get install tmux")
		os.Exit(1)
	}
	b, cleanup, err := testsupport.BuildRepops("repops-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = b
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// term is one tmux session running the console.
type term struct {
	t      testing.TB
	name   string
	closed bool
}

func startTerm(t testing.TB, dir string, w, h int, command string) *term {
	t.Helper()
	name := fmt.Sprintf("repops-e2e-%d-%d", os.Getpid(), time.Now().UnixNano()%100000)
	cmd := exec.Command("tmux", "new-session", "-d", "-s", name, "-x", fmt.Sprint(w), "-y", fmt.Sprint(h), "-c", dir,
		command+"; echo '[exited]'; sleep 60")
	cmd.Env = append(os.Environ(), "TERM=xterm-256color")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	tm := &term{t: t, name: name}
	t.Cleanup(tm.close)
	return tm
}

// close ends the session and its processes, once (a benchmark closes
// each start's session before the next).
func (tm *term) close() {
	if tm.closed {
		return
	}
	tm.closed = true
	endSession(tm.name, false)
}

func (tm *term) screen() string {
	out, err := exec.Command("tmux", "capture-pane", "-p", "-t", tm.name).Output()
	if err != nil {
		tm.t.Fatalf("tmux capture-pane: %v", err)
	}
	return string(out)
}

// keys sends tmux key names ("F3", "Enter", "Escape") or literal text.
func (tm *term) keys(keys ...string) {
	tm.t.Helper()
	if out, err := exec.Command("tmux", append([]string{"send-keys", "-t", tm.name}, keys...)...).CombinedOutput(); err != nil {
		tm.t.Fatalf("tmux send-keys %v: %v\n%s", keys, err, out)
	}
}

func (tm *term) text(s string) {
	tm.t.Helper()
	if out, err := exec.Command("tmux", "send-keys", "-l", "-t", tm.name, s).CombinedOutput(); err != nil {
		tm.t.Fatalf("tmux send-keys -l %q: %v\n%s", s, err, out)
	}
}

// waitFor polls the screen until re matches, or fails with the screen.
func (tm *term) waitFor(what string, re *regexp.Regexp, d time.Duration) string {
	tm.t.Helper()
	deadline := time.Now().Add(d)
	for {
		s := tm.screen()
		if re.MatchString(s) {
			return s
		}
		if time.Now().After(deadline) || strings.Contains(s, "[exited]") {
			tm.t.Fatalf("waiting for %s (%s) for %s; the screen:\n%s", what, re, d, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestConsoleEndToEnd: the dashboard; the error-spike scenario switched
// on; the appeal error-rate panel turns critical; the runbook it offers
// opened; a check step run; a backup action run; the journal shows both.
func TestConsoleEndToEnd(t *testing.T) {
	dir := t.TempDir()
	cfg := `console:
  refresh_interval: 500ms
  rules:
    - name: appeal_error_rate
      for: 2s
`
	if err := os.WriteFile(filepath.Join(dir, "e2e.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	tm := startTerm(t, dir, 120, 40, fmt.Sprintf("NO_COLOR= %s --config e2e.yml demo --appeals 3000 2>stderr.txt", bin))

	tm.waitFor("the dashboard", regexp.MustCompile(`Key metrics`), 30*time.Second)
	tm.waitFor("the service's figures", regexp.MustCompile(`● service up`), 10*time.Second)

	tm.keys("F3")
	tm.waitFor("the scenario switched", regexp.MustCompile(`scenario error-spike`), 5*time.Second)
	tm.waitFor("the appeal error rate critical", regexp.MustCompile(`Appeal errors +[0-9.]+ %.*CRITICAL`), 45*time.Second)
	s := tm.waitFor("the alert offering its runbook", regexp.MustCompile(`CRITICAL +Appeal error rate.*\[o\] appeal-submission-failing`), 5*time.Second)
	// Select the appeal error rate's alert (the list is worst first).
	for i := 0; i < 10 && !regexp.MustCompile(`▸ CRITICAL +Appeal error rate`).MatchString(s); i++ {
		tm.keys("Down")
		time.Sleep(150 * time.Millisecond)
		s = tm.screen()
	}
	tm.keys("o")
	tm.waitFor("the runbook", regexp.MustCompile(`Appeal submission failing|appeal-submission-failing ·`), 5*time.Second)
	tm.keys("Enter")
	tm.waitFor("its first step", regexp.MustCompile(`Step 1 of \d+: Check database connectivity`), 5*time.Second)
	tm.keys("x")
	tm.waitFor("the check's result", regexp.MustCompile(`PASSED Check database connectivity`), 15*time.Second)

	tm.keys(":")
	tm.text("run backup")
	tm.keys("Enter")
	tm.waitFor("the backup runbook", regexp.MustCompile(`Step 1 of 4: Check disk space`), 5*time.Second)
	tm.keys("x")
	tm.waitFor("the backup step", regexp.MustCompile(`Step 2 of 4: Take the backup`), 15*time.Second)
	tm.keys("x")
	tm.waitFor("the backup's result", regexp.MustCompile(`(DONE|PASSED) Take the backup`), 30*time.Second)

	tm.keys("l")
	j := tm.waitFor("the journal", regexp.MustCompile(`(?s)Check database connectivity.*Take the backup`), 10*time.Second)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`Check database connectivity · appeal-sub.* ok `),
		regexp.MustCompile(`Take the backup · backup +ok `),
	} {
		if !want.MatchString(j) {
			t.Errorf("the journal lacks %s:\n%s", want, j)
		}
	}
	tm.keys("q")
	// The backup run is under way (its last step): the console asks.
	tm.waitFor("the quit question", regexp.MustCompile(`quit anyway\? y/N`), 5*time.Second)
	tm.keys("y")
	tm.waitFor("the console to quit", regexp.MustCompile(`\[exited\]`), 10*time.Second)
	// The demo says on stderr, before the console opens, what it did to
	// start healthy; anything else there (a log line) would have been
	// drawn over the screen.
	b, _ := os.ReadFile(filepath.Join(dir, "stderr.txt"))
	var stray []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line != "" && !strings.HasPrefix(line, "demo: ") {
			stray = append(stray, line)
		}
	}
	if len(stray) > 0 {
		t.Errorf("repops wrote to stderr:\n%s", strings.Join(stray, "\n"))
	}
}
