package silence

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repops/repops/internal/fsutil"
)

// StoreFile is the local store's file in the state dir.
const StoreFile = "silences.json"

// KeepExpired is how long an ended silence stays in the local store, so
// that the list still shows what was silenced this morning.
const KeepExpired = 24 * time.Hour

// maxStoreSize bounds what the store reads: a file that large is not ours.
const maxStoreSize = 8 << 20

// Store is the local silence store: STATE_DIR/silences.json, rewritten
// atomically under an exclusive flock on STATE_DIR/silences.lock so that
// several repops processes can add at once without losing one another's
// silences.
type Store struct {
	dir string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// NewStore is the local store in stateDir.
func NewStore(stateDir string) *Store { return &Store{dir: stateDir} }

var _ Backend = (*Store)(nil)

// Name is SourceLocal.
func (s *Store) Name() string { return SourceLocal }

// Path is the store's file.
func (s *Store) Path() string { return filepath.Join(s.dir, StoreFile) }

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

type storeDoc struct {
	Silences []Silence `json:"silences"`
}

// read loads the file; a missing file is an empty store.
func (s *Store) read(ctx context.Context) ([]Silence, error) {
	b, err := fsutil.ReadRegularFile(ctx, s.Path(), maxStoreSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read silences %s: %w", s.Path(), err)
	}
	var doc storeDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("read silences %s: the file is damaged (%v): move it away to start an empty store", s.Path(), err)
	}
	return doc.Silences, nil
}

// update runs fn on the store's silences under the exclusive lock and
// writes the result atomically when fn returns nil.
func (s *Store) update(ctx context.Context, fn func([]Silence) ([]Silence, error)) error {
	if s.dir == "" {
		return errors.New("silences: no state dir configured (console.state_dir)")
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("silences: create state dir %s: %w", s.dir, err)
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	list, err := s.read(ctx)
	if err != nil {
		return err
	}
	list, err = fn(list)
	if err != nil {
		return err
	}
	// Ended silences are kept KeepExpired for the list, then dropped.
	now := s.now()
	kept := list[:0]
	for _, x := range list {
		if now.Sub(x.EndsAt) < KeepExpired {
			kept = append(kept, x)
		}
	}
	b, err := json.MarshalIndent(storeDoc{Silences: kept}, "", "  ")
	if err != nil {
		return fmt.Errorf("silences: encode: %w", err)
	}
	if err := fsutil.WriteAtomic(s.Path(), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("silences: write %s: %w", s.Path(), err)
	}
	return nil
}

// lockWait bounds the wait for another process's write.
const lockWait = 10 * time.Second

func (s *Store) lock(ctx context.Context) (func(), error) {
	path := filepath.Join(s.dir, "silences.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("silences: lock %s: %w", path, err)
	}
	deadline := time.Now().Add(lockWait)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("silences: lock %s: another repops holds it (%v); try again", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// NewID is a random silence id, UUID-shaped like Alertmanager's.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Create adds x with a new id.
func (s *Store) Create(ctx context.Context, x Silence) (Silence, error) {
	x.ID, x.Source, x.UpdatedAt = NewID(), SourceLocal, s.now().UTC()
	err := s.update(ctx, func(list []Silence) ([]Silence, error) { return append(list, x), nil })
	if err != nil {
		return Silence{}, err
	}
	return x, nil
}

// List returns the kept silences, newest first.
func (s *Store) List(ctx context.Context) ([]Silence, error) {
	list, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	sortNewest(list)
	return list, nil
}

// Expire ends id now.
func (s *Store) Expire(ctx context.Context, id string) error {
	return s.update(ctx, func(list []Silence) ([]Silence, error) {
		now := s.now()
		i, err := index(list, id)
		if err != nil {
			return nil, err
		}
		if !now.Before(list[i].EndsAt) {
			return nil, fmt.Errorf("silence %s: %w", list[i].ID, ErrExpired)
		}
		if now.Before(list[i].StartsAt) {
			list[i].StartsAt = now
		}
		list[i].EndsAt, list[i].UpdatedAt = now, now.UTC()
		return list, nil
	})
}

// Extend moves id's end to ends.
func (s *Store) Extend(ctx context.Context, id string, ends time.Time) (Silence, error) {
	var out Silence
	err := s.update(ctx, func(list []Silence) ([]Silence, error) {
		now := s.now()
		i, err := index(list, id)
		if err != nil {
			return nil, err
		}
		if !now.Before(list[i].EndsAt) {
			return nil, fmt.Errorf("silence %s: %w: add a new one", list[i].ID, ErrExpired)
		}
		list[i].EndsAt, list[i].UpdatedAt = ends, now.UTC()
		out = list[i]
		return list, nil
	})
	return out, err
}

func index(list []Silence, id string) (int, error) {
	x, err := Find(list, id)
	if err != nil {
		return 0, fmt.Errorf("silence %s: %w", id, err)
	}
	for i := range list {
		if list[i].ID == x.ID {
			return i, nil
		}
	}
	return 0, fmt.Errorf("silence %s: %w", id, ErrNotFound)
}
