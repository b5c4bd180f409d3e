package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/repops/repops/internal/testsupport"
)

// TestSimulateSIGTERMExitsZero builds repops, runs 'repops simulate' on a
// free loopback port, scrapes it, sends SIGTERM and expects exit status 0
// and the closing summary with no write errors.
func TestSimulateSIGTERMExitsZero(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "repops")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	path := testsupport.MigratedDB(t)
	cmd := exec.Command(bin, "--db", path, "simulate", "--listen", "127.0.0.1:0", "--speed", "30")
	cmd.Env = append(os.Environ(), "REPOPS_CONFIG=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var metricsURL string
	var out []string
	timeout := time.After(20 * time.Second)
	for metricsURL == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("repops simulate ended early: %s\n%s", strings.Join(out, "\n"), stderr.String())
			}
			out = append(out, l)
			if u, found := strings.CutPrefix(l, "metrics: "); found {
				metricsURL = u
			}
		case <-timeout:
			t.Fatalf("no metrics URL printed in 20 s: %s", strings.Join(out, "\n"))
		}
	}
	time.Sleep(300 * time.Millisecond)
	resp, err := http.Get(metricsURL)
	if err != nil {
		t.Fatalf("scrape %s: %v", metricsURL, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "reputation_appeals_submitted_total") {
		t.Errorf("/metrics lacks reputation_appeals_submitted_total:\n%.500s", body)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for l := range lines {
			out = append(out, l)
		}
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\nstdout:\n%s\nstderr:\n%s", err, strings.Join(out, "\n"), stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("repops simulate did not exit within 15 s of SIGTERM")
	}
	last := out[len(out)-1]
	if !strings.HasPrefix(last, "stopped: ") || !strings.Contains(last, " 0 write errors") {
		t.Errorf("last line %q, want the summary with 0 write errors", last)
	}
}

// TestSimulateRefuses runs the command in-process with bad arguments.
func TestSimulateRefuses(t *testing.T) {
	t.Setenv("REPOPS_CONFIG", "")
	path := testsupport.MigratedDB(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
		code int
	}{
		{"remote listen", []string{"--db", path, "simulate", "--listen", "0.0.0.0:0"}, "not loopback", exitFailure},
		{"unknown scenario", []string{"--db", path, "simulate", "--listen", "127.0.0.1:0", "--scenario", "meteor"}, "want one of normal", exitUsage},
		{"rate over the cap", []string{"--db", path, "simulate", "--listen", "127.0.0.1:0", "--rate", "1000"}, "--rate", exitUsage},
		{"read-only mode", []string{"--db", path, "--read-only", "simulate", "--listen", "127.0.0.1:0"}, "read-only mode", exitFailure},
		{"missing database", []string{"--db", filepath.Join(t.TempDir(), "none.db"), "simulate", "--listen", "127.0.0.1:0"}, "no such file", exitFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			root := newRootCmd(strings.NewReader(""), &stdout, &stderr)
			root.SetArgs(tc.args)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := root.ExecuteContext(ctx)
			if err == nil {
				t.Fatalf("accepted %v", tc.args)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
			if got := exitCode(err); got != tc.code {
				t.Errorf("exit code %d, want %d", got, tc.code)
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("ran until the deadline instead of refusing")
			}
		})
	}
}
