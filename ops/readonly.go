package ops

import (
	"errors"
	"fmt"
)

// ErrReadOnlyMode is the refusal, in read-only mode (--read-only or
// console.read_only), of anything that writes to the live database: the
// commands and the runbooks' actions return it (wrapped with what was
// refused), so that callers test it with errors.Is and the operator reads
// one message. What counts as writing is decided once per command and
// once per action (runbooks' catalogue, ActionSpec.Writes). A drill only
// reads the live database and the backups (its scratch copy and report go
// to the state dir, repops' own) and stays allowed; a backup is refused
// (ErrReadOnlyBackup).
var ErrReadOnlyMode = errors.New("read-only mode (--read-only or console.read_only): this writes to the live database and is refused; nothing was changed")

// ErrReadOnlyBackup is read-only mode's refusal of a backup. Decision: a
// read-only console writes nothing beside the database: a backup writes
// files in the backup dir (beside the database by default) and its
// retention deletes old backups, so it is refused like the writers; it
// wraps ErrReadOnlyMode.
var ErrReadOnlyBackup = fmt.Errorf("%w (a backup writes the backup dir and its retention deletes old backups: run it without --read-only)", ErrReadOnlyMode)
