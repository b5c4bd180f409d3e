package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// panePID is the pid of the process a tmux session's pane runs.
func panePID(session string) int {
	out, err := exec.Command("tmux", "list-panes", "-t", session, "-F", "#{pane_pid}").Output()
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return pid
}

// descendants lists the processes under pid, children first.
func descendants(pid int) []int {
	parent := map[int][]int{}
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+2:])
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		me, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		parent[ppid] = append(parent[ppid], me)
	}
	var out []int
	var walk func(int)
	walk = func(p int) {
		for _, c := range parent[p] {
			out = append(out, c)
			walk(c)
		}
	}
	walk(pid)
	return out
}

func alive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil }

// endSession asks the program in the session to quit (q), waits a little,
// then kills the session and every process that was under its pane, so
// that no console is left running after a test (a program under script(1)
// outlives the session's hangup otherwise).
func endSession(session string, askQuit bool) {
	pid := panePID(session)
	if pid <= 1 {
		// The session is gone (its pane's pid reads 0): there is nothing of
		// ours to kill, and descendants(0) and kill(0) would be every
		// process of the machine, the test's own shell included.
		_ = exec.Command("tmux", "kill-session", "-t", session).Run()
		return
	}
	procs := append([]int{pid}, descendants(pid)...)
	if askQuit {
		_ = exec.Command("tmux", "send-keys", "-t", session, "q").Run()
		for deadline := time.Now().Add(3 * time.Second); alive(pid) && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
		}
	}
	_ = exec.Command("tmux", "kill-session", "-t", session).Run()
	for _, p := range procs {
		if p > 1 && alive(p) {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	}
}
