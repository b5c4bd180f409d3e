package config

import "testing"

func TestFourEyesOn(t *testing.T) {
	on, off := true, false
	for _, tc := range []struct {
		name string
		env  string
		set  *bool
		want bool
	}{
		{"production by default", "production", nil, true},
		{"staging by default", "staging", nil, false},
		{"turned off in production", "production", &off, false},
		{"turned on in development", "development", &on, true},
		{"production named by console.environment", "", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Defaults()
			c.Environment, c.Console.Serve.FourEyes = tc.env, tc.set
			if tc.env == "" {
				c.Console.Environment = "production"
			}
			if got := c.FourEyesOn(); got != tc.want {
				t.Fatalf("FourEyesOn = %v, want %v", got, tc.want)
			}
		})
	}
}
