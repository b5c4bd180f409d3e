package replicate

import (
	"context"
	"fmt"
)

// RefuseCheckpoint refuses a TRUNCATE checkpoint of dbPath while Litestream
// replicates it (nil otherwise). Decision: Litestream holds a read lock on
// the WAL between its syncs and runs its own checkpoints; a TRUNCATE (or
// RESTART) beside it waits on that lock with the write lock held, so the
// service's writes stall for the whole busy timeout (litestream#724,
// measured in safety_test.go: seconds without a commit). 'repops optimize
// checkpoint' and the runbooks' checkpoint action ask it first.
func RefuseCheckpoint(ctx context.Context, dbPath string) error {
	procs, err := FindProcesses(ctx, dbPath)
	if err != nil || len(procs) == 0 {
		return nil
	}
	return fmt.Errorf("optimize checkpoint refused: Litestream (pid %d) replicates %s and runs its own checkpoints; a TRUNCATE beside its read lock would stall the service's writes for the busy timeout (litestream#724): stop Litestream first (systemctl stop litestream), or leave the WAL to it; nothing was changed", procs[0].Pid, dbPath)
}
