package config

import (
	"fmt"
	"strings"
)

// SourceKind says which layer an effective value came from.
type SourceKind int

// The layers, weakest first: a later layer overrides an earlier one.
const (
	FromDefault SourceKind = iota // Defaults()
	FromFile                      // the config file
	FromEnv                       // one of the guide's environment variables
	FromFlag                      // a command-line flag
)

// Source is where one effective value came from, so that 'repops config
// show' can say it and every problem can point at the line to fix.
type Source struct {
	Kind SourceKind
	// File and Line locate a value read from a config file (Line is 0
	// when the problem concerns the whole file).
	File string
	Line int
	// Name is the environment variable (FromEnv) or the flag, with its
	// dashes (FromFlag).
	Name string
}

// String is "default", "file:line", "env NAME" or "flag --name".
func (s Source) String() string {
	switch s.Kind {
	case FromFile:
		if s.Line > 0 {
			return fmt.Sprintf("%s:%d", s.File, s.Line)
		}
		return s.File
	case FromEnv:
		return "env " + s.Name
	case FromFlag:
		return "flag " + s.Name
	default:
		return "default"
	}
}

// Provenance maps each effective value's key ("database.max_connections",
// "console.rules[0].name", and "environment" for Config.Environment) to its
// source. A key that is absent holds its default.
type Provenance map[string]Source

// Of is the source of key: FromDefault when nothing overrode it.
func (p Provenance) Of(key string) Source {
	if s, ok := p[key]; ok {
		return s
	}
	return Source{Kind: FromDefault}
}

// Problem is one thing wrong with the configuration, located at its
// source.
type Problem struct {
	Source Source
	// Key is the dotted key concerned; "" for the file as a whole.
	Key string
	Msg string
}

// String is "file:line: key: message", the form editors and CI logs
// recognise.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.Source.String())
	b.WriteString(": ")
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error is a configuration that cannot be used. It carries every problem
// found, in file order, then the environment's, then the flags'.
type Error struct {
	Problems []Problem
}

// Error is one line: the first problem, and how many more there are.
func (e *Error) Error() string {
	switch len(e.Problems) {
	case 0:
		return "bad config"
	case 1:
		return "bad config: " + e.Problems[0].String()
	default:
		return fmt.Sprintf("bad config: %s (and %d more: run 'repops config check')",
			e.Problems[0].String(), len(e.Problems)-1)
	}
}
