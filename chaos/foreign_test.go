package chaos

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/repops/repops/internal/testsupport"
)

// oldSettled is how many old settled appeals the fixture gets for archive.
const oldSettled = 300

// step is one command of TestForeignWriterSurvivesEveryCommand.
type step struct {
	name string
	args []string
	ok   []int // exit statuses that are not failures (nil: 0); others than 0 are recorded
	any  bool  // any exit status (status: only data safety matters)
	// accept, when set, decides instead of ok.
	accept func(r result) bool
	backs  bool // may take a backup (one per UTC second)
	// run replaces the plain run of args; it does its own checks.
	run func(t *testing.T, e *env)
	// after runs after the plain run's checks.
	after func(t *testing.T, e *env, res result)
}

// TestForeignWriterSurvivesEveryCommand runs every command that opens the
// database while a Go writer and an sqlite3 CLI writer (one connection, or
// one process, per statement) and a checkpointer run in other processes;
// after each: quick_check ok, no helper error, every committed row there
// (a restore excepted: only the rows committed after its backup started,
// as many as it says it lost).
func TestForeignWriterSurvivesEveryCommand(t *testing.T) {
	var e *env
	fresh := func() {
		if e != nil {
			e.stopAll(t)
		}
		e = newEnv(t, 2000)
		e.addOldSettled(t, oldSettled)
		e.startWriters(t)
		e.startCheckpointer(t)
	}
	fresh()

	steps := []step{
		{name: "backup", args: []string{"backup"}, backs: true, after: func(t *testing.T, e *env, res result) {
			e.checkBackupsListed(t, res.String())
		}},
		{name: "backups", args: []string{"backups"}},
		{name: "backups verify NAME", run: func(t *testing.T, e *env) {
			rows := e.checkBackupsListed(t, "`repops backup`")
			if len(rows) == 0 {
				t.Fatal("`repops backups` lists no backup to verify")
			}
			res := e.repops(t, time.Minute, "backups", "verify", rows[0].name)
			if res.code != 0 {
				t.Errorf("%s", res)
			}
			e.checkSafety(t, res.String(), false, nil)
		}},
		{name: "check", args: []string{"check"}},
		{name: "check --full", args: []string{"check", "--full"}},
		{name: "status", args: []string{"status"}, any: true},
		{name: "drill", args: []string{"drill"}},
		{name: "migrate status", args: []string{"migrate", "status"}},
		{name: "migrate validate", args: []string{"migrate", "validate"}},
		{name: "migrate stats", args: []string{"migrate", "stats"}},
		{name: "migrate apply", args: []string{"migrate", "apply"}, backs: true},
		{name: "optimize analyze", args: []string{"optimize", "analyze", "--yes"}},
		{name: "optimize optimize", args: []string{"optimize", "optimize", "--yes"}},
		// exit 1: readers or writers kept the checkpoint from finishing.
		{name: "optimize checkpoint", args: []string{"optimize", "checkpoint", "--yes"}, ok: []int{0, 1}},
		{name: "optimize reindex", args: []string{"optimize", "reindex", "--yes"}},
		{name: "optimize vacuum", args: []string{"optimize", "vacuum", "--yes"}, ok: []int{0, 1}},
		{name: "archive", args: []string{"archive", "--yes"}, after: func(t *testing.T, e *env, res result) {
			if res.code == 0 {
				e.checkArchived(t, res.String(), oldSettled, true)
			}
		}},
		// incremental-vacuum needs auto_vacuum=incremental, which this
		// switches on (one VACUUM).
		{name: "optimize enable-incremental-vacuum", args: []string{"optimize", "enable-incremental-vacuum", "--yes"}, ok: []int{0, 1}},
		{name: "optimize incremental-vacuum", args: []string{"optimize", "incremental-vacuum", "--yes"}, ok: []int{0, 1}},
		{name: "indexes", args: []string{"indexes"}},
		{name: "growth --snapshot", args: []string{"growth", "--snapshot"}},
		{name: "diagnose threads", args: []string{"diagnose", "threads"}},
		{name: "diagnose predictions", args: []string{"diagnose", "predictions"}},
		{name: "diagnose counts", args: []string{"diagnose", "counts"}},
		{name: "runbook run backup", args: []string{"runbook", "run", "backup", "--yes"}, backs: true, after: func(t *testing.T, e *env, res result) {
			e.checkBackupsListed(t, res.String())
		}},
		{name: "runbook run database-optimization", args: []string{"runbook", "run", "database-optimization", "--yes"}, backs: true, accept: checkpointOnlyFailure},
		{name: "runbook run data-archival", args: []string{"runbook", "run", "data-archival", "--yes"}, backs: true},
		{name: "runbook run restore-from-backup", run: func(t *testing.T, e *env) {
			e.restoreCase(t, "runbook", "run", "restore-from-backup", "--yes")
		}},
		{name: "restore --latest --online", run: func(t *testing.T, e *env) {
			e.restoreCase(t, "restore", "--latest", "--online", "--yes")
		}},
		{name: "exporter", run: func(t *testing.T, e *env) { e.exporterCase(t) }},
		{name: "simulate", run: func(t *testing.T, e *env) { e.simulateCase(t) }},
	}

	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.run != nil {
				s.run(t, e)
				return
			}
			if s.backs {
				e.waitNextSecond(t)
			}
			res := e.repops(t, 2*time.Minute, s.args...)
			accepted := s.any || (s.ok == nil && res.code == 0)
			for _, c := range s.ok {
				accepted = accepted || res.code == c
			}
			if s.accept != nil {
				accepted = s.accept(res)
			}
			switch {
			case !accepted:
				t.Errorf("%s", res)
			case res.code != 0:
				t.Logf("recorded (refused or not finished, allowed): %s", res)
			}
			e.checkSafety(t, res.String(), false, nil)
			if s.after != nil {
				s.after(t, e, res)
			}
		})
		if e.corrupt {
			t.Logf("the database was damaged by %q: the next commands run on a new fixture", s.name)
			fresh()
		}
	}

	t.Run("final", func(t *testing.T) {
		e.stopAll(t)
		e.checkSafety(t, "every command, with the writers and the checkpointer stopped", true, nil)
	})
}

// restoreCase takes a backup, restores (args), and checks: every row
// logged before the backup started is there, every row committed after the
// restore ended is there, the rows gone are as many as repops says the
// restore lost (from its output), and they are in its safety copy.
func (e *env) restoreCase(t *testing.T, args ...string) {
	t.Helper()
	e.waitNextSecond(t)
	before := e.marks()
	b := e.repops(t, time.Minute, "backup")
	if b.code != 0 {
		t.Fatalf("the backup to restore: %s", b)
	}
	e.checkSafety(t, b.String(), false, nil)
	res := e.repops(t, 2*time.Minute, args...)
	after := e.marks()
	if res.code != 0 {
		t.Errorf("%s", res)
	}
	e.waitWritersPast(t, after, 2, "after the restore")
	lost := e.checkSafety(t, res.String(), false, func(x entry) bool {
		// Logged after the backup started and at the latest as the
		// restore ended (the line at after[w] may be a commit from
		// before the end, logged after it).
		return x.line >= before[x.writer] && x.line <= after[x.writer]
	})
	sortEntries(lost)
	for _, x := range lost {
		e.lostOK[x.token] = true
	}
	e.checkInSafetyCopy(t, res, lost)
	n, ok := parseLost(res.out)
	switch {
	case !ok:
		t.Errorf("%s\nthe output does not say how many appeals rows the restore lost (looked for %s); the writers' rows committed after the backup started that are gone: %d%s",
			res, lostRes, len(lost), e.describe(lost, nil))
	case n != len(lost):
		t.Errorf("%s\nrepops reported %d appeals rows lost; %d rows the writers committed after the backup started are gone:%s",
			res, n, len(lost), e.describe(lost, nil))
	default:
		t.Logf("the restore reported %d appeals rows lost: the writers' rows committed after the backup, as checked", n)
	}
}

var safetyCopyRe = regexp.MustCompile(`safety copy(?: of the replaced database:)? (/[^\s,()]+)`)

// checkInSafetyCopy: the rows a restore lost are kept in its safety copy
// ("writes made since the backup are lost (kept in the safety backup)").
func (e *env) checkInSafetyCopy(t *testing.T, res result, lost []entry) {
	t.Helper()
	m := safetyCopyRe.FindStringSubmatch(res.out)
	if m == nil {
		t.Errorf("%s\nthe output names no safety copy", res)
		return
	}
	rows, err := readWriterRows(m[1])
	if err != nil {
		t.Errorf("%s\nthe safety copy %s cannot be read: %v", res, m[1], err)
		return
	}
	var gone []entry
	for _, x := range lost {
		if rows[x.id] != x.token {
			gone = append(gone, x)
		}
	}
	if len(gone) > 0 {
		t.Errorf("%s\n%d rows the writers committed before the restore are neither in the restored database nor in the safety copy %s:%s",
			res, len(gone), m[1], e.describe(gone, rows))
	}
}

var metricsAddrRe = regexp.MustCompile(`(http://127\.0\.0\.1:\d+/metrics)`)

// background is a long-running repops command (exporter, simulate).
type background struct {
	cmd    *exec.Cmd
	out    *testsupport.Buffer
	done   chan struct{}
	err    error
	start  time.Time
	cancel context.CancelFunc
}

func (e *env) startBackground(t *testing.T, args ...string) *background {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cmd := e.command(ctx, args...)
	b := &background{cmd: cmd, out: &testsupport.Buffer{}, done: make(chan struct{}), start: time.Now(), cancel: cancel}
	cmd.Stdout, cmd.Stderr = b.out, b.out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start repops %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		b.err = cmd.Wait()
		close(b.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-b.done
	})
	return b
}

// terminate sends SIGTERM and waits for the exit.
func (b *background) terminate(t *testing.T) result {
	t.Helper()
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(30 * time.Second):
		b.cancel()
		<-b.done
		t.Errorf("repops %s did not stop within 30s of SIGTERM", strings.Join(b.cmd.Args[5:], " "))
	}
	r := result{args: b.cmd.Args[5:], out: b.out.String(), dur: time.Since(b.start), err: b.err}
	r.code, r.sig = exitOf(b.cmd, b.err)
	return r
}

func scrape(client *http.Client, url string) (string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("%s: %s", url, resp.Status)
	}
	return string(body), nil
}

// exporterCase: the exporter on a free loopback port, scraped five times,
// then SIGTERM.
func (e *env) exporterCase(t *testing.T) {
	b := e.startBackground(t, "exporter", "--listen", "127.0.0.1:0")
	url, err := waitForAddr(b.out, metricsAddrRe, b.done, 20*time.Second)
	if err != nil {
		res := b.terminate(t)
		t.Fatalf("the exporter's address: %v\n%s", err, res)
	}
	client := &http.Client{Timeout: 20 * time.Second}
	for i := 1; i <= 5; i++ {
		body, err := scrape(client, url)
		if err != nil || !strings.Contains(body, "repops_database_up 1") {
			t.Errorf("scrape %d of %s: %v; no `repops_database_up 1` in:\n%s", i, url, err, indent(grepLines(body, "repops_")))
		}
	}
	res := b.terminate(t)
	if res.code != 0 {
		t.Errorf("%s", res)
	}
	e.checkSafety(t, res.String(), false, nil)
}

// simulateCase: the simulated service on a free loopback port until it has
// written a few times, then SIGTERM.
func (e *env) simulateCase(t *testing.T) {
	b := e.startBackground(t, "simulate", "--listen", "127.0.0.1:0", "--rate", "300")
	url, err := waitForAddr(b.out, metricsAddrRe, b.done, 20*time.Second)
	if err != nil {
		res := b.terminate(t)
		t.Fatalf("the simulator's address: %v\n%s", err, res)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	writesRe := regexp.MustCompile(`(?m)^reputation_sim_writes_total (\d+)`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		body, err := scrape(client, url)
		if m := writesRe.FindStringSubmatch(body); err == nil && m != nil {
			if n, _ := strconv.Atoi(m[1]); n >= 3 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("the simulator wrote fewer than 3 times in 30s: %v\n%s", err, indent(grepLines(body, "reputation_sim_")))
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	res := b.terminate(t)
	if res.code != 0 {
		t.Errorf("%s", res)
	} else {
		t.Logf("simulate: %s", lastLine(res.out))
	}
	e.checkSafety(t, res.String(), false, nil)
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func lastLine(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return l[len(l)-1]
}
