// Package e2e drives the built repops binary through a scripted incident
// and checks the postmortem 'repops incident report' writes from the ops
// journal against what the test saw happen.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/internal/testsupport"
	"github.com/repops/repops/metrics"
)

var bin string

func TestMain(m *testing.M) {
	b, cleanup, err := testsupport.BuildRepops("repops-incident-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = b
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// The scripted incident's bounds.
const (
	ruleFor   = 5 * time.Second  // appeal_error_rate's for, through the config
	refresh   = time.Second      // the collector's cycle
	waitState = 90 * time.Second // longest wait for a state (the 1m rate window empties in about 60 s)
	tolerance = time.Second      // the "within one second"
)

// stack is the simulated service and the exporter (the collector), on a
// demo database, with their config and state dir.
type stack struct {
	dir, db, cfg, simAddr, expAddr string
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (s *stack) repops(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--config", s.cfg, "--db", s.db}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("repops %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// daemon runs repops args until the test ends and waits, at most 30 s,
// for ready to answer 200.
func (s *stack) daemon(t *testing.T, ready, log string, args ...string) {
	t.Helper()
	logf, err := os.Create(filepath.Join(s.dir, log))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"--config", s.cfg, "--db", s.db}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
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
			b, _ := os.ReadFile(filepath.Join(s.dir, log))
			t.Logf("repops %s, output:\n%s", strings.Join(args, " "), b)
		}
	})
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		select {
		case <-exited:
			t.Fatalf("repops %v exited early", args)
		default:
		}
		if resp, err := client.Get(ready); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond) // polling a port, not synchronising
	}
	t.Fatalf("repops %v not ready at %s after 30 s", args, ready)
}

func startStack(t *testing.T) *stack {
	dir := t.TempDir()
	s := &stack{dir: dir, db: filepath.Join(dir, "architect.db"), cfg: filepath.Join(dir, "repops.yml"), simAddr: freeAddr(t), expAddr: freeAddr(t)}
	var b strings.Builder
	fmt.Fprintf(&b, "monitoring:\n  metrics_enabled: false\nconsole:\n  state_dir: %s\n  refresh_interval: %s\n", filepath.Join(dir, "state"), refresh)
	fmt.Fprintf(&b, "  sources:\n    metrics_url: http://%s/metrics\n    timeout: 900ms\n  rules:\n", s.simAddr)
	// One rule, the one error-spike crosses, with its for shortened: the
	// timeline is then this alert's.
	for _, r := range metrics.DefaultRules() {
		if r.Name == "appeal_error_rate" {
			fmt.Fprintf(&b, "    - name: %s\n      for: %s\n", r.Name, ruleFor)
		} else {
			fmt.Fprintf(&b, "    - name: %s\n      disabled: true\n", r.Name)
		}
	}
	if err := os.WriteFile(s.cfg, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	s.repops(t, "demo", "--appeals", "300", "--summary")
	s.daemon(t, "http://"+s.simAddr+"/scenario", "sim.log", "simulate", "--listen", s.simAddr, "--scenario", "normal", "--seed", "7", "--rate", "90")
	s.daemon(t, "http://"+s.expAddr+"/metrics", "exporter.log", "exporter", "--listen", s.expAddr)
	return s
}

// span is when the test knows something happened: between lo and hi.
// A poll that took long (a loaded machine) makes a wide span, never a
// wrong one.
type span struct{ lo, hi time.Time }

func (p span) String() string {
	return fmt.Sprintf("%s..%s", p.lo.Format("15:04:05.000"), p.hi.Format("15:04:05.000"))
}

// between is the span of ev - from: from its smallest to its largest.
func between(from, ev span) (lo, hi time.Duration) { return ev.lo.Sub(from.hi), ev.hi.Sub(from.lo) }

// timed runs f and returns the span it ran in.
func timed(f func()) span {
	lo := time.Now()
	f()
	return span{lo, time.Now()}
}

// switchTo posts a scenario to the simulator's control endpoint.
func (s *stack) switchTo(t *testing.T, scenario string) {
	t.Helper()
	resp, err := http.Post("http://"+s.simAddr+"/scenario?name="+url.QueryEscape(scenario), "text/plain", nil)
	if err != nil {
		t.Fatalf("switch to %s: %v", scenario, err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("switch to %s: %s", scenario, resp.Status)
	}
}

// ruleState is appeal_error_rate's state as 'repops status --json' reads
// it from the collector: ok, warning, pending, critical, unknown.
func (s *stack) ruleState(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(bin, "--config", s.cfg, "--db", s.db, "status", "--json", "--interval", "0")
	var out bytes.Buffer
	cmd.Stdout = &out
	_ = cmd.Run() // the exit code is the state; the JSON says it per rule
	var doc struct {
		Alerts []struct {
			Rule, State string
			Pending     bool
		} `json:"alerts"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out.String())
	}
	for _, a := range doc.Alerts {
		if a.Rule == "appeal_error_rate" {
			if a.Pending {
				return "pending"
			}
			return a.State
		}
	}
	t.Fatalf("status --json has no appeal_error_rate:\n%s", out.String())
	return ""
}

// waitFor polls the collector's state until ok says it is reached, at
// most waitState, and returns when it happened: after the start of the
// last poll that did not see it, before the end of the first that did
// (each poll is one status run, a few hundred ms).
func (s *stack) waitFor(t *testing.T, what string, ok func(string) bool) span {
	t.Helper()
	last := time.Now()
	deadline := last.Add(waitState)
	for time.Now().Before(deadline) {
		start := time.Now()
		st := s.ruleState(t)
		if ok(st) {
			return span{last, time.Now()}
		}
		last = start
	}
	t.Fatalf("appeal_error_rate not %s within %s", what, waitState)
	return span{}
}

// report is the JSON of 'repops incident report'.
type report struct {
	AlertStart     time.Time `json:"alert_start"`
	AlertStartFrom string    `json:"alert_start_from"`
	TTD            *int64    `json:"ttd_seconds"`
	TTA            *int64    `json:"tta_seconds"`
	TTM            *int64    `json:"ttm_seconds"`
	TTR            *int64    `json:"ttr_seconds"`
	Timeline       []struct {
		Time    time.Time
		Source  string
		What    string
		Outcome string
		Seqs    []int64 `json:"journal_seqs"`
	}
}

func TestScriptedIncidentReport(t *testing.T) {
	s := startStack(t)
	s.waitFor(t, "ok", func(st string) bool { return st == "ok" })

	s.switchTo(t, "error-spike")
	alertStart := s.waitFor(t, "out of ok", func(st string) bool { return st != "ok" && st != "unknown" })
	firing := s.waitFor(t, "critical", func(st string) bool { return st == "critical" })
	// The operator declares the incident once paged, then acts: a
	// backup before touching anything (a procedure, journaled started
	// and finished).
	s.repops(t, "incident", "start", "--title", "Appeals failing (e2e)")
	action := timed(func() { s.repops(t, "backup") })
	mitigated := timed(func() { s.switchTo(t, "normal") })
	resolved := s.waitFor(t, "ok again", func(st string) bool { return st == "ok" })
	s.repops(t, "incident", "end", "--summary", "the simulated error spike, switched off")

	var r report
	if err := json.Unmarshal([]byte(s.repops(t, "incident", "report", "--format", "json")), &r); err != nil {
		t.Fatal(err)
	}
	t.Logf("seen: out of ok %s, critical %s; action %s, normal %s, ok %s", alertStart, firing, action, mitigated, resolved)

	if r.AlertStartFrom != "alert" {
		t.Fatalf("alert start from %q, want the alert's transition", r.AlertStartFrom)
	}
	if r.AlertStart.Before(alertStart.lo.Add(-tolerance)) || r.AlertStart.After(alertStart.hi.Add(tolerance)) {
		t.Errorf("report's alert start %s, the collector's state changed within %s", r.AlertStart.Format("15:04:05.000"), alertStart)
	}
	// Each time, within one second of what the test knows of it.
	for _, c := range []struct {
		name string
		got  *int64
		ev   span
	}{{"TTD", r.TTD, firing}, {"TTA", r.TTA, action}, {"TTM", r.TTM, mitigated}, {"TTR", r.TTR, resolved}} {
		if c.got == nil {
			t.Errorf("%s: none", c.name)
			continue
		}
		lo, hi := between(alertStart, c.ev)
		got := time.Duration(*c.got) * time.Second
		if got < lo-tolerance || got > hi+tolerance {
			t.Errorf("%s %d s, the test saw %.2f..%.2f s", c.name, *c.got, lo.Seconds(), hi.Seconds())
		} else {
			t.Logf("%s %d s, the test saw %.2f..%.2f s", c.name, *c.got, lo.Seconds(), hi.Seconds())
		}
	}

	// Every row comes from the journal; the sources of the script are
	// all there, each runbook step or procedure in one row.
	var journal []struct{ Seq int64 }
	if err := json.Unmarshal([]byte(s.repops(t, "journal", "--format", "json")), &journal); err != nil {
		t.Fatal(err)
	}
	known := map[int64]bool{}
	for _, e := range journal {
		known[e.Seq] = true
	}
	sources := map[string]int{}
	for _, row := range r.Timeline {
		sources[row.Source]++
		if len(row.Seqs) == 0 {
			t.Errorf("row %+v is not from the journal", row)
		}
		for _, seq := range row.Seqs {
			if !known[seq] {
				t.Errorf("row %+v cites journal entry %d, which is not in the journal", row, seq)
			}
		}
		if row.Source == "procedure" && (row.Outcome != "ok" || len(row.Seqs) != 2) {
			t.Errorf("procedure row %+v: want the backup's start and end in one row, ok", row)
		}
	}
	for _, src := range []string{"alert", "scenario", "procedure", "operator"} {
		if sources[src] == 0 {
			t.Errorf("no %s row in the timeline: %+v", src, r.Timeline)
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("report:\n%s", s.repops(t, "incident", "report"))
	}
}
