package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"charm.land/bubbles/v2/key"
	_ "github.com/mattn/go-sqlite3"

	"github.com/repops/repops/tui"
)

// TestReadOnlyWritesNothing is the proof of --read-only (issue 16): the
// built binary, opened on the demo database with --read-only, is driven
// through every key of the console's key map (read from tui.KeyMap by
// reflection, not a hand list) in every view and mode, and through every
// ':' command (read from tui/command.go's source), answering y or typing
// the word of any confirmation that appears, and pressing enter after
// each key; and through every runbook (from 'repops runbook list'),
// started and walked to its end: each step done, its confirmation
// answered, and skipped with a reason when it does not move on (a step
// that writes is refused in read-only mode). Then nothing was written:
//
//   - the database, its -wal and its -shm have the size and mtime they had;
//   - PRAGMA data_version, read on one connection (mode=ro) held open from
//     before the first console starts to after the last one quit, is
//     unchanged: no other connection committed anything;
//   - no file or directory was created, removed or changed (size, mtime)
//     in the database's directory, recursively (the default backup dir is
//     there: a backup taken in read-only mode is a leak).
//
// The database is a WAL database, and its -wal (empty) and -shm are there
// before the run: the demo's generation leaves them. A reader of a WAL
// database needs the wal-index (-shm), and SQLite (3.22 and later)
// creates the -wal and -shm even for a mode=ro connection when the
// directory can be written; so the observing connection is opened, and has
// read once, before the baseline is taken: then the files exist, their
// wal-index is live (the observer holds it), and no console connection has
// a reason to create, recover or truncate them. A read of an unchanged
// database finds a read mark already set to the WAL's last frame and
// writes nothing to the -shm.
//
// Decision on the state dir: it is outside the database's directory (as in
// e2e_test.go's setup, and as the default ~/.local/state/repops is), and
// read-only mode may write there: it is the console's own state, not the
// database's — the collector state 'repops status' reads, the ops journal
// (a run's steps, refusals included), the screens ('w') and the journal
// exports ('e'). The issue asks that nothing be written next to the
// database; what the state dir gained is logged, not refused.
//
// The console is the plain one ('repops --read-only --db X'), not
// 'repops demo': the demo's simulated service writes to the demo database
// by design, whatever the console's mode, so without it the scenario keys
// (F1..F8, S) and ':scenario' are driven too but only say that scenarios
// exist only in the demo.
//
// REPOPS_E2E_NO_READONLY=1 runs the same drive without --read-only: the
// test must then fail (it is how the test is shown to catch a leak).
func TestReadOnlyWritesNothing(t *testing.T) {
	started := time.Now()
	// Every wait below has its own deadline; this one bounds the drive.
	deadline := started.Add(80 * time.Second)

	root := t.TempDir()
	dbDir := filepath.Join(root, "db")
	stateDir := filepath.Join(root, "state")
	work := filepath.Join(root, "work")
	for _, d := range []string{dbDir, stateDir, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dbPath := filepath.Join(dbDir, "demo.db")
	cfgPath := filepath.Join(root, "readonly.yml")
	// A refresh every 2 s: seventeen consoles share the machine, and a
	// console starved of CPU reads an escape and the next key together
	// (alt+key).
	cfg := fmt.Sprintf("console:\n  refresh_interval: 2s\n  state_dir: %s\n", stateDir)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	runCLI := func(args ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append([]string{"--config", cfgPath, "--db", dbPath}, args...)...)
		cmd.Dir = work
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("repops %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	// The demo database (it writes: before the baseline), and the ids of
	// the runbooks the console can open.
	runCLI("demo", "--db", dbPath, "--appeals", "300", "--summary")
	var list struct {
		Runbooks []struct {
			ID    string `json:"id"`
			Title string `json:"title"`
			Steps int    `json:"steps"`
		} `json:"runbooks"`
	}
	if err := json.Unmarshal(runCLI("runbook", "list", "--json"), &list); err != nil || len(list.Runbooks) == 0 {
		t.Fatalf("repops runbook list --json: %v (%d runbooks)", err, len(list.Runbooks))
	}
	var runbookIDs []string
	titles := map[string]string{}
	for _, r := range list.Runbooks {
		runbookIDs = append(runbookIDs, r.ID)
		titles[r.ID] = r.Title
	}
	if titles["backup"] == "" {
		t.Fatal("no runbook backup: the run this test starts")
	}

	km := tui.DefaultKeyMap()
	keys := keyMapKeys(t, km)
	commands := commandInputs(t, runbookIDs)

	// The observer: one connection, read-only, held open across the run.
	dataVersion := dataVersionObserver(t, dbPath)
	dv0 := dataVersion()
	before := snapshot(t, dbDir)
	stateBefore := snapshot(t, stateDir)
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if fi, ok := before[filepath.Base(dbPath)+suffix]; ok {
			t.Logf("before: %s%s %d bytes, mtime %s", filepath.Base(dbPath), suffix, fi.size, fi.mtime.Format(time.RFC3339Nano))
		} else {
			t.Logf("before: %s%s does not exist", filepath.Base(dbPath), suffix)
		}
	}

	flag := "--read-only"
	if os.Getenv("REPOPS_E2E_NO_READONLY") == "1" {
		flag = ""
		t.Log("REPOPS_E2E_NO_READONLY=1: driving the console WITHOUT --read-only; this run must fail")
	}
	// Each worker is one console in its own tmux session, restarted when
	// a key quits it: the shell loop waits for a line before starting it
	// again.
	consoleCmd := fmt.Sprintf("while :; do NO_COLOR= %s %s --config %s --db %s 2>>%s; echo '[exited]'; read x; done",
		bin, flag, cfgPath, dbPath, filepath.Join(work, "stderr.txt"))

	// The views and modes, each reached from anywhere by an escape and
	// these steps; every key is pressed in each. A view is reached by its
	// keys and shown as it was left (an alert's details, a scrolled
	// help): that is a state of the view like any other, so it is not
	// waited for by its look. What is typed is: the command line must be
	// open first, or the text would be read as keys.
	view := func(keys ...key.Binding) []step {
		var out []step
		for _, b := range keys {
			out = append(out, step{key: first(b)})
		}
		return out
	}
	cmdline := regexp.MustCompile(`(?m)^:`)
	// A runbook opened or started by a ':' command shows its title first
	// on its page and its run; an unfinished run of it (left by a console
	// that quit) is offered first, and the offer is answered with its
	// "new run" key.
	title := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(titles["backup"]) + ` `)
	newRun := regexp.MustCompile(`unfinished run: .*?(\S+) new run`)
	typed := func(s string) []step {
		return []step{{key: first(km.Command)}, {wait: cmdline}, {text: s}, {key: "enter"}, {wait: title, answer: newRun}}
	}
	contexts := append(viewContexts(km, view, cmdline),
		drive{name: "runbook page", nav: typed("open backup")},
		// A run started (or continued), at whichever step it is; and one
		// taken past its first step (a check of the disk) to the second,
		// the backup: a file written beside the database unless refused.
		drive{name: "run", nav: typed("run backup")},
		drive{name: "run, past step 1", nav: append(typed("run backup"),
			step{key: first(km.Do), while: regexp.MustCompile(`Step 1 of \d+`)}, step{wait: title})},
	)
	// Every runbook walked through, in six workers of their own.
	const walkers = 6
	for i := 0; i < walkers; i++ {
		d := drive{name: fmt.Sprintf("runbook walk %d", i+1)}
		for j := i; j < len(list.Runbooks); j += walkers {
			r := list.Runbooks[j]
			d.walk = append(d.walk, runbook{id: r.ID, title: r.Title, steps: r.Steps})
		}
		contexts = append(contexts, d)
	}
	// The typed commands, in three workers of their own.
	for i := 0; i < 3; i++ {
		d := drive{name: fmt.Sprintf("commands %d", i+1)}
		for j := i; j < len(commands); j += 3 {
			d.commands = append(d.commands, commands[j])
		}
		contexts = append(contexts, d)
	}

	// One console per view: the drive is mostly waiting for the
	// screen, not the CPU.
	workers := len(contexts)
	// The consoles run on a tmux server of their own (-L): other tests
	// on the machine (e2e_test.go's, another engineer's) use the default
	// server, and what they do to it must not end this drive.
	socket := fmt.Sprintf("repops-readonly-%d", os.Getpid())
	t.Cleanup(func() { endServer(socket) })
	names := make([]string, workers)
	for i := range names {
		names[i] = fmt.Sprintf("ro-%d", i)
		cmd := exec.Command("tmux", "-L", socket, "new-session", "-d", "-s", names[i], "-x", "100", "-y", "30", "-c", work, consoleCmd)
		cmd.Env = append(os.Environ(), "TERM=xterm-256color")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("tmux new-session: %v\n%s", err, out)
		}
	}
	env := driveEnv{km: km, keys: keys, deadline: deadline}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		errs   []string
		counts []string
		notes  []string
	)
	for w := 0; w < workers; w++ {
		var mine []drive
		for j := w; j < len(contexts); j += workers {
			mine = append(mine, contexts[j])
		}
		wg.Add(1)
		go func(name string, mine []drive) {
			defer wg.Done()
			c := &console{socket: socket, session: name, env: env}
			err := c.run(mine)
			mu.Lock()
			defer mu.Unlock()
			counts = append(counts, fmt.Sprintf("%d presses, %d restarts, %d steps walked", c.presses, c.restarts, c.walked))
			notes = append(notes, c.notes...)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", name, err))
			}
		}(names[w], mine)
	}
	wg.Wait()
	for _, e := range errs {
		t.Error(e)
	}
	views := 0
	for _, d := range contexts {
		if d.nav != nil {
			views++
		}
	}
	t.Logf("%d keys from the key map × %d views and modes, %d typed commands, %d runbooks walked, %d consoles: %s; %.1fs",
		len(keys), views, len(commands), len(list.Runbooks), workers, strings.Join(counts, "; "), time.Since(started).Seconds())
	if len(notes) > 0 {
		sort.Strings(notes)
		t.Logf("runbook walks not taken to their end: %s", strings.Join(notes, "; "))
	}

	// Every console has quit (its connections closed): now the proof.
	if dv := dataVersion(); dv != dv0 {
		t.Errorf("PRAGMA data_version changed from %d to %d: another connection committed a write", dv0, dv)
	}
	after := snapshot(t, dbDir)
	for _, d := range diff(before, after) {
		t.Errorf("in the database's directory: %s", d)
	}
	if d := diff(stateBefore, snapshot(t, stateDir)); len(d) > 0 {
		t.Logf("the state dir (outside the database's directory; allowed) changed: %d entries, e.g. %s", len(d), strings.Join(d[:min(len(d), 5)], "; "))
	}
	if b, _ := os.ReadFile(filepath.Join(work, "stderr.txt")); len(strings.TrimSpace(string(b))) > 0 {
		t.Logf("the consoles' stderr:\n%s", b)
	}
	if flag == "" && !t.Failed() {
		t.Errorf("without --read-only the drive wrote nothing: the test cannot tell a leak")
	}
}

// keyMapKeys is every key of every binding of km, in the order of
// tui.KeyMap's fields, read by reflection: a binding added to the key map
// is driven without this test changing. A key this test cannot send
// through tmux fails it.
func keyMapKeys(t *testing.T, km tui.KeyMap) []string {
	t.Helper()
	var out []string
	seen := map[string]bool{}
	v := reflect.ValueOf(km)
	bt := reflect.TypeOf(key.Binding{})
	for i := 0; i < v.NumField(); i++ {
		if v.Field(i).Type() != bt {
			t.Fatalf("tui.KeyMap.%s is a %s, not a key.Binding: teach readonly_test.go to read it", v.Type().Field(i).Name, v.Field(i).Type())
		}
		b := v.Field(i).Interface().(key.Binding)
		for _, k := range b.Keys() {
			if _, err := tmuxKey(k); err != nil {
				t.Fatalf("tui.KeyMap.%s: %v", v.Type().Field(i).Name, err)
			}
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	if len(out) < 20 {
		t.Fatalf("only %d keys read from tui.KeyMap: %v", len(out), out)
	}
	return out
}

// tmuxKey is the tmux send-keys argument for a bubbles key name; literal
// says it is sent with -l (one printable character).
func tmuxKey(k string) (arg string, err error) {
	named := map[string]string{
		"esc": "Escape", "enter": "Enter", "tab": "Tab", "shift+tab": "BTab", "space": "Space",
		"up": "Up", "down": "Down", "left": "Left", "right": "Right",
		"pgup": "PageUp", "pgdown": "PageDown", "home": "Home", "end": "End",
		"backspace": "BSpace", "delete": "DC", "insert": "IC",
	}
	switch {
	case len([]rune(k)) == 1:
		return k, nil
	case named[k] != "":
		return named[k], nil
	case strings.HasPrefix(k, "ctrl+") && len(k) == len("ctrl+")+1:
		return "C-" + k[len("ctrl+"):], nil
	case strings.HasPrefix(k, "alt+") && len([]rune(k)) == len("alt+")+1:
		return "M-" + k[len("alt+"):], nil
	case regexp.MustCompile(`^f([1-9]|1[0-2])$`).MatchString(k):
		return "F" + k[1:], nil
	}
	return "", fmt.Errorf("key %q: no tmux name for it", k)
}

// commandInputs is every ':' command the console knows, read from
// tui/command.go's source: the verbs of execCommand's cases and the words
// of commandWords; a verb whose entry in commandGroups takes a
// <runbook-id> is also typed with each runbook id, one with an optional
// [argument] bare and with "x".
func commandInputs(t *testing.T, runbookIDs []string) []string {
	t.Helper()
	src := filepath.Join("..", "command.go")
	f, err := parser.ParseFile(token.NewFileSet(), src, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var verbs, groups []string
	str := func(e ast.Expr) (string, bool) {
		if l, ok := e.(*ast.BasicLit); ok && l.Kind == token.STRING {
			s, err := strconv.Unquote(l.Value)
			return s, err == nil
		}
		return "", false
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncDecl:
			if n.Name.Name == "execCommand" || n.Name.Name == "commandWords" {
				ast.Inspect(n.Body, func(n ast.Node) bool {
					switch n := n.(type) {
					case *ast.CaseClause:
						for _, e := range n.List {
							if s, ok := str(e); ok && s != "" {
								verbs = append(verbs, s)
							}
						}
					case *ast.CompositeLit:
						for _, e := range n.Elts {
							if s, ok := str(e); ok {
								verbs = append(verbs, s)
							}
						}
					}
					return true
				})
			}
			return false
		case *ast.ValueSpec:
			for _, name := range n.Names {
				if name.Name == "commandGroups" {
					ast.Inspect(n, func(n ast.Node) bool {
						if l, ok := n.(*ast.BasicLit); ok {
							if s, ok := str(l); ok {
								groups = append(groups, s)
							}
						}
						return true
					})
				}
			}
		}
		return true
	})
	if len(verbs) < 10 || len(groups) < 10 {
		t.Fatalf("read %d verbs and %d commands from %s: its shape changed, teach readonly_test.go", len(verbs), len(groups), src)
	}
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, v := range verbs {
		add(v)
	}
	for _, g := range groups {
		f := strings.Fields(g)
		switch {
		case len(f) == 1:
			add(f[0])
		case f[1] == "<runbook-id>":
			for _, id := range runbookIDs {
				add(f[0] + " " + id)
			}
		case strings.HasPrefix(f[1], "["):
			add(f[0])
			add(f[0] + " x")
		default:
			add(f[0] + " x")
		}
	}
	// Sorted, so that the workers share them out the same way each run.
	sort.Strings(out)
	return out
}

// step is one thing done to reach a view: a key (bubbles name), literal
// text, or a wait for the screen to match.
type step struct {
	key  string
	text string
	wait *regexp.Regexp
	// answer, while waiting, is a question whose first group is the key
	// that answers it.
	answer *regexp.Regexp
	// while: the key is pressed while the screen matches (a few times at
	// most).
	while *regexp.Regexp
}

// drive is one view or mode, reached by nav, in which every key is
// pressed; or, with commands, the ':' commands typed one by one.
type drive struct {
	name     string
	nav      []step
	commands []string
	// walk: runbooks started and walked to their end, every step done
	// (its confirmation answered) or, when refused, skipped.
	walk []runbook
}

type runbook struct {
	id, title string
	steps     int
}

type driveEnv struct {
	km       tui.KeyMap
	keys     []string
	deadline time.Time
}

// console drives one tmux session; it runs on its own goroutine, so it
// reports errors rather than failing the test.
type console struct {
	socket, session   string
	env               driveEnv
	presses, restarts int
	walked            int
	// notes: the runbooks a walk did not take to their end.
	notes []string
}

var (
	// confirmYN is a question answered with y.
	confirmYN = regexp.MustCompile(`(?i)\by/n\b`)
	// confirmWord is a question answered by typing a word (not a step's
	// description, "destructive: type X to run it").
	confirmWord = regexp.MustCompile(`type (\S+) to run \S+ \(`)
	banner      = regexp.MustCompile(`repops · `)
)

func (c *console) tmux(args ...string) error {
	out, err := exec.Command("tmux", append([]string{"-L", c.socket}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("tmux %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func (c *console) screen() (string, error) {
	out, err := exec.Command("tmux", "-L", c.socket, "capture-pane", "-p", "-t", c.session).Output()
	return string(out), err
}

// press sends one bubbles key and lets the console read it alone (an
// escape followed at once by a key would read as alt+key).
func (c *console) press(k string) error {
	if time.Now().After(c.env.deadline) {
		return errors.New("the drive's deadline passed")
	}
	arg, err := tmuxKey(k)
	if err != nil {
		return err
	}
	if len([]rune(k)) == 1 {
		err = c.tmux("send-keys", "-t", c.session, "-l", arg)
	} else {
		err = c.tmux("send-keys", "-t", c.session, arg)
	}
	c.presses++
	pause := 30 * time.Millisecond
	if k == "esc" {
		pause = 120 * time.Millisecond
	}
	time.Sleep(pause)
	return err
}

func (c *console) text(s string) error {
	time.Sleep(20 * time.Millisecond)
	return c.tmux("send-keys", "-t", c.session, "-l", s)
}

// wait polls the screen until re matches (or the console quit: then it
// is restarted and the wait fails).
func (c *console) wait(re, answer *regexp.Regexp, d time.Duration) (string, error) {
	end := time.Now().Add(d)
	for {
		s, err := c.screen()
		if err != nil {
			return s, err
		}
		if re.MatchString(s) {
			return s, nil
		}
		if answer != nil {
			if m := answer.FindStringSubmatch(s); m != nil {
				if err := c.press(m[1]); err != nil {
					return s, err
				}
				time.Sleep(100 * time.Millisecond)
				continue
			}
		}
		if time.Now().After(end) || time.Now().After(c.env.deadline) {
			return s, fmt.Errorf("waiting %s for %s; the screen:\n%s", d, re, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settle answers what a key left on the screen: a quit console is
// started again, a y/N question gets y, a typed confirmation its word.
func (c *console) settle() error {
	time.Sleep(120 * time.Millisecond)
	for i := 0; i < 3; i++ {
		s, err := c.screen()
		if err != nil {
			return err
		}
		switch {
		case strings.Contains(s, "[exited]"):
			return c.restart()
		case confirmWord.MatchString(s):
			if err := c.text(confirmWord.FindStringSubmatch(s)[1]); err != nil {
				return err
			}
			if err := c.press("enter"); err != nil {
				return err
			}
		case confirmYN.MatchString(s):
			if err := c.press("y"); err != nil {
				return err
			}
		default:
			return nil
		}
		time.Sleep(120 * time.Millisecond)
	}
	return nil
}

func (c *console) restart() error {
	c.restarts++
	if err := c.tmux("send-keys", "-t", c.session, "Enter"); err != nil {
		return err
	}
	_, err := c.wait(banner, nil, 10*time.Second)
	return err
}

// reset leaves any mode (input, question, help) with an escape and
// reaches d's view; when the view does not show (a mode one escape did
// not leave, a key read with the escape as alt+key), it tries again.
func (c *console) reset(d drive) error {
	var last error
	for try := 0; try < 4; try++ {
		if err := c.press("esc"); err != nil {
			return err
		}
		if last = c.nav(d); last == nil {
			return nil
		}
		if err := c.settle(); err != nil {
			return err
		}
	}
	return fmt.Errorf("reaching %s: %w", d.name, last)
}

func (c *console) nav(d drive) error {
	for _, s := range d.nav {
		var err error
		switch {
		case s.while != nil:
			for i := 0; i < 5; i++ {
				time.Sleep(150 * time.Millisecond)
				scr, err := c.screen()
				if err != nil || !s.while.MatchString(scr) {
					break
				}
				if err = c.press(s.key); err != nil {
					return err
				}
			}
		case s.key != "":
			err = c.press(s.key)
		case s.text != "":
			err = c.text(s.text)
		case s.wait != nil:
			_, err = c.wait(s.wait, s.answer, 3*time.Second)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

var (
	stepOf   = regexp.MustCompile(`Step (\d+) of (\d+)`)
	newRunRe = regexp.MustCompile(`unfinished run: .*?(\S+) new run`)
)

// walk starts runbook r and takes it to its end: each step done, its
// confirmation answered (y, or the word to type); a step that does not
// move on (refused in read-only mode, or waiting for something) skipped
// with a reason. It stops at the run's end, or when neither moves it on.
func (c *console) walk(r runbook) error {
	title := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(r.title) + ` `)
	status := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(r.title) + ` · (\w+) · run `)
	d := drive{name: "run " + r.id, nav: []step{{key: first(c.env.km.Command)}, {wait: regexp.MustCompile(`(?m)^:`)},
		{text: "run " + r.id}, {key: "enter"}, {wait: title, answer: newRunRe}}}
	if err := c.reset(d); err != nil {
		return err
	}
	// moved waits for the step shown to change from cur.
	moved := func(cur string, d time.Duration) (string, bool, error) {
		end := time.Now().Add(d)
		for {
			s, err := c.screen()
			if err != nil {
				return "", false, err
			}
			if strings.Contains(s, "[exited]") {
				return "", false, errors.New("the console quit during the walk")
			}
			// Moved: another step shown, or the run no longer running
			// (finished, failed, aborted: then there is no next step).
			m := stepOf.FindString(s)
			if st := status.FindStringSubmatch(s); st != nil && st[1] != "running" && st[1] != "paused" {
				return "", true, nil
			}
			if m != "" && m != cur {
				return m, true, nil
			}
			if time.Now().After(end) || time.Now().After(c.env.deadline) {
				return m, false, nil
			}
			time.Sleep(60 * time.Millisecond)
		}
	}
	s, err := c.screen()
	if err != nil {
		return err
	}
	cur := stepOf.FindString(s)
	for i := 0; i < r.steps+2 && cur != ""; i++ {
		for _, k := range c.env.km.Do.Keys() {
			if err := c.press(k); err != nil {
				return err
			}
		}
		if err := c.settle(); err != nil {
			return err
		}
		next, ok, err := moved(cur, 3*time.Second)
		if err != nil {
			return err
		}
		if !ok {
			if err := c.press(first(c.env.km.Skip)); err != nil {
				return err
			}
			if err := c.text("e2e read-only walk"); err != nil {
				return err
			}
			if err := c.press("enter"); err != nil {
				return err
			}
			if err := c.settle(); err != nil {
				return err
			}
			if next, ok, err = moved(cur, 2*time.Second); err != nil || !ok {
				c.notes = append(c.notes, fmt.Sprintf("%s stopped at %s", r.id, cur))
				return err
			}
		}
		c.walked++
		cur = next
	}
	if cur != "" {
		c.notes = append(c.notes, fmt.Sprintf("%s left at %s", r.id, cur))
	}
	return nil
}

func (c *console) run(drives []drive) error {
	if _, err := c.wait(banner, nil, 20*time.Second); err != nil {
		return fmt.Errorf("the console did not start: %w", err)
	}
	for _, d := range drives {
		keys := c.env.keys
		if d.commands != nil || d.walk != nil {
			keys = nil
		}
		for _, r := range d.walk {
			if err := c.walk(r); err != nil {
				return fmt.Errorf("%s: %w", r.id, err)
			}
		}
		for _, k := range keys {
			if err := c.reset(d); err != nil {
				return err
			}
			if err := c.press(k); err != nil {
				return fmt.Errorf("%s, key %s: %w", d.name, k, err)
			}
			if err := c.settle(); err != nil {
				return fmt.Errorf("%s, key %s: %w", d.name, k, err)
			}
			if err := c.press("enter"); err != nil {
				return fmt.Errorf("%s, key %s then enter: %w", d.name, k, err)
			}
			if err := c.settle(); err != nil {
				return fmt.Errorf("%s, key %s then enter: %w", d.name, k, err)
			}
		}
		for _, cmd := range d.commands {
			if err := c.reset(drive{name: d.name}); err != nil {
				return err
			}
			if err := c.press(first(c.env.km.Command)); err != nil {
				return err
			}
			if err := c.text(cmd); err != nil {
				return err
			}
			if err := c.press("enter"); err != nil {
				return err
			}
			if err := c.settle(); err != nil {
				return fmt.Errorf(":%s: %w", cmd, err)
			}
			// Then the step's key and enter (a run just started, a
			// runbook page opened).
			for _, k := range append(c.env.km.Do.Keys(), "enter") {
				if err := c.press(k); err != nil {
					return err
				}
				if err := c.settle(); err != nil {
					return fmt.Errorf(":%s then %s: %w", cmd, k, err)
				}
			}
		}
	}
	// Quit, so that every connection of the console is closed before the
	// files are compared.
	if err := c.reset(drive{name: "quit"}); err != nil {
		return err
	}
	for i := 0; i < 3; i++ {
		if err := c.press(first(c.env.km.Quit)); err != nil {
			return err
		}
		time.Sleep(150 * time.Millisecond)
		s, err := c.screen()
		if err != nil {
			return err
		}
		if confirmYN.MatchString(s) {
			if err := c.press("y"); err != nil {
				return err
			}
		}
		if _, err := c.wait(regexp.MustCompile(`\[exited\]`), nil, 3*time.Second); err == nil {
			return nil
		}
	}
	return errors.New("the console did not quit")
}

// endServer ends the tmux server on socket and every process that was
// under its panes (proc_test.go's descendants), so that no console is
// left running.
func endServer(socket string) {
	out, _ := exec.Command("tmux", "-L", socket, "list-panes", "-a", "-F", "#{pane_pid}").Output()
	var procs []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			procs = append(append(procs, pid), descendants(pid)...)
		}
	}
	_ = exec.Command("tmux", "-L", socket, "kill-server").Run()
	for _, p := range procs {
		if alive(p) {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	}
}

func first(b key.Binding) string { return b.Keys()[0] }

// entry is what is compared of a file: its kind, size and mtime.
type entry struct {
	dir   bool
	size  int64
	mtime time.Time
}

// snapshot is every file and directory under dir, the dir itself as ".".
func snapshot(t *testing.T, dir string) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = entry{dir: fi.IsDir(), size: fi.Size(), mtime: fi.ModTime()}
		return nil
	})
	if err != nil {
		t.Fatalf("list %s: %v", dir, err)
	}
	return out
}

// diff says what was created, removed or changed between two snapshots.
func diff(before, after map[string]entry) []string {
	var out []string
	for p, a := range after {
		b, ok := before[p]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s created (%d bytes)", p, a.size))
		case a.dir && b.dir && a.mtime.Equal(b.mtime):
		case a.dir != b.dir:
			out = append(out, fmt.Sprintf("%s replaced", p))
		case a.size != b.size || !a.mtime.Equal(b.mtime):
			out = append(out, fmt.Sprintf("%s changed: %d bytes, mtime %s -> %d bytes, mtime %s",
				p, b.size, b.mtime.Format(time.RFC3339Nano), a.size, a.mtime.Format(time.RFC3339Nano)))
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			out = append(out, p+" removed")
		}
	}
	sort.Strings(out)
	return out
}

// dataVersionObserver holds one read-only connection to dbPath open for
// the rest of the test and returns its PRAGMA data_version: the number
// moves when another connection commits a change to the file.
func dataVersionObserver(t *testing.T, dbPath string) func() int64 {
	t.Helper()
	obs, err := sql.Open("sqlite3", "file:"+dbPath+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { obs.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	conn, err := obs.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return func() int64 {
		t.Helper()
		var v int64
		if err := conn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v); err != nil {
			t.Fatalf("PRAGMA data_version: %v", err)
		}
		return v
	}
}

// viewContexts are the drives to every view of the console, the local
// one and a served one alike: the dashboard's five tabs, the alerts, the
// tables, the journal, the runbooks, the help and the command line.
func viewContexts(km tui.KeyMap, view func(...key.Binding) []step, cmdline *regexp.Regexp) []drive {
	var out []drive
	for i, tab := range []key.Binding{km.Tab1, km.Tab2, km.Tab3, km.Tab4, km.Tab5} {
		out = append(out, drive{name: fmt.Sprintf("dashboard tab %d", i+1), nav: view(km.Dashboard, tab)})
	}
	return append(out,
		drive{name: "alerts", nav: view(km.Alerts)},
		drive{name: "tables", nav: view(km.Tables)},
		drive{name: "journal", nav: view(km.Journal)},
		drive{name: "runbooks", nav: view(km.Runbooks)},
		drive{name: "help", nav: view(km.Help)},
		drive{name: "command mode", nav: append(view(km.Command), step{wait: cmdline})},
	)
}
