package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/config"
	"github.com/repops/repops/presence"
	"github.com/repops/repops/silence"
	"github.com/repops/repops/tui"
)

// TestSessionSilencesOwnOrAdmin: over SSH, an operator extends and
// expires the silences its own key's name created; another operator's
// are refused (nothing changes), an admin's key may change them.
func TestSessionSilencesOwnOrAdmin(t *testing.T) {
	cfg := config.Defaults()
	cfg.Console.StateDir = t.TempDir()
	svc, err := silence.FromConfig(&cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	set := silence.NewSet(svc.Backend, cfg.StateDir())
	ctx := context.Background()
	id := func(name string, role presence.Role) presence.Identity {
		return presence.Identity{Name: name, Role: role, Fingerprint: "SHA256:" + name, Addr: "127.0.0.1:40000", Session: name + "1"}
	}
	alice := sessionSilences(svc, set, cfg.StateDir(), id("alice", presence.Operator))
	bob := sessionSilences(svc, set, cfg.StateDir(), id("bob", presence.Operator))
	carol := sessionSilences(svc, set, cfg.StateDir(), id("carol", presence.Admin))
	req := tui.SilenceRequest{Labels: map[string]string{"alertname": "ReputationAppealRate", "severity": "warning"}, Duration: time.Hour, Comment: "flood from a known batch import"}
	mine, err := alice.Create(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Extend(ctx, mine.ID, time.Hour); err == nil || !strings.Contains(err.Error(), "only an admin") {
		t.Fatalf("bob extended alice's silence: %v", err)
	}
	if err := bob.Expire(ctx, mine.ID); err == nil || !strings.Contains(err.Error(), "only an admin") {
		t.Fatalf("bob expired alice's silence: %v", err)
	}
	list, err := alice.List(ctx)
	if err != nil || len(list) != 1 || !list[0].EndsAt.Equal(mine.EndsAt) {
		t.Fatalf("after bob's refused changes: %+v, %v (want alice's silence unchanged)", list, err)
	}
	if _, err := alice.Extend(ctx, mine.ID, time.Hour); err != nil {
		t.Fatalf("alice extends her own silence: %v", err)
	}
	if err := carol.Expire(ctx, mine.ID); err != nil {
		t.Fatalf("an admin expires alice's silence: %v", err)
	}
}

// TestSilenceCommandReadsBack: the shell equivalent journaled for a
// silence names the same matchers, duration and comment, in words the
// CLI takes back.
func TestSilenceCommandReadsBack(t *testing.T) {
	at := time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC)
	x := silence.Silence{ID: "ac24c6fa", StartsAt: at, EndsAt: at.Add(7 * 24 * time.Hour), Comment: "INC-42: it's the import",
		Matchers: []silence.Matcher{{Name: "alertname", Op: silence.OpEqual, Value: "ReputationAppealErrorRate"}, {Name: "severity", Op: silence.OpRegex, Value: "critical|warning"}}}
	want := `repops silence add --match alertname=ReputationAppealErrorRate --match 'severity=~critical|warning' --duration 7d --comment 'INC-42: it'\''s the import'`
	if got := silenceCommand("silence.add", x, nil); got != want {
		t.Fatalf("add:\n got %s\nwant %s", got, want)
	}
	if got := silenceCommand("silence.extend", x, map[string]any{"by": (90 * time.Minute).String()}); got != "repops silence extend ac24c6fa --duration 1h30m" {
		t.Fatalf("extend: %s", got)
	}
	if got := silenceCommand("silence.expire", x, nil); got != "repops silence expire ac24c6fa --yes" {
		t.Fatalf("expire: %s", got)
	}
	x.Ack = true
	if got := silenceCommand("alert.acknowledged", x, nil); got != "" {
		t.Fatalf("an acknowledgement has no shell equivalent, got %s", got)
	}
}
