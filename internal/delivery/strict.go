package delivery

import (
	"fmt"
	"strings"
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
		if !contains(allowed, key) {
			hint := ""
			for _, a := range allowed {
				if strings.EqualFold(a, key) {
					hint = fmt.Sprintf(": did you mean %q? keys are case-sensitive", a)
				}
			}
			return fmt.Errorf("%s: unknown field %q%s; a request has %s", what, clipKey(key), hint, strings.Join(allowed, ", "))
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

func contains(set []string, s string) bool {
	for _, v := range set {
		if v == s {
			return true
		}
	}
	return false
}

func clipKey(k string) string {
	if len(k) > 40 {
		return k[:40] + "…"
	}
	return k
}
