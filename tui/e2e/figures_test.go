package e2e

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The figures of issue 16, printed as one table by
// BenchmarkConsoleIdleVsHtop ('make bench'), beside htop in the same run:
//
//   - idle bytes per second to a 120x40 pane at a 1 s refresh (measured by
//     the benchmark itself; goal ≤ 300 B/s);
//   - the bytes written to the terminal by one refresh in which exactly
//     one panel value changes (oneValueChange; goal ≤ 150 B);
//   - first full frame on the 1M-appeal demo database, p95 over 20 starts
//     (goal ≤ 100 ms);
//   - keys for the complete guided restore drill at 80x24, shortest path
//     and as driven by the screen (driveRestoreDrill; goal: equal, none
//     spent scrolling).

// percentile is the nearest-rank percentile p (0..100) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// oneValueFigures is what oneValueChange measured.
type oneValueFigures struct {
	change []int64 // bytes of each refresh in which only the pending count (and the clock) changed
	idle   []int64 // bytes of refreshes in which only the clock changed
	noisy  []string
}

var (
	rePending   = regexp.MustCompile(`Pending appeals +(\d+)`)
	reRefreshed = regexp.MustCompile(`refreshed \d\d:\d\d:\d\d`)
)

// changedLines are the indexes of the lines that differ.
func changedLines(a, b string) []int {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []int
	for i := 0; i < max(len(la), len(lb)); i++ {
		if i >= len(la) || i >= len(lb) || la[i] != lb[i] {
			out = append(out, i)
		}
	}
	return out
}

// oneValueChange measures the bytes one refresh writes when exactly one
// value on the dashboard changes. The console runs on a 300-appeal demo
// database (on /dev/shm when there is one, so that the disk-free figure
// does not move with other work on the machine), with no simulated
// service and a dead metrics URL (the scrape panels stay unknown), in a
// 120x40 pane at a 1 s refresh, its output piped to a file. From another
// process, the sqlite3 CLI (one process, its connection held) sets one
// more appeal to 'pending' (after a checkpoint, so that the WAL restarts
// from its start and keeps its size):
// the dashboard's "Pending appeals" is the only figure that moves. The
// screen is read every 50 ms with the pipe file's size; the refresh that
// shows the new count is measured as the bytes between the capture
// before it and 300 ms after the capture that shows it. A sample counts
// only if the screen lines that changed in that refresh are the banner's
// clock and the pending count's, and on that line only the count.
// Refreshes in which only the clock changed are measured the same way.
func oneValueChange(b *testing.B, samples int) oneValueFigures {
	b.Helper()
	if _, err := exec.LookPath("sqlite3"); err != nil {
		b.Fatalf("the one-value figure needs the sqlite3 CLI: apt-get install sqlite3")
	}
	base := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		base = "/dev/shm"
	}
	dir, err := os.MkdirTemp(base, "repops-onevalue-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	dbPath := filepath.Join(dir, "architect.db")
	cfg := fmt.Sprintf("console:\n  refresh_interval: 1s\n  state_dir: %s\n  sources:\n    metrics_url: http://127.0.0.1:1/metrics\n", filepath.Join(dir, "state"))
	if err := os.WriteFile(filepath.Join(dir, "onevalue.yml"), []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	// The demo database, backed up and checked, so that the backup and
	// check alerts do not push the pending count out of the dashboard.
	for _, args := range [][]string{
		{"demo", "--db", dbPath, "--appeals", "300", "--summary"},
		{"--config", filepath.Join(dir, "onevalue.yml"), "--db", dbPath, "backup"},
		{"--config", filepath.Join(dir, "onevalue.yml"), "--db", dbPath, "check"},
	} {
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			b.Fatalf("repops %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// One sqlite3 process holds its connection for the whole measure: the
	// last connection to close would checkpoint and remove the WAL, and
	// the WAL's size is on the dashboard.
	cli := exec.Command("sqlite3", dbPath)
	stdin, err := cli.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cli.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cli.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); _ = cli.Wait() })
	replies := bufio.NewReader(stdout)
	bump := func() {
		b.Helper()
		q := "PRAGMA wal_checkpoint(PASSIVE);\nUPDATE appeals SET status = 'pending' WHERE id = (SELECT MIN(id) FROM appeals WHERE status <> 'pending');\n.print bumped\n"
		if _, err := io.WriteString(stdin, q); err != nil {
			b.Fatalf("sqlite3: %v", err)
		}
		for {
			line, err := replies.ReadString('\n')
			if err != nil {
				b.Fatalf("sqlite3: %v", err)
			}
			if strings.TrimSpace(line) == "bumped" {
				return
			}
		}
	}
	bump() // the WAL holds a transaction: later ones restart it, its size stays
	p := newBenchPane(b, dir, "onevalue", fmt.Sprintf("exec %s --config %s --db %s", bin, filepath.Join(dir, "onevalue.yml"), dbPath))

	// Past the first frames and the first table-size measurement (10 s
	// after start).
	sizesShown := regexp.MustCompile(`[a-z_]+ [0-9.]+[kM]? rows [0-9.]+ [KMG]i?B`)
	for deadline := time.Now().Add(60 * time.Second); !sizesShown.MatchString(p.screen()) || !rePending.MatchString(p.screen()); {
		if time.Now().After(deadline) {
			b.Fatalf("no table sizes or pending count on the dashboard within 60 s:\n%s", p.screen())
		}
		time.Sleep(250 * time.Millisecond)
	}
	time.Sleep(3 * time.Second)

	var f oneValueFigures
	type capture struct {
		screen string
		size   int64
	}
	// The size is read before the screen: a capture whose screen is
	// before a refresh then has a size before it too.
	grab := func() capture {
		n := p.outBytes()
		return capture{size: n, screen: p.screen()}
	}
	// measure returns the bytes of the refresh between prev and cur.
	measure := func(prev capture) int64 {
		time.Sleep(300 * time.Millisecond)
		return p.outBytes() - prev.size
	}
	onlyClock := func(a, c capture) bool {
		ch := changedLines(a.screen, c.screen)
		return len(ch) == 1 && reRefreshed.MatchString(strings.Split(c.screen, "\n")[ch[0]])
	}
	deadline := time.Now().Add(4 * time.Minute)
	for attempt := 0; len(f.change) < samples && attempt < 3*samples; attempt++ {
		if time.Now().After(deadline) {
			b.Logf("one-value change: stopped after 4 minutes with %d samples", len(f.change))
			break
		}
		prev := grab()
		m := rePending.FindStringSubmatch(prev.screen)
		if m == nil {
			b.Fatalf("no pending count on the dashboard:\n%s", prev.screen)
		}
		was, _ := strconv.Atoi(m[1])
		bump()
		// The count is cached for up to 10 s: wait for it, measuring the
		// clock-only refreshes on the way.
		for end := time.Now().Add(20 * time.Second); ; {
			if time.Now().After(end) {
				b.Fatalf("the pending count did not move from %d within 20 s:\n%s", was, prev.screen)
			}
			time.Sleep(50 * time.Millisecond)
			cur := grab()
			if cur.screen == prev.screen {
				prev = cur
				continue
			}
			if m := rePending.FindStringSubmatch(cur.screen); m != nil && m[1] != fmt.Sprint(was) {
				n := measure(prev)
				ch := changedLines(prev.screen, cur.screen)
				lines := strings.Split(cur.screen, "\n")
				pl := strings.Split(prev.screen, "\n")
				clean := len(ch) <= 2
				for _, i := range ch {
					switch {
					case reRefreshed.MatchString(lines[i]):
					case rePending.MatchString(lines[i]) && i < len(pl) &&
						rePending.ReplaceAllString(lines[i], "P") == rePending.ReplaceAllString(pl[i], "P"):
					default:
						clean = false
					}
				}
				if clean {
					f.change = append(f.change, n)
				} else {
					var what []string
					for _, i := range ch {
						if i < len(pl) {
							what = append(what, fmt.Sprintf("- %s\n+ %s", pl[i], lines[i]))
						}
					}
					f.noisy = append(f.noisy, fmt.Sprintf("%d B, lines %v changed:\n%s", n, ch, strings.Join(what, "\n")))
				}
				break
			}
			if onlyClock(prev, cur) {
				f.idle = append(f.idle, measure(prev))
			}
			prev = grab()
		}
		// Let the next refresh pass before the next change.
		time.Sleep(1200 * time.Millisecond)
	}
	if len(f.change) == 0 {
		b.Fatalf("no refresh with only the pending count changed; the refreshes seen:\n%s", strings.Join(f.noisy, "\n\n"))
	}
	return f
}

func medianInt(v []int64) int64 {
	if len(v) == 0 {
		return -1
	}
	s := append([]int64(nil), v...)
	slices.Sort(s)
	return s[len(s)/2]
}
