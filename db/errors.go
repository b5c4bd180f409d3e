package db

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mattn/go-sqlite3"
)

// Sentinel errors for the ways a database file can be unusable. Callers branch
// on them with errors.Is; the user sees the *FileError that wraps them.
var (
	ErrNotFound      = errors.New("no such file")
	ErrUnreadable    = errors.New("cannot be read (permission denied)")
	ErrIsDirectory   = errors.New("is a directory, not a database file")
	ErrEmpty         = errors.New("is empty (0 bytes), not a database")
	ErrNotSQLite     = errors.New("is not an SQLite database")
	ErrCorrupt       = errors.New("is corrupt")
	ErrLocked        = errors.New("is locked by another connection")
	ErrReadOnly      = errors.New("is read-only")
	ErrSchemaTooNew  = errors.New("has a schema newer than this repops knows")
	ErrNoSchema      = errors.New("has no reputation schema")
	ErrDiskFull      = errors.New("disk is full")
	ErrSchemaInvalid = errors.New("schema does not match the expected one")
)

// FileError is what every failure to use a database file becomes: the file,
// what went wrong (one of the sentinels above, through Unwrap), the detail
// SQLite or the OS gave, and what the operator should do next. Its message is
// one line.
type FileError struct {
	Path   string
	Kind   error  // one of the sentinel errors
	Detail string // the underlying cause, may be empty
	Hint   string // what to do next, may be empty
}

func (e *FileError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "database %s %s", e.Path, e.Kind)
	if e.Detail != "" {
		fmt.Fprintf(&b, " (%s)", e.Detail)
	}
	if e.Hint != "" {
		b.WriteString(": ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// Unwrap lets errors.Is match the sentinel.
func (e *FileError) Unwrap() error { return e.Kind }

// hints says, for each kind of failure, what the operator does next.
var hints = map[error]string{
	ErrNotFound:     "check the path (--db, DATABASE_PATH or database.path); repops never creates a database except with 'repops migrate apply --create'",
	ErrUnreadable:   "run repops as a user that can read it (the service's user), or fix its permissions",
	ErrIsDirectory:  "give the path of the database file itself",
	ErrEmpty:        "this is not the service's database; check the path, or restore it from a backup",
	ErrNotSQLite:    "check the path; this file is something else",
	ErrCorrupt:      "run 'repops check --full', then restore from the latest backup ('repops restore')",
	ErrLocked:       "another process holds the write lock; retry, or find it with 'fuser' and wait for it",
	ErrReadOnly:     "run on a writable copy, fix the permissions, or use a read-only command",
	ErrSchemaTooNew: "use the repops that matches the service's version",
	ErrNoSchema:     "apply the migrations with 'repops migrate apply', or check the path",
	ErrDiskFull:     "free space on the database's filesystem and retry; nothing was changed",
}

// fileError builds the FileError of the given kind with its standard hint.
func fileError(path string, kind error, detail string) *FileError {
	return &FileError{Path: path, Kind: kind, Detail: detail, Hint: hints[kind]}
}

// Classify turns an error from SQLite about the database at path into a
// FileError of the right kind when it is one of the known failures, and
// returns it unchanged otherwise. Every package that talks to a database
// passes its errors through here so that the user sees one kind of message.
func Classify(path string, err error) error {
	if err == nil {
		return nil
	}
	var fe *FileError
	if errors.As(err, &fe) {
		return err
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrCorrupt:
			return fileError(path, ErrCorrupt, se.Error())
		case sqlite3.ErrNotADB:
			return fileError(path, ErrNotSQLite, se.Error())
		case sqlite3.ErrBusy, sqlite3.ErrLocked:
			return fileError(path, ErrLocked, se.Error())
		case sqlite3.ErrReadonly:
			return fileError(path, ErrReadOnly, se.Error())
		case sqlite3.ErrFull:
			return fileError(path, ErrDiskFull, se.Error())
		}
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "malformed"):
		return fileError(path, ErrCorrupt, msg)
	case strings.Contains(msg, "file is not a database"):
		return fileError(path, ErrNotSQLite, msg)
	case strings.Contains(msg, "database is locked"):
		return fileError(path, ErrLocked, msg)
	case strings.Contains(msg, "readonly database"), strings.Contains(msg, "read-only file system"):
		return fileError(path, ErrReadOnly, msg)
	case strings.Contains(msg, "database or disk is full"), strings.Contains(msg, "no space left"):
		return fileError(path, ErrDiskFull, msg)
	}
	return err
}
