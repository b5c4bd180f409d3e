package ops

import "errors"

// ErrReadOnlyMode is the refusal, in read-only mode (--read-only or
// console.read_only), of anything that writes to the live database: the
// commands and the runbooks' actions return it (wrapped with what was
// refused), so that callers test it with errors.Is and the operator reads
// one message. What counts as writing is decided once per command and
// once per action (runbooks' catalogue, ActionSpec.Writes): backup and
// drill only read the live database and stay allowed.
var ErrReadOnlyMode = errors.New("read-only mode (--read-only or console.read_only): this writes to the live database and is refused; nothing was changed")
