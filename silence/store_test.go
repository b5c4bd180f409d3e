package silence

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func testSilence(now time.Time, d time.Duration, comment string) Silence {
	return Silence{Matchers: []Matcher{{"alertname", OpEqual, "ReputationApiErrorRate"}}, StartsAt: now, EndsAt: now.Add(d),
		CreatedBy: "alice@host", Comment: comment}
}

func TestStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	clock := now
	st := NewStore(t.TempDir())
	st.Now = func() time.Time { return clock }
	a, err := st.Create(ctx, testSilence(now, 4*time.Hour, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == "" || a.Source != SourceLocal {
		t.Fatalf("created %+v", a)
	}
	b, _ := st.Create(ctx, testSilence(now.Add(time.Second), time.Hour, "b"))
	list, err := st.List(ctx)
	if err != nil || len(list) != 2 || list[0].ID != b.ID {
		t.Fatalf("list %+v %v, want b then a", list, err)
	}
	ext, err := st.Extend(ctx, a.ID[:8], a.EndsAt.Add(time.Hour))
	if err != nil || !ext.EndsAt.Equal(a.EndsAt.Add(time.Hour)) {
		t.Fatalf("extend %+v %v", ext, err)
	}
	if err := st.Expire(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.Expire(ctx, b.ID); !errors.Is(err, ErrExpired) {
		t.Fatalf("expire twice: %v, want ErrExpired", err)
	}
	if _, err := st.Extend(ctx, b.ID, now.Add(time.Hour)); !errors.Is(err, ErrExpired) {
		t.Fatalf("extend an expired silence: %v, want ErrExpired", err)
	}
	if err := st.Expire(ctx, "nope-nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expire unknown: %v", err)
	}
	// An ended silence is kept KeepExpired for the list, then dropped at
	// the next write.
	clock = now.Add(KeepExpired + time.Minute)
	if _, err := st.Create(ctx, testSilence(clock, time.Hour, "c")); err != nil {
		t.Fatal(err)
	}
	list, _ = st.List(ctx)
	for _, x := range list {
		if x.ID == b.ID {
			t.Fatalf("expired silence kept past %s: %+v", KeepExpired, list)
		}
	}
	if len(list) != 2 {
		t.Fatalf("list %+v, want a (extended, still within KeepExpired of its end) and c", list)
	}
}

func TestStoreDamagedFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, StoreFile)
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	st := NewStore(dir)
	_, err := st.Create(context.Background(), testSilence(time.Now(), time.Hour, "x"))
	if err == nil || !strings.Contains(err.Error(), "damaged") || !strings.Contains(err.Error(), path) {
		t.Fatalf("err %v, want the damaged file named", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "{not json" {
		t.Fatalf("the damaged file was changed: %q", b)
	}
}

// TestStoreTwoProcesses adds silences from two processes at once (this
// test binary, re-run as a helper): the flock keeps every one.
func TestStoreTwoProcesses(t *testing.T) {
	dir := t.TempDir()
	const each = 25
	var cmds []*exec.Cmd
	for p := range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperAdd$")
		cmd.Env = append(os.Environ(), "SILENCE_HELPER_DIR="+dir, "SILENCE_HELPER_N="+strconv.Itoa(each), "SILENCE_HELPER_TAG=p"+strconv.Itoa(p))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("helper: %v", err)
		}
	}
	list, err := NewStore(dir).List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, x := range list {
		seen[x.Comment] = true
	}
	for p := range 2 {
		for i := range each {
			if c := fmt.Sprintf("p%d-%d", p, i); !seen[c] {
				t.Errorf("silence %s lost", c)
			}
		}
	}
	if len(list) != 2*each {
		t.Fatalf("%d silences, want %d", len(list), 2*each)
	}
}

// TestHelperAdd is the helper process of TestStoreTwoProcesses.
func TestHelperAdd(t *testing.T) {
	dir := os.Getenv("SILENCE_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process of TestStoreTwoProcesses")
	}
	n, _ := strconv.Atoi(os.Getenv("SILENCE_HELPER_N"))
	st := NewStore(dir)
	for i := range n {
		if _, err := st.Create(context.Background(), testSilence(time.Now(), time.Hour, fmt.Sprintf("%s-%d", os.Getenv("SILENCE_HELPER_TAG"), i))); err != nil {
			t.Fatal(err)
		}
	}
}
