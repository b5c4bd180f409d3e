package db

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// fileOpeners are the calls that open (or replace) a file by its path.
// Outside this package each use must be in ownerAllowed: a descriptor of
// the live database opened and closed behind SQLite's back drops every
// lock of the process (see live.go).
var fileOpeners = map[string]bool{
	"os.Open": true, "os.OpenFile": true, "os.ReadFile": true, "os.Create": true,
	"os.WriteFile": true, "os.Truncate": true, "os.Rename": true,
	"unix.Open": true, "unix.Openat": true, "syscall.Open": true,
}

// ownerAllowed lists, by "dir/file.go:Func", the functions outside db that
// open files by path, and why none of those files is a live database or
// its -wal or -shm. Adding a line here is a claim a reviewer checks.
var ownerAllowed = map[string]string{
	"cmd/repops/alertjournal.go:alertJournal.holds":      "STATE_DIR/collector.lock, the collectors' flock for journaling transitions",
	"ops/lock_reassign.go:ReassignLock":                  "the procedure lock file in the state dir (a handover rewrites its holder)",
	"serve/hostkey.go:LoadHostKey":                       "the SSH host key file (config validation refuses the database's path and its companions)",
	"serve/hostkey.go:generateHostKey":                   "creates the SSH host key file 0600 (O_EXCL), never an existing file",
	"serve/keys.go:ParseKeys":                            "the serve keys file (config validation refuses the database's path and its companions)",
	"silence/store.go:Store.lock":                        "STATE_DIR/silences.lock, the local silences store's flock",
	"cmd/repops/console.go:startCPUProfile":              "the CPU profile file named by an environment variable",
	"config/logging.go:appendFile.Write":                 "the log file",
	"config/logging.go:newLogger":                        "the log file",
	"internal/fsutil/readfile.go:readOpened":             "config, manifests and run state: regular files, read-only, size-bounded",
	"internal/testsupport/testsupport.go:hashAndMtime":   "the tests' own fixture files (the package is imported only by tests)",
	"internal/fsutil/write.go:CreateTemp":                "new temp files with random names, O_EXCL|O_NOFOLLOW",
	"internal/fsutil/write.go:syncPath":                  "fsyncs directories and finished temp files, never a live database (db.SyncWAL borrows SQLite's descriptor)",
	"internal/fsutil/write.go:WriteAtomic":               "renames its own temp file",
	"ops/backup.go:backupLocked":                         "renames the finished backup's temp file into the backup dir",
	"ops/archive_schema.go:prepareArchiveFile":           "creates a new archive file 0600 (O_CREAT|O_EXCL|O_NOFOLLOW) before SQLite opens it; an existing file is never opened (and the live database is refused as the archive file)",
	"ops/drill.go:writeDrillReport":                      "the drill's report in the state dir",
	"ops/growth.go:ReadSnapshots":                        "the growth snapshots file in the state dir",
	"ops/growth.go:appendSnapshot":                       "the growth snapshots file in the state dir",
	"ops/journal.go:flockDir":                            "flocks the state dir (a directory)",
	"ops/journal.go:journalHolder":                       "F_GETLK on a damaged ops journal and its -shm, with no connection of this process open to it",
	"ops/journal.go:setJournalAside":                     "renames a damaged ops journal and its -wal/-shm aside",
	"ops/livecopy.go:copyLive":                           "creates the backup's new temp file (O_EXCL|O_NOFOLLOW)",
	"ops/lock.go:inspectLock":                            "the procedure lock file in the state dir",
	"ops/restore.go:procComm":                            "/proc/PID/comm of a process holding the database",
	"cmd/repops/demo_litestream.go:demoLitestream.Start": "the demo's Litestream log file in the state dir (litestream-demo.log), never a database",
	"ops/restore.go:safetyCopyLocked":                    "renames the safety copy's temp file in the backup dir",
	"ops/sqlitecopy.go:copyFileSync":                     "copies a finished backup (never the live database) into a scratch or temp file",
	"ops/sqlitecopy.go:FileSHA256":                       "hashes a finished backup or a drill's scratch copy",
	"runbooks/catalogue.go:Load":                         "runbook override files",
	"runbooks/state.go:lockRun":                          "a runbook run's lock file in the state dir",
	"tui/journal.go:exportJournalCmd":                    "the journal export file the operator names",
	"tui/model.go:Model.writeScreenCmd":                  "the screenshot file",
}

// TestOnlyDBOpensTheLiveFile fails when a package other than db opens a
// file by path (or lists /proc/self/fd, to borrow a descriptor) in a
// function not reviewed in ownerAllowed.
func TestOnlyDBOpensTheLiveFile(t *testing.T) {
	root := ".."
	fset := token.NewFileSet()
	var found []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			switch {
			case rel == "db", strings.HasPrefix(rel, "."), rel == "bin", rel == "data", rel == "chaos":
				if rel != "." {
					return filepath.SkipDir
				}
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			name := fn.Name.Name
			if fn.Recv != nil && len(fn.Recv.List) == 1 {
				name = recvName(fn.Recv.List[0].Type) + "." + name
			}
			key := filepath.ToSlash(rel) + ":" + name
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				switch x := n.(type) {
				case *ast.CallExpr:
					if sel, ok := x.Fun.(*ast.SelectorExpr); ok {
						if id, ok := sel.X.(*ast.Ident); ok && fileOpeners[id.Name+"."+sel.Sel.Name] {
							if _, ok := ownerAllowed[key]; !ok {
								found = append(found, key+" calls "+id.Name+"."+sel.Sel.Name)
							}
						}
					}
				case *ast.BasicLit:
					if x.Kind == token.STRING {
						if s, err := strconv.Unquote(x.Value); err == nil && strings.Contains(s, "/proc/self/fd") {
							found = append(found, key+" reads /proc/self/fd")
						}
					}
				}
				return true
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(found)
	found = dedup(found)
	for _, f := range found {
		t.Errorf("%s: only package db opens a database's files (see db/live.go, \"The live file has one owner\"): go through db, or, if this file can never be a live database or its -wal/-shm, add the function to ownerAllowed with the reason", f)
	}
	for k := range ownerAllowed {
		file := strings.SplitN(k, ":", 2)[0]
		if _, err := os.Stat(filepath.Join(root, file)); err != nil {
			t.Errorf("ownerAllowed names %s, which no longer exists: remove the line", k)
		}
	}
}

func recvName(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.StarExpr:
		return recvName(x.X)
	case *ast.Ident:
		return x.Name
	case *ast.IndexExpr:
		return recvName(x.X)
	}
	return "?"
}

func dedup(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
