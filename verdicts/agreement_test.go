package verdicts

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/repops/repops/internal/testsupport"
	"github.com/repops/repops/metrics"
)

// The agreement test. For every scenario of the simulated service, its own
// stack of real processes, all on 127.0.0.1:
//
//	repops simulate   the service, on a demo database
//	repops exporter   the collector (it keeps the rules' states in the state
//	                  dir, and publishes repops' own figures)
//	prometheus        scrapes both every second, evaluates the exported
//	                  rules every second, sends to
//	alertmanager
//
// with the rules' for shortened to agreeFor through the config, for both
// sides (the exported rules come from the same config). Every
// sampleEvery, 'repops status --json' is run; after the run, Prometheus'
// ALERTS are read at the instant of each sample, and around it, and the
// sample agrees when status's state of every rule and its exit code are
// those ALERTS give:
//
//   - strict: at an instant within the sample (between the start and the
//     end of the status run);
//   - within one evaluation: at an instant within one evaluation interval
//     (plus the collector's refresh, which is the same second) before or
//     after it. The goal: at least 99 % of all the samples, and never two
//     samples in a row of a scenario that disagree (no disagreement lasts
//     longer than one evaluation interval).
//
// ALERTS give a rule's state: firing with state="critical" is critical,
// pending is pending (a WARNING that says when it turns critical), firing
// with state="warning" (the target's alert) is warning, none is ok. The
// exit code is the worst of them, as status's Nagios convention.

const (
	agreeFor    = 10 * time.Second // every kept rule's for, both sides
	evalEvery   = time.Second      // Prometheus' scrape and evaluation interval; the collector's refresh
	sampleEvery = 2 * time.Second
	warmUp      = 20 * time.Second // normal, before the switch
	scenarioFor = 50 * time.Second // the scenario
	clearFor    = 75 * time.Second // then normal: the rules' 1m windows empty of it
	minAgree    = 0.99
)

// scenarioRules are the rules kept in the test's config: the ones the
// scenarios cross (sim's crossing test), so that the verdict is theirs.
var scenarioRules = []string{
	"appeal_submission_rate", "appeal_error_rate", "appeal_processing_latency", "ml_prediction_latency",
	"db_connections", "api_error_rate", "db_growth", "negotiation_duration",
}

var scenarios = []string{
	"appeal-flood", "error-spike", "slow-processing", "ml-timeouts",
	"connection-exhaustion", "api-errors", "db-growth", "slow-negotiations",
}

var bin string

func TestMain(m *testing.M) {
	b, cleanup, err := testsupport.BuildRepops("repops-verdicts-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = b
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// requireBinary finds a Debian package's binary or fails saying how to
// install it.
func requireBinary(t testing.TB, names []string, pkg string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	t.Fatalf("%s not found: install it: apt-get install %s (or run .ci/run, which does)", names[0], pkg)
	return ""
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// daemon starts a long-running process until the test ends (SIGTERM, then
// the test waits for it) and waits, at most 30 s, for ready to answer 200.
func daemon(t testing.TB, ready string, logTo string, name string, args ...string) {
	t.Helper()
	logf, err := os.Create(logTo)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(logTo)
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("%s %s, last output:\n%s", filepath.Base(name), strings.Join(args, " "), b)
		}
	})
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			b, _ := os.ReadFile(logTo)
			t.Fatalf("%s exited early:\n%s", name, b)
		default:
		}
		if resp, err := client.Get(ready); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s not ready at %s after 30 s", name, ready)
}

// stack is one scenario's processes.
type stack struct {
	dir, db, cfg                       string
	simAddr, expAddr, promAddr, amAddr string
}

func startStack(t testing.TB, prom, am string) *stack {
	dir := t.TempDir()
	s := &stack{dir: dir, db: filepath.Join(dir, "architect.db"), cfg: filepath.Join(dir, "repops.yml"),
		simAddr: freeAddr(t), expAddr: freeAddr(t), promAddr: freeAddr(t), amAddr: freeAddr(t)}
	var b strings.Builder
	fmt.Fprintf(&b, "monitoring:\n  metrics_enabled: false\nconsole:\n  state_dir: %s\n  refresh_interval: %s\n", filepath.Join(dir, "state"), evalEvery)
	fmt.Fprintf(&b, "  sources:\n    metrics_url: http://%s/metrics\n    prometheus_url: http://%s\n    alertmanager_url: http://%s\n    timeout: 900ms\n",
		s.simAddr, s.promAddr, s.amAddr)
	b.WriteString("  rules:\n")
	kept := map[string]bool{}
	for _, r := range scenarioRules {
		kept[r] = true
	}
	for _, r := range metrics.DefaultRules() {
		if kept[r.Name] {
			fmt.Fprintf(&b, "    - name: %s\n      for: %s\n", r.Name, agreeFor)
		} else {
			fmt.Fprintf(&b, "    - name: %s\n      disabled: true\n", r.Name)
		}
	}
	write(t, s.cfg, b.String())
	s.repops(t, "demo", "--appeals", "300", "--summary")
	rules := filepath.Join(dir, "rules.yml")
	s.repops(t, "rules", "export", "-o", rules)

	write(t, filepath.Join(dir, "am.yml"), "route:\n  receiver: none\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: none\n")
	daemon(t, "http://"+s.amAddr+"/-/ready", filepath.Join(dir, "am.log"), am,
		"--config.file="+filepath.Join(dir, "am.yml"), "--storage.path="+filepath.Join(dir, "am"),
		"--web.listen-address="+s.amAddr, "--cluster.listen-address=")
	daemon(t, "http://"+s.simAddr+"/scenario", filepath.Join(dir, "sim.log"), bin,
		"--config", s.cfg, "--db", s.db, "simulate", "--listen", s.simAddr, "--scenario", "normal", "--seed", "14")
	write(t, filepath.Join(dir, "prometheus.yml"), fmt.Sprintf(`global:
  scrape_interval: %[1]s
  evaluation_interval: %[1]s
rule_files: [%[2]q]
alerting:
  alertmanagers:
    - static_configs: [{targets: [%[3]q]}]
scrape_configs:
  - job_name: reputation
    static_configs: [{targets: [%[4]q]}]
  - job_name: repops
    static_configs: [{targets: [%[5]q]}]
`, evalEvery, rules, s.amAddr, s.simAddr, s.expAddr))
	daemon(t, "http://"+s.promAddr+"/-/ready", filepath.Join(dir, "prometheus.log"), prom,
		"--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "prom"),
		"--web.listen-address="+s.promAddr)
	daemon(t, "http://"+s.expAddr+"/metrics", filepath.Join(dir, "exporter.log"), bin,
		"--config", s.cfg, "--db", s.db, "exporter", "--listen", s.expAddr)
	return s
}

func write(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (s *stack) repops(t testing.TB, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--config", s.cfg, "--db", s.db}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("repops %v: %v\n%s", args, err, out)
	}
}

func (s *stack) switchTo(t *testing.T, scenario string) {
	resp, err := http.Post("http://"+s.simAddr+"/scenario?name="+url.QueryEscape(scenario), "text/plain", nil)
	if err != nil {
		t.Fatalf("switch to %s: %v", scenario, err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("switch to %s: %s", scenario, resp.Status)
	}
}

// sample is one run of 'repops status --json'.
type sample struct {
	start, end time.Time
	phase      string
	exit       int
	states     map[string]string // rule -> critical, pending, warning, ok, unknown
	judges     map[string]string
	collector  bool
}

func (s *stack) status(t *testing.T) sample {
	smp := sample{start: time.Now()}
	cmd := exec.Command(bin, "--config", s.cfg, "--db", s.db, "status", "--json", "--interval", "0")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	smp.end = time.Now()
	if ee, ok := err.(*exec.ExitError); ok {
		smp.exit = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("status: %v", err)
	}
	var doc struct {
		ExitCode     int `json:"exit_code"`
		CollectorPid int `json:"collector_pid"`
		Alerts       []struct {
			Rule, State, Judge string
			Pending            bool
		} `json:"alerts"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("status --json: %v\n%s%s", err, out.String(), errb.String())
	}
	smp.states, smp.judges, smp.collector = map[string]string{}, map[string]string{}, doc.CollectorPid != 0
	for _, a := range doc.Alerts {
		st := a.State
		if a.Pending {
			st = "pending"
		}
		smp.states[a.Rule], smp.judges[a.Rule] = st, a.Judge
	}
	return smp
}

// alertsAt is Prometheus' ALERTS at t: rule -> state.
func (s *stack) alertsAt(t *testing.T, at time.Time) map[string]string {
	q := url.Values{"query": {"ALERTS"}, "time": {strconv.FormatFloat(float64(at.UnixNano())/1e9, 'f', 3, 64)}}
	resp, err := http.Get("http://" + s.promAddr + "/api/v1/query?" + q.Encode())
	if err != nil {
		t.Fatalf("ALERTS: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var doc struct {
		Status string
		Data   struct {
			Result []struct {
				Metric map[string]string
			}
		}
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.Status != "success" {
		t.Fatalf("ALERTS: %v %s", err, body)
	}
	out := map[string]string{}
	for _, r := range scenarioRules {
		out[r] = "ok"
	}
	rank := map[string]int{"ok": 0, "warning": 1, "pending": 2, "critical": 3}
	for _, r := range doc.Data.Result {
		m := r.Metric
		st := ""
		switch {
		case m["alertstate"] == "firing" && m["state"] == "critical":
			st = "critical"
		case m["alertstate"] == "pending" && m["state"] == "critical":
			st = "pending"
		case m["alertstate"] == "firing" && m["state"] == "warning":
			st = "warning"
		default:
			continue
		}
		if cur, ok := out[m["rule"]]; ok && rank[st] > rank[cur] {
			out[m["rule"]] = st
		}
	}
	return out
}

// describe is a sample beside ALERTS, the rules not ok only.
func describe(i int, smp sample, alerts map[string]string) string {
	var st, al []string
	for _, r := range scenarioRules {
		if smp.states[r] != "ok" {
			st = append(st, r+"="+smp.states[r]+"("+smp.judges[r]+")")
		}
		if alerts[r] != "ok" {
			al = append(al, r+"="+alerts[r])
		}
	}
	return fmt.Sprintf("#%d %s %s: status exit %d %v | ALERTS exit %d %v", i, smp.phase, smp.start.Format("15:04:05.0"), smp.exit, st, exitOf(alerts), al)
}

func exitOf(states map[string]string) int {
	code := 0
	for _, st := range states {
		switch st {
		case "critical":
			return 2
		case "pending", "warning":
			code = 1
		case "unknown":
			if code == 0 {
				code = 3
			}
		}
	}
	return code
}

// same reports whether a sample says what ALERTS say. A rule status
// cannot judge for want of data (UNKNOWN, exit 3) is not alerting, as a
// Prometheus alert whose expression has no data is not: it agrees with
// no alert.
func same(smp sample, alerts map[string]string) bool {
	for _, r := range scenarioRules {
		st := smp.states[r]
		if st == "unknown" {
			st = "ok"
		}
		if st != alerts[r] {
			return false
		}
	}
	exit := smp.exit
	if exit == 3 {
		exit = 0
	}
	return exit == exitOf(alerts)
}

// result is one scenario's agreement.
type result struct {
	scenario                string
	samples, strict, within int
	longestRun              int // the longest run of samples in a row that disagree (within one evaluation)
	collectorAnswered       int
	firstDisagreement       string
	latencies               []time.Duration
	shown                   int
	crossed, cleared        bool
}

func runScenario(t *testing.T, prom, am, scenario string) result {
	s := startStack(t, prom, am)
	res := result{scenario: scenario}
	var samples []sample
	phases := []struct {
		name string
		d    time.Duration
	}{{"normal", warmUp}, {scenario, scenarioFor}, {"normal", clearFor}}
	for _, ph := range phases {
		s.switchTo(t, ph.name)
		end := time.Now().Add(ph.d)
		for next := time.Now(); time.Now().Before(end); next = next.Add(sampleEvery) {
			time.Sleep(time.Until(next))
			smp := s.status(t)
			smp.phase = ph.name
			samples = append(samples, smp)
		}
	}
	// Prometheus keeps what it evaluated: judge every sample against its
	// ALERTS at and around the sample's instant.
	run := 0
	for i, smp := range samples {
		res.samples++
		res.latencies = append(res.latencies, smp.end.Sub(smp.start))
		if smp.collector {
			res.collectorAnswered++
		}
		strict := same(smp, s.alertsAt(t, smp.start)) || same(smp, s.alertsAt(t, smp.end))
		within := strict
		for d := -2 * evalEvery; !within && d <= 2*evalEvery; d += evalEvery / 2 {
			within = same(smp, s.alertsAt(t, smp.start.Add(d)))
		}
		if strict {
			res.strict++
		}
		if within {
			res.within++
			run = 0
		} else {
			run++
			res.longestRun = max(res.longestRun, run)
			if res.shown < 25 {
				res.shown++
				t.Logf("disagrees: %s", describe(i, smp, s.alertsAt(t, smp.start)))
			}
			if res.firstDisagreement == "" {
				res.firstDisagreement = fmt.Sprintf("sample %d (%s, %s): status exit %d %v (judges %v); ALERTS %v",
					i, smp.phase, smp.start.Format("15:04:05.000"), smp.exit, smp.states, smp.judges, s.alertsAt(t, smp.start))
			}
		}
		if smp.phase == scenario && smp.exit != 0 {
			res.crossed = true
		}
	}
	last := samples[len(samples)-1]
	res.cleared = last.exit == 0
	return res
}

// TestStatusAgreesWithPrometheus is the agreement test. REPOPS_AGREE_SCENARIOS
// (comma-separated) runs a subset; REPOPS_AGREE_PARALLEL (default 4) is how
// many stacks run at once.
func TestStatusAgreesWithPrometheus(t *testing.T) {
	prom := requireBinary(t, []string{"prometheus"}, "prometheus")
	am := requireBinary(t, []string{"prometheus-alertmanager", "alertmanager"}, "prometheus-alertmanager")
	list := scenarios
	if env := os.Getenv("REPOPS_AGREE_SCENARIOS"); env != "" {
		list = strings.Split(env, ",")
	}
	parallel := 4
	if n, err := strconv.Atoi(os.Getenv("REPOPS_AGREE_PARALLEL")); err == nil && n > 0 {
		parallel = n
	}
	var mu sync.Mutex
	var results []result
	sem := make(chan struct{}, parallel)
	// Stacks run side by side, parallel at a time: from goroutines, not
	// t.Parallel, which go test bounds by GOMAXPROCS (2 here, and the
	// stacks mostly wait).
	var wg sync.WaitGroup
	for _, sc := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			t.Run(sc, func(t *testing.T) {
				r := runScenario(t, prom, am, sc)
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
				if r.samples == 0 {
					t.Fatal("no sample")
				}
				// No disagreement lasts longer than one evaluation: never two
				// samples in a row. The 99 % is over every sample (below).
				if r.longestRun > 1 {
					t.Errorf("%s: %d of %d samples agree within one evaluation, longest disagreement %d samples in a row; first: %s",
						sc, r.within, r.samples, r.longestRun, r.firstDisagreement)
				}
				if !r.crossed || !r.cleared {
					t.Errorf("%s: crossed its alert within %s: %v; cleared within %s of normal: %v", sc, scenarioFor, r.crossed, clearFor, r.cleared)
				}
				// A collector state older than two of its write periods
				// (a machine under heavy I/O) is not trusted: status then
				// asks Prometheus itself, which must agree all the same.
				if r.collectorAnswered != r.samples {
					t.Logf("%s: the collector answered %d of %d samples, status asked Prometheus for the others", sc, r.collectorAnswered, r.samples)
				}
			})
		}()
	}
	wg.Wait()
	sort.Slice(results, func(i, j int) bool { return results[i].scenario < results[j].scenario })
	var b strings.Builder
	fmt.Fprintf(&b, "agreement of 'repops status' (exit code and every rule's state) with Prometheus' ALERTS, for %s, sampled every %s:\n", agreeFor, sampleEvery)
	fmt.Fprintf(&b, "%-22s %7s %8s %8s %7s %8s %8s %12s %12s\n", "scenario", "samples", "strict%", "within%", "longest", "crossed", "cleared", "status p50", "status max")
	var all []time.Duration
	tot, strict, within := 0, 0, 0
	for _, r := range results {
		sort.Slice(r.latencies, func(i, j int) bool { return r.latencies[i] < r.latencies[j] })
		all = append(all, r.latencies...)
		tot, strict, within = tot+r.samples, strict+r.strict, within+r.within
		fmt.Fprintf(&b, "%-22s %7d %8.1f %8.1f %7d %8v %8v %12s %12s\n", r.scenario, r.samples, pct(r.strict, r.samples), pct(r.within, r.samples),
			r.longestRun, r.crossed, r.cleared, r.latencies[len(r.latencies)/2].Round(time.Millisecond), r.latencies[len(r.latencies)-1].Round(time.Millisecond))
	}
	if tot > 0 {
		sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
		fmt.Fprintf(&b, "%-22s %7d %8.1f %8.1f  (status with a fresh collector, whole process: p50 %s, p99 %s)\n", "all", tot, pct(strict, tot), pct(within, tot),
			all[len(all)/2].Round(time.Millisecond), all[len(all)*99/100].Round(time.Millisecond))
	}
	t.Log("\n" + b.String())
	if tot > 0 && float64(within)/float64(tot) < minAgree {
		t.Errorf("%d of %d samples agree with ALERTS within one evaluation (%.1f %%), goal %.0f %%", within, tot, pct(within, tot), 100*minAgree)
	}
}

func pct(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return 100 * float64(n) / float64(d)
}

var _ = context.Background
