package config

// FourEyesOn reports whether destructive steps need a second operator's
// approval: console.four_eyes when set, else on for the production
// environment (the banner's environment, console.environment included).
func (c *Config) FourEyesOn() bool {
	if c.Console.FourEyes != nil {
		return *c.Console.FourEyes
	}
	env := c.Environment
	if c.Console.Environment != "" {
		env = c.Console.Environment
	}
	return env == "production"
}
