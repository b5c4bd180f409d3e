package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Decision: the file is parsed into a yaml.Node tree and walked against the
// Config struct by hand, rather than decoded with yaml's KnownFields(true).
// The walk knows the line of every key, so it records where each value came
// from (Provenance), reports every problem of a file in one pass instead of
// stopping at the first, says "want a whole number" instead of "cannot
// unmarshal !!str into int", and treats durations strictly ("90s", never a
// bare 90 that would mean 90 ns).

var durationType = reflect.TypeOf(time.Duration(0))

// decoder walks one file's nodes into a Config, collecting problems.
type decoder struct {
	file     string
	src      Provenance
	problems []Problem
	bad      map[string]bool // keys already reported: not validated again
}

func (d *decoder) problem(line int, key, format string, args ...any) {
	d.problems = append(d.problems, Problem{
		Source: Source{Kind: FromFile, File: d.file, Line: line},
		Key:    key,
		Msg:    fmt.Sprintf(format, args...),
	})
	if key != "" {
		d.bad[key] = true
	}
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// decodeFile applies the YAML document in b onto c.
func (d *decoder) decodeFile(b []byte, c *Config) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return // an empty file: every value keeps its default
		}
		d.syntaxError(err)
		return
	}
	var more yaml.Node
	if err := dec.Decode(&more); err == nil {
		d.problem(more.Line, "", "a second YAML document (after ---): put the whole config in one document")
	} else if !errors.Is(err, io.EOF) {
		d.syntaxError(err)
		return
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return
		}
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return // only comments
	}
	d.decodeStruct(root, reflect.ValueOf(c).Elem(), "")
}

func (d *decoder) syntaxError(err error) {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		d.problem(line, "", "YAML syntax error: %s", m[2])
		return
	}
	d.problem(0, "", "YAML syntax error: %s", strings.TrimPrefix(msg, "yaml: "))
}

// yamlFields maps a struct type's YAML key names to field indexes, in
// declaration order.
func yamlFields(t reflect.Type) (names []string, index map[string]int) {
	index = map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		names = append(names, name)
		index[name] = i
	}
	return names, index
}

func joinKey(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	default:
		return "something else"
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.problem(n.Line, path, "want a mapping of keys (key: value lines), got %s", kindName(n))
		return
	}
	names, index := yamlFields(v.Type())
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.problem(k.Line, path, "a key must be a plain name, got %s", kindName(k))
			continue
		}
		key := joinKey(path, k.Value)
		if k.Value == "<<" {
			d.problem(k.Line, key, "merge keys (<<) are not supported: write the keys out")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.problem(k.Line, key, "duplicate key (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		fi, ok := index[k.Value]
		if !ok {
			d.problem(k.Line, key, "unknown key%s", suggest(k.Value, names, path))
			continue
		}
		d.decodeValue(val, v.Field(fi), key, k.Line)
	}
}

// suggest is the hint after "unknown key": the nearest known key, or the
// list of known keys.
func suggest(got string, names []string, path string) string {
	best, bestDist := "", 3
	for _, n := range names {
		if dist := editDistance(got, n); dist < bestDist {
			best, bestDist = n, dist
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %s?)", joinKey(path, best))
	}
	where := "at the top level"
	if path != "" {
		where = "in " + path
	}
	return fmt.Sprintf(" (known keys %s: %s)", where, strings.Join(names, ", "))
}

// editDistance is the Levenshtein distance, for "did you mean".
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// decodeValue decodes n into v, recording the source of key at line.
func (d *decoder) decodeValue(n *yaml.Node, v reflect.Value, key string, line int) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	isNull := n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
	switch {
	case isNull && v.Kind() == reflect.Struct:
		return // an empty section: its keys keep their defaults
	case isNull && v.Kind() == reflect.Pointer:
		v.Set(reflect.Zero(v.Type()))
		d.src[key] = Source{Kind: FromFile, File: d.file, Line: line}
		return
	case isNull:
		d.problem(line, key, "has no value: give one, or remove the key to keep the default")
		return
	}
	if v.Kind() != reflect.Struct && v.Kind() != reflect.Slice && v.Kind() != reflect.Map && v.Kind() != reflect.Pointer && n.Kind != yaml.ScalarNode {
		d.problem(line, key, "want a single value, got %s", kindName(n))
		return
	}
	switch {
	case v.Type() == durationType:
		dur, err := parseDurationNode(n)
		if err != nil {
			d.problem(line, key, "%v", err)
			return
		}
		v.SetInt(int64(dur))
	case v.Kind() == reflect.Struct:
		// Recorded so that a problem with a key left out of the section
		// or list item can point at it.
		d.src[key] = Source{Kind: FromFile, File: d.file, Line: line}
		d.decodeStruct(n, v, key)
		return
	case v.Kind() == reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		d.decodeValue(n, elem.Elem(), key, line)
		if d.bad[key] {
			return
		}
		v.Set(elem)
	case v.Kind() == reflect.String:
		v.SetString(n.Value)
	case v.Kind() == reflect.Bool:
		var b bool
		if n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.problem(line, key, "want true or false, got %q", n.Value)
			return
		}
		v.SetBool(b)
	case v.Kind() == reflect.Int:
		var i int64
		if n.ShortTag() != "!!int" || n.Decode(&i) != nil {
			d.problem(line, key, "want a whole number, got %q", n.Value)
			return
		}
		if i < math.MinInt32 || i > math.MaxInt32 {
			d.problem(line, key, "%s is out of range", n.Value)
			return
		}
		v.SetInt(i)
	case v.Kind() == reflect.Float64:
		var f float64
		if (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") || n.Decode(&f) != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			d.problem(line, key, "want a number, got %q", n.Value)
			return
		}
		v.SetFloat(f)
	case v.Kind() == reflect.Slice:
		d.decodeSlice(n, v, key, line)
	case v.Kind() == reflect.Map:
		d.decodeMap(n, v, key, line)
	default:
		d.problem(line, key, "cannot be set from a file")
		return
	}
	d.src[key] = Source{Kind: FromFile, File: d.file, Line: line}
}

// decodeSlice replaces v with the list n. A single scalar is accepted as a
// one-element list of strings ("quit: q" for "quit: [q]").
func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, key string, line int) {
	items := n.Content
	if n.Kind == yaml.ScalarNode && v.Type().Elem().Kind() == reflect.String {
		items = []*yaml.Node{n}
	} else if n.Kind != yaml.SequenceNode {
		d.problem(line, key, "want a list, got %s", kindName(n))
		return
	}
	if len(items) == 0 {
		v.Set(reflect.Zero(v.Type())) // "[]" and the default nil are the same
		return
	}
	out := reflect.MakeSlice(v.Type(), len(items), len(items))
	for i, item := range items {
		d.decodeValue(item, out.Index(i), fmt.Sprintf("%s[%d]", key, i), item.Line)
	}
	v.Set(out)
}

// decodeMap merges the mapping n into v (string keys).
func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, key string, line int) {
	if n.Kind != yaml.MappingNode {
		d.problem(line, key, "want a mapping, got %s", kindName(n))
		return
	}
	out := reflect.MakeMap(v.Type())
	if !v.IsNil() {
		iter := v.MapRange()
		for iter.Next() {
			out.SetMapIndex(iter.Key(), iter.Value())
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			d.problem(k.Line, key, "a key must be a plain name, got %s", kindName(k))
			continue
		}
		sub := key + "." + k.Value
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decodeValue(val, elem, sub, k.Line)
		if !d.bad[sub] {
			out.SetMapIndex(reflect.ValueOf(k.Value), elem)
		}
	}
	if out.Len() == 0 {
		out = reflect.Zero(v.Type()) // "{}" and the default nil are the same
	}
	v.Set(out)
}

// parseDurationNode reads a Go duration string ("90s", "15m", "168h"); a
// bare 0 is accepted, any other bare number is refused because its unit
// would be a guess.
func parseDurationNode(n *yaml.Node) (time.Duration, error) {
	if n.ShortTag() == "!!int" || n.ShortTag() == "!!float" {
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil && f == 0 {
			return 0, nil
		}
		return 0, fmt.Errorf("want a duration with a unit, such as %ss or %sm, got %s", n.Value, n.Value, n.Value)
	}
	return parseDuration(n.Value)
}

func parseDuration(s string) (time.Duration, error) {
	dur, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("want a duration such as 90s, 15m or 168h, got %q", s)
	}
	return dur, nil
}

// fieldByKey finds the field of c named by a dotted key of struct fields
// ("database.max_connections").
func fieldByKey(c *Config, key string) (reflect.Value, bool) {
	v := reflect.ValueOf(c).Elem()
	for _, part := range strings.Split(key, ".") {
		if v.Kind() != reflect.Struct {
			return reflect.Value{}, false
		}
		_, index := yamlFields(v.Type())
		i, ok := index[part]
		if !ok {
			return reflect.Value{}, false
		}
		v = v.Field(i)
	}
	return v, true
}

// sortedKeys returns a string-keyed map's keys in order.
func sortedKeys(m reflect.Value) []string {
	keys := make([]string, 0, m.Len())
	for _, k := range m.MapKeys() {
		keys = append(keys, k.String())
	}
	sort.Strings(keys)
	return keys
}
