package chaos

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/repops/repops/internal/testsupport"
)

// kills is how many kill -9 must land (the process still running) per
// procedure; attempts bounds the tries.
const (
	kills    = 5
	attempts = 15
)

// procedure is one case of TestKillNineMidProcedure.
type procedure struct {
	name    string
	args    []string
	backs   bool // takes a backup (one per UTC second)
	restore bool // loses, by design, the rows committed after its backup
	offline bool // needs the writers stopped; refused while others hold the database
	// prepare runs before the measured run and before each killed run.
	prepare func(t *testing.T, e *env)
	// accept says whether a finished run succeeded (default: exit 0).
	accept func(r result) bool
	// next is the run after a kill (default: args again).
	next func(t *testing.T, e *env, killed result) result
	// verify runs after the measured run and after each next run;
	// killed after each kill.
	verify func(t *testing.T, e *env, after string)
	killed func(t *testing.T, e *env, after string)
}

func chaosRand(t *testing.T) *rand.Rand {
	seed := time.Now().UnixNano()
	if s := os.Getenv("REPOPS_CHAOS_SEED"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("REPOPS_CHAOS_SEED=%q: %v", s, err)
		}
		seed = n
	}
	t.Logf("kill times from seed %d (REPOPS_CHAOS_SEED=%d repeats them)", seed, seed)
	return rand.New(rand.NewSource(seed))
}

// TestKillNineMidProcedure kills each procedure with SIGKILL at random
// moments over its typical duration (measured once first), with the
// foreign writers running: after each kill the database passes
// integrity_check, no committed row is lost (a restore: none committed
// before its backup started), `repops backups` lists no half-written
// backup, and the next run succeeds (a runbook: `runbook resume`).
func TestKillNineMidProcedure(t *testing.T) {
	rng := chaosRand(t)
	archived := 0 // old appeals inserted for archive so far
	procs := []procedure{
		{name: "backup", args: []string{"backup"}, backs: true, verify: verifyNewestBackup},
		{name: "restore --online", args: []string{"restore", "--latest", "--online", "--yes"}, restore: true},
		{name: "restore --offline", args: []string{"restore", "--latest", "--offline", "--yes"}, restore: true, offline: true},
		{name: "archive", args: []string{"archive", "--yes"},
			prepare: func(t *testing.T, e *env) {
				e.addOldSettled(t, 1500)
				archived += 1500
			},
			killed: func(t *testing.T, e *env, after string) { e.checkArchived(t, after, archived, false) },
			verify: func(t *testing.T, e *env, after string) { e.checkArchived(t, after, archived, true) },
		},
		{name: "optimize vacuum", args: []string{"optimize", "vacuum", "--yes"}},
		{name: "migrate apply", args: []string{"migrate", "apply"}, backs: true,
			prepare: func(t *testing.T, e *env) { e.downgrade(t) },
			verify: func(t *testing.T, e *env, after string) {
				res := e.repops(t, time.Minute, "migrate", "status")
				if res.code != 0 || !strings.Contains(res.out, "3 applied, 0 pending") {
					t.Errorf("after %s\nnot at version 3: %s", after, res)
				}
				if res := e.repops(t, time.Minute, "migrate", "validate"); res.code != 0 {
					t.Errorf("after %s\n%s", after, res)
				}
			},
		},
		{name: "runbook run database-optimization", args: []string{"runbook", "run", "database-optimization", "--yes"}, backs: true,
			accept: checkpointOnlyFailure, next: resumeRun},
	}
	for _, p := range procs {
		archived = 0
		t.Run(p.name, func(t *testing.T) { killProcedure(t, rng, p) })
	}
}

func killProcedure(t *testing.T, rng *rand.Rand, p procedure) {
	e := newEnv(t, 2000)
	e.startWriters(t)
	var mayLose func(entry) bool
	if p.restore {
		e.waitNextSecond(t)
		before := e.marks()
		b := e.repops(t, time.Minute, "backup")
		if b.code != 0 {
			t.Fatalf("the backup to restore: %s", b)
		}
		mayLose = func(x entry) bool { return x.line >= before[x.writer] }
	}
	if p.offline {
		h := e.startHolder(t)
		res := e.repops(t, time.Minute, p.args...)
		pid := strconv.Itoa(h.cmd.Process.Pid)
		if res.code == 0 || !regexp.MustCompile(`\b`+pid+`\b`).MatchString(res.out) {
			t.Errorf("restore --offline while other processes have the database open (a connection held by pid %s, writers %s) was not refused naming that pid: %s",
				pid, e.writerPids(), res)
		}
		e.checkSafety(t, "the refused offline restore: "+res.String(), true, mayLose)
		e.stop(t, h)
		e.stopWriters(t)
	}

	run := func(prep bool) result {
		if p.backs {
			e.waitNextSecond(t)
		}
		if prep && p.prepare != nil {
			p.prepare(t, e)
		}
		return e.repops(t, 2*time.Minute, p.args...)
	}
	ok := func(r result) bool { return r.code == 0 }
	if p.accept != nil {
		ok = p.accept
	}
	m := run(true)
	if !ok(m) {
		t.Fatalf("does not succeed with the writers running, so there is nothing to kill: %s", m)
	}
	e.checkSafety(t, m.String(), true, mayLose)
	if p.verify != nil {
		p.verify(t, e, m.String())
	}
	d := m.dur
	t.Logf("typical duration %s (kills at random moments in [0, %s))", d.Round(time.Millisecond), d.Round(time.Millisecond))

	landed := 0
	for a := 1; a <= attempts && landed < kills; a++ {
		if p.backs {
			e.waitNextSecond(t)
		}
		if p.prepare != nil {
			p.prepare(t, e)
		}
		delay := time.Duration(rng.Int63n(int64(d)))
		res, killed := e.runAndKill(t, delay, p.args...)
		if !killed {
			t.Logf("attempt %d: finished before the kill at %s: %s", a, delay.Round(time.Microsecond), firstLine(res))
			if !ok(res) {
				t.Errorf("attempt %d, not killed: %s", a, res)
			}
			e.checkSafety(t, res.String(), true, mayLose)
			// The next kills fall within the runs as they are now: a
			// procedure's first run can take longer than the next ones
			// (vacuum: the first rebuilds the file, the next have little
			// to do), and kills drawn over the first run's duration missed
			// most of the next runs.
			if res.dur > 0 && res.dur < d {
				d = res.dur
				t.Logf("kills now at random moments in [0, %s)", d.Round(time.Millisecond))
			}
			continue
		}
		landed++
		after := fmt.Sprintf("kill -9 %s into %s", delay.Round(time.Microsecond), res)
		e.checkSafety(t, after, true, mayLose)
		if e.corrupt {
			t.Fatalf("the database is damaged after the kill -9 %s in: stopping %s", delay.Round(time.Microsecond), p.name)
		}
		if p.killed != nil {
			p.killed(t, e, after)
		}
		e.checkBackupsListed(t, after)

		var next result
		if p.next != nil {
			next = p.next(t, e, res)
		} else {
			next = run(false)
		}
		if !ok(next) {
			t.Errorf("after the kill -9 %s in, the next run failed: %s\nthe killed run: %s", delay.Round(time.Microsecond), next, res)
		}
		afterNext := fmt.Sprintf("the run after a kill -9 %s in: %s", delay.Round(time.Microsecond), next)
		e.checkSafety(t, afterNext, true, mayLose)
		if p.verify != nil && ok(next) {
			p.verify(t, e, afterNext)
		}
		e.checkBackupsListed(t, afterNext)
		if e.corrupt {
			t.Fatalf("the database is damaged after the run that followed a kill: stopping %s", p.name)
		}
	}
	if landed < kills {
		t.Errorf("only %d of %d kills landed while %s ran (%d attempts)", landed, kills, p.name, attempts)
	}
	e.stopAll(t)
	e.checkSafety(t, p.name+" with the writers stopped", true, mayLose)
}

// runAndKill starts args and sends SIGKILL after delay unless it has
// exited; killed says whether the kill ended it.
func (e *env) runAndKill(t *testing.T, delay time.Duration, args ...string) (result, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := e.command(ctx, args...)
	out := &testsupport.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start repops %s: %v", strings.Join(args, " "), err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(delay)
	defer timer.Stop()
	var err error
	select {
	case err = <-done:
	case <-timer.C:
		_ = cmd.Process.Signal(syscall.SIGKILL)
		err = <-done
	}
	e.lastEnd = time.Now()
	r := result{args: args, out: out.String(), dur: time.Since(start), err: err}
	r.code, r.sig = exitOf(cmd, err)
	return r, r.sig == syscall.SIGKILL
}

func (e *env) writerPids() string {
	var s []string
	for _, h := range e.running {
		if h.kind == "writer" || h.kind == "cliwriter" {
			s = append(s, strconv.Itoa(h.cmd.Process.Pid))
		}
	}
	return strings.Join(s, ", ")
}

func firstLine(r result) string {
	l, _, _ := strings.Cut(strings.TrimSpace(r.out), "\n")
	return fmt.Sprintf("exit %d, %q", r.code, l)
}

// verifyNewestBackup: the newest listed backup passes `backups verify`.
func verifyNewestBackup(t *testing.T, e *env, after string) {
	t.Helper()
	rows := e.checkBackupsListed(t, after)
	if len(rows) == 0 {
		t.Errorf("after %s\n`repops backups` lists no backup", after)
		return
	}
	res := e.repops(t, time.Minute, "backups", "verify", rows[0].name)
	if res.code != 0 {
		t.Errorf("after %s\n%s", after, res)
	}
}

var runIDRe = regexp.MustCompile(`(?m)^Run (\S+) of `)

// resumeRun is the next run after a killed `runbook run`: `runbook resume
// RUNID --yes --rerun` of the killed run when it got as far as saving its
// state, a new run when it did not, or when it had finished.
func resumeRun(t *testing.T, e *env, killed result) result {
	t.Helper()
	e.waitNextSecond(t)
	runs := e.repops(t, time.Minute, "runbook", "runs")
	id := ""
	if m := runIDRe.FindStringSubmatch(killed.out); m != nil {
		id = m[1]
	}
	status := ""
	for _, l := range strings.Split(runs.out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[1] == "database-optimization" && (id == "" || f[0] == id) {
			if id == "" && f[2] == "finished" {
				continue // an earlier run; the killed one saved nothing
			}
			id, status = f[0], f[2]
			break
		}
	}
	if id == "" || status == "" || status == "finished" {
		t.Logf("the killed run left no run to resume (%q %q): a new run", id, status)
		return e.repops(t, 2*time.Minute, "runbook", "run", "database-optimization", "--yes")
	}
	return e.repops(t, 2*time.Minute, "runbook", "resume", id, "--yes", "--rerun")
}
