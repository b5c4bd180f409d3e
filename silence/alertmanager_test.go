package silence

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// startAlertmanager runs Debian's prometheus-alertmanager on a free
// loopback port until the test ends and returns its base URL.
func startAlertmanager(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		t.Fatalf("prometheus-alertmanager not found (%v): install it: apt-get install prometheus-alertmanager", err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte("route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.path="+dir, "--web.listen-address="+addr, "--cluster.listen-address=")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", logs.String())
		}
	})
	// Bounded wait for readiness: 200 polls.
	for range 200 {
		select {
		case <-exited:
			t.Fatalf("alertmanager exited early:\n%s", logs.String())
		default:
		}
		if resp, err := http.Get("http://" + addr + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return "http://" + addr
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("alertmanager not ready at %s:\n%s", addr, logs.String())
	return ""
}

func postAlert(t *testing.T, base string, labels map[string]string) {
	t.Helper()
	body, _ := json.Marshal([]map[string]any{{"labels": labels, "startsAt": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)}})
	resp, err := http.Post(base+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("post alert: HTTP %d", resp.StatusCode)
	}
}

func testLimits() Limits {
	return Limits{MaxDuration: map[string]time.Duration{"critical": 24 * time.Hour, "warning": 7 * 24 * time.Hour, "info": 7 * 24 * time.Hour}, AckMax: DefaultAckMax}
}

func TestAlertmanagerRoundTrip(t *testing.T) {
	base := startAlertmanager(t)
	ctx := context.Background()
	am, err := NewAlertmanager(base, nil)
	if err != nil {
		t.Fatal(err)
	}
	firing := map[string]string{"alertname": "ReputationApiErrorRate", "severity": "critical", "rule": "api_error_rate"}
	postAlert(t, base, firing)
	postAlert(t, base, map[string]string{"alertname": "ReputationDiskFree", "severity": "warning"})
	svc := &Service{Backend: am, Limits: testLimits()}
	matchers := []Matcher{{"alertname", OpEqual, "ReputationApiErrorRate"}, {"severity", OpEqual, "critical"}}

	// Preview: Alertmanager's matching alert (bounded wait until it has
	// taken the posted alerts in).
	var p Preview
	for range 100 {
		if p = svc.Preview(ctx, matchers, nil); len(p.Alerts) > 0 || p.Err != "" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(p.Alerts) != 1 || p.Alerts[0]["alertname"] != "ReputationApiErrorRate" || p.Err != "" {
		t.Fatalf("preview %+v, want the one api alert", p)
	}

	x, err := svc.Add(ctx, AddRequest{Matchers: matchers, Duration: 2 * time.Hour, Comment: "INC-9 rollback", CreatedBy: "alice@host"})
	if err != nil {
		t.Fatal(err)
	}
	ack, err := svc.Add(ctx, AddRequest{Matchers: matchers, Duration: time.Hour, Comment: "on it", CreatedBy: "bob@host", Ack: true, RunID: "run-42"})
	if err != nil {
		t.Fatal(err)
	}
	list, err := am.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Find(list, x.ID)
	if err != nil || got.Comment != "INC-9 rollback" || got.CreatedBy != "alice@host" || got.Source != SourceAlertmanager ||
		got.MatchersString() != `{alertname="ReputationApiErrorRate", severity="critical"}` {
		t.Fatalf("listed %+v %v", got, err)
	}
	if g, _ := Find(list, ack.ID); !g.Ack || g.RunID != "run-42" || g.Comment != "on it" {
		t.Fatalf("ack read back as %+v", g)
	}
	// The set matches from memory what Alertmanager holds.
	set := NewSet(am, t.TempDir())
	set.RunEnded = func(string) bool { return false }
	if err := set.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if ref, ok := set.Match(firing, time.Now()); !ok || (ref.ID != x.ID && ref.ID != ack.ID) {
		t.Fatalf("match %+v %v", ref, ok)
	}

	ext, err := svc.Extend(ctx, x.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if d := ext.EndsAt.Sub(x.EndsAt); d < time.Hour-time.Second || d > time.Hour+time.Second {
		t.Fatalf("extended end %v, want %v + 1h", ext.EndsAt, x.EndsAt)
	}
	if _, err := svc.Extend(ctx, ext.ID, 30*time.Hour); !errors.Is(err, ErrInvalid) {
		t.Fatalf("extend beyond the critical maximum: %v, want ErrInvalid", err)
	}
	if _, err := svc.Expire(ctx, ext.ID); err != nil {
		t.Fatal(err)
	}
	list, _ = am.List(ctx)
	if g, _ := Find(list, ext.ID); g.Active(time.Now()) {
		t.Fatalf("expired silence still active: %+v", g)
	}
	if _, err := svc.Expire(ctx, ext.ID); !errors.Is(err, ErrExpired) {
		t.Fatalf("expire twice: %v, want ErrExpired", err)
	}
	// Bad input reaches nothing: an empty comment creates nothing.
	before := len(list)
	if _, err := svc.Add(ctx, AddRequest{Matchers: matchers, Duration: time.Hour, Comment: " ", CreatedBy: "a@h"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty comment: %v", err)
	}
	if list, _ = am.List(ctx); len(list) != before {
		t.Fatalf("%d silences after a refused add, want %d", len(list), before)
	}
}

// TestAlertmanagerRefusesOrLies: an Alertmanager that answers 400 or
// 500, or with something that is not its API's JSON: one clear line, and
// an invalid silence never reaches it.
func TestAlertmanagerRefusesOrLies(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		wantErr string
	}{
		{"refuses 400", 400, `{"code":400,"message":"bad matcher"}`, "refused POST /api/v2/silences: 400 Bad Request"},
		{"fails 500", 500, "internal error", "500 Internal Server Error"},
		{"lies with HTML", 200, "<html>hello</html>", "not its v2 API's JSON"},
		{"lies without id", 200, `{}`, "no id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var posts atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost {
					posts.Add(1)
				}
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}))
			defer srv.Close()
			am, _ := NewAlertmanager(srv.URL, nil)
			svc := &Service{Backend: am, Limits: testLimits()}
			req := AddRequest{Matchers: []Matcher{{"alertname", OpEqual, "X"}}, Duration: time.Hour, Comment: "c", CreatedBy: "a@h"}
			_, err := svc.Add(context.Background(), req)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err %v, want one line with %q", err, tt.wantErr)
			}
			if _, err := am.List(context.Background()); err == nil {
				t.Fatal("list: no error")
			}
			req.Comment = ""
			n := posts.Load()
			if _, err := svc.Add(context.Background(), req); !errors.Is(err, ErrInvalid) || posts.Load() != n {
				t.Fatalf("empty comment: %v, posts %d -> %d: nothing may reach Alertmanager", err, n, posts.Load())
			}
		})
	}
}
