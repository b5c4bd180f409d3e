package runbooks

import (
	"errors"
	"fmt"
	"strings"
)

// ErrWriteSQL is the error of a check whose SQL is not one read-only
// statement.
var ErrWriteSQL = errors.New("a check may run only one read-only statement (SELECT, WITH ... SELECT, or a read-only PRAGMA)")

// readPragmas are the PRAGMAs a check may run: each only reads, in the
// form "PRAGMA name" or "PRAGMA name(arg)". Assignments are refused.
var readPragmas = map[string]bool{
	"integrity_check": true, "quick_check": true, "foreign_key_check": true,
	"page_count": true, "page_size": true, "freelist_count": true,
	"journal_mode": true, "user_version": true, "schema_version": true,
	"table_info": true, "table_xinfo": true, "table_list": true,
	"index_list": true, "index_info": true, "index_xinfo": true,
	"foreign_key_list": true, "database_list": true, "compile_options": true,
	"auto_vacuum": true, "cache_size": true, "wal_autocheckpoint": true,
	"busy_timeout": true, "synchronous": true, "application_id": true,
}

// writeWords are keywords that never appear in a read-only statement
// outside a string literal or a quoted identifier.
var writeWords = map[string]bool{
	"INSERT": true, "UPDATE": true, "DELETE": true, "REPLACE": true, "UPSERT": true,
	"CREATE": true, "DROP": true, "ALTER": true, "ATTACH": true, "DETACH": true,
	"VACUUM": true, "REINDEX": true, "ANALYZE": true, "BEGIN": true, "COMMIT": true,
	"ROLLBACK": true, "SAVEPOINT": true, "RELEASE": true, "TRUNCATE": true,
}

// CheckReadOnlySQL refuses anything but one read-only statement: a SELECT,
// a WITH ... SELECT, or a PRAGMA of the read-only list without an
// assignment. It is the parse-time guard; at run time the statement also
// goes through the read-only connection (mode=ro, query_only), so SQLite
// refuses any write that got past it.
func CheckReadOnlySQL(q string) error {
	toks, err := sqlTokens(q)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrWriteSQL, err)
	}
	// One statement: a ';' only at the very end.
	for i, t := range toks {
		if t == ";" && i != len(toks)-1 {
			return fmt.Errorf("%w: more than one statement", ErrWriteSQL)
		}
	}
	if len(toks) > 0 && toks[len(toks)-1] == ";" {
		toks = toks[:len(toks)-1]
	}
	if len(toks) == 0 {
		return fmt.Errorf("%w: the query is empty", ErrWriteSQL)
	}
	for _, t := range toks {
		if writeWords[t] {
			return fmt.Errorf("%w: %s is not allowed", ErrWriteSQL, t)
		}
	}
	switch toks[0] {
	case "SELECT", "WITH", "VALUES":
		return nil
	case "PRAGMA":
		return checkPragma(toks[1:])
	}
	return fmt.Errorf("%w: it starts with %s", ErrWriteSQL, toks[0])
}

func checkPragma(toks []string) error {
	if len(toks) == 0 {
		return fmt.Errorf("%w: PRAGMA without a name", ErrWriteSQL)
	}
	name := strings.ToLower(toks[0])
	rest := toks[1:]
	// schema.name
	if len(rest) >= 2 && rest[0] == "." {
		name, rest = strings.ToLower(rest[1]), rest[2:]
	}
	if !readPragmas[name] {
		return fmt.Errorf("%w: PRAGMA %s is not a read-only pragma", ErrWriteSQL, name)
	}
	for _, t := range rest {
		if t == "=" {
			return fmt.Errorf("%w: PRAGMA %s assigns a value", ErrWriteSQL, name)
		}
	}
	if len(rest) > 0 && (rest[0] != "(" || rest[len(rest)-1] != ")") {
		return fmt.Errorf("%w: PRAGMA %s takes only an argument in parentheses", ErrWriteSQL, name)
	}
	return nil
}

// sqlTokens splits q into upper-cased words and one-character punctuation,
// dropping comments, string literals and quoted identifiers (which become
// a single placeholder token), so that keywords inside them do not count.
func sqlTokens(q string) ([]string, error) {
	var toks []string
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				return nil, errors.New("unterminated comment")
			}
			i += end + 4
		case c == '\'' || c == '"' || c == '`' || c == '[':
			closer := c
			if c == '[' {
				closer = ']'
			}
			j := i + 1
			for {
				k := strings.IndexByte(q[j:], closer)
				if k < 0 {
					return nil, errors.New("unterminated quote")
				}
				j += k + 1
				// '' and "" escape the quote inside.
				if closer != ']' && j < len(q) && q[j] == closer {
					j++
					continue
				}
				break
			}
			toks = append(toks, "'")
			i = j
		case isWordByte(c):
			j := i
			for j < len(q) && isWordByte(q[j]) {
				j++
			}
			toks = append(toks, strings.ToUpper(q[i:j]))
			i = j
		default:
			toks = append(toks, string(c))
			i++
		}
	}
	return toks, nil
}

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func equalFold(a, b string) bool {
	return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}
