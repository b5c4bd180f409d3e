package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/ops"
	"github.com/repops/repops/tui"
)

// The presence over SSH: real OpenSSH clients in tmux against the built
// 'repops serve', each key a person of the keys file.

// peopleKeys are alice and carol (operators), bob (a viewer) and ada (an
// admin).
var peopleKeys = []serveKey{{"alice", "operator"}, {"bob", "viewer"}, {"carol", "operator"}, {"ada", "admin"}}

// until polls tm's screen (every 10 ms, capture-pane) until re matches
// and returns how long after from it did; it fails after d.
func (tm *term) until(what string, re *regexp.Regexp, from time.Time, d time.Duration) time.Duration {
	tm.t.Helper()
	deadline := from.Add(d)
	for {
		s := tm.screen()
		if re.MatchString(s) {
			return time.Since(from)
		}
		if time.Now().After(deadline) || strings.Contains(s, "[exited]") {
			tm.t.Fatalf("waiting for %s (%s) for %s; the screen:\n%s", what, re, d, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// command types :line and enter in tm.
func (tm *term) command(line string) {
	tm.t.Helper()
	tm.keys(first(tui.DefaultKeyMap().Command))
	tm.waitFor("the command line", regexp.MustCompile(`(?m)^:`), 5*time.Second)
	tm.text(line)
	tm.keys("Enter")
}

// login opens name's session (ssh -tt in tmux at 120x40) and waits for its
// banner.
func (s *served) login(t *testing.T, name, role string) *term {
	t.Helper()
	tm := startTerm(t, s.work, 120, 40, s.sshLine(name, "-tt"))
	tm.waitFor(name+"'s banner", regexp.MustCompile(`repops · `+name+` · `+role+` · `), 20*time.Second)
	return tm
}

// presenceWithin is how soon another session must show a connect or a
// view change in its strip (issue 18).
const presenceWithin = time.Second

// TestServePresenceStrip: alice (operator) and bob (viewer) see each
// other in the presence strip within a second of bob's connect and of
// each view change, measured from the moment the connect or the key is
// sent to the strip's text changing in the other pane.
func TestServePresenceStrip(t *testing.T) {
	s := startServeKeys(t, "", peopleKeys)
	km := tui.DefaultKeyMap()
	alice := s.login(t, "alice", "operator")
	alice.waitFor("alice alone", regexp.MustCompile(`1 on: only you \(alice, operator\)`), 5*time.Second)

	start := time.Now()
	bob := startTerm(t, s.work, 120, 40, s.sshLine("bob", "-tt"))
	seen := alice.until("bob in alice's strip", regexp.MustCompile(`2 on: bob \(viewer, dashboard\)`), start, 10*time.Second)
	seenByBob := bob.until("alice in bob's strip", regexp.MustCompile(`2 on: alice \(operator, dashboard\)`), start, 10*time.Second)
	t.Logf("bob's connect (ssh started) -> in alice's strip %s, alice in bob's %s", seen.Round(time.Millisecond), seenByBob.Round(time.Millisecond))
	if seen > presenceWithin+time.Second {
		// The connect includes OpenSSH's start and the key exchange: a
		// second beyond the strip's own second is its budget.
		t.Errorf("bob's connect reached alice's strip after %s", seen)
	}

	type change struct {
		who, key, view string
		mover, other   *term
	}
	changes := []change{
		{"bob", first(km.Runbooks), "runbooks", bob, alice},
		{"alice", first(km.Journal), "journal", alice, bob},
		{"bob", first(km.Alerts), "alerts", bob, alice},
		{"alice", first(km.Tables), "tables", alice, bob},
		{"bob", first(km.Journal), "journal", bob, alice},
		{"alice", first(km.Runbooks), "runbooks", alice, bob},
	}
	role := map[string]string{"alice": "operator", "bob": "viewer"}
	var lat []time.Duration
	for _, c := range changes {
		re := regexp.MustCompile(fmt.Sprintf(`2 on: %s \(%s, %s\)`, c.who, role[c.who], c.view))
		from := time.Now()
		c.mover.keys(c.key)
		d := c.other.until(c.who+" in "+c.view, re, from, 5*time.Second)
		lat = append(lat, d)
		if d > presenceWithin {
			t.Errorf("%s's switch to %s reached the other's strip after %s (want <= %s)", c.who, c.view, d, presenceWithin)
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("view change -> other's strip over %d changes: p50 %s, max %s", len(lat), lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
}

// TestServeFourEyesAndHandover: four eyes on (console.serve.four_eyes).
// alice runs database-optimization to its destructive step (REINDEX,
// typed confirmation): the step waits. alice's second session (the same
// key) cannot approve it, nor can bob (a viewer); carol (an operator,
// another key) approves and the step runs. The journal has the request
// and the grant with its latency and both keys' names. Then alice hands
// the run over to carol, whose session resumes it and does its next
// step.
func TestServeFourEyesAndHandover(t *testing.T) {
	s := startServeKeys(t, "    four_eyes: true\n", peopleKeys)
	km := tui.DefaultKeyMap()
	alice := s.login(t, "alice", "operator")
	alice2 := s.login(t, "alice", "operator")
	bob := s.login(t, "bob", "viewer")
	carol := s.login(t, "carol", "operator")

	alice.command("run database-optimization")
	stepRe := func(n int) *regexp.Regexp { return regexp.MustCompile(fmt.Sprintf(`Step %d of \d+`, n)) }
	alice.waitFor("step 1", stepRe(1), 10*time.Second)
	for n := 2; n <= 4; n++ {
		alice.keys(first(km.Do))
		alice.waitFor(fmt.Sprintf("step %d", n), stepRe(n), 30*time.Second)
	}
	alice.waitFor("the reindex step", regexp.MustCompile(`Step 4 of \d+: Rebuild indexes`), 5*time.Second)
	alice.keys(first(km.Do))
	typedRe := regexp.MustCompile(`type (\S+) to run reindex`)
	scr := alice.waitFor("the typed confirmation", typedRe, 10*time.Second)
	alice.text(typedRe.FindStringSubmatch(scr)[1])
	scr = alice.waitFor("the confirm key", regexp.MustCompile(`confirm`), 5*time.Second)
	k, ok := drillHintFor(scr, regexp.MustCompile(`^confirm$`))
	if !ok {
		t.Fatalf("no confirm key on the screen:\n%s", scr)
	}
	kn, lit := drillKeyName(k)
	if lit {
		alice.text(kn)
	} else {
		alice.keys(kn)
	}
	asked := time.Now()
	alice.waitFor("the wait for approval", regexp.MustCompile(`waiting for a second operator's approval \(carol on\)`), 5*time.Second)

	askRe := regexp.MustCompile(`alice asks approval: database-optimization step 4 on demo\.db · :approve (\d+)`)
	id := askRe.FindStringSubmatch(carol.waitFor("the request in carol's strip", askRe, 5*time.Second))[1]

	// alice's own second session: the same key cannot approve.
	alice2.waitFor("the request in alice's second session", askRe, 5*time.Second)
	alice2.command("approve " + id)
	alice2.waitFor("the self-approval refusal", regexp.MustCompile(`approve #`+id+`: self-approval is impossible`), 5*time.Second)
	// bob, a viewer, cannot either.
	bob.command("approve " + id)
	bob.waitFor("the viewer's refusal", regexp.MustCompile(`approve #`+id+`: a viewer cannot approve or deny`), 5*time.Second)
	if regexp.MustCompile(`Step 5 of`).MatchString(alice.screen()) {
		t.Fatalf("the step ran without an approval:\n%s", alice.screen())
	}

	carol.command("approve " + id)
	carol.waitFor("carol's approval said", regexp.MustCompile(`approved #`+id), 5*time.Second)
	alice.waitFor("the step run after the approval", stepRe(5), 30*time.Second)
	waited := time.Since(asked)

	// The journal: the request by alice, the grant by carol with its
	// latency, the step run by alice.
	var entries []ops.Entry
	if err := json.Unmarshal(s.cli(t, "journal", "--format", "json"), &entries); err != nil {
		t.Fatal(err)
	}
	var req, grant, reindex *ops.Entry
	for i, e := range entries {
		switch {
		case e.Action == "approval.requested":
			req = &entries[i]
		case e.Action == "approval.granted":
			grant = &entries[i]
		case e.Action == "runbook.step" && e.Step == "Rebuild indexes":
			reindex = &entries[i]
		}
	}
	switch {
	case req == nil || grant == nil || reindex == nil:
		t.Fatalf("the journal lacks the request, the grant or the step (%v %v %v):\n%+v", req, grant, reindex, entries)
	case req.Actor.User != "alice" || req.Actor.Key != s.fingerprints["alice"]:
		t.Errorf("approval.requested by %+v, want alice's key", req.Actor)
	case grant.Actor.User != "carol" || grant.Actor.Key != s.fingerprints["carol"] || grant.Params["requester"] != "alice":
		t.Errorf("approval.granted by %+v for %v, want carol's key for alice", grant.Actor, grant.Params["requester"])
	case grant.Figures["latency_s"] <= 0 || grant.Figures["latency_s"] > waited.Seconds():
		t.Errorf("approval.granted latency_s %v, want in (0, %.1f]", grant.Figures["latency_s"], waited.Seconds())
	case reindex.Actor.User != "alice" || reindex.Outcome != ops.OutcomeOK:
		t.Errorf("the reindex step: %+v", reindex)
	}
	t.Logf("approval latency %.2fs (journaled)", grant.Figures["latency_s"])

	// The handover: alice's run goes to carol, whose console resumes it.
	alice.command("handover carol")
	alice.waitFor("the handover question", regexp.MustCompile(`hand run database-optimization \(step 5 of \d+\) over to carol\? y/N`), 5*time.Second)
	alice.keys("y")
	carol.waitFor("the run resumed in carol's session", regexp.MustCompile(`alice handed you run database-optimization-\S+.*: resuming it`), 10*time.Second)
	carol.waitFor("carol at step 5", stepRe(5), 10*time.Second)
	carol.keys(first(km.Do))
	carol.waitFor("carol's step done", stepRe(6), 30*time.Second)
	alice.waitFor("alice's strip: carol drives the run", regexp.MustCompile(`carol \(operator, runbook database-optimization step 6`), 5*time.Second)

	// :lockbreak: a procedure of the CLI's holds the lock (this test's
	// process, alive: the lock is not stale); an operator (alice) and a
	// viewer (bob) get one line; ada, an admin, breaks it after the typed
	// word, and it is journaled in her name.
	held, err := ops.AcquireLock(s.stateDir, ops.Actor{User: "nina"}, "repops optimize vacuum")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	onlyAdmin := regexp.MustCompile(`only an admin key may break the procedure lock`)
	alice.command("lockbreak")
	alice.waitFor("the operator's refusal", onlyAdmin, 5*time.Second)
	bob.command("lockbreak")
	bob.waitFor("the viewer's refusal", onlyAdmin, 5*time.Second)
	ada := s.login(t, "ada", "admin")
	ada.command("lockbreak")
	ada.waitFor("the holder and the word asked", regexp.MustCompile(`(?s)held by nina@\S+ \(pid \d+\) since \S+ for repops optimize vacuum.*type break and press enter`), 5*time.Second)
	ada.text("break")
	ada.keys("Enter")
	ada.waitFor("the lock broken", regexp.MustCompile(`broke the procedure lock of nina@`), 5*time.Second)
	if _, held, err := ops.ReadLock(s.stateDir); err != nil || held {
		t.Errorf("after ada's :lockbreak the lock is held (%v, %v)", held, err)
	}
	entries = nil
	if err := json.Unmarshal(s.cli(t, "journal", "--format", "json"), &entries); err != nil {
		t.Fatal(err)
	}
	var broke bool
	for _, e := range entries {
		broke = broke || (e.Action == "lock.break" && e.Actor.User == "ada" && e.Actor.Key == s.fingerprints["ada"])
	}
	if !broke {
		t.Errorf("no lock.break by ada's key in the journal")
	}
}
