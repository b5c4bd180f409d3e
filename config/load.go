package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
)

// LoadOptions says where to look for the config file.
type LoadOptions struct {
	// File is the --config flag; it wins over every other place.
	File string
	// Getenv reads the environment; os.Getenv when nil (tests inject).
	Getenv func(string) string
}

// Load builds the effective config: defaults, then the first config file
// found (flag, REPOPS_CONFIG, config/reputation_$ENVIRONMENT.yml, the user's
// config dir), then the guide's environment variables. It returns the path
// of the file used ("" when none).
//
// TODO(issue 2): provenance per value, range validation with file:line,
// the full search order and the remaining environment variables.
func Load(o LoadOptions) (*Config, string, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	c := Defaults()
	file := o.File
	if file == "" {
		file = getenv("REPOPS_CONFIG")
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, file, fmt.Errorf("read config %s: %w", file, err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return nil, file, fmt.Errorf("config %s: %w", file, err)
		}
	}
	if v := getenv("DATABASE_PATH"); v != "" {
		c.Database.Path = v
	}
	if v := getenv("ENVIRONMENT"); v != "" {
		c.Environment = v
	}
	if c.Console.Environment != "" {
		c.Environment = c.Console.Environment
	}
	return &c, file, nil
}
