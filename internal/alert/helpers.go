package alert

// Small readers shared by the format files: members read in place, identifiers put the
// way Windows and the report expect.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/session-revoker/session-revoker/internal/delivery"
)

// decodeTopMember unmarshals one top-level member into v; a missing or null member
// leaves v alone. Decoding members one by one skips the bulk of a finding unread.
func decodeTopMember(format string, top delivery.Object, key string, v any) error {
	raw := top.Get(key)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: %q: %w", format, key, describe(err))
	}
	return nil
}

// topObject scans the object member key in place; a missing or null member is an empty
// object, any other non-object an error naming the member.
func topObject(format string, top delivery.Object, key string) (delivery.Object, error) {
	raw := top.Get(key)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return nil, nil
	case raw[0] != '{':
		return nil, fmt.Errorf("%s: %q has the wrong JSON type (expected an object)", format, key)
	}
	return delivery.TopLevel(raw), nil
}

// firstAddressLike returns the first value shaped like name@domain.
func firstAddressLike(vals ...string) string {
	for _, v := range vals {
		if strings.IndexByte(v, '@') > 0 {
			return v
		}
	}
	return ""
}

// firstPresent returns the first non-empty value.
func firstPresent(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// qualifiedLogin writes a bare login with its domain, DOMAIN\name, as Windows does, so
// the report shows which directory it came from.
func qualifiedLogin(domain, name string) string {
	if name == "" || domain == "" || strings.ContainsAny(name, `@\`) {
		return name
	}
	return domain + `\` + name
}

func startsObject(raw []byte) bool { return len(raw) > 0 && raw[0] == '{' }

// scalarText is a JSON string's value or a number's literal text (ids such as Datadog's
// exceed float64 precision), else "".
func scalarText(raw []byte) string {
	if len(raw) == 0 {
		return ""
	}
	switch c := raw[0]; {
	case c == '"':
		return delivery.Unquote(raw)
	case c == '-' || '0' <= c && c <= '9':
		return string(raw)
	}
	return ""
}

// firstArrayObject is the top level of an array's first element when that is an object,
// else nil. It reads no further than that element.
func firstArrayObject(raw []byte) delivery.Object {
	if len(raw) == 0 || raw[0] != '[' {
		return nil
	}
	rest := bytes.TrimLeft(raw[1:], " \t\r\n")
	if len(rest) == 0 || rest[0] != '{' {
		return nil
	}
	return delivery.TopLevel(rest)
}

// multiValues reads a field that may hold one value or several: a string (several when it
// has several lines), an array of them, a number's text; null or absent is none.
func multiValues(raw []byte) ([]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var values []string
	switch raw[0] {
	case 'n':
		return nil, nil
	case '"':
		values = appendLines(values, delivery.Unquote(raw))
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("is not a valid array: %w", describe(err))
		}
		for _, item := range items {
			s := scalarText(item)
			if s == "" && item[0] != '"' && item[0] != 'n' {
				return nil, fmt.Errorf("holds an array with a JSON %s; expected strings", jsonKind(item))
			}
			values = appendLines(values, s)
		}
	default:
		s := scalarText(raw)
		if s == "" {
			return nil, fmt.Errorf("is a JSON %s; expected a string or an array of strings", jsonKind(raw))
		}
		values = append(values, s)
	}
	return values, nil
}

// appendLines adds each non-blank line of s.
func appendLines(values []string, s string) []string {
	for s != "" {
		var line string
		line, s, _ = strings.Cut(s, "\n")
		if line = strings.TrimSpace(line); line != "" {
			values = append(values, line)
		}
	}
	return values
}

// jsonKind names a JSON value's type for an error, never its content.
func jsonKind(raw []byte) string {
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case '"':
		return "string"
	case 'n':
		return "null"
	}
	return "number"
}
