package db

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHoldersCountsConnectionsByOwner: every connection this package
// opens is counted under its owner until it closes.
func TestHoldersCountsConnectionsByOwner(t *testing.T) {
	path := newMigratedDB(t)
	ctx := context.Background()
	if h := Holders(path); len(h) != 0 {
		t.Fatalf("holders before any pool: %v", h)
	}
	r, err := OpenRead(ctx, path, Options{Owner: "console", MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	w, err := OpenWrite(ctx, path, Options{Owner: "simulator"})
	if err != nil {
		t.Fatal(err)
	}
	h := Holders(path)
	if len(h) != 2 || h[0] != (Holder{Owner: "console", Conns: 1}) || h[1] != (Holder{Owner: "simulator", Conns: 1}) {
		t.Fatalf("holders = %v, want console and simulator with one connection each", h)
	}
	// Another path to the same file counts for the same file.
	if h := Holders(filepath.Join(filepath.Dir(path), ".", filepath.Base(path))); len(h) != 2 {
		t.Fatalf("holders by another spelling of the path = %v", h)
	}
	r.Close()
	w.Close()
	if h := Holders(path); len(h) != 0 {
		t.Fatalf("holders after closing both pools: %v", h)
	}
}

// TestHandleFollowsAReplacedFile: a Handle reopens when the file at its
// path is another one (replaced by a rename, as another process's offline
// restore does), so it never goes on reading the old inode.
func TestHandleFollowsAReplacedFile(t *testing.T) {
	path := newMigratedDB(t)
	other := newMigratedDB(t)
	execOn(t, other, `INSERT INTO appeals (user_id, reason, status, created_at, updated_at) VALUES ('u', 'r', 'pending', datetime('now'), datetime('now'))`)
	ctx := context.Background()
	h := NewHandle(path, false, Options{Owner: "console"})
	defer h.Close()
	count := func() int {
		p, err := h.DB(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := p.QueryRowContext(ctx, `SELECT count(*) FROM appeals`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 0 {
		t.Fatalf("appeals = %d, want 0", n)
	}
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("after the file was replaced the handle reads %d appeals, want the new file's 1", n)
	}
}

// TestSwapClosesHandlesAndRefusesOtherHolders: Swap closes every Handle's
// pool, runs fn with none of this process's connections open (fn may open
// its own), and refuses, changing nothing, while another pool is open.
func TestSwapClosesHandlesAndRefusesOtherHolders(t *testing.T) {
	path := newMigratedDB(t)
	ctx := context.Background()
	h := NewHandle(path, true, Options{Owner: "simulator"})
	defer h.Close()
	if _, err := h.DB(ctx); err != nil {
		t.Fatal(err)
	}
	ran := false
	err := Swap(ctx, path, func(ctx context.Context) error {
		ran = true
		if hs := Holders(path); len(hs) != 0 {
			t.Errorf("inside Swap this process still holds %v", hs)
		}
		// fn may open the file itself without waiting for its own gate.
		w, err := OpenWrite(ctx, path, Options{Owner: "restore"})
		if err != nil {
			return err
		}
		return w.Close()
	})
	if err != nil || !ran {
		t.Fatalf("Swap = %v (ran %v)", err, ran)
	}
	if _, err := h.DB(ctx); err != nil {
		t.Fatalf("the handle does not reopen after a swap: %v", err)
	}

	other, err := OpenRead(ctx, path, Options{Owner: "runbook check", MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := other.Conn(ctx) // keep it checked out: Close of the pool cannot take it
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer func(w time.Duration) { swapWait = w }(swapWait)
	swapWait = 50 * time.Millisecond
	done := make(chan error, 1)
	go func() {
		done <- Swap(ctx, path, func(context.Context) error {
			t.Error("Swap ran fn while another connection was open")
			return nil
		})
	}()
	err = <-done
	if !errors.Is(err, ErrHeld) {
		t.Fatalf("Swap with another pool open = %v, want ErrHeld", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "runbook check") {
		t.Fatalf("the refusal does not name the holder: %s", msg)
	}
}

// TestSwapWhileAHandleOpens: a Handle opening the file (its mutex held,
// its open waiting for the gate) when a Swap starts neither deadlocks
// with it nor keeps its pool open through the swap.
func TestSwapWhileAHandleOpens(t *testing.T) {
	path := newMigratedDB(t)
	ctx := context.Background()
	h := NewHandle(path, false, Options{Owner: "console"})
	defer h.Close()
	f := fileFor(path)
	if err := f.enter(ctx); err != nil { // as a connection opening elsewhere
		t.Fatal(err)
	}
	opened := make(chan error, 1)
	go func() { _, err := h.DB(ctx); opened <- err }()
	for h.mu.TryLock() { // until DB holds the handle's mutex
		h.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	swapped := make(chan error, 1)
	go func() {
		swapped <- Swap(ctx, path, func(context.Context) error {
			if hs := Holders(path); len(hs) != 0 {
				t.Errorf("inside Swap this process still holds %v", hs)
			}
			return nil
		})
	}()
	f.leave(ctx)
	deadline := time.After(30 * time.Second)
	for i := 0; i < 2; i++ {
		select {
		case err := <-opened:
			if err != nil {
				t.Errorf("DB: %v", err)
			}
		case err := <-swapped:
			if err != nil {
				t.Errorf("Swap: %v", err)
			}
		case <-deadline:
			t.Fatal("Swap and a Handle opening the file wait for each other")
		}
	}
	if _, err := h.DB(ctx); err != nil {
		t.Fatalf("the handle does not reopen after the swap: %v", err)
	}
}
