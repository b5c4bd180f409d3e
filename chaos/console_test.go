package chaos

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const needTmux = "needs tmux: apt-get install tmux"

// console is the real console (repops with no command) in a tmux session
// of a tmux server of its own (a socket in the test's temp dir, so that no
// other session is touched, and the server and its socket end with the
// test).
type console struct {
	t       *testing.T
	tmux    string
	socket  string // the tmux server's socket
	session string
	pidFile string // the console's pid, written before it starts
	exitF   string // its exit status, written when it ends
	stderr  string
	pid     int
}

// startConsole opens the console on the env's config and database in a
// 120x40 terminal (TERM=xterm-256color), with stderr to a file so that
// nothing but the console draws on the screen. The pane stays after the
// console exits (a sleep), for the last screen.
func (e *env) startConsole(t *testing.T) *console {
	t.Helper()
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Fatal(needTmux)
	}
	c := &console{
		t: t, tmux: tmux,
		socket:  filepath.Join(e.dir, "tmux.sock"),
		session: "console",
		pidFile: filepath.Join(e.dir, "console.pid"),
		exitF:   filepath.Join(e.dir, "console.exit"),
		stderr:  filepath.Join(e.dir, "console.stderr"),
	}
	if len(c.socket) > 100 { // a Unix socket's path has at most 107 bytes
		d, err := os.MkdirTemp("", "rctmux")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		c.socket = filepath.Join(d, "s")
	}
	script := filepath.Join(e.dir, "console.sh")
	body := fmt.Sprintf("#!/bin/sh\necho $$ > %s\ncd %s || exit 90\nTERM=xterm-256color exec %s --config %s --db %s 2>%s\n",
		shq(c.pidFile), shq(filepath.Join(e.dir, "work")), shq(bin), shq(e.cfg), shq(e.db), shq(c.stderr))
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
		t.Fatal(err)
	}
	pane := fmt.Sprintf("sh %s; echo $? > %s; echo '[exited]'; sleep 600", shq(script), shq(c.exitF))
	cmd := exec.Command(tmux, "-S", c.socket, "-f", "/dev/null", "new-session", "-d", "-s", c.session,
		"-x", "120", "-y", "40", "-c", e.dir, pane)
	// The server's environment is the one every repops of the suite gets
	// (the machine's config and the guide's variables kept out).
	cmd.Env = append(e.environ(), "TERM=xterm-256color")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	t.Cleanup(c.close)
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(c.pidFile)
		if err == nil && strings.HasSuffix(string(b), "\n") {
			if c.pid, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
				t.Fatalf("%s: %q", c.pidFile, b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the console did not start within 10s; the screen:\n%s", c.screen())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return c
}

// shq quotes s for sh.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// close ends the console if it still runs (SIGKILL, by its pid), then the
// tmux server of this test.
func (c *console) close() {
	if c.pid > 0 && c.alive() {
		_ = syscall.Kill(c.pid, syscall.SIGKILL)
	}
	_ = exec.Command(c.tmux, "-S", c.socket, "kill-server").Run()
}

// alive: the console's process still exists (it is the tmux pane's
// child, not ours, so it is polled, not waited for).
func (c *console) alive() bool {
	err := syscall.Kill(c.pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func (c *console) screen() string {
	out, err := exec.Command(c.tmux, "-S", c.socket, "capture-pane", "-p", "-t", c.session).Output()
	if err != nil {
		return fmt.Sprintf("(tmux capture-pane: %v)", err)
	}
	return strings.TrimRight(string(out), "\n ")
}

// keys sends tmux key names ("d", "C-r").
func (c *console) keys(keys ...string) {
	c.t.Helper()
	args := append([]string{"-S", c.socket, "send-keys", "-t", c.session}, keys...)
	if out, err := exec.Command(c.tmux, args...).CombinedOutput(); err != nil {
		c.t.Fatalf("tmux send-keys %v: %v\n%s", keys, err, out)
	}
}

// waitFor polls the screen until re matches (returning it) or d passes
// (returning it with ok false).
func (c *console) waitFor(re *regexp.Regexp, d time.Duration) (string, bool) {
	deadline := time.Now().Add(d)
	for {
		s := c.screen()
		if re.MatchString(s) {
			return s, true
		}
		if time.Now().After(deadline) || strings.Contains(s, "[exited]") {
			return s, false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// exited polls until the console's process is gone and its exit status
// written, for at most d; returns the status.
func (c *console) exited(d time.Duration) (string, bool) {
	deadline := time.Now().Add(d)
	for {
		b, err := os.ReadFile(c.exitF)
		if err == nil && strings.HasSuffix(string(b), "\n") && !c.alive() {
			return strings.TrimSpace(string(b)), true
		}
		if time.Now().After(deadline) {
			return "", false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// consoleView is a view of the console, the key that opens it and what it
// always shows.
type consoleView struct {
	key, name string
	shows     *regexp.Regexp
}

var (
	dashboardRe = regexp.MustCompile(`Key metrics`)
	// The dashboard's database panel, read from the database itself.
	dashboardDBRe = regexp.MustCompile(`schema v\d+`)
	// The tables view's appeals row, as counted by the console.
	tablesAppealsRe = regexp.MustCompile(`(?m)^appeals +([0-9.]+)(k?) `)
	// What a console that fails to read the database would show.
	consoleErrorRe = regexp.MustCompile(`(?i)malformed|disk image|database is locked|SQLITE_BUSY|database table is locked|disk I/O error|no such table|unable to open`)

	consoleViews = []consoleView{
		{"t", "tables", regexp.MustCompile(`Tables .*rows, bytes on disk`)},
		{"l", "journal", regexp.MustCompile(`Journal .*incident timeline`)},
		{"a", "alerts", regexp.MustCompile(`Alerts +(\d+ not OK|all \d+ rules OK)`)},
		{"r", "runbooks", regexp.MustCompile(`Runbooks +\d+ of \d+`)},
		{"d", "dashboard", dashboardRe},
	}
)

// consoleRuns, consoleTick: the console runs 20 s, a view key (then
// ctrl+r) every 2 s.
const (
	consoleRuns = 20 * time.Second
	consoleTick = 2 * time.Second
)

// TestConsoleBesideForeignWriters runs the real console for 20 s in a
// terminal while the Go writer and the sqlite3 CLI writer (a connection,
// or a process, per statement) and the checkpointer run in other
// processes, switching views and refreshing every 2 s, so that it reads
// the database all the while; then quits it. Afterwards: quick_check ok,
// no writer error other than SQLITE_BUSY after its timeout, every
// committed row there; the console showed the dashboard with the
// database's figures, every view it was sent to, the tables' appeals
// growing as the writers wrote, and never an SQLite error; it exited 0.
func TestConsoleBesideForeignWriters(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal(needTmux)
	}
	e := newEnv(t, 2000)
	e.startWriters(t)
	e.startCheckpointer(t)
	marks := e.marks()

	c := e.startConsole(t)
	var errScreens []string
	seen := func(s string) {
		if m := consoleErrorRe.FindString(s); m != "" && len(errScreens) < 3 {
			errScreens = append(errScreens, s)
		}
	}
	s, ok := c.waitFor(dashboardRe, 30*time.Second)
	if !ok {
		t.Fatalf("the console showed no dashboard (%s) within 30s; the screen:\n%s\nits stderr:\n%s", dashboardRe, s, indent(readFile(c.stderr)))
	}
	if s, ok = c.waitFor(dashboardDBRe, 15*time.Second); !ok {
		t.Errorf("the dashboard shows no figure read from the database (%s) within 15s; the screen:\n%s", dashboardDBRe, s)
	}
	seen(s)

	// The appeals' row counts the tables view showed, in order.
	var appeals []float64
	start := time.Now()
	tick := time.NewTicker(consoleTick)
	defer tick.Stop()
	views := 0
	for i := 0; i < int(consoleRuns/consoleTick) && time.Since(start) < consoleRuns+10*time.Second; i++ {
		<-tick.C
		v := consoleViews[i%len(consoleViews)]
		c.keys(v.key)
		s, ok := c.waitFor(v.shows, 10*time.Second)
		seen(s)
		if !ok {
			t.Errorf("after %q the console did not show the %s view (%s) within 10s; the screen:\n%s", v.key, v.name, v.shows, s)
			if strings.Contains(s, "[exited]") {
				t.Fatalf("the console exited; its stderr:\n%s", indent(readFile(c.stderr)))
			}
			continue
		}
		views++
		c.keys("C-r")
		if v.name == "tables" {
			// After the refresh, the count read again: wait until it
			// differs from the last (the writers add ~100 rows a second),
			// at most 5 s.
			deadline := time.Now().Add(5 * time.Second)
			for {
				s = c.screen()
				n, ok := tablesAppeals(s)
				if ok && (len(appeals) == 0 || n != appeals[len(appeals)-1]) {
					appeals = append(appeals, n)
					break
				}
				if time.Now().After(deadline) {
					if ok {
						appeals = append(appeals, n)
					} else {
						t.Errorf("the tables view shows no appeals row (%s); the screen:\n%s", tablesAppealsRe, s)
					}
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			seen(s)
		}
	}
	ran := time.Since(start)

	c.keys("q")
	status, ok := c.exited(10 * time.Second)
	if !ok {
		t.Logf("the console still runs 10s after q: q again")
		c.keys("q")
		status, ok = c.exited(10 * time.Second)
	}
	last := c.screen()
	switch {
	case !ok:
		t.Errorf("the console (pid %d) did not exit within 20s of q, q; the screen:\n%s", c.pid, last)
	case status != "0":
		t.Errorf("the console exited %s; the screen:\n%s\nits stderr:\n%s", status, last, indent(readFile(c.stderr)))
	}
	if s := strings.TrimSpace(readFile(c.stderr)); s != "" {
		t.Errorf("the console wrote to stderr (drawn over its screen):\n%s", indent(s))
	}

	t.Logf("the console ran %s: %d views shown, tables' appeals %v", ran.Round(100*time.Millisecond), views, appeals)
	for _, s := range errScreens {
		t.Errorf("the console showed an SQLite error (%s):\n%s", consoleErrorRe.FindString(s), s)
	}
	if len(appeals) < 2 || appeals[len(appeals)-1] <= appeals[0] {
		t.Errorf("the tables view's appeals count did not grow while the writers wrote (readings %v): the console does not read the live database", appeals)
	}

	// The writers and the checkpointer kept working beside it.
	now := e.marks()
	for w, h := range e.writers {
		if now[w]-marks[w] < 20 {
			t.Errorf("%s committed %d rows while the console ran (fewer than 20): the test did not exercise the console beside it; its errors: %s",
				h, now[w]-marks[w], readFile(h.errLog))
		}
	}
	e.waitWritersPast(t, now, 2, "after the console quit")
	e.checkSafety(t, fmt.Sprintf("the console's %s beside the writers and the checkpointer", ran.Round(time.Second)), false, nil)
	e.stopAll(t)
	e.checkSafety(t, "the console's run, with the writers and the checkpointer stopped", true, nil)
}

// tablesAppeals reads the appeals row count of the tables view ("2.0k").
func tablesAppeals(s string) (float64, bool) {
	m := tablesAppealsRe.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, false
	}
	if m[2] == "k" {
		n *= 1000
	}
	return n, true
}
