package runbooks

import (
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite runbooks/testdata/*.golden from the current parser")

// goldenCatalogue is the rendering of every built-in runbook as parsed;
// it was first written by the line-scanning parser that goldmark
// replaced (issue 12), so that the new parser is held to the same steps.
const goldenCatalogue = "testdata/catalogue_steps.golden"

// TestCatalogueGolden: every built-in runbook parses to exactly the steps
// (names, lines, kinds, texts, actions, params, check SQL, metric
// conditions, expectations, confirmations, on_failure) of the golden
// rendering. go test ./runbooks/ -run TestCatalogueGolden -update rewrites
// it, for a deliberate change to a runbook.
func TestCatalogueGolden(t *testing.T) {
	got := renderCatalogue(t)
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(goldenCatalogue), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenCatalogue, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(goldenCatalogue)
	if err != nil {
		t.Fatalf("read the golden file (go test ./runbooks/ -run TestCatalogueGolden -update writes it): %v", err)
	}
	if got == string(want) {
		return
	}
	g, w := strings.Split(got, "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			t.Fatalf("the built-in runbooks no longer parse as %s: first difference at its line %d:\n got: %q\nwant: %q", goldenCatalogue, i+1, gl, wl)
		}
	}
}

// renderCatalogue renders each embedded runbook file, in file name order,
// as the parser sees it.
func renderCatalogue(t *testing.T) string {
	t.Helper()
	entries, err := fs.ReadDir(builtinFS, "catalogue")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		src, err := builtinFS.ReadFile(path.Join("catalogue", n))
		if err != nil {
			t.Fatal(err)
		}
		rb, err := Parse("builtin:catalogue/"+n, src)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		renderRunbook(&b, n, rb)
	}
	return b.String()
}

func renderRunbook(b *strings.Builder, file string, rb *Runbook) {
	fmt.Fprintf(b, "=== %s\n", file)
	fmt.Fprintf(b, "id: %s\naliases: %q\ntitle: %q\nseverity: %s\ntags: %q\nwhen: %q\nobjectives: rto=%s rpo=%s\nscenario: %q\n",
		rb.ID, rb.Aliases, rb.Title, rb.Severity, rb.Tags, rb.When, rb.Objectives.RTO, rb.Objectives.RPO, rb.Scenario)
	fmt.Fprintf(b, "intro: %q\n", rb.Intro)
	for i, s := range rb.Steps {
		fmt.Fprintf(b, "--- step %d: %q (line %d)\n", i+1, s.Name, s.Line)
		fmt.Fprintf(b, "kind: %s\n", s.Kind)
		if s.Query != "" {
			fmt.Fprintf(b, "query: %q\n", s.Query)
		}
		if m := s.Metric; m != nil {
			fmt.Fprintf(b, "metric: %s below=%s above=%s within=%q state=%q state_not=%q\n", m.Name, fptr(m.Below), fptr(m.Above), m.Within, m.State, m.StateNot)
		}
		if !s.Expect.IsZero() {
			e := s.Expect
			val := "-"
			if e.Value != nil {
				val = strconv.Quote(*e.Value)
			}
			fmt.Fprintf(b, "expect: rows=%s max_rows=%s value=%s min=%s max=%s figure=%q\n", iptr(e.Rows), iptr(e.MaxRows), val, fptr(e.Min), fptr(e.Max), e.Figure)
		}
		if s.Action != "" {
			fmt.Fprintf(b, "action: %s\n", s.Action)
		}
		if len(s.Params) > 0 {
			var keys []string
			for k := range s.Params {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(b, "param %s: %q\n", k, s.Params[k])
			}
		}
		if s.Confirm != "" {
			fmt.Fprintf(b, "confirm: %s\n", s.Confirm)
		}
		if s.Mitigates {
			fmt.Fprintf(b, "mitigates: true\n")
		}
		fmt.Fprintf(b, "on_failure: %s %q\n", s.OnFailure.Mode, s.OnFailure.Goto)
		fmt.Fprintf(b, "text: %q\n", s.Text)
	}
}

func fptr(f *float64) string {
	if f == nil {
		return "-"
	}
	return strconv.FormatFloat(*f, 'g', -1, 64)
}

func iptr(i *int) string {
	if i == nil {
		return "-"
	}
	return strconv.Itoa(*i)
}
