package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/testsupport"
)

// The restore drill at 80x24, driven only by what the screen shows: the
// driver reads the screen after every key and presses only what it names
// (the drillHint bar's key for "run"/"mark done", the chooser's key for "use
// this backup", the text a typed confirmation asks for and the key that
// confirms it, the help's key for the runbooks, the list's filter key).
// Nothing is a hard-coded key sequence; the only text the driver brings
// is the runbook's id, typed into the filter the screen offers.
//
// Keys are counted as presses: one key, or one typed string (its
// characters are counted apart). A key spent on scrolling (page/line
// down to bring a step's instructions into view) is counted apart and
// fails the test, and so does a step whose instructions or next action
// are not on the screen.

// drillRunbook is the runbook the drill runs: the one whose steps restore
// the live database from a backup (dr-drill restores into a scratch file).
const drillRunbook = "restore-from-backup"

// drillMarker is the user_id of the rows added after the backup: the
// restore must remove them.
const drillMarker = "drill-after-backup"

// drillResult is what a driven drill cost.
type drillResult struct {
	openKeys, runKeys int // presses to the run's first step; from there to the end
	chars             int // characters sent (a typed string counts each of its characters)
	scrollKeys        int // presses spent scrolling to read a step
	invisible         []string
	shortestOpen      int // ':' + "open <id>" + enter, enter on the page: the runbook read before it runs
	shortestRun       int // from the catalogue: one per step, +1 per backup chooser, +2 per typed confirmation
	runID             string
	log               []string
	dir, dbPath, cfg  string
	backupRows        int
}

// drillHint is one entry of the key-hints bar: "x run restore" is key "x",
// label "run restore".
type drillHint struct{ key, label string }

// drillHintBar parses the screen's last non-empty line.
func drillHintBar(screen string) []drillHint {
	lines := strings.Split(strings.TrimRight(screen, "\n "), "\n")
	if len(lines) == 0 {
		return nil
	}
	var out []drillHint
	for _, e := range regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(lines[len(lines)-1]), -1) {
		f := strings.SplitN(e, " ", 2)
		if len(f) == 2 {
			out = append(out, drillHint{f[0], f[1]})
		}
	}
	return out
}

// drillHintFor is the key the drillHint bar names for a label matching re.
func drillHintFor(screen string, re *regexp.Regexp) (string, bool) {
	for _, h := range drillHintBar(screen) {
		if re.MatchString(h.label) {
			return h.key, true
		}
	}
	return "", false
}

// drillKeyName turns a key as the screen names it ("enter", "esc", "↓/j",
// "pgdn/space", "x") into what tmux sends, and whether it is literal.
func drillKeyName(name string) (string, bool) {
	named := map[string]string{"enter": "Enter", "esc": "Escape", "tab": "Tab", "space": "Space",
		"pgdn": "PageDown", "pgup": "PageUp", "↓": "Down", "↑": "Up", "home": "Home", "end": "End", "backspace": "BSpace"}
	for _, alt := range strings.Split(name, "/") {
		if k, ok := named[alt]; ok {
			return k, false
		}
		if len(alt) == 1 && alt[0] > ' ' && alt[0] < 0x7f {
			return alt, true
		}
		if strings.HasPrefix(alt, "ctrl+") && len(alt) == 6 {
			return "C-" + alt[5:], false
		}
	}
	if name == "/" {
		return "/", true
	}
	return name, false
}

// drillStep is a step of the runbook as the catalogue writes it.
type drillStep struct {
	title, prose     string
	chooser, confirm bool
}

func drillCatalogue(tb testing.TB, id string) []drillStep {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "runbooks", "catalogue", id+".md"))
	if err != nil {
		tb.Fatal(err)
	}
	var steps []drillStep
	inCode := false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "```"):
			inCode = !inCode
		case inCode && len(steps) > 0:
			s := &steps[len(steps)-1]
			if regexp.MustCompile(`params:.*\bbackup:`).MatchString(line) {
				s.chooser = true
			}
			if strings.Contains(line, "confirm: typed") {
				s.confirm = true
			}
		case strings.HasPrefix(line, "## "):
			steps = append(steps, drillStep{title: strings.TrimPrefix(line, "## ")})
		case len(steps) > 0:
			steps[len(steps)-1].prose += " " + line
		}
	}
	return steps
}

// drillSqueeze drops whitespace and backticks, so that text wrapped and
// styled on the screen compares with the catalogue's.
func drillSqueeze(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r == '`' || r == '│' {
			return -1
		}
		return r
	}, s)
}

// drillProseTail is the end of a step's prose (after its last placeholder),
// which must be on the screen for the whole instruction to be.
func drillProseTail(prose string) string {
	if i := strings.LastIndex(prose, "}}"); i >= 0 {
		prose = prose[i+2:]
	}
	s := drillSqueeze(prose)
	if len(s) > 30 {
		s = s[len(s)-30:]
	}
	return s
}

// drillPaneText is the run view's right pane (right of "│"), or the screen.
func drillPaneText(screen string) string {
	var b strings.Builder
	for _, line := range strings.Split(screen, "\n") {
		if i := strings.Index(line, "│"); i >= 0 {
			line = line[i+len("│"):]
		}
		b.WriteString(line + " ")
	}
	return b.String()
}

var (
	reDrillStep     = regexp.MustCompile(`Step (\d+) of (\d+): (.+)`)
	reDrillFinished = regexp.MustCompile(`The run is finished\.`)
	reDrillTyped    = regexp.MustCompile(`(?s)type (\S+) to run [^;]*?\n›`)
	reDrillChooser  = regexp.MustCompile(`choose the backup to `)
	reDrillRunID    = regexp.MustCompile(`· run (` + drillRunbook + `-\S+)`)
	reDrillRunView  = regexp.MustCompile(`· running · run `)
	reDrillList     = regexp.MustCompile(`(?m)^Runbooks  .*\d+ of \d+`)
	reDrillPage     = regexp.MustCompile(regexp.QuoteMeta(drillRunbook) + ` · \w+ · \d+ steps`)
	reDrillHelp     = regexp.MustCompile(`(?m)^Help  `)
)

// drillState names where the console is, for waiting on a change.
func drillState(s string) string {
	switch {
	case reDrillFinished.MatchString(s):
		return "finished"
	case reDrillTyped.MatchString(s):
		return "typed"
	case reDrillChooser.MatchString(s):
		return "chooser " + reDrillStep.FindString(s)
	case reDrillRunView.MatchString(s) && reDrillStep.MatchString(s):
		return "step " + reDrillStep.FindStringSubmatch(s)[1]
	case reDrillPage.MatchString(s):
		return "page"
	case reDrillList.MatchString(s):
		return "list " + regexp.MustCompile(`(?m)^▸ \S+`).FindString(s) + fmt.Sprint(drillFilterActive(s))
	case reDrillHelp.MatchString(s):
		return "help"
	}
	return "other"
}

// drillFilterActive: the list's filter input is open (in the list's head:
// "Runbooks  /text▏ 1 of 24 match").
func drillFilterActive(s string) bool {
	return regexp.MustCompile(`(?m)^Runbooks  /\S*▏`).MatchString(s)
}

// setUpDrill builds a demo database of 300 appeals, takes a backup, adds
// rows after it, and writes the console's config (1 s refresh, state in
// dir, a dead metrics URL).
func setUpDrill(tb testing.TB) *drillResult {
	tb.Helper()
	dir := tb.TempDir()
	r := &drillResult{dir: dir, dbPath: filepath.Join(dir, "architect.db"), cfg: filepath.Join(dir, "drill.yml")}
	cfg := fmt.Sprintf("console:\n  refresh_interval: 1s\n  state_dir: %s\n  sources:\n    metrics_url: http://127.0.0.1:1/metrics\n", filepath.Join(dir, "state"))
	if err := os.WriteFile(r.cfg, []byte(cfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	// demo --summary builds the database and takes no backup: the backup
	// is taken with 'repops backup'.
	for _, args := range [][]string{
		{"demo", "--db", r.dbPath, "--appeals", "300", "--summary"},
		{"--config", r.cfg, "--db", r.dbPath, "backup"},
	} {
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			tb.Fatalf("repops %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	r.backupRows = testsupport.CountRows(tb, r.dbPath, "appeals")
	now := time.Now().UTC().Format("2006-01-02 15:04:05")
	var stmts []string
	for i := 0; i < 3; i++ {
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO appeals (user_id, reason, status, created_at, updated_at) VALUES ('%s', 'added after the backup', 'pending', '%s', '%s')`, drillMarker, now, now))
	}
	testsupport.ExecSQL(tb, r.dbPath, stmts...)
	return r
}

// driveRestoreDrill runs the drill at w x h and returns what it cost.
func driveRestoreDrill(tb testing.TB, w, h int) *drillResult {
	tb.Helper()
	r := setUpDrill(tb)
	steps := drillCatalogue(tb, drillRunbook)
	// The shortest way to a guided run: the runbook's page, then start
	// (':run ID' skips the page: 3 keys, not a guided run).
	r.shortestOpen = 4
	for _, s := range steps {
		r.shortestRun++
		if s.chooser {
			r.shortestRun++
		}
		if s.confirm {
			r.shortestRun += 2
		}
	}
	p := startTerm(tb, r.dir, w, h, fmt.Sprintf("NO_COLOR= %s --config %s --db %s 2>stderr.txt", bin, r.cfg, r.dbPath))

	deadline := time.Now().Add(3 * time.Minute)
	running := false
	press := func(why, key string, literal bool) {
		tb.Helper()
		if running {
			r.runKeys++
		} else {
			r.openKeys++
		}
		if literal {
			r.chars += len([]rune(key))
		} else {
			r.chars++
		}
		r.log = append(r.log, fmt.Sprintf("%-8q %s", key, why))
		if literal {
			p.text(key)
		} else {
			p.keys(key)
		}
	}
	pressNamed := func(why, name string) {
		tb.Helper()
		k, lit := drillKeyName(name)
		press(why+" ("+name+")", k, lit)
	}
	// waitChange waits for the screen to leave state from (bounded).
	waitChange := func(from string) string {
		tb.Helper()
		end := time.Now().Add(30 * time.Second)
		for {
			s := p.screen()
			if drillState(s) != from {
				// Let the frame settle.
				time.Sleep(150 * time.Millisecond)
				return p.screen()
			}
			if time.Now().After(end) || strings.Contains(s, "[exited]") {
				tb.Fatalf("the screen stayed at %q for 30 s after the last key; keys so far:\n%s\nthe screen:\n%s", from, strings.Join(r.log, "\n"), s)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	s := ""
	for end := time.Now().Add(30 * time.Second); ; {
		s = p.screen()
		if strings.Contains(s, "refreshed") && len(drillHintBar(s)) > 0 {
			break
		}
		if time.Now().After(end) || strings.Contains(s, "[exited]") {
			tb.Fatalf("no console within 30 s:\n%s", s)
		}
		time.Sleep(100 * time.Millisecond)
	}
	seen := map[string]int{}
	for {
		if time.Now().After(deadline) {
			tb.Fatalf("the drill did not end within 3 minutes; keys:\n%s\nthe screen:\n%s", strings.Join(r.log, "\n"), s)
		}
		st := drillState(s)
		if seen[st]++; seen[st] > 6 {
			tb.Fatalf("the driver went round at %q; keys:\n%s\nthe screen:\n%s", st, strings.Join(r.log, "\n"), s)
		}
		if st == "finished" {
			break
		}
		switch {
		case strings.HasPrefix(st, "step "):
			running = true
			if m := reDrillRunID.FindStringSubmatch(s); m != nil {
				r.runID = m[1]
			}
			m := reDrillStep.FindStringSubmatch(s)
			var n int
			fmt.Sscan(m[1], &n)
			if n < 1 || n > len(steps) {
				tb.Fatalf("step %d of a runbook of %d steps:\n%s", n, len(steps), s)
			}
			cs := steps[n-1]
			visible := func(s string) []string {
				var miss []string
				pane := drillSqueeze(drillPaneText(s))
				if tail := drillProseTail(cs.prose); tail != "" && !strings.Contains(pane, tail) {
					miss = append(miss, fmt.Sprintf("the end of its instructions (%q)", tail))
				}
				if cs.confirm && !regexp.MustCompile(`type\S+torunit`).MatchString(pane) {
					miss = append(miss, "what to type to run it")
				}
				if _, ok := drillHintFor(s, regexp.MustCompile(`^(mark done|run .+)$`)); !ok {
					miss = append(miss, "the key that does the step")
				}
				return miss
			}
			miss := visible(s)
			for i := 0; len(miss) > 0 && i < 10; i++ {
				k, ok := drillHintFor(s, regexp.MustCompile(`page down|^down$|scroll`))
				if !ok {
					break
				}
				k, lit := drillKeyName(k)
				r.scrollKeys++
				press("scroll to read step "+m[1], k, lit)
				time.Sleep(300 * time.Millisecond)
				s = p.screen()
				miss = visible(s)
			}
			if len(miss) > 0 {
				r.invisible = append(r.invisible, fmt.Sprintf("step %s (%s): not visible at %dx%d: %s\n%s", m[1], m[3], w, h, strings.Join(miss, ", "), s))
			}
			k, ok := drillHintFor(s, regexp.MustCompile(`^(mark done|run .+)$`))
			if !ok {
				tb.Fatalf("no key to do step %s on the screen:\n%s", m[1], s)
			}
			pressNamed("do step "+m[1]+" "+m[3], k)
		case st == "typed":
			m := reDrillTyped.FindStringSubmatch(s)
			press("the typed confirmation the screen asks for", m[1], true)
			time.Sleep(200 * time.Millisecond)
			s = p.screen()
			k, ok := drillHintFor(s, regexp.MustCompile(`^confirm$`))
			if !ok {
				tb.Fatalf("no key to confirm on the screen:\n%s", s)
			}
			pressNamed("confirm", k)
		case strings.HasPrefix(st, "chooser"):
			if !regexp.MustCompile(`(?m)^▸ \S+\.db .*\(latest\)`).MatchString(s) {
				tb.Fatalf("the chooser does not select the latest backup:\n%s", s)
			}
			k, ok := drillHintFor(s, regexp.MustCompile(`^use this backup$`))
			if !ok {
				tb.Fatalf("no key to choose the backup on the screen:\n%s", s)
			}
			pressNamed("choose the backup", k)
		case st == "page":
			k, ok := drillHintFor(s, regexp.MustCompile(`^start the run$`))
			if !ok {
				tb.Fatalf("no key to start the run on the runbook's page:\n%s", s)
			}
			pressNamed("start the run", k)
		case strings.HasPrefix(st, "list"):
			sel := regexp.MustCompile(`(?m)^▸ ` + regexp.QuoteMeta(drillRunbook) + ` `).MatchString(s)
			row := regexp.MustCompile(`(?m)^. ` + regexp.QuoteMeta(drillRunbook) + ` `).MatchString(s)
			switch {
			case sel:
				k, ok := drillHintFor(s, regexp.MustCompile(`^open`))
				if !ok {
					tb.Fatalf("no key to open the runbook on the screen:\n%s", s)
				}
				pressNamed("open the runbook", k)
			case row:
				tb.Fatalf("the runbook is listed but not selected (the driver filters to it):\n%s", s)
			default:
				k, ok := drillHintFor(s, regexp.MustCompile(`^filter$`))
				if !ok {
					tb.Fatalf("no filter key on the runbooks list:\n%s", s)
				}
				pressNamed("filter the runbooks", k)
				time.Sleep(200 * time.Millisecond)
				press("the runbook's id", drillRunbook, true)
			}
		case st == "help":
			m := regexp.MustCompile(`(\S+) +runbooks\b`).FindStringSubmatch(s)
			if m == nil {
				tb.Fatalf("the help does not name the runbooks' key:\n%s", s)
			}
			pressNamed("the runbooks, as the help names them", m[1])
		default:
			if k, ok := drillHintFor(s, regexp.MustCompile(`^find runbook$`)); ok {
				pressNamed("find the runbook", k)
				time.Sleep(200 * time.Millisecond)
				press("the runbook's id", drillRunbook, true)
			} else if k, ok := drillHintFor(s, regexp.MustCompile(`^runbooks$`)); ok {
				pressNamed("the runbooks", k)
			} else if k, ok := drillHintFor(s, regexp.MustCompile(`^help$`)); ok {
				pressNamed("help, to find the runbooks", k)
			} else {
				tb.Fatalf("nothing on the screen leads to the runbooks:\n%s", s)
			}
		}
		s = waitChange(st)
	}
	if m := reDrillRunID.FindStringSubmatch(s); m != nil {
		r.runID = m[1]
	}
	p.close()
	return r
}

// TestRestoreDrillByTheScreen: a complete restore from backup at 80x24,
// every key the one the screen names; then the database is the backup's
// (the rows added after it gone) and the journal holds the run.
func TestRestoreDrillByTheScreen(t *testing.T) {
	r := driveRestoreDrill(t, 80, 24)
	t.Logf("keys: %d to open the run (shortest %d), %d in the run (shortest %d), %d spent scrolling, %d characters\n%s",
		r.openKeys, r.shortestOpen, r.runKeys, r.shortestRun, r.scrollKeys, r.chars, strings.Join(r.log, "\n"))
	for _, inv := range r.invisible {
		t.Errorf("%s", inv)
	}
	if r.scrollKeys > 0 {
		t.Errorf("%d keys spent scrolling to read a step", r.scrollKeys)
	}
	if r.runKeys != r.shortestRun {
		t.Errorf("the run took %d keys as driven by the screen, the shortest path %d", r.runKeys, r.shortestRun)
	}
	if r.openKeys != r.shortestOpen {
		t.Errorf("opening the run took %d keys as driven by the screen, the shortest path %d", r.openKeys, r.shortestOpen)
	}

	// The database is the backup's: read-only, the rows added after the
	// backup are gone.
	ro, err := db.OpenRead(context.Background(), r.dbPath, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var after, total int
	if err := ro.QueryRow(`SELECT (SELECT COUNT(*) FROM appeals WHERE user_id = ?), (SELECT COUNT(*) FROM appeals)`, drillMarker).Scan(&after, &total); err != nil {
		t.Fatal(err)
	}
	ro.Close()
	if after != 0 || total != r.backupRows {
		t.Errorf("after the restore: %d rows added after the backup remain, %d appeals (the backup had %d)", after, total, r.backupRows)
	}

	// The journal holds the run: started, every step ok, the restore, ended ok.
	out, err := exec.Command(bin, "--config", r.cfg, "--db", r.dbPath, "journal", "--format", "json").Output()
	if err != nil {
		t.Fatalf("repops journal: %v", err)
	}
	var entries []struct {
		Action, Outcome, Runbook string
		RunID                    string `json:"run_id"`
	}
	if err := json.Unmarshal(out, &entries); err != nil {
		t.Fatalf("the journal: %v\n%s", err, out)
	}
	if r.runID == "" {
		t.Fatalf("no run id seen on the screen")
	}
	count := map[string]int{}
	for _, e := range entries {
		if e.RunID == r.runID {
			count[e.Action+" "+e.Outcome]++
		} else if e.Action == "restore" {
			count["restore "+e.Outcome]++
		}
	}
	for what, want := range map[string]int{"runbook.start started": 1, "runbook.step ok": len(drillCatalogue(t, drillRunbook)), "runbook.end ok": 1, "restore ok": 1} {
		if count[what] != want {
			t.Errorf("the journal has %d %q of run %s, want %d: %v", count[what], what, r.runID, want, count)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(r.dir, "stderr.txt")); len(strings.TrimSpace(string(b))) > 0 {
		t.Errorf("repops wrote to stderr:\n%s", b)
	}
}
