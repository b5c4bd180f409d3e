package runbooks

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/repops/repops/metrics"
)

// ParseError is one problem in a runbook file, at a line.
type ParseError struct {
	File string
	Line int
	Msg  string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// ParseErrors is every problem found in one or more runbook files, in file
// and line order; its message has one line per problem.
type ParseErrors []*ParseError

func (l ParseErrors) Error() string {
	var b []string
	for _, e := range l {
		b = append(b, e.Error())
	}
	return strings.Join(b, "\n")
}

// Unwrap gives errors.As access to each problem.
func (l ParseErrors) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// parser collects the problems of one file.
type parser struct {
	file string
	errs ParseErrors
}

func (p *parser) errorf(line int, format string, args ...any) {
	p.errs = append(p.errs, &ParseError{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

var (
	idPattern      = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	yamlLine       = regexp.MustCompile(`line (\d+)`)
	frontMatterKey = []string{"id", "aliases", "title", "severity", "tags", "when", "objectives", "scenario"}
	specKeys       = []string{"kind", "query", "expect", "metric", "below", "above", "within", "state", "state_not", "action", "params", "confirm", "on_failure", "mitigates"}
	expectKeys     = []string{"rows", "max_rows", "value", "min", "max", "figure"}
	metricStates   = []string{"ok", "warning", "critical", "unknown"}
)

// Parse reads one runbook file. file names it in errors. On any problem it
// returns ParseErrors naming the file and line of each, and no runbook.
func Parse(file string, src []byte) (*Runbook, error) {
	p := &parser{file: file}
	rb := p.parse(string(src))
	if len(p.errs) > 0 {
		sort.SliceStable(p.errs, func(i, j int) bool { return p.errs[i].Line < p.errs[j].Line })
		return nil, p.errs
	}
	rb.File, rb.Source = file, string(src)
	return rb, nil
}

func (p *parser) parse(src string) *Runbook {
	starts := lineStarts(src)
	lines := splitLines(src, starts)
	rb := &Runbook{}
	if len(lines) == 0 || strings.TrimSpace(lines[0]) != "---" {
		p.errorf(1, "no front matter: the file must start with a line '---', then the YAML (id, title, severity, when), then '---'")
		return rb
	}
	end := -1
	for i := 1; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) == "---" {
			end = i
			break
		}
	}
	if end < 0 {
		p.errorf(1, "front matter not closed: add a line '---' after the YAML")
		return rb
	}
	p.frontMatter(rb, strings.Join(lines[1:end], "\n"), 1)
	p.body(rb, src, lines, starts, end+1)
	return rb
}

// frontMatter decodes the YAML between the '---' lines; offset is the
// file line before the YAML's first line.
func (p *parser) frontMatter(rb *Runbook, text string, offset int) {
	root, ok := p.yamlMapping(text, offset, "front matter")
	if !ok {
		return
	}
	p.knownKeys(root, offset, frontMatterKey, "front matter")
	get := func(key string) *yaml.Node { return mapValue(root, key) }
	rb.ID = p.scalar(get("id"), offset, "id")
	rb.Title = p.scalar(get("title"), offset, "title")
	rb.Severity = p.scalar(get("severity"), offset, "severity")
	rb.Scenario = p.scalar(get("scenario"), offset, "scenario")
	rb.Tags = p.list(get("tags"), offset, "tags")
	rb.When = p.list(get("when"), offset, "when")
	rb.Aliases = p.list(get("aliases"), offset, "aliases")
	for _, a := range rb.Aliases {
		if !idPattern.MatchString(a) {
			p.errorf(offset+get("aliases").Line, "front matter: alias %q must be lower-case letters, digits, '-' and '_'", a)
		}
	}
	switch {
	case rb.ID == "":
		p.errorf(offset+1, "front matter: id is missing")
	case !idPattern.MatchString(rb.ID):
		p.errorf(offset+get("id").Line, "front matter: id %q must be lower-case letters, digits, '-' and '_'", rb.ID)
	}
	if rb.Title == "" {
		p.errorf(offset+1, "front matter: title is missing")
	}
	switch rb.Severity {
	case SeverityCritical, SeverityWarning, SeverityInfo:
	case "":
		p.errorf(offset+1, "front matter: severity is missing (critical, warning or info)")
	default:
		p.errorf(offset+get("severity").Line, "front matter: severity %q is not critical, warning or info", rb.Severity)
	}
	if obj := get("objectives"); obj != nil {
		if obj.Kind != yaml.MappingNode {
			p.errorf(offset+obj.Line, "front matter: objectives must be a mapping like {rto: 30m, rpo: 5m}")
		} else {
			p.knownKeys(obj, offset, []string{"rto", "rpo"}, "objectives")
			for _, key := range []string{"rto", "rpo"} {
				n := mapValue(obj, key)
				if n == nil {
					continue
				}
				d, err := ParseDuration(n.Value)
				if err != nil {
					p.errorf(offset+n.Line, "objectives: %s: %v", key, err)
					continue
				}
				if key == "rto" {
					rb.Objectives.RTO = d
				} else {
					rb.Objectives.RPO = d
				}
			}
		}
	}
}

// spec decodes a step's repops block; offset is the file line of the
// opening fence.
func (p *parser) spec(s *Step, text string, offset int) {
	root, ok := p.yamlMapping(text, offset, fmt.Sprintf("step %q", s.Name))
	if !ok {
		return
	}
	where := fmt.Sprintf("step %q", s.Name)
	p.knownKeys(root, offset, specKeys, where)
	line := func(key string) int {
		if n := mapValue(root, key); n != nil {
			return offset + n.Line
		}
		return offset
	}
	str := func(key string) string { return p.scalar(mapValue(root, key), offset, key) }
	kind := str("kind")
	s.Query = strings.TrimSpace(str("query"))
	s.Action = str("action")
	s.Confirm = str("confirm")
	if n := mapValue(root, "mitigates"); n != nil {
		b, err := strconv.ParseBool(strings.TrimSpace(n.Value))
		if n.Kind != yaml.ScalarNode || err != nil {
			p.errorf(offset+n.Line, "%s: mitigates %q: want true or false", where, n.Value)
		}
		s.Mitigates = b
	}
	if name := str("metric"); name != "" {
		s.Metric = &MetricCond{Name: name, Within: str("within"), State: str("state"), StateNot: str("state_not")}
		s.Metric.Below = p.number(mapValue(root, "below"), offset, "below")
		s.Metric.Above = p.number(mapValue(root, "above"), offset, "above")
	} else {
		for _, k := range []string{"below", "above", "within", "state", "state_not"} {
			if mapValue(root, k) != nil {
				p.errorf(line(k), "%s: %s applies to a metric condition; add metric: <panel>", where, k)
			}
		}
	}
	switch {
	case kind == "" && s.Action != "":
		s.Kind = Action
	case kind == "" && (s.Query != "" || s.Metric != nil):
		s.Kind = Check
	case kind == "":
		s.Kind = Manual
	default:
		s.Kind = Kind(kind)
	}
	switch s.Kind {
	case Manual:
		for _, k := range []string{"query", "metric", "action", "params", "expect", "confirm"} {
			if mapValue(root, k) != nil {
				p.errorf(line(k), "%s: a manual step has no %s", where, k)
			}
		}
	case Check:
		switch {
		case s.Query != "" && s.Metric != nil:
			p.errorf(line("metric"), "%s: a check has either a query or a metric, not both", where)
		case s.Query == "" && s.Metric == nil:
			p.errorf(line("kind"), "%s: a check needs a query or a metric", where)
		case s.Query != "":
			if err := CheckReadOnlySQL(s.Query); err != nil {
				p.errorf(line("query"), "%s: %v", where, err)
			}
		}
		if s.Metric != nil {
			m := s.Metric
			if m.Below == nil && m.Above == nil && m.Within == "" && m.State == "" && m.StateNot == "" {
				p.errorf(line("metric"), "%s: metric %s needs a condition: within, below, above, state or state_not", where, m.Name)
			}
			if m.Within != "" {
				if m.Within != WithinAlert && m.Within != WithinTarget {
					p.errorf(line("within"), "%s: within %q is not one of %s, %s", where, m.Within, WithinAlert, WithinTarget)
				} else if _, err := MetricRule(m.Name, m.Within, metrics.DefaultRules()); err != nil {
					p.errorf(line("within"), "%s: %v", where, err)
				}
			}
			for k, v := range map[string]string{"state": m.State, "state_not": m.StateNot} {
				if v != "" && !contains(metricStates, v) {
					p.errorf(line(k), "%s: %s %q is not one of %s", where, k, v, strings.Join(metricStates, ", "))
				}
			}
		}
		for _, k := range []string{"action", "params", "confirm"} {
			if mapValue(root, k) != nil {
				p.errorf(line(k), "%s: a check has no %s", where, k)
			}
		}
	case Action:
		if s.Query != "" {
			p.errorf(line("query"), "%s: an action has no query (use a check step)", where)
		}
		spec, ok := Actions()[s.Action]
		switch {
		case s.Action == "":
			p.errorf(line("kind"), "%s: an action step needs action: <name> (one of %s)", where, strings.Join(ActionNames(), ", "))
		case !ok:
			p.errorf(line("action"), "%s: unknown action %q (the catalogue has: %s)", where, s.Action, strings.Join(ActionNames(), ", "))
		default:
			s.Params = p.params(mapValue(root, "params"), offset, where)
			if err := spec.checkParams(s.Params); err != nil {
				l := line("params")
				if mapValue(root, "params") == nil {
					l = line("action")
				}
				p.errorf(l, "%s: %v", where, err)
			}
			if spec.Destructive && s.Confirm != ConfirmTyped {
				p.errorf(line("action"), "%s: action %s is destructive and needs confirm: typed", where, s.Action)
			}
		}
	default:
		p.errorf(line("kind"), "%s: kind %q is not manual, check or action", where, kind)
	}
	if s.Confirm != "" && s.Confirm != ConfirmTyped {
		p.errorf(line("confirm"), "%s: confirm %q: the only confirmation is typed", where, s.Confirm)
	}
	if n := mapValue(root, "expect"); n != nil {
		s.Expect = p.expect(n, offset, where)
		if s.Kind == Action && (s.Expect.Rows != nil || s.Expect.MaxRows != nil || s.Expect.Value != nil) {
			p.errorf(offset+n.Line, "%s: an action's expect takes figure with min and/or max", where)
		}
		if s.Kind == Action && (s.Expect.Min != nil || s.Expect.Max != nil) && s.Expect.Figure == "" {
			p.errorf(offset+n.Line, "%s: an action's expect needs figure: <name> for min/max", where)
		}
		if s.Kind == Check && s.Metric != nil {
			p.errorf(offset+n.Line, "%s: a metric check takes within/below/above/state, not expect", where)
		}
	}
	if n := mapValue(root, "on_failure"); n != nil {
		switch {
		case n.Kind == yaml.ScalarNode && (n.Value == string(Stop) || n.Value == string(Continue)):
			s.OnFailure = OnFailure{Mode: FailureMode(n.Value)}
		case n.Kind == yaml.MappingNode:
			p.knownKeys(n, offset, []string{"goto"}, where+" on_failure")
			if g := mapValue(n, "goto"); g != nil && g.Kind == yaml.ScalarNode && g.Value != "" {
				s.OnFailure = OnFailure{Mode: Goto, Goto: g.Value}
				s.gotoLine = offset + g.Line
			} else {
				p.errorf(offset+n.Line, "%s: on_failure needs goto: <step name>", where)
			}
		default:
			p.errorf(offset+n.Line, "%s: on_failure is stop, continue, or {goto: <step name>}", where)
		}
	}
}

func (p *parser) finishStep(s *Step) {
	if s.Name == "" {
		p.errorf(s.Line, "a step heading needs a name")
	}
	if s.Kind == Manual && s.Text == "" {
		p.errorf(s.Line, "manual step %q has no text: say exactly what the operator does", s.Name)
	}
	for _, name := range placeholders(s.Text) {
		if !knownVar(name) {
			p.errorf(s.Line, "step %q: unknown placeholder {{%s}} (known: %s)", s.Name, name, strings.Join(VarNames(), ", "))
		}
	}
}

// checkSteps checks what involves several steps: duplicate names, goto
// targets, and that there is at least one step.
func (p *parser) checkSteps(rb *Runbook) {
	if len(rb.Steps) == 0 && len(p.errs) == 0 {
		p.errorf(0, "no steps: each step starts with a '## ' heading")
	}
	seen := map[string]int{}
	for _, s := range rb.Steps {
		key := strings.ToLower(s.Name)
		if first, ok := seen[key]; ok {
			p.errorf(s.Line, "duplicate step name %q (first at line %d): step names must be unique", s.Name, first)
			continue
		}
		seen[key] = s.Line
	}
	for i := range rb.Steps {
		s := &rb.Steps[i]
		if s.OnFailure.Mode == Goto {
			j := rb.StepIndex(s.OnFailure.Goto)
			switch {
			case j < 0:
				p.errorf(s.gotoLine, "step %q: on_failure goto %q: no step has that name", s.Name, s.OnFailure.Goto)
			case j == i:
				p.errorf(s.gotoLine, "step %q: on_failure goto itself", s.Name)
			}
		}
	}
	for _, name := range placeholders(rb.Intro) {
		if !knownVar(name) {
			p.errorf(0, "intro: unknown placeholder {{%s}}", name)
		}
	}
}

func (p *parser) expect(n *yaml.Node, offset int, where string) Expect {
	var e Expect
	if n.Kind != yaml.MappingNode {
		p.errorf(offset+n.Line, "%s: expect must be a mapping like {rows: 0} or {value: ok}", where)
		return e
	}
	p.knownKeys(n, offset, expectKeys, where+" expect")
	for _, k := range []string{"rows", "max_rows"} {
		if v := mapValue(n, k); v != nil {
			i, err := strconv.Atoi(v.Value)
			if err != nil || i < 0 {
				p.errorf(offset+v.Line, "%s: expect %s %q is not a whole number", where, k, v.Value)
				continue
			}
			if k == "rows" {
				e.Rows = &i
			} else {
				e.MaxRows = &i
			}
		}
	}
	if v := mapValue(n, "value"); v != nil {
		s := v.Value
		e.Value = &s
	}
	e.Min = p.number(mapValue(n, "min"), offset, "expect min")
	e.Max = p.number(mapValue(n, "max"), offset, "expect max")
	e.Figure = p.scalar(mapValue(n, "figure"), offset, "figure")
	return e
}

func (p *parser) params(n *yaml.Node, offset int, where string) map[string]string {
	out := map[string]string{}
	if n == nil {
		return out
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(offset+n.Line, "%s: params must be a mapping of name: value", where)
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			p.errorf(offset+v.Line, "%s: parameter %s must be a single value", where, k.Value)
			continue
		}
		out[k.Value] = v.Value
	}
	return out
}

// yamlMapping parses text as a YAML mapping; errors carry file lines.
func (p *parser) yamlMapping(text string, offset int, where string) (*yaml.Node, bool) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		line := offset + 1
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			n, _ := strconv.Atoi(m[1])
			line = offset + n
			msg = strings.TrimSpace(yamlLine.ReplaceAllString(msg, ""))
			msg = strings.TrimPrefix(msg, ": ")
		}
		p.errorf(line, "%s: broken YAML: %s", where, msg)
		return nil, false
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		p.errorf(offset+1, "%s: must be a YAML mapping of key: value", where)
		return nil, false
	}
	return doc.Content[0], true
}

func (p *parser) knownKeys(m *yaml.Node, offset int, known []string, where string) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if !contains(known, k.Value) {
			p.errorf(offset+k.Line, "%s: unknown key %q (known: %s)", where, k.Value, strings.Join(known, ", "))
		}
		if seen[k.Value] {
			p.errorf(offset+k.Line, "%s: key %q given twice", where, k.Value)
		}
		seen[k.Value] = true
	}
}

func (p *parser) scalar(n *yaml.Node, offset int, key string) string {
	if n == nil {
		return ""
	}
	if n.Kind != yaml.ScalarNode {
		p.errorf(offset+n.Line, "%s must be a single value", key)
		return ""
	}
	return n.Value
}

func (p *parser) list(n *yaml.Node, offset int, key string) []string {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(offset+n.Line, "%s must be a list", key)
		return nil
	}
	var out []string
	for _, c := range n.Content {
		if c.Kind != yaml.ScalarNode {
			p.errorf(offset+c.Line, "%s: each entry must be a single value", key)
			continue
		}
		out = append(out, c.Value)
	}
	return out
}

func (p *parser) number(n *yaml.Node, offset int, key string) *float64 {
	if n == nil {
		return nil
	}
	f, err := strconv.ParseFloat(n.Value, 64)
	if err != nil {
		p.errorf(offset+n.Line, "%s %q is not a number", key, n.Value)
		return nil
	}
	return &f
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// splitLines returns the lines of s that start at starts (lineStarts),
// without their line ending ("\n" or "\r\n").
func splitLines(s string, starts []int) []string {
	out := make([]string, len(starts))
	for i, st := range starts {
		end := len(s)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		out[i] = strings.TrimRight(strings.TrimSuffix(s[st:end], "\n"), "\r")
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// IsParseError reports whether err is (or holds) a runbook parse error.
func IsParseError(err error) bool {
	var pe *ParseError
	return errors.As(err, &pe)
}
