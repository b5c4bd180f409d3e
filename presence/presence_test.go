package presence

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/repops/repops/ops"
)

// clock is a fake clock the tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)} }
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// journalRec records the entries the hub journals.
type journalRec struct {
	mu sync.Mutex
	e  []ops.Entry
}

func (j *journalRec) add(e ops.Entry) {
	j.mu.Lock()
	j.e = append(j.e, e)
	j.mu.Unlock()
}

func (j *journalRec) find(action string) (ops.Entry, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, e := range j.e {
		if e.Action == action {
			return e, true
		}
	}
	return ops.Entry{}, false
}

type fixture struct {
	hub *Hub
	clk *clock
	j   *journalRec
	dir string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	f := fixture{clk: newClock(), j: &journalRec{}, dir: t.TempDir()}
	f.hub = NewHub(Options{StateDir: f.dir, Journal: f.j.add, Now: f.clk.Now})
	return f
}

func alice() Identity {
	return Identity{Name: "alice", Role: Operator, Fingerprint: "SHA256:aaa", Addr: "10.0.0.1:5001", Session: "s-alice"}
}
func bob() Identity {
	return Identity{Name: "bob", Role: Operator, Fingerprint: "SHA256:bbb", Addr: "10.0.0.2:5002", Session: "s-bob"}
}
func carol() Identity {
	return Identity{Name: "carol", Role: Viewer, Fingerprint: "SHA256:ccc", Addr: "10.0.0.3:5003", Session: "s-carol"}
}

// woken fails unless m has a wake-up waiting (bounded wait, no sleep).
func woken(t *testing.T, m *Member) {
	t.Helper()
	select {
	case <-m.Updates():
	case <-time.After(5 * time.Second):
		t.Fatalf("%s was not woken", m.id.Name)
	}
}

func notWoken(t *testing.T, m *Member) {
	t.Helper()
	select {
	case <-m.Updates():
		t.Fatalf("%s was woken", m.id.Name)
	default:
	}
}

func drain(m *Member) {
	select {
	case <-m.Updates():
	default:
	}
}

func names(ps []Peer) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

func TestJoinLeave(t *testing.T) {
	f := newFixture(t)
	a := f.hub.Join(alice())
	notWoken(t, a) // nobody else changed anything
	b := f.hub.Join(bob())
	woken(t, a)
	notWoken(t, b)
	ps := b.Peers()
	if got := names(ps); len(got) != 2 || got[0] != "alice" || got[1] != "bob" || !ps[1].Self || ps[0].Self {
		t.Fatalf("peers of bob: %+v", ps)
	}
	b.Leave()
	woken(t, a)
	if got := names(a.Peers()); len(got) != 1 || got[0] != "alice" {
		t.Fatalf("after bob left: %v", got)
	}
	b.Leave() // twice is harmless
	b.SetWhere(Where{View: "alerts"})
	notWoken(t, a)
}

func TestUpdatesCoalesced(t *testing.T) {
	f := newFixture(t)
	a := f.hub.Join(alice())
	b := f.hub.Join(bob())
	drain(a)
	for _, v := range []string{"alerts", "journal", "runbooks"} {
		b.SetWhere(Where{View: v})
	}
	woken(t, a)
	notWoken(t, a) // three changes, one wake-up
	if w := a.Peers()[1].View; w != "runbooks" {
		t.Fatalf("alice sees bob in %q, want the newest, runbooks", w)
	}
	b.SetWhere(Where{View: "runbooks"}) // no change, no wake-up
	notWoken(t, a)
}

func TestIdle(t *testing.T) {
	f := newFixture(t)
	a := f.hub.Join(alice())
	b := f.hub.Join(bob())
	drain(a)
	f.clk.Add(30 * time.Second)
	b.Touch()
	notWoken(t, a) // not shown idle yet: no wake-up per key
	f.clk.Add(2 * time.Minute)
	if idle := a.Peers()[1].Idle; idle != 2*time.Minute {
		t.Fatalf("bob idle %s, want 2m", idle)
	}
	b.Touch()
	woken(t, a) // back from idle
	if idle := a.Peers()[1].Idle; idle != 0 {
		t.Fatalf("bob idle %s after a key, want 0", idle)
	}
}

func TestLockHolderMatched(t *testing.T) {
	f := newFixture(t)
	a := f.hub.Join(alice())
	b := f.hub.Join(bob())
	if f.hub.Lock().Held {
		t.Fatal("a lock is shown before anyone took it")
	}
	l, err := ops.AcquireLock(f.dir, ops.Actor{User: "alice", Session: "s-alice"}, "restore architect.db")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	f.clk.Add(time.Second)
	drain(a)
	drain(b)
	ps := b.Peers()
	if !ps[0].HoldsLock || ps[1].HoldsLock {
		t.Fatalf("lock holder not matched to alice: %+v", ps)
	}
	woken(t, a) // the lock changed hands: everyone is woken
	if st := f.hub.Lock(); st.Holder != "alice" || st.Purpose != "restore architect.db" {
		t.Fatalf("lock state %+v", st)
	}
	// Read at most once per second: a release is seen after LockEvery.
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	f.clk.Add(500 * time.Millisecond)
	if !b.Peers()[0].HoldsLock {
		t.Fatal("the lock was read again within a second")
	}
	f.clk.Add(600 * time.Millisecond)
	if b.Peers()[0].HoldsLock {
		t.Fatal("a released lock is still shown after a second")
	}
	// A holder that is no session: shown by user@host.
	l2, err := ops.AcquireLock(f.dir, ops.Actor{User: "cron", Session: "x"}, "backup")
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Release()
	f.clk.Add(time.Second)
	if st := f.hub.Lock(); !st.Held || st.Session != "" || st.Holder == "" {
		t.Fatalf("a foreign holder: %+v", st)
	}
}

func TestHandover(t *testing.T) {
	f := newFixture(t)
	a := f.hub.Join(alice())
	b := f.hub.Join(bob())
	c := f.hub.Join(carol())
	t.Run("nothing to hand over", func(t *testing.T) {
		if _, err := a.Handover("bob"); err == nil {
			t.Fatal("a handover with no run and no lock was accepted")
		}
	})
	a.SetWhere(Where{View: "runbooks", Runbook: "restore-from-backup", RunID: "run-1", Step: 4})
	l, err := ops.AcquireLock(f.dir, ops.Actor{User: "alice", Session: "s-alice"}, "restore architect.db")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	for name, tc := range map[string]struct {
		m  *Member
		to string
	}{"to a viewer": {a, "carol"}, "to nobody": {a, "dave"}, "to self": {a, "alice"}, "from a viewer": {c, "bob"}} {
		t.Run(name, func(t *testing.T) {
			if _, err := tc.m.Handover(tc.to); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	drain(b)
	ho, err := a.Handover("bob")
	if err != nil {
		t.Fatal(err)
	}
	if !ho.LockPassed || ho.RunID != "run-1" {
		t.Fatalf("handover %+v", ho)
	}
	woken(t, b)
	got, ok := b.TakeHandover()
	if !ok || got.RunID != "run-1" || got.From.Name != "alice" {
		t.Fatalf("bob's handover: %+v %v", got, ok)
	}
	if _, again := b.TakeHandover(); again {
		t.Fatal("a handover was taken twice")
	}
	info, _, _ := ops.ReadLock(f.dir)
	if info.Actor.User != "bob" || info.Actor.Session != "s-bob" {
		t.Fatalf("lock holder after handover: %+v", info.Actor)
	}
	if ps := c.Peers(); ps[0].HoldsLock || !ps[1].HoldsLock || ps[0].RunID != "" {
		t.Fatalf("peers after handover: %+v", ps)
	}
	e, ok := f.j.find("handover")
	if !ok || e.Actor.User != "alice" || e.Params["to"] != "bob" || e.Params["lock_passed"] != true || e.RunID != "run-1" {
		t.Fatalf("handover entry: %+v", e)
	}
}

// waitPending waits until m sees a pending request (bounded).
func waitPending(t *testing.T, m *Member) Pending {
	t.Helper()
	for range 100 {
		if p := m.Pending(); len(p) > 0 {
			return p[0]
		}
		select {
		case <-m.Updates():
		case <-time.After(5 * time.Second):
			t.Fatal("no request became pending")
		}
	}
	t.Fatal("no request became pending")
	return Pending{}
}

func TestApprovals(t *testing.T) {
	req := Request{Runbook: "restore-from-backup", RunID: "run-1", Step: 4, Title: "Restore", Target: "reputation.db"}
	ask := func(m *Member, ctx context.Context) <-chan result {
		ch := make(chan result, 1)
		go func() { d, err := m.RequestApproval(ctx, req); ch <- result{d, err} }()
		return ch
	}
	got := func(t *testing.T, ch <-chan result) result {
		t.Helper()
		select {
		case r := <-ch:
			return r
		case <-time.After(5 * time.Second):
			t.Fatal("RequestApproval did not return")
		}
		return result{}
	}
	t.Run("approve unblocks", func(t *testing.T) {
		f := newFixture(t)
		a, b := f.hub.Join(alice()), f.hub.Join(bob())
		ch := ask(a, context.Background())
		p := waitPending(t, b)
		if len(a.Pending()) != 0 {
			t.Fatal("the requester sees its own request as one to answer")
		}
		f.clk.Add(3 * time.Second)
		if err := b.Approve(p.ID); err != nil {
			t.Fatal(err)
		}
		r := got(t, ch)
		if r.err != nil || !r.d.Approved || r.d.By.Name != "bob" || r.d.Latency != 3*time.Second {
			t.Fatalf("decision %+v %v", r.d, r.err)
		}
		e, ok := f.j.find("approval.granted")
		if !ok || e.Figures["latency_s"] != 3 || e.Actor.User != "bob" || e.Params["requester"] != "alice" {
			t.Fatalf("granted entry %+v", e)
		}
		if _, ok := f.j.find("approval.requested"); !ok {
			t.Fatal("the request was not journaled")
		}
		if err := b.Approve(p.ID); !errors.Is(err, ErrNoSuchRequest) {
			t.Fatalf("approved twice: %v", err)
		}
	})
	t.Run("deny", func(t *testing.T) {
		f := newFixture(t)
		a, b := f.hub.Join(alice()), f.hub.Join(bob())
		ch := ask(a, context.Background())
		if err := b.Deny(waitPending(t, b).ID); err != nil {
			t.Fatal(err)
		}
		if r := got(t, ch); r.err != nil || r.d.Approved {
			t.Fatalf("denied request: %+v %v", r.d, r.err)
		}
		if _, ok := f.j.find("approval.denied"); !ok {
			t.Fatal("the denial was not journaled")
		}
	})
	t.Run("ctx cancel", func(t *testing.T) {
		f := newFixture(t)
		a, b := f.hub.Join(alice()), f.hub.Join(bob())
		ctx, cancel := context.WithCancel(context.Background())
		ch := ask(a, ctx)
		p := waitPending(t, b)
		cancel()
		if r := got(t, ch); !errors.Is(r.err, context.Canceled) {
			t.Fatalf("cancelled request: %+v %v", r.d, r.err)
		}
		if len(b.Pending()) != 0 {
			t.Fatal("a cancelled request is still pending")
		}
		if err := b.Approve(p.ID); !errors.Is(err, ErrNoSuchRequest) {
			t.Fatalf("a cancelled request was approved: %v", err)
		}
		if _, ok := f.j.find("approval.cancelled"); !ok {
			t.Fatal("the cancellation was not journaled")
		}
	})
	t.Run("same key from another session refused", func(t *testing.T) {
		f := newFixture(t)
		a := f.hub.Join(alice())
		other := alice()
		other.Session, other.Addr = "s-alice-2", "10.0.0.9:6000"
		a2 := f.hub.Join(other)
		ch := ask(a, context.Background())
		p := waitPending(t, a2)
		if err := a2.Approve(p.ID); !errors.Is(err, ErrSelfApproval) {
			t.Fatalf("alice approved her own step from another session: %v", err)
		}
		if err := a2.Deny(p.ID); !errors.Is(err, ErrSelfApproval) {
			t.Fatalf("alice denied her own step from another session: %v", err)
		}
		b := f.hub.Join(bob())
		if err := b.Approve(p.ID); err != nil {
			t.Fatal(err)
		}
		if r := got(t, ch); !r.d.Approved {
			t.Fatal("not approved")
		}
	})
	t.Run("viewer refused", func(t *testing.T) {
		f := newFixture(t)
		a, c := f.hub.Join(alice()), f.hub.Join(carol())
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch := ask(a, ctx)
		p := waitPending(t, c)
		if err := c.Approve(p.ID); !errors.Is(err, ErrViewerApproval) {
			t.Fatalf("a viewer approved: %v", err)
		}
		if _, err := c.RequestApproval(ctx, req); !errors.Is(err, ErrViewerApproval) {
			t.Fatalf("a viewer asked approval: %v", err)
		}
		cancel()
		got(t, ch)
	})
	t.Run("requester leaves", func(t *testing.T) {
		f := newFixture(t)
		a, b := f.hub.Join(alice()), f.hub.Join(bob())
		ch := ask(a, context.Background())
		p := waitPending(t, b)
		a.Leave()
		if r := got(t, ch); !errors.Is(r.err, ErrLeft) {
			t.Fatalf("request of a session that left: %v", r.err)
		}
		if err := b.Approve(p.ID); !errors.Is(err, ErrNoSuchRequest) {
			t.Fatalf("approved the request of a session that left: %v", err)
		}
	})
}

func TestFollow(t *testing.T) {
	f := newFixture(t)
	a, b := f.hub.Join(alice()), f.hub.Join(bob())
	if err := b.Follow("dave"); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("followed nobody: %v", err)
	}
	if err := b.Follow("alice"); err != nil {
		t.Fatal(err)
	}
	drain(b)
	a.Publish(RunProgress{Runbook: "restore-from-backup", RunID: "run-1", Step: 4, Total: 6, Title: "Restore", State: "running",
		Lines: []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}})
	woken(t, b)
	name, run, gone, ok := b.Following()
	if !ok || gone || name != "alice" || run == nil || run.Step != 4 || len(run.Lines) != MaxLines || run.Lines[MaxLines-1] != "10" {
		t.Fatalf("following: %q %+v %v %v", name, run, gone, ok)
	}
	a.Leave()
	woken(t, b)
	if _, _, gone, _ := b.Following(); !gone {
		t.Fatal("the followed member left and is not shown gone")
	}
	b.Unfollow()
	if _, _, _, ok := b.Following(); ok {
		t.Fatal("still following after Unfollow")
	}
}
