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
// has several lines), an array of them, a number's text; null or absent is none. A value
// repeated is read once: a multivalue field of a hundred thousand copies of one name is
// one user, read in linear time.
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
		// In place: the payload was validated on delivery.
		for i := 1; i < len(raw); {
			switch raw[i] {
			case ']':
				return unique(values), nil
			case ',', ' ', '\t', '\n', '\r':
				i++
				continue
			}
			end := delivery.ValueEnd(raw, i)
			if end <= i {
				break
			}
			item := raw[i:end]
			s := scalarText(item)
			if s == "" && item[0] != '"' && item[0] != 'n' {
				return nil, fmt.Errorf("holds an array with a JSON %s; expected strings", jsonKind(item))
			}
			values = appendLines(values, s)
			i = end
		}
	default:
		s := scalarText(raw)
		if s == "" {
			return nil, fmt.Errorf("is a JSON %s; expected a string or an array of strings", jsonKind(raw))
		}
		values = append(values, s)
	}
	return unique(values), nil
}

// unique drops repeated values, keeping the first of each, in order.
func unique(values []string) []string {
	if len(values) < 2 {
		return values
	}
	seen := make(map[string]bool, min(len(values), 64))
	kept := values[:0]
	for _, v := range values {
		if !seen[v] {
			seen[v] = true
			kept = append(kept, v)
		}
	}
	return kept
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

// members reads the members of scanned objects with the types a vendor's schema gives
// them, as json.Unmarshal into a struct would (a key matches exactly, else ignoring case),
// without decoding what nobody reads: the payload was validated once on delivery, and
// json.Unmarshal would validate every member it is handed again. The first member of the
// wrong type is kept, named by its path, and every later read returns zero values.
type members struct {
	path string // where the object sits, "" at the member's own level
	err  error
}

// get returns key's raw value, nil when absent or null.
func (m *members) get(o delivery.Object, key string) []byte {
	raw := o.Get(key)
	if raw == nil {
		for _, f := range o {
			if k := f.Key; len(k) >= 2 && strings.EqualFold(string(k[1:len(k)-1]), key) {
				raw = f.Value
			}
		}
	}
	if string(raw) == "null" {
		return nil
	}
	return raw
}

func (m *members) wrong(key string, raw []byte, want string) {
	if m.err == nil {
		m.err = fmt.Errorf("field %q has the wrong JSON type (%s, expected %s)", m.path+key, jsonKind(raw), want)
	}
}

// str reads a string member.
func (m *members) str(o delivery.Object, key string) string {
	raw := m.get(o, key)
	if m.err != nil || raw == nil {
		return ""
	}
	if raw[0] != '"' {
		m.wrong(key, raw, "string")
		return ""
	}
	return delivery.Unquote(raw)
}

// strs reads an array of strings; an empty array is an empty, non-nil slice.
func (m *members) strs(o delivery.Object, key string) []string {
	raw := m.get(o, key)
	if m.err != nil || raw == nil {
		return nil
	}
	if raw[0] != '[' {
		m.wrong(key, raw, "array of strings")
		return nil
	}
	out := []string{}
	for i := 1; i < len(raw); {
		switch raw[i] {
		case ']':
			return out
		case ',', ' ', '\t', '\n', '\r':
			i++
			continue
		}
		end := delivery.ValueEnd(raw, i)
		switch raw[i] {
		case '"':
			out = append(out, delivery.Unquote(raw[i:end]))
		case 'n':
			out = append(out, "") // null, as json.Unmarshal leaves it
		default:
			m.wrong(key, raw[i:end], "string")
			return nil
		}
		i = end
	}
	return out
}

// object scans an object member; absent or null is an empty object.
func (m *members) object(o delivery.Object, key string) delivery.Object {
	raw := m.get(o, key)
	if m.err != nil || raw == nil {
		return nil
	}
	if raw[0] != '{' {
		m.wrong(key, raw, "object")
		return nil
	}
	return delivery.TopLevel(raw)
}

// each calls fn with every element of an array member, each of which must be an object;
// absent or null is an empty array. index names the element in a later error.
func (m *members) each(o delivery.Object, key string, fn func(index int, item delivery.Object)) {
	raw := m.get(o, key)
	if m.err != nil || raw == nil {
		return
	}
	if raw[0] != '[' {
		m.wrong(key, raw, "array of objects")
		return
	}
	index := 0
	for i := 1; i < len(raw) && m.err == nil; {
		switch raw[i] {
		case ']':
			return
		case ',', ' ', '\t', '\n', '\r':
			i++
			continue
		}
		var end int
		switch raw[i] {
		case '{':
			var item delivery.Object
			item, end = delivery.ObjectAt(raw, i)
			fn(index, item)
			if m.err != nil {
				m.err = fmt.Errorf("%q[%d]: %w", m.path+key, index, m.err)
			}
		case 'n':
			end = i + len("null")
		default:
			end = delivery.ValueEnd(raw, i)
			m.wrong(fmt.Sprintf("%s[%d]", key, index), raw[i:end], "object")
			return
		}
		index++
		i = end
	}
}
