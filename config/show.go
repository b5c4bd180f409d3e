package config

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Redacted replaces a secret's value in 'repops config show'.
const Redacted = "<redacted>"

var (
	secretName = regexp.MustCompile(`(?i)(password|passwd|secret|token|api_?key|private_?key|credential)`)
	// A key naming where a secret lives is not itself secret.
	secretPathName = regexp.MustCompile(`(?i)_(file|path|dir)$`)
	plainKey       = regexp.MustCompile(`^[A-Za-z0-9_.+-]+$`)
)

// IsSecretKey reports whether a key's value must never be shown: its last
// name mentions a password, secret, token, API key or credential, and it
// is not the path of a file holding one (database.password_file is shown).
func IsSecretKey(key string) bool {
	name := key
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[i+1:]
	}
	if i := strings.IndexByte(name, '['); i >= 0 {
		name = name[:i]
	}
	return secretName.MatchString(name) && !secretPathName.MatchString(name)
}

// redactURL hides the password of a URL with user info
// (http://user:xxxxx@host/); anything else is returned as it is.
func redactURL(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

// formatDuration is time.Duration's String without the trailing zero
// units: 168h, 1h30m, 90s, 20ms.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// scalarString formats a leaf for display, redacting secrets.
func scalarString(v reflect.Value, key string) string {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "null"
		}
		v = v.Elem()
	}
	if IsSecretKey(key) && !v.IsZero() {
		return Redacted
	}
	switch {
	case v.Type() == durationType:
		return formatDuration(time.Duration(v.Int()))
	case v.Kind() == reflect.String:
		return strconv.Quote(redactURL(v.String()))
	case v.Kind() == reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	default:
		return fmt.Sprint(v.Interface())
	}
}

func isLeaf(v reflect.Value) bool {
	return v.Type() == durationType || v.Kind() == reflect.Pointer ||
		(v.Kind() != reflect.Struct && v.Kind() != reflect.Slice && v.Kind() != reflect.Map)
}

// yamlWriter writes nested "key: value  # source" lines.
type yamlWriter struct {
	b   strings.Builder
	src Provenance
}

func (y *yamlWriter) line(indent int, text string, key string) {
	y.b.WriteString(strings.Repeat(" ", indent))
	y.b.WriteString(text)
	if key != "" {
		y.b.WriteString("  # ")
		y.b.WriteString(y.src.Of(key).String())
	}
	y.b.WriteByte('\n')
}

func (y *yamlWriter) writeStruct(v reflect.Value, prefix string, indent int) {
	names, index := yamlFields(v.Type())
	for _, name := range names {
		y.writeEntry(v.Field(index[name]), name, joinKey(prefix, name), indent)
	}
}

func yamlKey(name string) string {
	if plainKey.MatchString(name) {
		return name
	}
	return strconv.Quote(name)
}

func (y *yamlWriter) writeEntry(v reflect.Value, name, key string, indent int) {
	name = yamlKey(name)
	switch {
	case isLeaf(v):
		y.line(indent, name+": "+scalarString(v, key), key)
	case v.Kind() == reflect.Struct:
		y.line(indent, name+":", "")
		y.writeStruct(v, key, indent+2)
	case v.Kind() == reflect.Slice && v.Len() == 0:
		y.line(indent, name+": []", key)
	case v.Kind() == reflect.Slice:
		y.line(indent, name+":", key)
		for i := 0; i < v.Len(); i++ {
			item, ikey := v.Index(i), fmt.Sprintf("%s[%d]", key, i)
			if isLeaf(item) {
				y.line(indent+2, "- "+scalarString(item, ikey), ikey)
				continue
			}
			start := y.b.Len()
			y.writeStruct(item, ikey, indent+4)
			// Turn the first field's indentation into the list dash.
			s := []byte(y.b.String())
			copy(s[start+indent+2:], "- ")
			y.b.Reset()
			y.b.Write(s)
		}
	case v.Kind() == reflect.Map && v.Len() == 0:
		y.line(indent, name+": {}", key)
	case v.Kind() == reflect.Map:
		y.line(indent, name+":", key)
		for _, k := range sortedKeys(v) {
			y.writeEntry(v.MapIndex(reflect.ValueOf(k)), k, key+"."+k, indent+2)
		}
	}
}

// derived are the values computed from others that the procedures use.
func (l *Loaded) derived() map[string]string {
	return map[string]string{
		"state_dir":   l.Config.StateDir(),
		"backup_dir":  l.Config.BackupDir(),
		"metrics_url": redactURL(l.Config.MetricsURL()),
	}
}

func (l *Loaded) fileLine() string {
	switch {
	case l.File != "" && l.FileFrom == "search":
		return fmt.Sprintf("%s (found by the search order)", l.File)
	case l.File != "":
		return fmt.Sprintf("%s (named by %s)", l.File, l.FileFrom)
	case len(l.Searched) > 0:
		return fmt.Sprintf("none found, defaults used (searched %s)", strings.Join(l.Searched, ", "))
	default:
		return "none"
	}
}

// WriteYAML writes the effective configuration as YAML, each value followed
// by a comment saying where it came from (default, file:line, env VAR or
// flag --name). Secrets are redacted. The output is itself a valid config
// file.
func (l *Loaded) WriteYAML(w io.Writer) error {
	y := &yamlWriter{src: l.Sources}
	y.line(0, "# repops effective configuration; after each value, where it came from", "")
	y.line(0, "# config file: "+l.fileLine(), "")
	y.line(0, fmt.Sprintf("# environment: %s (%s)", l.Config.Environment, l.Sources.Of("environment")), "")
	d := l.derived()
	y.line(0, fmt.Sprintf("# state dir: %s; backup dir: %s; metrics url: %s", d["state_dir"], d["backup_dir"], orNone(d["metrics_url"])), "")
	y.writeStruct(reflect.ValueOf(l.Config).Elem(), "", 0)
	_, err := io.WriteString(w, y.b.String())
	return err
}

func orNone(s string) string {
	if s == "" {
		return "none (metrics disabled)"
	}
	return s
}

// jsonValue converts v to plain JSON values, redacting secrets and writing
// durations as Go duration strings; leaves' sources go into sources.
func jsonValue(v reflect.Value, key string, sources map[string]string, src Provenance) any {
	switch {
	case isLeaf(v):
		sources[key] = src.Of(key).String()
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return nil
			}
			v = v.Elem()
		}
		switch {
		case IsSecretKey(key) && !v.IsZero():
			return Redacted
		case v.Type() == durationType:
			return formatDuration(time.Duration(v.Int()))
		case v.Kind() == reflect.String:
			return redactURL(v.String())
		}
		return v.Interface()
	case v.Kind() == reflect.Struct:
		out := map[string]any{}
		names, index := yamlFields(v.Type())
		for _, name := range names {
			out[name] = jsonValue(v.Field(index[name]), joinKey(key, name), sources, src)
		}
		return out
	case v.Kind() == reflect.Slice:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = jsonValue(v.Index(i), fmt.Sprintf("%s[%d]", key, i), sources, src)
		}
		if len(out) == 0 {
			sources[key] = src.Of(key).String()
		}
		return out
	default: // map
		out := map[string]any{}
		for _, k := range sortedKeys(v) {
			out[k] = jsonValue(v.MapIndex(reflect.ValueOf(k)), key+"."+k, sources, src)
		}
		if len(out) == 0 {
			sources[key] = src.Of(key).String()
		}
		return out
	}
}

// ShowJSON is the document 'repops config show --json' writes.
type ShowJSON struct {
	File        string            `json:"file"`
	FileFrom    string            `json:"file_from,omitempty"`
	Searched    []string          `json:"searched,omitempty"`
	Environment string            `json:"environment"`
	Derived     map[string]string `json:"derived"`
	Config      any               `json:"config"`
	// Sources maps every leaf key to "default", "file:line", "env VAR" or
	// "flag --name".
	Sources map[string]string `json:"sources"`
}

// JSON builds the 'config show --json' document.
func (l *Loaded) JSON() ShowJSON {
	sources := map[string]string{}
	cfg := jsonValue(reflect.ValueOf(l.Config).Elem(), "", sources, l.Sources)
	sources["environment"] = l.Sources.Of("environment").String()
	return ShowJSON{
		File: l.File, FileFrom: l.FileFrom, Searched: l.Searched,
		Environment: l.Config.Environment, Derived: l.derived(),
		Config: cfg, Sources: sources,
	}
}

// WriteJSON writes the effective configuration and its sources as
// indented JSON, secrets redacted.
func (l *Loaded) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(l.JSON())
}
