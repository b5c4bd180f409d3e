package runbooks

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"unicode"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	gmparser "github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// The body of a runbook is read as CommonMark, by goldmark configured as
// the console renders it (glamour: GFM and definition lists), so that what
// the operator reads is what runs: a step is a top-level "## " heading, and
// its spec is a fenced code block whose info string is exactly "repops",
// standing on its own under that heading. An indented code block, an HTML
// comment or a block inside a list is text, whatever it contains; a fenced
// block marked almost "repops" (Repops, repop, repops-check) is an error
// that says what was meant, rather than code shown and never run.

// specInfo is the info string of a step's spec block.
const specInfo = "repops"

// blockPositions records where goldmark opened each block, and where a
// fenced code block met its closing fence: goldmark's AST (v1.7) carries
// the segments of a block's content but not the line of a heading without
// text, nor whether a fence was closed. Offsets are bytes of the parsed
// body.
type blockPositions struct {
	open   map[ast.Node]int
	closed map[ast.Node]int
}

var positionsKey = gmparser.NewContextKey()

// trackedBlockParser is one of goldmark's block parsers, recording into
// the parse's blockPositions (found in its gmparser.Context).
type trackedBlockParser struct{ gmparser.BlockParser }

func (b trackedBlockParser) Open(parent ast.Node, r text.Reader, pc gmparser.Context) (ast.Node, gmparser.State) {
	_, seg := r.PeekLine()
	n, st := b.BlockParser.Open(parent, r, pc)
	if pos, ok := pc.Get(positionsKey).(*blockPositions); ok && n != nil {
		pos.open[n] = seg.Start
	}
	return n, st
}

func (b trackedBlockParser) Continue(n ast.Node, r text.Reader, pc gmparser.Context) gmparser.State {
	_, seg := r.PeekLine()
	st := b.BlockParser.Continue(n, r, pc)
	// A fenced code block closes itself only on its closing fence; at the
	// end of the document or of its list item it is closed from outside.
	if _, fenced := n.(*ast.FencedCodeBlock); fenced && st&gmparser.Close != 0 {
		if pos, ok := pc.Get(positionsKey).(*blockPositions); ok {
			pos.closed[n] = seg.Start
		}
	}
	return st
}

// SetOption passes goldmark's options (heading attributes, ...) through.
func (b trackedBlockParser) SetOption(name gmparser.OptionName, value any) {
	if so, ok := b.BlockParser.(gmparser.SetOptioner); ok {
		so.SetOption(name, value)
	}
}

// runbookMarkdown is the goldmark instance of the parser, built once; it
// keeps no state between parses (positions live in each parse's context).
var runbookMarkdown = sync.OnceValue(func() goldmark.Markdown {
	var blocks []util.PrioritizedValue
	for _, v := range gmparser.DefaultBlockParsers() {
		blocks = append(blocks, util.Prioritized(trackedBlockParser{v.Value.(gmparser.BlockParser)}, v.Priority))
	}
	return goldmark.New(
		goldmark.WithParser(gmparser.NewParser(
			gmparser.WithBlockParsers(blocks...),
			gmparser.WithInlineParsers(gmparser.DefaultInlineParsers()...),
			gmparser.WithParagraphTransformers(gmparser.DefaultParagraphTransformers()...),
		)),
		goldmark.WithExtensions(extension.GFM, extension.DefinitionList),
	)
})

// specBlock is a step's ```repops block: the file lines (0-based) of its
// opening and closing fences, and its content as goldmark reads it.
type specBlock struct {
	open, close int
	content     string
}

// body splits the Markdown after the front matter into the intro and the
// steps; start is the index of the first body line. lines are src's lines
// and starts their byte offsets (lineStarts).
func (p *parser) body(rb *Runbook, src string, lines []string, starts []int, start int) {
	bodyOff := len(src)
	if start < len(starts) {
		bodyOff = starts[start]
	}
	body := []byte(src[bodyOff:])
	pos := &blockPositions{open: map[ast.Node]int{}, closed: map[ast.Node]int{}}
	pc := gmparser.NewContext()
	pc.Set(positionsKey, pos)
	doc := runbookMarkdown().Parser().Parse(text.NewReader(body), gmparser.WithContext(pc))
	lineOf := func(off int) int { return lineIndex(starts, bodyOff+off) }

	// Steps: the top-level ATX headings of level 2.
	type heading struct {
		line int
		name string
	}
	var heads []heading
	title := -1 // the H1 on the first body line repeats the front matter's title
	for n := doc.FirstChild(); n != nil; n = n.NextSibling() {
		h, ok := n.(*ast.Heading)
		if !ok {
			continue
		}
		off, ok := pos.open[h]
		if !ok {
			continue
		}
		line := lineOf(off)
		atx := strings.HasPrefix(strings.TrimLeft(lines[line], " "), "#")
		switch {
		case h.Level == 2 && atx:
			heads = append(heads, heading{line: line, name: strings.TrimSpace(string(h.Lines().Value(body)))})
		case h.Level == 2:
			at := line
			if h.Lines().Len() > 0 {
				at = lineOf(h.Lines().At(0).Start)
			}
			name := strings.TrimSpace(lines[at])
			p.errorf(at+1, "%q underlined with --- is a level-2 heading: it reads as a step but is not one; write '## %s' for a step, or leave a blank line before the --- for a rule", name, name)
		case h.Level == 1 && atx && line == start && n == doc.FirstChild():
			title = line
		}
	}

	// Spec blocks, and fenced blocks that were meant to be one.
	var specs []specBlock
	aborted := false
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		fc, ok := n.(*ast.FencedCodeBlock)
		if !ok || !entering {
			return ast.WalkContinue, nil
		}
		open := lineOf(pos.open[fc])
		fence := fenceOf(lines[open])
		info := ""
		if fc.Info != nil {
			info = string(fc.Info.Segment.Value(body))
		}
		closeOff, closed := pos.closed[fc]
		switch {
		case info == specInfo && fc.Parent() != doc:
			p.errorf(open+1, "repops block inside a %s: a step's spec must stand on its own under the step's heading, outside lists and quotes", containerName(fc.Parent()))
		case info == specInfo && !closed:
			// Unclosed, it runs to the end of the file: nothing after it
			// can be read as the author meant.
			p.errorf(open+1, "repops block not closed: add a line %s", fence)
			aborted = true
			return ast.WalkStop, nil
		case info == specInfo:
			specs = append(specs, specBlock{open: open, close: lineOf(closeOff), content: blockContent(fc, body)})
		default:
			if msg := misspeltSpec(info, fence); msg != "" {
				p.errorf(open+1, "%s", msg)
			}
			if !closed {
				p.errorf(open+1, "code block not closed: add a line %s after it (until then everything below it is shown as code)", fence)
			}
		}
		return ast.WalkSkipChildren, nil
	})
	if aborted {
		return
	}

	// Each section's text is its lines, without the spec blocks' and the
	// title's: exactly the file's Markdown, as the operator reads it.
	skip := map[int]bool{}
	if title >= 0 {
		skip[title] = true
	}
	for _, s := range specs {
		for l := s.open; l <= s.close; l++ {
			skip[l] = true
		}
	}
	textOf := func(from, to int) string {
		var out []string
		for l := from; l < to; l++ {
			if !skip[l] {
				out = append(out, lines[l])
			}
		}
		return strings.TrimSpace(strings.Join(out, "\n"))
	}
	end := func(i int) int {
		if i+1 < len(heads) {
			return heads[i+1].line
		}
		return len(lines)
	}
	section := func(line int) int { // index of the step holding line, -1 in the intro
		return sort.Search(len(heads), func(i int) bool { return heads[i].line > line }) - 1
	}
	first := len(lines)
	if len(heads) > 0 {
		first = heads[0].line
	}
	rb.Intro = textOf(start, first)
	own := make([]*specBlock, len(heads))
	for i := range specs {
		s := &specs[i]
		switch k := section(s.open); {
		case k < 0:
			p.errorf(s.open+1, "repops block before the first '## ' step heading")
		case own[k] != nil:
			p.errorf(s.open+1, "step %q has more than one repops block", heads[k].name)
		default:
			own[k] = s
		}
	}
	for i, h := range heads {
		st := Step{Name: h.name, Line: h.line + 1, Kind: Manual, OnFailure: OnFailure{Mode: Stop}}
		if s := own[i]; s != nil {
			p.spec(&st, s.content, s.open+1)
		}
		st.Text = textOf(h.line+1, end(i))
		p.finishStep(&st)
		rb.Steps = append(rb.Steps, st)
	}
	p.checkSteps(rb)
}

// blockContent is a fenced block's content as goldmark reads it (the
// fence's indentation removed from each line), lines joined by "\n".
func blockContent(fc *ast.FencedCodeBlock, body []byte) string {
	var out []string
	for i := 0; i < fc.Lines().Len(); i++ {
		seg := fc.Lines().At(i)
		out = append(out, strings.TrimRight(string(seg.Value(body)), "\r\n"))
	}
	return strings.Join(out, "\n")
}

// fenceOf returns the fence (``` or ~~~, as long as written) that opens
// the line.
func fenceOf(line string) string {
	t := strings.TrimLeft(line, " \t")
	if t == "" || (t[0] != '`' && t[0] != '~') {
		return "```"
	}
	return t[:len(t)-len(strings.TrimLeft(t, t[:1]))]
}

func containerName(n ast.Node) string {
	switch n.(type) {
	case *ast.ListItem, *ast.List:
		return "list item"
	case *ast.Blockquote:
		return "block quote"
	}
	return "nested block"
}

// misspeltSpec says what a fenced block marked info (opened with fence)
// probably meant, when the mark is close to "repops" without being it: the
// same word in another case, with something after it, glued to another
// word (repops-check) or one letter off (repop, reops, rpeops). Such a
// block would be shown as code and never run. It returns "" for any other
// code block.
func misspeltSpec(info, fence string) string {
	if info == "" || info == specInfo {
		return ""
	}
	word := info
	if i := strings.IndexAny(info, " \t"); i >= 0 {
		word = info[:i]
	}
	lower := strings.ToLower(word)
	core := strings.TrimFunc(lower, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	squashed := strings.NewReplacer("-", "", "_", "", ".", "", ":", "").Replace(core)
	meant := fmt.Sprintf("did you mean %s%s? A step's spec is a block marked exactly %s%s (lower case, nothing after it); as written it is shown as code and nothing runs",
		fence, specInfo, fence, specInfo)
	switch {
	case word == specInfo:
		return fmt.Sprintf("code block marked %q: %s", info, meant)
	case core == specInfo || squashed == specInfo:
		return fmt.Sprintf("code block marked %q: %s", info, meant)
	case strings.Contains(squashed, specInfo):
		rest := strings.Trim(strings.Replace(core, specInfo, "", 1), "-_.:")
		for _, k := range []Kind{Manual, Check, Action} {
			if rest == string(k) {
				return fmt.Sprintf("code block marked %q: %s (the kind goes inside the block: kind: %s)", info, meant, k)
			}
		}
		return fmt.Sprintf("code block marked %q: %s", info, meant)
	case editDistance(core, specInfo) <= 1 || editDistance(squashed, specInfo) <= 1:
		return fmt.Sprintf("code block marked %q: %s", info, meant)
	}
	return ""
}

// editDistance is the optimal string alignment distance between a and b
// (insertions, deletions, substitutions and adjacent transpositions).
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// lineStarts returns the byte offset of each line of src (lines end at
// "\n"; a final "\n" starts no line).
func lineStarts(src string) []int {
	starts := []int{}
	for i := 0; i < len(src); {
		starts = append(starts, i)
		j := strings.IndexByte(src[i:], '\n')
		if j < 0 {
			break
		}
		i += j + 1
	}
	return starts
}

// lineIndex is the 0-based line holding byte offset off.
func lineIndex(starts []int, off int) int {
	i := sort.SearchInts(starts, off+1) - 1
	return max(i, 0)
}
