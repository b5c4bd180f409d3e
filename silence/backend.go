package silence

import (
	"context"
	"errors"
	"time"
)

// Backend is where silences live: Alertmanager or the local store. Every
// method either does what it says or returns an error and changes
// nothing it can know of.
type Backend interface {
	// Name is SourceAlertmanager or SourceLocal.
	Name() string
	// Create stores s (already validated) and returns it with its id.
	Create(ctx context.Context, s Silence) (Silence, error)
	// List returns every silence, expired ones still kept included.
	List(ctx context.Context) ([]Silence, error)
	// Expire ends silence id now.
	Expire(ctx context.Context, id string) error
	// Extend moves silence id's end to ends; the returned silence may
	// carry a new id (Alertmanager replaces a silence it cannot update).
	Extend(ctx context.Context, id string, ends time.Time) (Silence, error)
}

// ErrNotFound is a silence id that the backend does not know.
var ErrNotFound = errors.New("no such silence")

// ErrExpired is an attempt to change a silence that is already over.
var ErrExpired = errors.New("the silence has already ended")

// Find is the silence id (or a unique prefix of it, as the list shows
// it) among list.
func Find(list []Silence, id string) (Silence, error) {
	var hit []Silence
	for _, s := range list {
		if s.ID == id {
			return s, nil
		}
		if len(id) >= 4 && len(s.ID) > len(id) && s.ID[:len(id)] == id {
			hit = append(hit, s)
		}
	}
	switch len(hit) {
	case 1:
		return hit[0], nil
	case 0:
		return Silence{}, ErrNotFound
	}
	return Silence{}, errors.New("the id prefix " + id + " matches several silences: give more of it")
}
