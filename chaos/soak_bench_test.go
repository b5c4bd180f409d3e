package chaos

import (
	"bufio"
	"database/sql"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkSoak runs repops' mutating procedures in a loop, through the
// built binary, while a Go writer in another process (one connection per
// statement, as the service does) commits rows and logs each statement's
// latency. Every iteration runs each procedure once, so a run of the
// benchmark makes b.N × len(soakProcs) procedure runs; the soak of issue 11
// (1,008 runs; on 2 cores a baseline of about 5 minutes, then about 9
// minutes of loop: 15 minutes in all) is
//
//	go test ./chaos/ -run '^$' -bench Soak -benchtime 112x -timeout 60m
//
// and `make bench` (-benchtime 1x) runs one iteration in well under a
// minute.
//
// After every run: quick_check ok (a fresh connection of the test process,
// closed before the next repops starts), no error in the writer's log, and
// every committed row present (a restore: only the rows committed after its
// backup started may go, as many as it reports lost, and they must be in
// its safety copy); at the end one integrity_check. Those failures fail the
// benchmark; a procedure that exits non-zero is counted (refusals apart)
// and described, not failed, since a procedure may rightly refuse or stop
// while the writer holds the database.
//
// Before the loop, one warm-up round (each procedure once, checked, not in
// the table) measures how long a round takes, and the writer then runs
// alone for a baseline window as long as the loop is expected to last
// (b.N rounds; at least 5 s, at most 30 minutes). The table gives, per
// procedure, the writer's latency over the statements that overlapped its
// runs, and the same over the baseline: every statement attempt counts, a
// commit or an SQLITE_BUSY after the writer's 5 s busy timeout (which the
// suite does not count as an error, but which is a stall of the service).
// The test's own checks between runs are outside every window (their
// effect on the writer has a row of its own).
func BenchmarkSoak(b *testing.B) {
	e := newEnv(b, 2000)
	deadline := soakDeadline()
	latPath := filepath.Join(e.dir, "writer-latency.log")
	w := e.startHelper(b, "writer", envLatLog+"="+latPath,
		envMaxSecs+"="+strconv.Itoa(int(time.Until(deadline)/time.Second)+120), envMaxCount+"=100000000")
	e.waitLines(b, w, 5, 30*time.Second, "its first rows")

	s := &soak{e: e, stats: make([]procStats, len(soakProcs)), deadline: deadline}
	for i := range s.stats {
		s.stats[i].reasons = map[string]*reason{}
	}

	// Warm-up: each procedure once, checked like the others; its
	// length sizes the baseline.
	warm := time.Now()
	for i := range soakProcs {
		s.run(b, i, false)
		if e.corrupt || b.Failed() {
			b.Fatalf("the warm-up round failed (%s): no soak", soakProcs[i].name)
		}
	}
	round := time.Since(warm)
	base := time.Duration(expectedIterations(round)) * round
	base = min(max(base, 5*time.Second), 30*time.Minute, time.Until(deadline)/3)
	s.baseline = s.writerAlone(b, w, base)

	start := time.Now()
	iters := 0
loop:
	for b.Loop() {
		iters++
		for i := range soakProcs {
			if time.Now().After(deadline) {
				b.Errorf("the soak reached its time bound (%s, from -test.timeout) after %d iterations", deadline.Format(time.RFC3339), iters-1)
				break loop
			}
			s.run(b, i, true)
			if e.corrupt {
				b.Errorf("the database is damaged after %s: the soak stops", soakProcs[i].name)
				break loop
			}
		}
	}
	elapsed := time.Since(start)

	e.stop(b, w)
	final := e.checkSafetyReport(b, "the soak, with the writer stopped", true, nil)
	s.finalCorrupt = final.corrupt
	s.finalMissing = len(final.missing)
	s.report(b, latPath, iters, elapsed)
}

// soakProc is one procedure of the soak.
type soakProc struct {
	name, metric string
	args         []string
	backs        bool // takes a backup: waits for the next UTC second; its backup is what a restore restores
	restore      bool
	prepare      func(b *testing.B, e *env)
	// verify checks a finished run's own effect; returns problems found.
	verify func(b *testing.B, e *env, res result) int
}

// soakOld is how many old settled appeals are added before each archive.
const soakOld = 200

var soakProcs = []soakProc{
	{name: "backup", metric: "backup", args: []string{"backup"}, backs: true},
	{name: "restore --online", metric: "restore", args: []string{"restore", "--latest", "--online", "--yes"}, restore: true},
	{name: "archive", metric: "archive", args: []string{"archive", "--yes"},
		prepare: func(b *testing.B, e *env) { e.addOldSettled(b, soakOld) },
		verify:  checkAllArchived},
	{name: "optimize analyze", metric: "analyze", args: []string{"optimize", "analyze", "--yes"}},
	{name: "optimize reindex", metric: "reindex", args: []string{"optimize", "reindex", "--yes"}},
	{name: "optimize vacuum", metric: "vacuum", args: []string{"optimize", "vacuum", "--yes"}},
	{name: "optimize checkpoint", metric: "checkpoint", args: []string{"optimize", "checkpoint", "--yes"}},
	{name: "migrate apply", metric: "migrate", args: []string{"migrate", "apply"}, backs: true},
	{name: "runbook run backup", metric: "runbook-backup", args: []string{"runbook", "run", "backup", "--yes"}, backs: true},
}

// soak is the benchmark's state between runs.
type soak struct {
	e        *env
	deadline time.Time
	stats    []procStats
	windows  []window // every measured run, in order
	baseline window
	// backupMarks: the writer's log lengths when the procedure that took
	// the newest backup started (a restore may lose the rows after them).
	backupMarks []int

	finalCorrupt bool
	finalMissing int
}

type window struct {
	proc       int // index in soakProcs; -1 the baseline
	start, end time.Time
}

type procStats struct {
	runs, failures, refusals int
	reasons                  map[string]*reason
	lost                     int           // committed rows gone that no restore may lose
	corruptions              int           // runs after which quick_check failed
	helperErrors             int           // checks after which the writer had logged errors
	problems                 int           // the procedure's own checks (archive, restore's report)
	discarded                int           // rows a restore lost by design (newer than its backup)
	window                   time.Duration // the runs' total duration
}

type reason struct {
	n       int
	refusal bool
	example string // the first such run's output
}

// run runs procedure i once with its checks; measured says whether it
// counts in the table. Returns the run's duration.
func (s *soak) run(b *testing.B, i int, measured bool) time.Duration {
	b.Helper()
	p, e := soakProcs[i], s.e
	if p.prepare != nil {
		p.prepare(b, e)
	}
	var marks []int
	var newest string
	if p.backs {
		e.waitNextSecond(b)
		marks, newest = e.marks(), newestBackup(e.backups)
	}
	start := time.Now()
	res := e.repops(b, 2*time.Minute, p.args...)
	end := time.Now()

	st := &s.stats[i]
	if !measured {
		st = &procStats{reasons: map[string]*reason{}}
	} else {
		st.runs++
		st.window += end.Sub(start)
		s.windows = append(s.windows, window{proc: i, start: start, end: end})
	}
	if res.code != 0 {
		st.failures++
		why, refusal := failureReason(res)
		if refusal {
			st.refusals++
		}
		r := st.reasons[why]
		if r == nil {
			r = &reason{refusal: refusal, example: res.String()}
			st.reasons[why] = r
		}
		r.n++
	}
	if p.backs && newestBackup(e.backups) != newest {
		s.backupMarks = marks
	}

	after := fmt.Sprintf("%s (%s run)", res, p.name)
	var rep safetyReport
	if p.restore && res.code == 0 {
		if s.backupMarks == nil {
			b.Fatalf("a restore ran before any backup")
		}
		before, done := s.backupMarks, e.marks()
		e.waitWritersPast(b, done, 2, "after the restore")
		rep = e.checkSafetyReport(b, after, false, func(x entry) bool {
			// As restoreCase: logged after the backup's procedure
			// started and at the latest as the restore ended.
			return x.line >= before[x.writer] && x.line <= done[x.writer]
		})
		for _, x := range rep.lost {
			e.lostOK[x.token] = true
		}
		st.discarded += len(rep.lost)
		if n, ok := parseLost(res.out); !ok || n != len(rep.lost) {
			st.problems++
			b.Errorf("after %s\nrepops reported %d appeals rows lost (found: %v); %d rows the writer committed after the backup started are gone:%s",
				after, n, ok, len(rep.lost), e.describe(rep.lost, nil))
		}
		st.lost += s.checkSafetyCopy(b, res, rep.lost)
	} else {
		rep = e.checkSafetyReport(b, after, false, nil)
	}
	st.lost += len(rep.missing)
	if rep.corrupt {
		st.corruptions++
	}
	if rep.helperErrors > 0 {
		st.helperErrors++
	}
	if p.verify != nil && res.code == 0 {
		st.problems += p.verify(b, e, res)
	}
	return end.Sub(start)
}

// checkSafetyCopy: the rows a restore lost are in its safety copy; returns
// how many are not. The copy is then removed, so that a thousand restores
// do not fill the disk.
func (s *soak) checkSafetyCopy(b *testing.B, res result, lost []entry) int {
	b.Helper()
	files := safetyFiles(res.out)
	if len(files) == 0 {
		b.Errorf("%s\nthe output names no safety copy", res)
		return len(lost)
	}
	defer func() {
		for _, f := range files {
			os.Remove(f)
		}
	}()
	if len(lost) == 0 {
		return 0
	}
	rows, err := readWriterRows(files[0])
	if err != nil {
		b.Errorf("%s\nthe safety copy %s cannot be read: %v", res, files[0], err)
		return len(lost)
	}
	var gone []entry
	for _, x := range lost {
		if rows[x.id] != x.token {
			gone = append(gone, x)
		}
	}
	if len(gone) > 0 {
		b.Errorf("%s\n%d rows the writer committed before the restore are neither in the restored database nor in the safety copy %s:%s",
			res, len(gone), files[0], s.e.describe(gone, rows))
	}
	return len(gone)
}

var safetyLineRe = regexp.MustCompile(`(?m)safety copy of the replaced database: (.+)$`)

// safetyFiles: the safety copy's files as `repops restore` lists them.
func safetyFiles(out string) []string {
	if m := safetyLineRe.FindStringSubmatch(out); m != nil {
		var fs []string
		for _, f := range strings.Split(strings.TrimSpace(m[1]), ", ") {
			if filepath.IsAbs(f) {
				fs = append(fs, f)
			}
		}
		return fs
	}
	if m := safetyCopyRe.FindStringSubmatch(out); m != nil {
		return []string{m[1], m[1] + "-wal", m[1] + "-shm"}
	}
	return nil
}

// newestBackup is the newest backup's name in dir ("" when none).
func newestBackup(dir string) string {
	ents, _ := os.ReadDir(dir)
	newest := ""
	for _, d := range ents {
		if backupNameRe.MatchString(d.Name()) && d.Name() > newest {
			newest = d.Name()
		}
	}
	return newest
}

// checkAllArchived: after a successful archive no old settled appeal or
// message is left in the live tables, and none is in both.
func checkAllArchived(b *testing.B, e *env, res result) int {
	b.Helper()
	d, err := openCheck(e.db)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	var live, both, mlive, mboth int
	err = d.QueryRow(`SELECT (SELECT count(*) FROM appeals WHERE user_id = 'chaos-old'),
(SELECT count(*) FROM appeals a JOIN appeals_archive x ON x.id = a.id WHERE a.user_id = 'chaos-old' AND x.user_id = 'chaos-old'),
(SELECT count(*) FROM appeal_negotiation_messages WHERE body = 'chaos-old message'),
(SELECT count(*) FROM appeal_negotiation_messages m JOIN appeal_negotiation_messages_archive x ON x.id = m.id WHERE m.body = 'chaos-old message' AND x.body = 'chaos-old message')`).
		Scan(&live, &both, &mlive, &mboth)
	if err != nil {
		b.Errorf("after %s\ncount the old rows: %v", res, err)
		return 1
	}
	if live != 0 || both != 0 || mlive != 0 || mboth != 0 {
		b.Errorf("after %s\narchive succeeded but left %d old appeals and %d old messages in the live tables (%d and %d both live and archived)", res, live, mlive, both, mboth)
		return 1
	}
	return 0
}

// failureReason: a failed run's message (the "repops: ..." line, or the
// last line when the command printed its own summary), numbers and paths
// blanked so that alike failures group; refusal when it says it refused.
func failureReason(r result) (string, bool) {
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	msg := ""
	for _, l := range lines {
		if strings.HasPrefix(l, "repops: ") {
			msg = strings.TrimPrefix(l, "repops: ")
		}
	}
	if msg == "" && len(lines) > 0 {
		msg = strings.TrimSpace(lines[len(lines)-1])
	}
	if r.sig != 0 {
		msg = fmt.Sprintf("killed by %s: %s", r.sig, msg)
	}
	msg = pathRe.ReplaceAllString(msg, "PATH")
	msg = numRe.ReplaceAllString(msg, "N")
	if len(msg) > 140 {
		msg = msg[:140] + "…"
	}
	return fmt.Sprintf("exit %d: %s", r.code, msg), refusalRe.MatchString(r.out)
}

var (
	pathRe    = regexp.MustCompile(`/[^\s:,()'"]+`)
	numRe     = regexp.MustCompile(`\d+(\.\d+)?`)
	refusalRe = regexp.MustCompile(`(?i)\brefus`)
)

// soakDeadline: the loop stops (failing) 3 minutes before -test.timeout, so
// that the table is still printed; 4 hours when there is no timeout.
func soakDeadline() time.Time {
	if f := flag.Lookup("test.timeout"); f != nil {
		if g, ok := f.Value.(flag.Getter); ok {
			if d, ok := g.Get().(time.Duration); ok && d > 0 {
				return time.Now().Add(max(d-3*time.Minute, d/2))
			}
		}
	}
	return time.Now().Add(4 * time.Hour)
}

// expectedIterations: b.N as -test.benchtime sets it (b.Loop tells only at
// the end): "Nx" exactly; a duration, as many warm-up rounds as fit in it.
func expectedIterations(round time.Duration) int {
	f := flag.Lookup("test.benchtime")
	if f == nil {
		return 1
	}
	v := f.Value.String()
	if n, err := strconv.Atoi(strings.TrimSuffix(v, "x")); err == nil && strings.HasSuffix(v, "x") {
		return max(n, 1)
	}
	if d, err := time.ParseDuration(v); err == nil && round > 0 {
		return max(int(d/round), 1)
	}
	return 1
}

// writerAlone is the baseline: the writer alone for d, nothing else
// touching the database.
func (s *soak) writerAlone(b *testing.B, w *helper, d time.Duration) window {
	b.Helper()
	start := time.Now()
	for time.Since(start) < d {
		if w.exited() {
			b.Fatalf("%s exited during the baseline: %v\n%s", w, w.waitErr, w.stderr)
		}
		time.Sleep(min(100*time.Millisecond, d-time.Since(start)))
	}
	return window{proc: -1, start: start, end: time.Now()}
}

// ---- the report ----

// stmt is one line of the writer's latency log.
type stmt struct {
	outcome    string
	ms         float64
	start, end int64
}

func readLatency(b *testing.B, path string) []stmt {
	b.Helper()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var out []stmt
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) != 7 {
			b.Errorf("%s: bad line %q", path, sc.Text())
			continue
		}
		ms, err1 := strconv.ParseFloat(fl[3], 64)
		st, err2 := strconv.ParseInt(fl[4], 10, 64)
		en, err3 := strconv.ParseInt(fl[5], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			b.Errorf("%s: bad line %q", path, sc.Text())
			continue
		}
		out = append(out, stmt{outcome: fl[0], ms: ms, start: st, end: en})
	}
	if err := sc.Err(); err != nil {
		b.Fatal(err)
	}
	return out
}

// latency is the writer's figures over a set of windows.
type latency struct {
	ms                 []float64
	commits, busy, err int
}

func (l *latency) add(x stmt) {
	l.ms = append(l.ms, x.ms)
	switch {
	case strings.Contains(x.outcome, "err"):
		l.err++
	case x.outcome == "busy":
		l.busy++
	case x.outcome == "ok":
		l.commits++
	}
}

func (l *latency) worst() float64 {
	w := math.NaN()
	for _, v := range l.ms {
		if math.IsNaN(w) || v > w {
			w = v
		}
	}
	return w
}

// p99 by nearest rank.
func (l *latency) p99() float64 {
	if len(l.ms) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), l.ms...)
	sort.Float64s(s)
	return s[int(math.Ceil(0.99*float64(len(s))))-1]
}

// attribute gives each statement to every window it overlapped (index
// len(soakProcs) is the baseline; len(soakProcs)+1 the time between runs,
// when only the test's checks ran).
func (s *soak) attribute(stmts []stmt) []latency {
	lat := make([]latency, len(soakProcs)+2)
	ws := s.windows // sorted by start, disjoint
	for _, x := range stmts {
		if x.start < s.baseline.end.UnixNano() && x.end > s.baseline.start.UnixNano() {
			lat[len(soakProcs)].add(x)
			continue
		}
		if len(ws) == 0 || x.start < ws[0].start.UnixNano() || x.end > ws[len(ws)-1].end.UnixNano() {
			continue // the warm-up, the baseline's edges, after the loop
		}
		j := sort.Search(len(ws), func(j int) bool { return ws[j].end.UnixNano() > x.start })
		hit := false
		for ; j < len(ws) && ws[j].start.UnixNano() < x.end; j++ {
			lat[ws[j].proc].add(x)
			hit = true
		}
		if !hit {
			lat[len(soakProcs)+1].add(x)
		}
	}
	return lat
}

func (s *soak) report(b *testing.B, latPath string, iters int, elapsed time.Duration) {
	b.Helper()
	lat := s.attribute(readLatency(b, latPath))
	var t strings.Builder
	fmt.Fprintf(&t, "soak: %d iterations × %d procedures = %d procedure runs in %s (after a warm-up round and a %s baseline); writer: one connection per statement, busy timeout 5 s\n",
		iters, len(soakProcs), iters*len(soakProcs), elapsed.Round(time.Second), s.baseline.end.Sub(s.baseline.start).Round(time.Second))
	const head = "%-22s %6s %8s %8s %9s %8s %6s %7s %10s %9s %6s %11s\n"
	const row = "%-22s %6s %8s %8s %9s %8d %6d %7d %10s %9s %6s %11s\n"
	fmt.Fprintf(&t, head, "procedure", "runs", "failures", "refusals", "window s", "commits", "busy", "w.errs", "worst ms", "p99 ms", "lost", "corruptions")
	var runs, fails, lost, corr int
	for i, p := range soakProcs {
		st, l := s.stats[i], lat[i]
		runs += st.runs
		fails += st.failures
		lost += st.lost
		corr += st.corruptions
		fmt.Fprintf(&t, row, p.name, strconv.Itoa(st.runs), strconv.Itoa(st.failures), strconv.Itoa(st.refusals),
			fmt.Sprintf("%.1f", st.window.Seconds()), l.commits, l.busy, l.err, fms(l.worst()), fms(l.p99()),
			strconv.Itoa(st.lost), strconv.Itoa(st.corruptions))
		reportMetric(b, l.worst(), p.metric+"-worst-ms")
		reportMetric(b, l.p99(), p.metric+"-p99-ms")
	}
	bl := lat[len(soakProcs)]
	fmt.Fprintf(&t, row, "baseline (writer alone)", "-", "-", "-", fmt.Sprintf("%.1f", s.baseline.end.Sub(s.baseline.start).Seconds()),
		bl.commits, bl.busy, bl.err, fms(bl.worst()), fms(bl.p99()), "-", "-")
	bt := lat[len(soakProcs)+1]
	fmt.Fprintf(&t, row, "(between runs: checks)", "-", "-", "-", "-", bt.commits, bt.busy, bt.err, fms(bt.worst()), fms(bt.p99()), "-", "-")
	fmt.Fprintf(&t, "total: %d runs, %d failures, %d committed rows lost, %d corruptions; final integrity_check: %s, %d rows missing at the end\n",
		runs, fails, lost, corr, map[bool]string{false: "ok", true: "FAILED"}[s.finalCorrupt], s.finalMissing)
	var notes []string
	for i, p := range soakProcs {
		st := s.stats[i]
		if st.discarded > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d rows newer than their backups discarded by design, each as reported and in the safety copy", p.name, st.discarded))
		}
		if st.problems > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d runs failed its own check (see the errors above)", p.name, st.problems))
		}
		if st.helperErrors > 0 {
			notes = append(notes, fmt.Sprintf("%s: after %d runs the writer had logged errors", p.name, st.helperErrors))
		}
		keys := make([]string, 0, len(st.reasons))
		for k := range st.reasons {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(a, c int) bool { return st.reasons[keys[a]].n > st.reasons[keys[c]].n })
		for _, k := range keys {
			r := st.reasons[k]
			kind := "failure"
			if r.refusal {
				kind = "refusal"
			}
			notes = append(notes, fmt.Sprintf("%s: %d× %s %s\n    first: %s", p.name, r.n, kind, k, strings.ReplaceAll(lastLines(r.example, 12), "\n", "\n    ")))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(&t, "notes:\n  %s\n", strings.Join(notes, "\n  "))
	}
	// The testing package keeps only the first 10 lines of a benchmark's
	// log: the table goes to stdout whole, the totals to the log too.
	fmt.Printf("--- BenchmarkSoak table\n%s--- end of the table\n", t.String())
	b.Logf("%d runs, %d failures, %d committed rows lost, %d corruptions, final integrity_check %s; the table is printed above (stdout)",
		runs, fails, lost, corr, map[bool]string{false: "ok", true: "FAILED"}[s.finalCorrupt])
	b.ReportMetric(float64(runs), "runs")
	b.ReportMetric(float64(fails), "failures")
	b.ReportMetric(float64(lost), "lost-rows")
	b.ReportMetric(float64(corr), "corruptions")
	reportMetric(b, bl.worst(), "baseline-worst-ms")
	reportMetric(b, bl.p99(), "baseline-p99-ms")
}

// reportMetric reports v unless there is none (no statement in the
// window).
func reportMetric(b *testing.B, v float64, unit string) {
	if !math.IsNaN(v) {
		b.ReportMetric(v, unit)
	}
}

// openCheck is a fresh connection of the test process, for one check.
func openCheck(path string) (*sql.DB, error) {
	d, err := sql.Open("sqlite3", writerDSN(path, 10000))
	if err == nil {
		d.SetMaxOpenConns(1)
	}
	return d, err
}

func fms(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.1f", v)
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = append([]string{"..."}, l[len(l)-n:]...)
	}
	return strings.Join(l, "\n")
}
