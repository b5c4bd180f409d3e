package ops

import (
	"errors"
	"testing"
)

func TestReassignLock(t *testing.T) {
	dir := t.TempDir()
	alice := Actor{User: "alice", Host: "h", Session: "s1"}
	bob := Actor{User: "bob", Host: "h", Session: "s2"}
	l, err := AcquireLock(dir, alice, "restore architect.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("not the holder", func(t *testing.T) {
		if _, err := ReassignLock(dir, bob, alice); !errors.Is(err, ErrNotLockHolder) {
			t.Fatalf("bob handed over alice's lock: %v", err)
		}
		if _, err := ReassignLock(dir, Actor{User: "alice", Session: "other"}, bob); !errors.Is(err, ErrNotLockHolder) {
			t.Fatalf("another session of alice handed over the lock: %v", err)
		}
	})
	t.Run("holder hands over", func(t *testing.T) {
		if _, err := ReassignLock(dir, alice, bob); err != nil {
			t.Fatal(err)
		}
		info, ok, err := ReadLock(dir)
		if err != nil || !ok {
			t.Fatalf("lock after handover: %v %v", ok, err)
		}
		if info.Actor.User != "bob" || info.Stale || info.Purpose != "restore architect.db" {
			t.Fatalf("lock after handover: %+v", info)
		}
		if _, err := AcquireLock(dir, alice, "x"); !errors.Is(err, ErrLockHeld) {
			t.Fatalf("the handed-over lock was free: %v", err)
		}
	})
	t.Run("release still frees it", func(t *testing.T) {
		if err := l.Release(); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := ReadLock(dir); ok {
			t.Fatal("the lock is still there after its procedure released it")
		}
		if _, err := ReassignLock(dir, bob, alice); !errors.Is(err, ErrNotLockHolder) {
			t.Fatalf("a missing lock was handed over: %v", err)
		}
	})
}
