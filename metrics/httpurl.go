package metrics

import (
	"fmt"
	"net/url"
	"strings"
)

// ParseHTTPURL is raw as an http(s) URL with a host, trailing slashes
// trimmed when trim is set (a base URL the paths are joined to); what names
// the URL in the error ("alertmanager url"), want what a good one looks
// like ("http://host:port"). Every HTTP source and client of repops reads
// its URL through it, so that a bad one gets the same one line everywhere.
func ParseHTTPURL(what, raw, want string, trim bool) (*url.URL, error) {
	if trim {
		raw = strings.TrimRight(raw, "/")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s %q: want %s", what, raw, want)
	}
	return u, nil
}
