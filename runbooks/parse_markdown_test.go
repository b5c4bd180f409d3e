package runbooks

import (
	"errors"
	"strings"
	"testing"
)

// What the operator reads is what runs (issue 12): the body is CommonMark,
// and only a fenced block marked exactly "repops", on its own under a
// step heading, is a step's spec.
func TestParseMarkdownStructure(t *testing.T) {
	cases := []struct {
		name  string
		body  string
		check func(t *testing.T, rb *Runbook)
	}{
		{"indented repops block is an example, not an action",
			"## A\nLike this:\n\n    ```repops\n    action: vacuum\n    ```\n",
			func(t *testing.T, rb *Runbook) {
				s := rb.Steps[0]
				if s.Kind != Manual || s.Action != "" || !strings.Contains(s.Text, "    ```repops\n    action: vacuum") {
					t.Errorf("step = %+v", s)
				}
			}},
		{"repops block in an HTML comment is hidden text, not an action",
			"## A\nRead this.\n\n<!--\n```repops\naction: vacuum\nconfirm: typed\n```\n-->\n",
			func(t *testing.T, rb *Runbook) {
				if s := rb.Steps[0]; s.Kind != Manual || s.Action != "" {
					t.Errorf("step = %+v", s)
				}
			}},
		{"tilde fence",
			"## A\n~~~repops\naction: backup\n~~~\nAfter.\n",
			func(t *testing.T, rb *Runbook) {
				if s := rb.Steps[0]; s.Kind != Action || s.Action != "backup" || s.Text != "After." {
					t.Errorf("step = %+v", s)
				}
			}},
		{"repops block shown inside a longer fence is text",
			"## A\nAn example:\n\n````markdown\n```repops\naction: vacuum\n```\n````\n",
			func(t *testing.T, rb *Runbook) {
				if s := rb.Steps[0]; s.Kind != Manual || !strings.Contains(s.Text, "```repops") {
					t.Errorf("step = %+v", s)
				}
			}},
		{"other code blocks and near words stay code",
			"## A\n```yaml\nkind: check\n```\n```report\nx\n```\n```devops\nx\n```\n```\nplain\n```\n```sh\n## not a heading\n```\n",
			func(t *testing.T, rb *Runbook) {
				if len(rb.Steps) != 1 || rb.Steps[0].Kind != Manual {
					t.Errorf("steps = %+v", rb.Steps)
				}
			}},
		{"heading with a closing sequence, heading indented by two spaces",
			"## First ##\nDo it.\n  ## Second\nDo it.\n",
			func(t *testing.T, rb *Runbook) {
				if len(rb.Steps) != 2 || rb.Steps[0].Name != "First" || rb.Steps[1].Name != "Second" || rb.Steps[1].Line != 9 {
					t.Errorf("steps = %+v", rb.Steps)
				}
			}},
		{"H1 title dropped from the intro, a thematic break is text",
			"# Title\nIntro.\n\n---\n\nMore.\n## A\nDo it.\n",
			func(t *testing.T, rb *Runbook) {
				if rb.Intro != "Intro.\n\n---\n\nMore." {
					t.Errorf("intro = %q", rb.Intro)
				}
			}},
		{"a heading in a list is text",
			"## A\n- ## item heading\n- more\n",
			func(t *testing.T, rb *Runbook) {
				if len(rb.Steps) != 1 || !strings.Contains(rb.Steps[0].Text, "item heading") {
					t.Errorf("steps = %+v", rb.Steps)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rb, err := Parse("ok.md", []byte(goodHeader+c.body))
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, rb)
		})
	}
}

func TestParseMarkdownErrors(t *testing.T) {
	cases := []struct {
		name string
		body string // after goodHeader: the body's first line is line 7
		line int
		want []string
	}{
		{"wrong case", "## A\n```Repops\naction: backup\n```\n", 8, []string{`code block marked "Repops"`, "did you mean ```repops?", "nothing runs"}},
		{"upper case", "## A\n```REPOPS\naction: backup\n```\n", 8, []string{`"REPOPS"`, "did you mean ```repops?"}},
		{"tilde, wrong case", "## A\n~~~Repops\naction: backup\n~~~\n", 8, []string{"did you mean ~~~repops?"}},
		{"one letter short", "## A\n```repop\naction: backup\n```\n", 8, []string{`"repop"`, "did you mean ```repops?"}},
		{"transposed", "## A\n```rpeops\naction: backup\n```\n", 8, []string{`"rpeops"`, "did you mean ```repops?"}},
		{"one letter off", "## A\n```repos\naction: backup\n```\n", 8, []string{`"repos"`, "did you mean ```repops?"}},
		{"kind glued on", "## A\n```repops-check\nquery: SELECT 1\n```\n", 8, []string{`"repops-check"`, "kind: check"}},
		{"action glued on", "## A\n```repops_action\naction: backup\n```\n", 8, []string{`"repops_action"`, "kind: action"}},
		{"hyphenated", "## A\n```rep-ops\naction: backup\n```\n", 8, []string{`"rep-ops"`, "did you mean ```repops?"}},
		{"attribute syntax", "## A\n```{.repops}\naction: backup\n```\n", 8, []string{`"{.repops}"`, "did you mean ```repops?"}},
		{"something after repops", "## A\n```repops yaml\naction: backup\n```\n", 8, []string{`"repops yaml"`, "nothing after it"}},
		{"in a list item", "## A\nDo:\n\n- first\n\n  ```repops\n  action: backup\n  ```\n", 12, []string{"repops block inside a list item"}},
		{"in a block quote", "## A\n> ```repops\n> action: backup\n> ```\n", 8, []string{"repops block inside a block quote"}},
		{"setext heading", "## A\nDo it.\n\nLooks like a step\n---\nMore.\n", 10, []string{`"Looks like a step" underlined with ---`, "'## Looks like a step'"}},
		{"unclosed code block", "## A\n```sh\necho\n## B\nDo it.\n", 8, []string{"code block not closed"}},
		{"unclosed repops block", "## A\n```repops\naction: backup\n## B\n", 8, []string{"repops block not closed: add a line ```"}},
		{"two repops blocks", "## A\n```repops\naction: backup\n```\n```repops\naction: backup\n```\n", 11, []string{`step "A" has more than one repops block`}},
		{"repops block before the first step", "```repops\naction: backup\n```\n## A\nDo it.\n", 7, []string{"before the first '## ' step heading"}},
		{"empty step heading", "## \n## B\nDo it.\n", 7, []string{"a step heading needs a name"}},
		{"YAML error line inside the block", "## A\nText.\n\n```repops\naction: backup\n\tparams: {}\n```\n", 12, []string{`step "A": broken YAML`}},
		{"spec error line with CRLF line endings", "## A\r\n\r\n```repops\r\naction: backup\r\nshell: rm\r\n```\r\n", 11, []string{`unknown key "shell"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rb, err := Parse("bad.md", []byte(goodHeader+c.body))
			if err == nil {
				t.Fatalf("parsed: %+v", rb)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a ParseError", err)
			}
			if pe.Line != c.line {
				t.Errorf("first error at line %d, want %d: %v", pe.Line, c.line, err)
			}
			for _, w := range c.want {
				if !strings.Contains(pe.Error(), w) {
					t.Errorf("error %q does not say %q", pe.Error(), w)
				}
			}
			if !strings.HasPrefix(err.Error(), "bad.md:") {
				t.Errorf("error %q does not start with the file name", err)
			}
		})
	}
}

// The same runbook with "\r\n" line endings, or without a final newline,
// parses to the same steps.
func TestParseLineEndings(t *testing.T) {
	src := goodHeader + "# T\nIntro.\n\n## Count\nReads.\n\n```repops\nquery: |\n  SELECT COUNT(*)\n  FROM appeals\nexpect: {min: 0}\n```\n\n## Fix\nBy hand.\n"
	want, err := Parse("a.md", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{
		"crlf":       strings.ReplaceAll(src, "\n", "\r\n"),
		"no newline": strings.TrimSuffix(src, "\n"),
	} {
		t.Run(name, func(t *testing.T) {
			got, err := Parse("a.md", []byte(v))
			if err != nil {
				t.Fatal(err)
			}
			var a, b strings.Builder
			renderRunbook(&a, "a.md", want)
			renderRunbook(&b, "a.md", got)
			if a.String() != b.String() {
				t.Errorf("got\n%s\nwant\n%s", b.String(), a.String())
			}
		})
	}
}

func TestMisspeltSpec(t *testing.T) {
	for info, flagged := range map[string]bool{
		"repops": false, "": false, "sh": false, "yaml": false, "sql": false, "report": false,
		"devops": false, "repo": false, "props": false, "markdown": false, "text": false,
		"Repops": true, "REPOPS": true, "repop": true, "reops": true, "repopss": true, "rpeops": true,
		"repops-check": true, "repops_manual": true, "re_pops": true, "repops yaml": true, ".repops": true,
	} {
		if got := misspeltSpec(info, "```") != ""; got != flagged {
			t.Errorf("misspeltSpec(%q) flagged %v, want %v", info, got, flagged)
		}
	}
}
