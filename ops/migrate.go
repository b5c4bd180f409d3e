package ops

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/repops/repops/db"
)

// MigrateOptions are Migrate's inputs.
type MigrateOptions struct {
	DBPath string // the live database
	DB     db.Options
	// Create admits a missing or empty file and makes it the reputation
	// database ('repops migrate apply --create'); a runbook never does.
	Create bool
	// BackupDir, KeepLast and KeepWithin are the pre-migration backup's
	// dir and retention, as 'repops backup' takes it.
	BackupDir  string
	KeepLast   int
	KeepWithin time.Duration
	// StateDir holds the lock and the journal; Migrate writes to the live
	// database, so it is refused without one.
	StateDir string
	Actor    Actor
}

// MigrateResult is what Migrate found and did.
type MigrateResult struct {
	// Pending are the migrations that were pending, by name; none: the
	// database was up to date and nothing was done (no lock, no backup,
	// no journal entry).
	Pending []string
	// Backup is the pre-migration backup; nil for a new (missing or
	// empty) file, which has nothing to keep.
	Backup  *BackupResult
	Applied []db.Migration
	// Version is the schema version afterwards.
	Version int64
	// Took is the migrations' time, without the backup's.
	Took time.Duration
	// Recorded are applied migrations whose checksum a crash had kept from
	// being recorded (db.MissingChecksums), recorded by this run.
	Recorded []string
}

// SchemaAheadError is the refusal of a database whose applied versions
// include ones this repops does not know (unknown, as db.Status returns
// them): it belongs to a newer repops.
func SchemaAheadError(path string, unknown []int64) error {
	return &db.FileError{Path: path, Kind: db.ErrSchemaTooNew,
		Detail: fmt.Sprintf("version %d applied, this repops knows up to %d", unknown[len(unknown)-1], db.LatestVersion()),
		Hint:   "use the repops that matches the service's version"}
}

// Migrate is 'repops migrate apply', the guide's manage_migrations.sh
// apply, for the CLI and the runbook action alike:
//
//  1. the pre-flight (db.PreflightMigrate), read-only, before the file is
//     opened for writing (which switches it to WAL): a file that is not
//     the reputation database, one newer than this repops, or a damaged
//     one is refused, journaled, with not a byte of it changed;
//     o.Create admits a new or empty file;
//  2. the pending migrations; none: it returns at once, having changed
//     nothing;
//  3. as a Procedure that writes (Run: refused without a state dir), the
//     procedure lock across the backup and the migrations, and the
//     "migrate" entries: started with the pending migrations, ended with
//     the backup's path and the figures applied and seconds;
//  4. the pre-migration backup, the same as 'repops backup' (manifest,
//     checks, retention, its own journal entries), so that 'repops
//     backups', 'restore' and 'drill' know it; skipped for a new file. A
//     backup that fails stops the migration: nothing is applied;
//  5. each pending migration in its own transaction (db.Migrate). A
//     failure names the backup to restore.
func Migrate(ctx context.Context, o MigrateOptions, progress Progress) (*MigrateResult, error) {
	path := o.DBPath
	p := Procedure{Action: "migrate", Target: path, Purpose: "migrate " + filepath.Base(path),
		StateDir: o.StateDir, Actor: o.Actor, Writes: true, Progress: progress}
	if err := p.checkRecorded(); err != nil {
		return nil, err
	}
	st, statErr := os.Stat(path)
	isNew := errors.Is(statErr, fs.ErrNotExist) || (statErr == nil && st.Mode().IsRegular() && st.Size() == 0)
	opts := o.DB
	if err := db.PreflightMigrate(ctx, path, opts, o.Create); err != nil {
		JournalRefusal(Recorder{StateDir: o.StateDir, Actor: o.Actor}, "migrate", path, nil, err)
		return nil, err
	}
	opts.Create = o.Create
	w, err := db.OpenWrite(ctx, path, opts)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	states, unknown, err := db.Status(ctx, w)
	if err != nil {
		return nil, db.Classify(path, err)
	}
	if len(unknown) > 0 {
		return nil, SchemaAheadError(path, unknown)
	}
	res := &MigrateResult{}
	for _, s := range states {
		if !s.Applied {
			res.Pending = append(res.Pending, s.Name)
		}
	}
	if len(res.Pending) == 0 {
		// Nothing to apply; but a crash between a migration's commit and
		// the record of its checksum is repaired here, journaled.
		missing, err := db.MissingChecksums(ctx, w)
		if err != nil {
			return nil, db.Classify(path, err)
		}
		if len(missing) > 0 {
			p.Params = map[string]any{"record_checksums": strings.Join(missing, " ")}
			err := Run(ctx, p, func(ctx context.Context, r *Running) (map[string]float64, error) {
				r.SetMessage("recorded the checksum of " + strings.Join(missing, ", ") + ", applied before a crash kept it from being recorded")
				return map[string]float64{"recorded": float64(len(missing))}, db.RecordChecksums(ctx, w)
			})
			if err != nil {
				return nil, err
			}
			res.Recorded = missing
		}
		res.Version, _ = db.SchemaVersion(ctx, w)
		return res, nil
	}
	p.Params = map[string]any{"pending": strings.Join(res.Pending, " ")}
	ran := false
	err = Run(ctx, p, func(ctx context.Context, r *Running) (map[string]float64, error) {
		ran = true
		backup := ""
		if !isNew {
			b, err := Backup(ctx, BackupOptions{DBPath: path, Dir: o.BackupDir, StateDir: o.StateDir,
				KeepLast: o.KeepLast, KeepWithin: o.KeepWithin, Actor: r.Actor, Lock: r.Lock, Journal: r.Journal}, progress)
			if err != nil {
				return nil, fmt.Errorf("back up before migrating (nothing applied): %w", err)
			}
			res.Backup, backup = b, b.Path
		}
		r.SetParam("backup", backup)
		start := time.Now()
		applied, err := db.Migrate(ctx, w, path)
		res.Applied, res.Took = applied, time.Since(start)
		return map[string]float64{"applied": float64(len(applied)), "seconds": res.Took.Seconds()}, err
	})
	if !ran {
		return nil, fmt.Errorf("%w; nothing applied", err)
	}
	res.Version, _ = db.SchemaVersion(ctx, w)
	if err != nil && res.Backup != nil {
		b := res.Backup.Path
		err = fmt.Errorf("%w (the backup taken before is %s: 'repops restore %s' brings the database back to it)", err, b, filepath.Base(b))
	}
	return res, err
}
