package replicate

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/repops/repops/internal/fsutil"
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

// RefuseRestore refuses to replace dbPath while Litestream replicates it
// (nil otherwise). Decision: a restore replaces the database under
// Litestream's feet; its replica would go on from positions of the file
// that is gone, so a later point-in-time restore could mix the two
// histories. Stop Litestream, restore, start it again (it then begins a
// new generation from the restored file), as the runbooks say.
func RefuseRestore(ctx context.Context, dbPath string) error {
	procs, err := FindProcesses(ctx, dbPath)
	if err != nil || len(procs) == 0 {
		return nil
	}
	how := "stop it first (systemctl stop litestream), restore, then start it again"
	if parentOf(procs[0].Pid) == os.Getpid() {
		// The demo's own Litestream, a child of this process.
		how = "stop it first (':scenario replication-stopped'), restore, then ':scenario normal' starts it again"
	}
	return fmt.Errorf("restore refused: Litestream (pid %d) replicates %s; %s, so that its replica starts from the restored file; nothing was changed", procs[0].Pid, dbPath, how)
}

// parentOf is the parent pid of pid (0 when it cannot be read).
func parentOf(pid int) int {
	b, err := fsutil.ReadRegularFile(context.Background(), fmt.Sprintf("/proc/%d/stat", pid), 4096)
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return 0
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}
