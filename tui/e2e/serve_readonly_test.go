package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"charm.land/bubbles/v2/key"

	"github.com/repops/repops/tui"
)

// TestServeViewerWritesNothing is readonly_test.go's proof for a viewer
// key over SSH: real OpenSSH clients, one per view, each in tmux at
// 120x40, logged in with a viewer key to 'repops serve'; every key of the
// console's key map pressed in every tab and view and mode (and enter
// after each, confirmations answered), a backup run started and taken
// past its first step. Then, with the server stopped: the database, its
// -wal and -shm unchanged (size, mtime), nothing created in its
// directory, PRAGMA data_version unchanged on a connection held across
// the drive. The banner says who the session is and its role.
func TestServeViewerWritesNothing(t *testing.T) {
	started := time.Now()
	deadline := started.Add(70 * time.Second)
	s := startServe(t, "")

	km := tui.DefaultKeyMap()
	keys := keyMapKeys(t, km)
	dataVersion := dataVersionObserver(t, s.dbPath)
	dv0 := dataVersion()
	before := snapshot(t, s.dbDir)

	view := func(keys ...key.Binding) []step {
		var out []step
		for _, b := range keys {
			out = append(out, step{key: first(b)})
		}
		return out
	}
	cmdline := regexp.MustCompile(`(?m)^:`)
	title := regexp.MustCompile(`(?m)^Backup \S* ?`)
	typed := func(cmd string) []step {
		return []step{{key: first(km.Command)}, {wait: cmdline}, {text: cmd}, {key: "enter"}, {wait: title, answer: newRunRe}}
	}
	contexts := append(viewContexts(km, view, cmdline),
		drive{name: "run", nav: typed("run backup")},
		drive{name: "run, past step 1", nav: append(typed("run backup"),
			step{key: first(km.Do), while: regexp.MustCompile(`Step 1 of \d+`)}, step{wait: title})},
	)
	socket := fmt.Sprintf("repops-serve-ro-%d", os.Getpid())
	t.Cleanup(func() { endServer(socket) })
	// REPOPS_E2E_NO_READONLY=1 drives the same with the operator's key:
	// the test must then fail (it is how it is shown to catch a leak).
	who, banner := "vera", `repops · vera · viewer · `
	if os.Getenv("REPOPS_E2E_NO_READONLY") == "1" {
		who, banner = "otto", `repops · otto · operator · `
		t.Log("REPOPS_E2E_NO_READONLY=1: driving as an operator; this run must fail")
	}
	sshCmd := fmt.Sprintf("while :; do %s -tt; echo '[exited]'; read x; done", s.sshLine(who))
	names := make([]string, len(contexts))
	for i := range names {
		names[i] = fmt.Sprintf("vera-%d", i)
		cmd := exec.Command("tmux", "-L", socket, "new-session", "-d", "-s", names[i], "-x", "120", "-y", "40", "-c", s.work, sshCmd)
		cmd.Env = append(os.Environ(), "TERM=xterm-256color")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("tmux new-session: %v\n%s", err, out)
		}
	}
	// The banner: the key's name and role, and read-only.
	probe := &console{socket: socket, session: names[0], env: driveEnv{km: km, keys: keys, deadline: deadline}}
	scr, err := probe.wait(regexp.MustCompile(banner), nil, 20*time.Second)
	if err != nil {
		t.Fatalf("the viewer's banner: %v", err)
	}
	_ = scr

	env := driveEnv{km: km, keys: keys, deadline: deadline}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		errs   []string
		counts []string
	)
	for i, d := range contexts {
		wg.Add(1)
		go func(name string, d drive) {
			defer wg.Done()
			c := &console{socket: socket, session: name, env: env}
			err := c.run([]drive{d})
			mu.Lock()
			defer mu.Unlock()
			counts = append(counts, fmt.Sprintf("%s: %d presses, %d restarts", d.name, c.presses, c.restarts))
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", d.name, err))
			}
		}(names[i], d)
	}
	wg.Wait()
	for _, e := range errs {
		t.Error(e)
	}
	t.Logf("%d keys × %d views and modes over SSH as %s: %s; %.1fs", len(keys), len(contexts), who, strings.Join(counts, "; "), time.Since(started).Seconds())

	// Every session has quit; the server stops (its collector's
	// connections close) before the files are compared.
	s.stop(t)
	if dv := dataVersion(); dv != dv0 {
		t.Errorf("PRAGMA data_version changed from %d to %d: another connection committed a write", dv0, dv)
	}
	for _, d := range diff(before, snapshot(t, s.dbDir)) {
		t.Errorf("in the database's directory: %s", d)
	}
	if _, err := os.Stat(filepath.Join(s.dbDir, "backups")); err == nil {
		t.Errorf("a backup dir was created beside the database by a viewer")
	}
	if who == "otto" && !t.Failed() {
		t.Errorf("as an operator the drive wrote nothing: the test cannot tell a leak")
	}
	if strings.Contains(s.logText(), "panic") {
		t.Errorf("the server's log has a panic:\n%s", s.logText())
	}
}
