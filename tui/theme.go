package tui

import (
	"fmt"
	"image/color"

	"charm.land/lipgloss/v2"
)

// Theme is the console's one palette. Every colour a view uses comes from
// here through Styles; views never name a colour. The renderer downsamples
// these to the terminal's profile (true colour, 256, 16, or none).
type Theme struct {
	Name string

	Text, Muted, Accent, Border color.Color

	OK, Warning, Pending, Critical, Unknown color.Color

	// Environment colours for the banner.
	Production, Staging, Development, Drill, OtherEnv color.Color

	// Mono drops every colour: states are told by words and weight alone.
	Mono bool
}

// Themes are the built-in palettes, chosen by config.Console.Theme.
func Themes() map[string]Theme {
	c := lipgloss.Color
	return map[string]Theme{
		"default": {
			Name: "default", Text: c("#d0d0d0"), Muted: c("#808080"), Accent: c("#5fafff"), Border: c("#585858"),
			OK: c("#5fd75f"), Warning: c("#ffd75f"), Pending: c("#ffaf00"), Critical: c("#ff5f5f"), Unknown: c("#a8a8a8"),
			Production: c("#d70000"), Staging: c("#d7af00"), Development: c("#00af5f"), Drill: c("#af00d7"), OtherEnv: c("#5f87af"),
		},
		"high-contrast": {
			Name: "high-contrast", Text: c("15"), Muted: c("7"), Accent: c("14"), Border: c("7"),
			OK: c("10"), Warning: c("11"), Pending: c("11"), Critical: c("9"), Unknown: c("7"),
			Production: c("9"), Staging: c("11"), Development: c("10"), Drill: c("13"), OtherEnv: c("12"),
		},
		"mono": {Name: "mono", Mono: true},
	}
}

// ThemeByName returns the named theme; an unknown name is an error naming
// the valid ones.
func ThemeByName(name string) (Theme, error) {
	if name == "" {
		name = "default"
	}
	t, ok := Themes()[name]
	if !ok {
		return Theme{}, fmt.Errorf("unknown console theme %q: use default, high-contrast or mono", name)
	}
	return t, nil
}
