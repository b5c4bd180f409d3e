package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	gossh "golang.org/x/crypto/ssh"

	"github.com/repops/repops/tui"
)

// BenchmarkServeTenSessions is issue 18's figures, in one run (-benchtime
// 1x): the built binary serving, ten concurrent sessions through
// golang.org/x/crypto/ssh clients with a pty at 120x40, a 1 s refresh,
// then a 30 s idle window:
//
//   - the server's total CPU over the window, from /proc/PID/stat
//     (utime+stime), as % of one core (goal <= 20 %);
//   - bytes per second per session received by the client (goal <= 600);
//   - scrapes per interval: the requests the service's /metrics (a
//     counting server on 127.0.0.1) got in the window, per second
//     (goal exactly 1, whatever the sessions);
//   - connect -> first full frame: from the TCP dial to the banner's
//     "refreshed" (the first frame with data), p50 and p95 of the ten;
//   - presence change visible to the others: after the window, session 0
//     switches view (journal, tables, runbooks, twice over); from the key
//     written to its stdin to the new view's name in its strip entry
//     ("journal)") arriving in each other session's output, p50 and max
//     over the changes and the nine others (goal <= 1 s).
func BenchmarkServeTenSessions(b *testing.B) {
	const sessions, window = 10, 30 * time.Second
	var scrapes atomic.Int64
	ml, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	msrv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := scrapes.Add(1)
		fmt.Fprintf(w, "# TYPE reputation_appeals_submitted_total counter\nreputation_appeals_submitted_total %d\n"+
			"# TYPE reputation_api_requests_total counter\nreputation_api_requests_total{code=\"200\"} %d\n"+
			"# TYPE reputation_db_connections_active gauge\nreputation_db_connections_active 3\n"+
			"# TYPE reputation_db_connections_max gauge\nreputation_db_connections_max 10\n", n*2, n*50)
	})}
	go func() { _ = msrv.Serve(ml) }()
	defer msrv.Close()
	s := startServe(b, fmt.Sprintf("  sources:\n    metrics_url: http://%s/metrics\n", ml.Addr()))
	b.Logf("server pid %d", s.cmd.Process.Pid)

	signer, err := loadSigner(s.keys["otto"])
	if err != nil {
		b.Fatal(err)
	}
	type client struct {
		bytes atomic.Int64
		first time.Duration
		conn  *gossh.Client
		in    io.Writer
		watch stripWatch
	}
	clients := make([]*client, sessions)
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	b.ResetTimer()
	for i := range clients {
		c := &client{}
		clients[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			conn, err := gossh.Dial("tcp", "127.0.0.1:"+s.port, &gossh.ClientConfig{User: "bench",
				Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)}, HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second})
			if err != nil {
				errs <- err
				return
			}
			c.conn = conn
			sess, err := conn.NewSession()
			if err != nil {
				errs <- err
				return
			}
			if err := sess.RequestPty("xterm-256color", 40, 120, gossh.TerminalModes{}); err != nil {
				errs <- err
				return
			}
			out, err := sess.StdoutPipe()
			if err != nil {
				errs <- err
				return
			}
			in, err := sess.StdinPipe()
			if err != nil {
				errs <- err
				return
			}
			c.in = in
			if err := sess.Shell(); err != nil {
				errs <- err
				return
			}
			var seen strings.Builder
			buf := make([]byte, 32<<10)
			framed := make(chan struct{})
			go func() {
				for {
					n, err := out.Read(buf)
					c.bytes.Add(int64(n))
					c.watch.saw(buf[:n])
					if c.first == 0 && n > 0 {
						seen.Write(buf[:n])
						if strings.Contains(ansi.Strip(seen.String()), "refreshed ") {
							c.first = time.Since(start)
							close(framed)
						}
					}
					if err != nil {
						return
					}
				}
			}()
			select {
			case <-framed:
			case <-time.After(20 * time.Second):
				errs <- fmt.Errorf("no full frame in 20 s")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	// Idle: a few seconds for the first frames' aftermath, then the
	// window.
	time.Sleep(3 * time.Second)
	bytes0 := make([]int64, sessions)
	for i, c := range clients {
		bytes0[i] = c.bytes.Load()
	}
	cpu0, scr0, t0 := procTicks(b, s.cmd.Process.Pid), scrapes.Load(), time.Now()
	time.Sleep(window)
	cpu1, scr1, el := procTicks(b, s.cmd.Process.Pid), scrapes.Load(), time.Since(t0)

	// Presence: session 0 switches view; each of the nine others must
	// receive the new view's name in its strip.
	km := tui.DefaultKeyMap()
	var seenAfter []time.Duration
	for _, ch := range []struct{ key, view string }{
		{first(km.Journal), "journal"}, {first(km.Tables), "tables"}, {first(km.Runbooks), "runbooks"},
		{first(km.Journal), "journal"}, {first(km.Tables), "tables"}, {first(km.Runbooks), "runbooks"},
	} {
		sent := time.Now()
		for _, c := range clients[1:] {
			c.watch.start(ch.view+")", sent)
		}
		if _, err := io.WriteString(clients[0].in, ch.key); err != nil {
			b.Fatal(err)
		}
		for i, c := range clients[1:] {
			d, ok := c.watch.wait(5 * time.Second)
			if !ok {
				b.Fatalf("session %d did not show session 0's switch to %s within 5 s", i+1, ch.view)
			}
			seenAfter = append(seenAfter, d)
		}
	}
	sort.Slice(seenAfter, func(i, j int) bool { return seenAfter[i] < seenAfter[j] })
	b.StopTimer()
	var perSession []float64
	for i, c := range clients {
		perSession = append(perSession, float64(c.bytes.Load()-bytes0[i])/el.Seconds())
	}
	var firsts []time.Duration
	for _, c := range clients {
		firsts = append(firsts, c.first)
		c.conn.Close()
	}
	sort.Slice(firsts, func(i, j int) bool { return firsts[i] < firsts[j] })
	sort.Float64s(perSession)
	cpuPct := float64(cpu1-cpu0) / clkTck / el.Seconds() * 100
	scrapesPerInterval := float64(scr1-scr0) / el.Seconds()
	var mean float64
	for _, v := range perSession {
		mean += v
	}
	mean /= float64(len(perSession))
	p95 := firsts[(len(firsts)*95+99)/100-1]
	fmt.Fprintf(os.Stdout, "\nrepops serve, %d sessions at 120x40, 1 s refresh, %s idle window\n", sessions, el.Round(time.Second))
	fmt.Fprintf(os.Stdout, "%-40s %14s %12s\n", "figure", "measured", "goal")
	fmt.Fprintf(os.Stdout, "%-40s %13.1f%% %12s\n", "server CPU (% of one core)", cpuPct, "<= 20 %")
	fmt.Fprintf(os.Stdout, "%-40s %14.0f %12s\n", "bytes/s per session (mean)", mean, "<= 600")
	fmt.Fprintf(os.Stdout, "%-40s %14.0f %12s\n", "bytes/s per session (max)", perSession[len(perSession)-1], "<= 600")
	fmt.Fprintf(os.Stdout, "%-40s %14.2f %12s\n", "scrapes per 1 s interval", scrapesPerInterval, "1")
	fmt.Fprintf(os.Stdout, "%-40s %14s %12s\n", "connect -> first full frame p50", firsts[len(firsts)/2].Round(time.Millisecond), "<= 300 ms")
	fmt.Fprintf(os.Stdout, "%-40s %14s %12s\n", "connect -> first full frame p95", p95.Round(time.Millisecond), "<= 300 ms")
	fmt.Fprintf(os.Stdout, "%-40s %14s %12s\n", "presence change -> the 9 others p50", seenAfter[len(seenAfter)/2].Round(time.Millisecond), "<= 1 s")
	fmt.Fprintf(os.Stdout, "%-40s %14s %12s\n", "presence change -> the 9 others max", seenAfter[len(seenAfter)-1].Round(time.Millisecond), "<= 1 s")
	b.ReportMetric(cpuPct, "cpu%")
	b.ReportMetric(mean, "B/s/session")
	b.ReportMetric(scrapesPerInterval, "scrapes/s")
	b.ReportMetric(float64(firsts[len(firsts)/2].Milliseconds()), "first-frame-p50-ms")
	b.ReportMetric(float64(seenAfter[len(seenAfter)/2].Microseconds())/1000, "presence-p50-ms")
}

// stripWatch waits for a text in what a session receives after a moment
// (a view change elsewhere), read by the session's reader goroutine.
// Decision: the text is looked for in the output stripped of escape
// sequences; the renderer sends only the cells that changed, so the
// target is the new view's name with its closing parenthesis, whose
// cells all differ from the name it replaces (journal, tables and
// runbooks share no letter at the same place).
type stripWatch struct {
	mu     sync.Mutex
	target string
	since  time.Time
	raw    []byte
	found  chan time.Duration
}

func (w *stripWatch) start(target string, since time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.target, w.since, w.raw, w.found = target, since, w.raw[:0], make(chan time.Duration, 1)
}

func (w *stripWatch) saw(p []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.target == "" || len(p) == 0 {
		return
	}
	w.raw = append(w.raw, p...)
	if strings.Contains(ansi.Strip(string(w.raw)), w.target) {
		w.found <- time.Since(w.since)
		w.target = ""
	}
}

func (w *stripWatch) wait(d time.Duration) (time.Duration, bool) {
	w.mu.Lock()
	found := w.found
	w.mu.Unlock()
	select {
	case v := <-found:
		return v, true
	case <-time.After(d):
		return 0, false
	}
}

// clkTck is the kernel's clock tick (USER_HZ), 100 on Linux.
const clkTck = 100

// procTicks is utime+stime of pid in clock ticks.
func procTicks(b *testing.B, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatalf("read the CPU time of %d: %v", pid, err)
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st
}

func loadSigner(path string) (gossh.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return gossh.ParsePrivateKey(data)
}
