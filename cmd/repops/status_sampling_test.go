package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestStatusSamplesOverTheWindow: without a collector or Prometheus,
// status samples the service's scrape every --interval until --max-wait
// (shorter than the rules' 1m window here), and marks what it judged from
// that scrape provisional: a 50 % error rate is pending (WARNING, exit 1),
// never an OK from one short look, and never CRITICAL from a for it did
// not watch.
func TestStatusSamplesOverTheWindow(t *testing.T) {
	var mu sync.Mutex
	scrapes := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		scrapes++
		n := scrapes
		mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# TYPE reputation_appeals_submitted_total counter\nreputation_appeals_submitted_total %d\n", 100*n)
		fmt.Fprintf(w, "# TYPE reputation_appeal_errors_total counter\nreputation_appeal_errors_total %d\n", 50*n)
	}))
	defer srv.Close()
	dir := migTestEnv(t)
	path := filepath.Join(dir, "architect.db")
	if _, _, code, err := runRepopsCmd(t, "demo", "--db", path, "--appeals", "50", "--summary"); code != 0 {
		t.Fatalf("demo: %v", err)
	}
	cfg := statusConfig(t, t.TempDir(), srv.URL+"/metrics", "appeal_error_rate")

	start := time.Now()
	out, errOut, code, _ := runRepopsCmd(t, "--config", cfg, "--db", path, "status", "--interval", "50ms", "--max-wait", "400ms", "--json")
	took := time.Since(start)
	var doc statusJSON
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s%s", err, out, errOut)
	}
	if code != exitWarning || len(doc.Alerts) != 1 || doc.Alerts[0].State != "warning" || !doc.Alerts[0].Pending ||
		!doc.Alerts[0].Provisional || doc.Alerts[0].Judge != "status" || !doc.Provisional {
		t.Fatalf("exit %d: %s", code, out)
	}
	mu.Lock()
	n := scrapes
	mu.Unlock()
	// --max-wait bounds the sampling, not the rules' 1m window; and it
	// sampled more than twice over it.
	if n < 4 || took > 30*time.Second {
		t.Fatalf("%d scrapes in %s", n, took)
	}

	out, _, _, _ = runRepopsCmd(t, "--config", cfg, "--db", path, "status", "--interval", "50ms", "--max-wait", "200ms")
	if !strings.Contains(out, "~WARNING") || !strings.Contains(out, provisionalNote) || !strings.Contains(out, "of the rules' 1m0s window") {
		t.Fatalf("text:\n%s", out)
	}
	if _, _, code, _ := runRepopsCmd(t, "--db", path, "status", "--max-wait", "-1s"); code != exitUsage {
		t.Fatalf("negative --max-wait: exit %d", code)
	}
}
