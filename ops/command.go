package ops

import "strings"

// ShellCommand is args as one line a POSIX shell reads back as the same
// words: the printed equivalent of a console action (Entry.Command), e.g.
// ShellCommand("repops", "backup", "--db", "/srv/architect.db").
// A word with anything beyond letters, digits and -_./:=@,+% is put in
// single quotes (a quote inside becomes '\”).
func ShellCommand(args ...string) string {
	words := make([]string, len(args))
	for i, a := range args {
		words[i] = shellQuote(a)
	}
	return strings.Join(words, " ")
}

func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./:=@,+%", c)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
