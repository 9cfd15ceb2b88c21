package delivery

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Strict checks a request's object as an operator's instruction must be read: every key
// spelled exactly as one of allowed, none given twice. encoding/json would match
// "APPROVED" to "approved" and let a later "dryRun" override an earlier one; neither may
// change what a request means. obj must be a valid JSON object (Unwrap validated it).
// The error names the key, clipped, never a value.
func Strict(obj []byte, what string, allowed ...string) error {
	o := make(map[string]bool, 8)
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return fmt.Errorf("%s must be a JSON object", what)
	}
	for i++; i < len(obj); {
		i = skipSpace(obj, i)
		if i >= len(obj) || obj[i] == '}' {
			return nil
		}
		if obj[i] == ',' {
			i++
			continue
		}
		end := ValueEnd(obj, i)
		key := Unquote(obj[i:end])
		if !slices.Contains(allowed, key) {
			hint := ""
			for _, a := range allowed {
				if strings.EqualFold(a, key) {
					hint = fmt.Sprintf(": did you mean %q? keys are case-sensitive", a)
				}
			}
			return fmt.Errorf("%s: unknown field %q%s; a request has %s", what, Clip(key, 40), hint, strings.Join(allowed, ", "))
		}
		if o[key] {
			return fmt.Errorf("%s: field %q is given twice", what, key)
		}
		o[key] = true
		i = skipSpace(obj, end)
		if i >= len(obj) || obj[i] != ':' {
			return fmt.Errorf("%s is not a JSON object", what)
		}
		i = ValueEnd(obj, skipSpace(obj, i+1))
	}
	return nil
}

// Clip bounds a value from a payload before it goes into an error or a log line: at most
// n characters (runes: a cut never splits one into invalid UTF-8), then "…".
func Clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// ValidName is a request's name (a sweep's, a poll's, a poll rule's): letters, digits,
// '-', '_' and '.', at most 64. It keys state items and names runs in logs, so nothing
// else is accepted.
func ValidName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for _, c := range n {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
