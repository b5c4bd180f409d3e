package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestExporterRefusesNonLoopback: as 'repops simulate', the exporter
// listens on loopback unless --allow-remote: an address of every
// interface, of another host, or without a host is refused with exit 64,
// in one line with the simulator's wording, before anything listens. The
// test binds only 127.0.0.1: it holds the port it names, so an exporter
// that tried to listen on it would fail with "address already in use"
// rather than with the refusal, and never serves other interfaces.
func TestExporterRefusesNonLoopback(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	port := strconv.Itoa(held.Addr().(*net.TCPAddr).Port)
	cfg, _, _ := recoveryEnv(t)
	for _, addr := range []string{"0.0.0.0:" + port, ":" + port, "[::]:" + port, "192.0.2.10:" + port, "repops.invalid:" + port} {
		t.Run(addr, func(t *testing.T) {
			done := make(chan struct{})
			var stdout, stderr string
			var code int
			go func() {
				defer close(done)
				stdout, stderr, code = runRecovery(t, cfg, "", "exporter", "--listen", addr)
			}()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatalf("repops exporter --listen %s is serving", addr)
			}
			want := `exporter: listen address "` + addr + `" is not loopback: the exporter listens on 127.0.0.1 or ::1 unless remote access is allowed explicitly (--allow-remote)`
			if code != exitUsage || strings.TrimSpace(stderr) != want || stdout != "" {
				t.Fatalf("exit %d\nstdout %q\nstderr %q\nwant exit %d and %q", code, stdout, stderr, exitUsage, want)
			}
		})
	}
}

// TestExporterLoopbackServes: a loopback address (127.0.0.1, localhost)
// serves without --allow-remote, and --allow-remote changes nothing for
// one.
func TestExporterLoopbackServes(t *testing.T) {
	for _, tc := range []struct {
		listen      string
		allowRemote bool
	}{{"127.0.0.1:0", false}, {"localhost:0", false}, {"127.0.0.1:0", true}} {
		t.Run(tc.listen, func(t *testing.T) {
			a, _, _ := testApp(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			addrc := make(chan string, 1)
			done := make(chan error, 1)
			go func() {
				done <- runExporter(ctx, a, &exporterOptions{listen: tc.listen, allowRemote: tc.allowRemote}, func(addr string) { addrc <- addr })
			}()
			var addr string
			select {
			case addr = <-addrc:
			case err := <-done:
				t.Fatalf("exporter ended: %v", err)
			case <-time.After(10 * time.Second):
				t.Fatal("exporter did not start")
			}
			if ip := net.ParseIP(strings.Trim(addr[:strings.LastIndex(addr, ":")], "[]")); ip == nil || !ip.IsLoopback() {
				t.Fatalf("listening on %s", addr)
			}
			resp, err := http.Get("http://" + addr + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), "repops_journal_entries") {
				t.Fatalf("/metrics:\n%s", body)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("shutdown: %v", err)
			}
		})
	}
}
