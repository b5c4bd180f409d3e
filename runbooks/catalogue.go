package runbooks

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/repops/repops/internal/fsutil"
)

//go:embed catalogue/*.md
var builtinFS embed.FS

// Catalogue is the set of runbooks available: the embedded ones, extended
// or overridden (by id) from the config's console.runbook_dir.
type Catalogue struct {
	byID map[string]*Runbook
	// Overridden lists the ids of built-in runbooks replaced from the
	// override directory, sorted.
	Overridden []string
	// Problems are the override files that were skipped, one entry per
	// problem, in file and line order. Each is a *ParseError, whose
	// message is "file:line: message". The callers show them as warnings:
	// a bad file in the override directory never removes the other
	// runbooks.
	Problems []error
}

// Builtin parses the embedded catalogue.
func Builtin() (*Catalogue, error) { return Load("") }

// Load parses the embedded catalogue, then every *.md in dir (when dir is
// not empty): a file whose id is a built-in's replaces it, any other adds a
// runbook.
//
// A file of dir that does not load (it does not parse, it cannot be read,
// or another file of dir already has its id) is skipped and reported in
// Catalogue.Problems; every other runbook, built-in or not, stays, and a
// built-in is replaced only by a file that parses. Decision: one bad
// override must not take the whole catalogue away (restore-from-backup
// with it) at the moment an operator needs it.
//
// Errors are kept for what is not a single file's fault: a missing or
// unreadable dir (it was configured: fix the path or remove the setting)
// and a problem in the embedded catalogue (a defect of the build).
func Load(dir string) (*Catalogue, error) {
	c := &Catalogue{byID: map[string]*Runbook{}}
	var errs ParseErrors
	entries, err := fs.ReadDir(builtinFS, "catalogue")
	if err != nil {
		return nil, fmt.Errorf("read the embedded runbooks: %w", err)
	}
	for _, e := range entries {
		name := path.Join("catalogue", e.Name())
		b, err := builtinFS.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read the embedded runbook %s: %w", name, err)
		}
		rb, err := Parse("builtin:"+name, b)
		if err != nil {
			errs = appendParseErrors(errs, err)
			continue
		}
		if prev, dup := c.byID[rb.ID]; dup {
			errs = append(errs, &ParseError{File: rb.File, Msg: fmt.Sprintf("id %q is also the id of %s", rb.ID, prev.File)})
			continue
		}
		c.byID[rb.ID] = rb
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if dir == "" {
		return c, nil
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("runbook directory %s (console.runbook_dir) is not a readable directory: fix the path or remove the setting", dir)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.md"))
	if err != nil {
		return nil, fmt.Errorf("list runbooks in %s: %w", dir, err)
	}
	sort.Strings(files)
	seen := map[string]string{}
	// maxRunbookSize bounds an override file: a runbook is a few KiB.
	const maxRunbookSize = 1 << 20
	var problems ParseErrors
	for _, f := range files {
		b, err := fsutil.ReadRegularFile(context.Background(), f, maxRunbookSize)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			problems = append(problems, &ParseError{File: f, Msg: fmt.Sprintf("cannot be read: %v", err)})
			continue
		}
		rb, err := Parse(f, b)
		if err != nil {
			problems = appendParseErrors(problems, err)
			continue
		}
		if prev, dup := seen[rb.ID]; dup {
			problems = append(problems, &ParseError{File: f, Msg: fmt.Sprintf("id %q is also the id of %s, which is kept", rb.ID, prev)})
			continue
		}
		seen[rb.ID] = f
		if old, ok := c.byID[rb.ID]; ok && strings.HasPrefix(old.File, "builtin:") {
			c.Overridden = append(c.Overridden, rb.ID)
		}
		c.byID[rb.ID] = rb
	}
	sort.Strings(c.Overridden)
	for _, p := range problems {
		c.Problems = append(c.Problems, p)
	}
	return c, nil
}

func appendParseErrors(list ParseErrors, err error) ParseErrors {
	var pe ParseErrors
	if errors.As(err, &pe) {
		return append(list, pe...)
	}
	return append(list, &ParseError{Msg: err.Error()})
}

// SkippedFiles is the number of distinct files that Problems name.
func (c *Catalogue) SkippedFiles() int {
	files := map[string]bool{}
	for _, p := range c.Problems {
		var pe *ParseError
		if errors.As(p, &pe) {
			files[pe.File] = true
		}
	}
	return len(files)
}

// Get returns the runbook with the id, or the one that has it as an
// alias (an id of its own wins over an alias).
func (c *Catalogue) Get(id string) (*Runbook, bool) {
	if rb, ok := c.byID[id]; ok {
		return rb, true
	}
	for _, rb := range c.List() {
		if contains(rb.Aliases, id) {
			return rb, true
		}
	}
	return nil, false
}

// List returns every runbook, sorted by id.
func (c *Catalogue) List() []*Runbook {
	out := make([]*Runbook, 0, len(c.byID))
	for _, rb := range c.byID {
		out = append(out, rb)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// ForAlert returns the runbooks whose when: names the alert rule (or
// symptom) ruleName, the most specific first (fewest when: entries), then
// by id. The escalation runbook names every rule and so comes last.
func (c *Catalogue) ForAlert(ruleName string) []*Runbook {
	var out []*Runbook
	for _, rb := range c.byID {
		for _, w := range rb.When {
			if equalFold(w, ruleName) {
				out = append(out, rb)
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if len(out[i].When) != len(out[j].When) {
			return len(out[i].When) < len(out[j].When)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// AlertRules returns the alert rule names runbooks refer to in when:, as
// the metrics package names its rules.
func AlertRules() []string {
	return []string{
		"appeal_submission_rate", "appeal_error_rate", "appeal_processing_p95",
		"negotiation_duration", "ml_prediction_p99", "db_connections",
		"api_error_rate", "backup_age", "disk_free", "integrity_check",
	}
}
