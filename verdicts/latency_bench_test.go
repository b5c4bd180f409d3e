package verdicts

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// BenchmarkStatusLatency measures 'repops status --json' (the whole
// process, as cron or a Nagios check runs it) on one stack of real
// processes (the simulated service, Prometheus with the exported rules,
// Alertmanager, and the exporter as the collector), three ways:
//
//   - collector:  the exporter's fresh state (issue 14's goal: under 100 ms);
//   - prometheus: no collector (another state dir), Prometheus configured:
//     one collection, Prometheus' alerts as the verdicts;
//   - sampling:   no collector and no Prometheus: status samples the
//     service's scrape over the rules' 1m window (--max-wait, default 1m,
//     bounds it).
//
// It prints a table: 'make bench' runs it, or
// go test ./verdicts/ -run '^$' -bench StatusLatency -benchtime 1x
func BenchmarkStatusLatency(b *testing.B) {
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		b.Fatal("prometheus not found: apt-get install prometheus")
	}
	am, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		if am, err = exec.LookPath("alertmanager"); err != nil {
			b.Fatal("alertmanager not found: apt-get install prometheus-alertmanager")
		}
	}
	s := startStack(b, prom, am)
	time.Sleep(warmUp)
	cfgText, err := os.ReadFile(s.cfg)
	if err != nil {
		b.Fatal(err)
	}
	variant := func(name string, edit func(string) string) string {
		p := filepath.Join(s.dir, name+".yml")
		text := strings.Replace(string(cfgText), "state_dir: "+filepath.Join(s.dir, "state"), "state_dir: "+filepath.Join(s.dir, "state-"+name), 1)
		if err := os.WriteFile(p, []byte(edit(text)), 0o644); err != nil {
			b.Fatal(err)
		}
		return p
	}
	noCollector := variant("prometheus", func(s string) string { return s })
	sampling := variant("sampling", func(t string) string {
		t = strings.Replace(t, "    prometheus_url: http://"+s.promAddr+"\n", "", 1)
		return strings.Replace(t, "    alertmanager_url: http://"+s.amAddr+"\n", "", 1)
	})
	run := func(cfg string, n int) []time.Duration {
		var out []time.Duration
		for i := 0; i < n; i++ {
			start := time.Now()
			cmd := exec.Command(bin, "--config", cfg, "--db", s.db, "status", "--json")
			_ = cmd.Run() // the exit code is the verdict
			out = append(out, time.Since(start))
		}
		sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
		return out
	}
	b.ResetTimer()
	rows := []struct {
		name string
		d    []time.Duration
	}{
		{"collector", run(s.cfg, 50)},
		{"prometheus", run(noCollector, 20)},
		{"sampling", run(sampling, 1)},
	}
	b.StopTimer()
	var tb strings.Builder
	fmt.Fprintf(&tb, "\n'repops status --json', whole process, one stack on 127.0.0.1:\n%-12s %5s %10s %10s %10s\n", "verdicts", "runs", "p50", "p99", "max")
	for _, r := range rows {
		fmt.Fprintf(&tb, "%-12s %5d %10s %10s %10s\n", r.name, len(r.d), r.d[len(r.d)/2].Round(time.Millisecond),
			r.d[len(r.d)*99/100].Round(time.Millisecond), r.d[len(r.d)-1].Round(time.Millisecond))
	}
	b.Log(tb.String())
}
